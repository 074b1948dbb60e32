//! Which column holds which field (SPEC §5): the file's header against the mapping, checked
//! before any row is handled.

use crate::field::{closest, Field};
use crate::read::mapping::Mapping;

/// Which column holds what, from the header and the mapping.
#[derive(Debug, Clone, Default)]
pub struct Columns {
    /// The file's headers, trimmed.
    pub headers: Vec<String>,
    pub fields: [Option<usize>; Field::COUNT],
    pub custom: Vec<(String, usize)>,
    /// A row needs at least this many cells: up to the last non-empty header.
    pub width: usize,
    /// The columns whose header is empty, within the header row's cells: their data is not
    /// sent, only counted (SPEC §11.2).
    pub headerless: Vec<usize>,
}

impl Columns {
    pub fn header(&self, index: usize) -> &str {
        &self.headers[index]
    }

    /// The header of cell `index`, or `cell N` past the last header.
    pub fn cell_name(&self, index: usize) -> String {
        match self.headers.get(index) {
            Some(header) if !header.is_empty() => format!("column {header:?}"),
            _ => format!("cell {}", index + 1),
        }
    }

    /// The field (or `custom.<key>`) read from cell `index`, if any.
    pub fn field_name(&self, index: usize) -> Option<String> {
        if let Some(field) = Field::ALL.into_iter().find(|&field| self.of(field) == Some(index)) {
            return Some(field.name().to_owned());
        }
        self.custom.iter().find(|(_, column)| *column == index).map(|(key, _)| format!("custom.{key}"))
    }

    pub fn of(&self, field: Field) -> Option<usize> {
        self.fields[field.index()]
    }

    /// `, column "Header"` for a message about `field`, or nothing when no column holds it.
    pub fn label(&self, field: Field) -> String {
        self.of(field).map(|index| format!(", column {:?}", self.header(index))).unwrap_or_default()
    }
}

/// The headers the mapping reads: the mapped ones, the fields' own names, the custom ones.
pub fn expected_headers(mapping: &Mapping) -> Vec<String> {
    let mut expected: Vec<String> =
        Field::ALL.iter().map(|&field| mapping.header_for(field).unwrap_or(field.name()).to_owned()).collect();
    expected.extend(mapping.custom.iter().map(|(_, header)| header.clone()));
    expected
}

/// The file's headers by their lower case, for look-ups in linear time however many there are.
struct HeaderIndex {
    first: std::collections::HashMap<String, usize>,
}

impl HeaderIndex {
    /// Index the headers; `Err` names the first header that appears twice (ignoring case).
    fn new(headers: &[String]) -> Result<HeaderIndex, String> {
        let mut first = std::collections::HashMap::with_capacity(headers.len());
        for (index, header) in headers.iter().enumerate() {
            if header.is_empty() {
                continue;
            }
            if let Some(&earlier) = first.get(&header.to_lowercase()) {
                return Err(format!(
                    "the header {header:?} appears twice (columns {} and {}); rename or remove one. The file's headers are: {}",
                    earlier + 1,
                    index + 1,
                    quoted_list(headers)
                ));
            }
            first.insert(header.to_lowercase(), index);
        }
        Ok(HeaderIndex { first })
    }

    fn find(&self, wanted: &str) -> Option<usize> {
        self.first.get(&wanted.trim().to_lowercase()).copied()
    }
}

/// The words of a check's failure on the file's headers (a mapped header missing, a required
/// field without a column): what leads the page to its column matching (SPEC §13).
const HEADER_FAILURES: [&str; 2] = ["which the file does not have", "no column holds"];

/// Whether a check's error is a failure on the file's headers, which a column matching can fix.
pub fn is_header_failure(error: &str) -> bool {
    HEADER_FAILURES.iter().any(|words| error.contains(words))
}

fn missing_header(headers: &[String], wanted: &str, what: &str) -> String {
    let hint = closest(wanted, headers.iter().map(String::as_str))
        .map(|found| format!(" The closest is {found:?}: fix the mapping or rename the column."))
        .unwrap_or_default();
    format!(
        "the mapping reads {what} from the header {wanted:?}, which the file does not have.{hint} The file's headers are: {}",
        quoted_list(headers)
    )
}

/// The file's headers for a message: the first 50, and how many more.
fn quoted_list(headers: &[String]) -> String {
    crate::field::capped_list(headers.iter().filter(|h| !h.is_empty()).map(|h| format!("{h:?}")))
}

