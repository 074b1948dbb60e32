//! The delimiter of a file read with `--delimiter auto` (SPEC §5): Excel's `sep=X` line, else
//! the candidate under which the mapping's headers are found, else the one that splits the
//! first lines into the same number of cells.

use csv::ByteRecord;

use super::records::Records;

pub const CANDIDATES: [u8; 4] = [b',', b';', b'\t', b'|'];

/// Lines read to judge a delimiter by its consistency.
const LINES_JUDGED: usize = 50;

/// Excel's `sep=X` first line: the delimiter and the length of the line with its line end.
pub fn sep_line(head: &[u8]) -> Option<(u8, usize)> {
    let prefix = head.get(..4)?;
    if !prefix.eq_ignore_ascii_case(b"sep=") {
        return None;
    }
    let delimiter = *head.get(4)?;
    if matches!(delimiter, b'\r' | b'\n' | b'"') || !delimiter.is_ascii() {
        return None;
    }
    match head.get(5) {
        None => Some((delimiter, 5)),
        Some(b'\n') => Some((delimiter, 6)),
        Some(b'\r') => Some((delimiter, if head.get(6) == Some(&b'\n') { 7 } else { 6 })),
        Some(_) => None,
    }
}

/// The first records of `head` read with `delimiter`: their numbers of cells, and the header's
/// cells (trimmed, lower-cased).
fn first_records(head: &[u8], delimiter: u8) -> (Vec<usize>, Vec<String>) {
    let mut records = Records::new(head, delimiter, 1);
    let mut record = ByteRecord::new();
    let mut widths = Vec::new();
    let mut header = Vec::new();
    // The head may end inside a record: what it holds is enough to judge by.
    while widths.len() < LINES_JUDGED {
        match records.read(&mut record) {
            Ok(Some(_)) => {
                if widths.is_empty() {
                    header = record.iter().map(|cell| String::from_utf8_lossy(cell).trim().to_lowercase()).collect();
                }
                widths.push(record.len());
            }
            _ => break,
        }
    }
    (widths, header)
}

/// The delimiter for the text starting with `head`, given the headers the mapping expects.
pub fn sniff(head: &[u8], expected: &[String]) -> u8 {
    let expected: Vec<String> = expected.iter().map(|header| header.trim().to_lowercase()).collect();
    let judged: Vec<(u8, Vec<usize>, Vec<String>)> = CANDIDATES
        .iter()
        .map(|&delimiter| {
            let (widths, header) = first_records(head, delimiter);
            (delimiter, widths, header)
        })
        .collect();

    // The mapping's headers found, under each candidate: the most decides, when only one has it.
    let found: Vec<usize> = judged
        .iter()
        .map(|(_, _, header)| {
            let mut cells: Vec<&String> = header.iter().filter(|cell| expected.contains(cell)).collect();
            cells.sort();
            cells.dedup();
            cells.len()
        })
        .collect();
    let most = found.iter().copied().max().unwrap_or(0);
    if most > 0 && found.iter().filter(|&&count| count == most).count() == 1 {
        return judged[found.iter().position(|&count| count == most).expect("the most is found")].0;
    }

    // Else: the lines split into as many cells as the header, most of them; then the most cells.
    let mut best = (b',', (0usize, 0usize));
    for (delimiter, widths, _) in &judged {
        let Some(&header_width) = widths.first() else { continue };
        if header_width < 2 {
            continue;
        }
        let consistent = widths.iter().filter(|&&width| width == header_width).count();
        let score = (consistent, header_width);
        if score > best.1 {
            best = (*delimiter, score);
        }
    }
    best.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|name| name.to_string()).collect()
    }

    #[test]
    fn excel_sep_line() {
        assert_eq!(sep_line(b"sep=;\r\nDate;X"), Some((b';', 7)));
        assert_eq!(sep_line(b"SEP=|\nDate|X"), Some((b'|', 6)));
        assert_eq!(sep_line(b"sep=\t\rDate"), Some((b'\t', 6)));
        assert_eq!(sep_line(b"sep=,"), Some((b',', 5)));
        assert_eq!(sep_line(b"sep=;;\n"), None);
        assert_eq!(sep_line(b"separator,b\n"), None);
        assert_eq!(sep_line(b"sep="), None);
    }

    #[test]
    fn the_mapping_headers_decide() {
        // More commas than semicolons in the header, but the headers are found under ';'.
        let head = b"Date, time;Amount (EUR, net);Customer, id\n01/06/2024;1,50;c1\n";
        assert_eq!(sniff(head, &names(&["Date, time", "Amount (EUR, net)", "customer, ID"])), b';');
        let head = b"Date\tName, first, last\tcustomer_id\n";
        assert_eq!(sniff(head, &names(&["date", "customer_id"])), b'\t');
        let head = b"a|b|c\n1|2|3\n";
        assert_eq!(sniff(head, &names(&["b"])), b'|');
    }

    #[test]
    fn else_the_most_consistent_split() {
        assert_eq!(sniff(b"a;b;c\n1,2;3;4\n5;6;7\n", &[]), b';');
        assert_eq!(sniff(b"a\tb\tc", &[]), b'\t');
        assert_eq!(sniff(b"a|b", &[]), b'|');
        assert_eq!(sniff(b"\"a;x\",b,c", &[]), b',');
        assert_eq!(sniff(b"single", &[]), b',');
        assert_eq!(sniff(b"a;b\r1;2\r", &[]), b';');
        // Commas inside the cells of a semicolon file: the rows still split evenly on ';'.
        assert_eq!(sniff(b"a,x;b,y,z;c\n1;2;3\n4;5;6\n", &[]), b';');
    }
}
