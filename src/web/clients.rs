//! The clients of `--clients-dir`: each folder with a `mapping.json`, read with the command
//! line's mapping code. Read again on each request, so a new client needs no restart.

use std::path::{Path, PathBuf};

use crate::out::template;
use crate::read::mapping::Mapping;

pub struct Client {
    /// The folder's name: what the pages show and the forms send.
    pub name: String,
    pub mapping_path: PathBuf,
    /// The mapping, or why it cannot be used.
    pub mapping: Result<Mapping, String>,
}

impl Client {
    /// The headers the mapping reads, in its order: the template's header row, and the headers a
    /// file must have.
    pub fn headers(&self) -> Vec<String> {
        let Ok(mapping) = &self.mapping else { return Vec::new() };
        let mut headers: Vec<String> = mapping.columns.iter().map(|(_, header)| header.clone()).collect();
        headers.extend(mapping.custom.iter().map(|(_, header)| header.clone()));
        headers
    }

    /// The template CSV: the template's header row (SPEC §11.3), as the workbook has it.
    pub fn template_csv(&self) -> Vec<u8> {
        self.mapping.as_ref().map(template::csv).unwrap_or_default()
    }

    /// The template workbook (SPEC §11.3), or why it cannot be made.
    pub fn template_xlsx(&self) -> Result<Vec<u8>, String> {
        let mapping = self.mapping.as_ref().map_err(Clone::clone)?;
        template::workbook(mapping).map_err(|error| format!("cannot build the template workbook: {error}"))
    }
}

/// A folder name that is shown and sent back: plain characters only, never a path.
fn is_client_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && name.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Every client folder, sorted by name.
pub fn scan(directory: &Path) -> Vec<Client> {
    let Ok(entries) = std::fs::read_dir(directory) else { return Vec::new() };
    let mut clients: Vec<Client> = entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let mapping_path = entry.path().join("mapping.json");
            (is_client_name(&name) && mapping_path.is_file()).then(|| {
                let mapping = Mapping::load(&mapping_path).map_err(|e| format!("{e:#}"));
                Client { name, mapping_path, mapping }
            })
        })
        .collect();
    clients.sort_by(|a, b| a.name.cmp(&b.name));
    clients
}

/// The client of this name, if its folder is there.
pub fn find(directory: &Path, name: &str) -> Option<Client> {
    if !is_client_name(name) {
        return None;
    }
    scan(directory).into_iter().find(|client| client.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_client_and_its_template() {
        let clients = scan(&Path::new(env!("CARGO_MANIFEST_DIR")).join("clients"));
        let example = clients.iter().find(|c| c.name == "example").expect("clients/example");
        let template = String::from_utf8(example.template_csv()).unwrap();
        assert!(template.starts_with("Account Token,Event,Sale Date,"), "{template}");
        assert!(template.trim_end().ends_with("Store,Sold By"), "{template}");
        assert!(!is_client_name("../x") && !is_client_name(".hidden") && is_client_name("c-a_b.1"));
    }
}