/// Map fields and custom keys to columns. `Ok` carries the warning about unmapped headers, if any.
pub fn resolve_columns(headers: &[String], mapping: &Mapping) -> Result<(Columns, Option<String>), String> {
    let index = HeaderIndex::new(headers)?;
    let mut columns = Columns {
        headers: headers.to_vec(),
        width: headers.iter().rposition(|h| !h.is_empty()).map_or(0, |last| last + 1),
        headerless: (0..headers.len()).filter(|&index| headers[index].is_empty()).collect(),
        ..Columns::default()
    };
    let mut used = vec![false; headers.len()];
    for field in Field::ALL {
        let found = match mapping.header_for(field) {
            Some(header) => Some(index.find(header).ok_or_else(|| missing_header(headers, header, field.name()))?),
            None => index.find(field.name()),
        };
        if let Some(found) = found {
            used[found] = true;
        }
        columns.fields[field.index()] = found;
    }
    for (key, header) in &mapping.custom {
        let found = index.find(header).ok_or_else(|| missing_header(headers, header, &format!("custom.{key}")))?;
        used[found] = true;
        columns.custom.push((key.clone(), found));
    }

    let available = |field: Field| columns.of(field).is_some() || mapping.default_for(field).is_some();
    for field in [Field::EventName, Field::EventTime] {
        if !available(field) {
            return Err(format!(
                "no column holds {field}: map its header in the mapping's \"columns\" (or give it in \"defaults\"). The file's headers are: {}",
                quoted_list(headers)
            ));
        }
    }
    if !available(Field::AccountToken) && mapping.account_token.is_none() {
        return Err("no column holds account_token and the mapping has no \"account_token\"; add the client's token to the mapping".to_owned());
    }
    if !Field::IDENTIFIERS.into_iter().any(available) {
        return Err(format!(
            "no column holds an identifier (visitor_id, customer_id, email or phone), so no row could be attributed; map one in \"columns\". The file's headers are: {}",
            quoted_list(headers)
        ));
    }

    let unmapped: Vec<&String> =
        headers.iter().zip(&used).filter(|(h, used)| !h.is_empty() && !**used).map(|(h, _)| h).collect();
    let warning = (!unmapped.is_empty()).then(|| {
        format!(
            "file: {} column(s) that nothing maps, not sent: {}; map them in \"columns\" or \"custom\" if they matter",
            unmapped.len(),
            crate::field::capped_list(unmapped.iter().map(|h| format!("{h:?}")))
        )
    });
    Ok((columns, warning))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(list: &[&str]) -> Vec<String> {
        list.iter().map(|h| h.to_string()).collect()
    }

    #[test]
    fn resolves_mapped_and_same_named_headers() {
        let mapping = Mapping::parse(r#"{"account_token": "ex4mpl3-t0k3n-0001", "columns": {"event_time": "Sale Date"}, "custom": {"store": "Store"}}"#).unwrap();
        let (columns, warning) =
            resolve_columns(&headers(&["sale date", "Event_Name", "email", "Store", "Notes", ""]), &mapping).unwrap();
        assert_eq!(columns.of(Field::EventTime), Some(0));
        assert_eq!(columns.of(Field::EventName), Some(1));
        assert_eq!(columns.of(Field::Email), Some(2));
        assert_eq!(columns.custom, vec![("store".to_owned(), 3)]);
        assert_eq!(columns.width, 5);
        assert_eq!(columns.headerless, [5]);
        assert!(warning.unwrap().contains("\"Notes\""));
    }

    #[test]
    fn missing_and_duplicate_headers_stop_the_run() {
        let mapping =
            Mapping::parse(r#"{"account_token": "ex4mpl3-t0k3n-0001", "columns": {"event_time": "Sale Date"}}"#)
                .unwrap();
        let error = resolve_columns(&headers(&["Sale Dat", "event_name", "email"]), &mapping).unwrap_err();
        assert!(error.contains("\"Sale Date\"") && error.contains("closest is \"Sale Dat\""), "{error}");
        let error = resolve_columns(&headers(&["Sale Date", "event_name", "Email", "EMAIL"]), &mapping).unwrap_err();
        assert!(error.contains("appears twice (columns 3 and 4)"), "{error}");
        let error = resolve_columns(&headers(&["Sale Date", "event_name"]), &mapping).unwrap_err();
        assert!(error.contains("no column holds an identifier"), "{error}");
    }
}
