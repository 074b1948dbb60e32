//! `replayer template` (SPEC §2, §11.3): write a client's template workbook to a file, never over
//! an existing one unless told to, or to standard output when it is not a terminal.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::cli::commands::TemplateArgs;
use crate::out::template;
use crate::read::mapping::Mapping;

pub fn run_template(args: &TemplateArgs) -> Result<()> {
    let mapping = Mapping::load(&args.mapping)?;
    let bytes = template::workbook(&mapping).context("cannot build the template workbook")?;
    let output = match &args.output {
        Some(path) if path.as_os_str() == "-" => return write_stdout(&bytes),
        Some(path) => path.clone(),
        None => PathBuf::from(format!("{}-template.xlsx", client_name(&args.mapping))),
    };
    write_file(&output, &bytes, args.force)?;
    let columns = template::columns(&mapping);
    let headers = crate::field::capped_list(columns.iter().map(|column| format!("{:?}", column.header)));
    println!(
        "wrote {}: the template of {} with {} columns ({headers}), one sample row, and a \"Fields\" sheet that explains them",
        output.display(),
        if mapping.client.is_empty() { "the client" } else { &mapping.client },
        columns.len(),
    );
    Ok(())
}

/// The client's name for the file name: the mapping's folder (`clients/norton/mapping.json` →
/// `norton`, as the page names it), or the mapping file's own name (`norton.json` → `norton`).
fn client_name(mapping_path: &Path) -> String {
    let path = std::fs::canonicalize(mapping_path).unwrap_or_else(|_| mapping_path.to_owned());
    let name = match path.file_name().and_then(|name| name.to_str()) {
        Some("mapping.json") => path.parent().and_then(Path::file_name),
        _ => path.file_stem(),
    };
    let name: String = name
        .map(|name| name.to_string_lossy())
        .unwrap_or_default()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '-' })
        .collect();
    match name.trim_start_matches(['.', '-', '_']) {
        "" => "client".to_owned(),
        name => name.to_owned(),
    }
}

/// Write through a temporary file beside `path`, so no one sees half a workbook, and refuse to
/// replace a file that exists (also one made meanwhile) unless `force`.
fn write_file(path: &Path, bytes: &[u8], force: bool) -> Result<()> {
    if !force && (path.exists() || path.is_symlink()) {
        bail!("{} already exists; remove it, give another --output, or add --force to replace it", path.display());
    }
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let cannot = |error: &dyn std::fmt::Display| {
        format!(
            "cannot write {}: {error}; check the folder exists and is writable, or choose another --output",
            path.display()
        )
    };
    let mut file = tempfile::Builder::new()
        .prefix(".replayer-template-")
        .suffix(".xlsx")
        .tempfile_in(folder)
        .map_err(|e| anyhow::anyhow!(cannot(&e)))?;
    file.write_all(bytes).and_then(|()| file.flush()).map_err(|e| anyhow::anyhow!(cannot(&e)))?;
    #[cfg(unix)]
    {
        // A template is meant to be shared, unlike the dump files.
        use std::os::unix::fs::PermissionsExt;
        let _ = file.as_file().set_permissions(std::fs::Permissions::from_mode(0o644));
    }
    let persisted = if force { file.persist(path).map(drop) } else { file.persist_noclobber(path).map(drop) };
    persisted.map_err(|e| match e.error.kind() {
        std::io::ErrorKind::AlreadyExists => anyhow::anyhow!(
            "{} already exists; remove it, give another --output, or add --force to replace it",
            path.display()
        ),
        _ => anyhow::anyhow!(cannot(&e.error)),
    })
}

fn write_stdout(bytes: &[u8]) -> Result<()> {
    let mut stdout = std::io::stdout();
    if stdout.is_terminal() {
        bail!("a workbook is not text for a terminal; redirect it (--output - > template.xlsx) or give --output FILE");
    }
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(error).context("cannot write the workbook to standard output")
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_is_named_after_the_client() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        assert_eq!(client_name(&root.join("clients/example/mapping.json")), "example");
        assert_eq!(client_name(Path::new("/nowhere/Norton UK.json")), "Norton-UK");
        assert_eq!(client_name(Path::new("/nowhere/--.json")), "client");
    }
}
