//! Properties over arbitrary cells (SPEC §4, §5, §6): `format_data` never panics, and a valid
//! row's tag URL parses back to exactly its payload, whatever its cells hold. And the binary
//! never panics on an arbitrary file.

mod support;

use std::sync::OnceLock;

use chrono::{TimeZone, Utc};
use csv::StringRecord;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use replayer::read::resolve_columns;
use replayer::read::Mapping;
use replayer::row::config::ReplayerConfig;
use sha2::{Digest, Sha256};

const FIELDS: [&str; 21] = [
    "account_token",
    "event_name",
    "event_time",
    "visitor_id",
    "customer_id",
    "email",
    "phone",
    "order_id",
    "revenue",
    "currency",
    "quantity",
    "page_url",
    "referrer",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "gclid",
    "ip",
    "user_agent",
];
const CUSTOM_HEADERS: [&str; 2] = ["Store", "Note"];
const EMAIL: &str = "Jane.Doe@Example.com";

fn replayer_config() -> &'static ReplayerConfig {
    static CONFIG: OnceLock<ReplayerConfig> = OnceLock::new();
    CONFIG.get_or_init(|| {
        let mapping = Mapping::parse(
            r#"{"account_token": "f1xtur3-t0k3n-0001", "timezone": "Europe/London", "currency": "GBP",
                "events": ["offline_sale", "store_visit"], "custom": {"store_id": "Store", "note": "Note"},
                "defaults": {"event_name": "offline_sale"}}"#,
        )
        .unwrap();
        let headers: Vec<String> = FIELDS.iter().chain(&CUSTOM_HEADERS).map(|h| h.to_string()).collect();
        let (columns, unmapped) = resolve_columns(&headers, &mapping).unwrap();
        assert_eq!(unmapped, None);
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        ReplayerConfig::new(mapping, columns, now).unwrap()
    })
}

/// Any text, with the characters that could break a query or a JSON string made likely.
fn text() -> BoxedStrategy<String> {
    // proptest favours U+FFFD, which makes any row an exception: `row` adds it now and then.
    let no_replacement = |text: String| text.replace('\u{FFFD}', "?");
    prop_oneof![
        3 => "(?s).{0,24}".prop_map(no_replacement),
        2 => "[&=%+#?/;,\"'\\\\ \t\r\n\u{0}-\u{1f}\u{7f}\u{a0}\u{2028}\u{feff}éß東😀a-z0-9]{0,16}",
        1 => "[ -~]{0,24}",
        1 => Just(String::new()),
        1 => any::<String>().prop_map(no_replacement),
    ]
    .boxed()
}

/// A cell for one field: arbitrary text, or a value that field accepts, so that many rows are valid.
fn cell(field: &str) -> BoxedStrategy<String> {
    let valid: &[&str] = match field {
        "account_token" => &["", "", " f1xtur3-t0k3n-0001 "],
        "event_name" => &["", "Store_Visit"],
        "event_time" => &["2024-06-01T12:00:00+02:00", "01/06/2024", "45444.5", "31/03/2024 01:30", "2024-10-27 01:30"],
        "email" => &[EMAIL, ""],
        "phone" => &["+44 20 7946 0123", ""],
        "revenue" => &["£1,234.50", "-0.5", ""],
        "currency" => &[" eur ", ""],
        "quantity" => &["2.0", ""],
        "page_url" | "referrer" => &["https://shop.example.com/p?a=1&b=2#x", ""],
        "ip" => &["192.0.2.7", "2001:DB8::1"],
        "visitor_id" | "customer_id" => &["", " v-1 "],
        _ => &[""],
    };
    let valid: Vec<String> = valid.iter().map(|v| v.to_string()).collect();
    // Arbitrary text in these is nearly always an exception: keep it rarer so most rows get through.
    let text_weight =
        if ["account_token", "event_name", "event_time", "revenue", "currency"].contains(&field) { 1 } else { 4 };
    prop_oneof![6 => proptest::sample::select(valid), text_weight => text()].boxed()
}

fn row() -> impl Strategy<Value = Vec<String>> {
    let cells: Vec<BoxedStrategy<String>> =
        FIELDS.iter().map(|field| cell(field)).chain(CUSTOM_HEADERS.iter().map(|_| text())).collect();
    (cells, proptest::option::weighted(0.1, 0..FIELDS.len() + CUSTOM_HEADERS.len())).prop_map(|(mut cells, damaged)| {
        if let Some(index) = damaged {
            cells[index].push('\u{FFFD}');
        }
        cells
    })
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn a_valid_rows_tag_url_parses_back_to_its_payload(cells in row()) {
        let record = StringRecord::from(cells.clone());
        let outcome = replayer_config().format_data(&record, &[]);
        match outcome {
            Err(problems) => {
                prop_assert!(!problems.is_empty());
                for problem in &problems {
                    let shown = format!("{} {:?}", problem.message, problem.value);
                    prop_assert!(!shown.contains(EMAIL) && !shown.contains("7946 0123"), "{}", shown);
                }
            }
            Ok(formatted) => {
                let payload = &formatted.payload;
                let mut json = Vec::new();
                payload.write_json_without_rid(&mut json);
                let json = String::from_utf8(json).unwrap();
                prop_assert_eq!(payload.rid(), &hex(&Sha256::digest(json.as_bytes()))[..32]);
                let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&json).unwrap();

                let mut expected: Vec<(String, String)> = object
                    .iter()
                    .map(|(key, value)| match value {
                        serde_json::Value::String(text) => (key.clone(), text.clone()),
                        // custom travels as a JSON string.
                        other => (key.clone(), serde_json::to_string(other).unwrap()),
                    })
                    .collect();
                expected.push(("rid".to_owned(), payload.rid().to_owned()));

                let tag_url = payload.tag_url(support::REQUEST_URL);
                let url = url::Url::parse(&tag_url).unwrap();
                prop_assert_eq!(url.path(), "/tag");
                prop_assert_eq!(url.fragment(), None);
                let pairs: Vec<(String, String)> = url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
                prop_assert_eq!(&pairs, &expected);
                prop_assert!(!tag_url.contains(['\n', '\r', ' ', '#']));

                for (key, value) in &pairs {
                    prop_assert!(!value.contains('\u{FFFD}'), "{key}: {value:?}");
                }
                prop_assert!(!json.to_lowercase().contains("jane.doe@example.com"));
                prop_assert!(!json.contains("7946 0123") && !json.contains("+442079460123"));
                for warning in &formatted.warnings {
                    let shown = format!("{} {:?}", warning.message, warning.value);
                    prop_assert!(!shown.contains(EMAIL) && !shown.contains("7946 0123"), "{}", shown);
                }
                // The same row gives the same payload.
                prop_assert_eq!(&replayer_config().format_data(&record, &[]).unwrap().payload, payload);
            }
        }
    }
}

/// A cell of the structured files: mostly one the column accepts, so that most rows are valid.
fn file_cell(column: usize, index: usize) -> BoxedStrategy<String> {
    let valid: Vec<String> = match column {
        0 => vec!["01/06/2024 10:00".into(), "2024-06-01T12:00:00Z".into(), "02/06/2024".into()],
        1 => vec![format!("C-{index}"), format!(" c-{index} ")],
        2 => vec![format!("O-{index}"), String::new()],
        3 => vec!["10.00".into(), "£1,234.50".into(), String::new()],
        _ => vec![String::new(), "news".into(), "ST01".into()],
    };
    let text_weight = if column < 4 { 1 } else { 6 };
    prop_oneof![8 => proptest::sample::select(valid), text_weight => text()].boxed()
}

/// Some bytes a file could hold: structured CSV with odd cells, delimiters, quotes, line ends
/// and encodings, or plain noise.
fn file_bytes() -> impl Strategy<Value = Vec<u8>> {
    let rows = proptest::collection::vec(
        (0..6usize).prop_flat_map(|index| (0..6).map(|column| file_cell(column, index)).collect::<Vec<_>>()),
        0..8,
    );
    let structured = (
        proptest::sample::select(vec![b',', b';', b'\t', b'|']),
        proptest::sample::select(vec!["\n", "\r\n", "\r"]),
        rows,
        proptest::sample::select(vec!["", "\u{feff}", "utf16"]),
        proptest::collection::vec(any::<u8>(), 0..3),
        proptest::option::weighted(0.2, any::<usize>()),
    )
        .prop_map(|(delimiter, newline, rows, prefix, noise, broken)| {
            let header = ["Sale Date", "Customer", "Order Ref", "Sale Value", "utm_source", "Store"];
            let mut writer = csv::WriterBuilder::new()
                .delimiter(delimiter)
                .terminator(csv::Terminator::Any(newline.as_bytes()[newline.len() - 1]))
                .from_writer(Vec::new());
            writer.write_record(header).unwrap();
            for row in &rows {
                writer.write_record(row).unwrap();
            }
            let mut text = String::from_utf8(writer.into_inner().unwrap()).unwrap();
            if newline == "\r\n" {
                text = text.replace('\n', "\r\n");
            }
            // Now and then a quote out of place, anywhere.
            if let Some(at) = broken {
                let at = at % (text.len() + 1);
                if text.is_char_boundary(at) {
                    text.insert(at, '"');
                }
            }
            let mut bytes = match prefix {
                "utf16" => [0xFF, 0xFE].into_iter().chain(text.encode_utf16().flat_map(u16::to_le_bytes)).collect(),
                bom => format!("{bom}{text}").into_bytes(),
            };
            bytes.extend(noise);
            bytes
        });
    prop_oneof![6 => structured, 1 => proptest::collection::vec(any::<u8>(), 0..300)]
}

#[test]
fn no_file_makes_the_binary_panic_and_most_structured_rows_are_valid() {
    let mut runner = proptest::test_runner::TestRunner::new(config(64));
    let (mut rows_read, mut rows_valid) = (0u64, 0u64);
    let counts = std::cell::RefCell::new((0u64, 0u64));
    runner
        .run(&file_bytes(), |bytes| {
            let client = support::Client::new(support::MAPPING, &bytes);
            let run = support::dump(&client, &[]);
            prop_assert!([0, 1, 2].contains(&run.code), "exit {}:\n{}", run.code, run.stderr);
            if run.code != 2 {
                let dumps = run.dumps("fixture");
                for line in dumps.lines("requests") {
                    support::query_map(&line);
                    prop_assert!(!line.contains("%EF%BF%BD"), "a replacement character reached a tag: {line}");
                }
                let valid = dumps.validated().len() as u64;
                let read: u64 = support::summary_value(&run.stdout, "rows read").parse().unwrap();
                let mut counts = counts.borrow_mut();
                counts.0 += read;
                counts.1 += valid;
            }
            Ok(())
        })
        .unwrap();
    (rows_read, rows_valid) = (counts.borrow().0 + rows_read, counts.borrow().1 + rows_valid);
    // The checks above ran on many rows: a generator that makes few valid rows tests little.
    assert!(rows_read > 100, "{rows_read} rows read");
    assert!(rows_valid * 3 > rows_read, "{rows_valid} of {rows_read} rows valid");
}

/// Cells with quotes, delimiters, line ends of every kind and any character, but no '@' (an
/// address would make its row an exception), no '=' (a formula's text is one too, SPEC §11.2)
/// and no replacement character.
fn written_cell() -> BoxedStrategy<String> {
    prop_oneof![
        3 => "[a-z0-9 ,;|\t\"\r\néß東😀\u{a0}\u{2028}]{0,12}",
        1 => any::<String>().prop_map(|text| text.replace(['@', '=', '\u{FFFD}'], "")),
        1 => Just(String::new()),
    ]
    .boxed()
}

proptest! {
    #![proptest_config(config(48))]

    #[test]
    fn the_cells_written_by_the_csv_crate_are_the_cells_sent_on_their_rows(
        delimiter in proptest::sample::select(vec![b',', b';', b'\t', b'|']),
        records in proptest::collection::vec(
            (proptest::collection::vec(written_cell(), 3), 0..3usize, 0..2usize, 0..3usize),
            1..12,
        ),
    ) {
        let ends = ["\n", "\r\n", "\r"];
        let headers = ["row_key", "c1", "c2", "c3"];
        let line = |cells: &[String]| {
            let mut writer = csv::WriterBuilder::new().delimiter(delimiter).terminator(csv::Terminator::Any(b'\n')).from_writer(Vec::new());
            writer.write_record(cells).unwrap();
            let mut bytes = writer.into_inner().unwrap();
            bytes.pop();
            bytes
        };
        let mut file = line(&headers.map(str::to_owned));
        file.extend_from_slice(ends[0].as_bytes());
        let mut row = 1u64;
        let mut expected = Vec::new();
        let mut after_cr = false;
        for (index, (cells, end, blank_lines, blank_end)) in records.iter().enumerate() {
            for _ in 0..*blank_lines {
                // A CR then an LF would be one line end: a blank line right after a CR is not an LF.
                let blank = if after_cr && *blank_end == 0 { 2 } else { *blank_end };
                file.extend_from_slice(ends[blank].as_bytes());
                after_cr = blank == 2;
                row += 1;
            }
            after_cr = *end == 2;
            row += 1;
            let mut all = vec![format!("r{index}")];
            all.extend(cells.iter().cloned());
            file.extend(line(&all));
            file.extend_from_slice(ends[*end].as_bytes());
            let sent: Vec<(String, String)> = headers
                .iter()
                .zip(&all)
                .filter(|(_, cell)| !cell.trim().is_empty())
                .map(|(header, cell)| (header.to_string(), cell.trim().to_owned()))
                .collect();
            expected.push((row, sent));
        }
        let mapping = serde_json::json!({
            "account_token": support::TOKEN,
            "custom": {"row_key": "row_key", "c1": "c1", "c2": "c2", "c3": "c3"},
            "defaults": {"event_name": "offline_sale", "event_time": "2024-06-01T12:00:00Z", "customer_id": "c"}
        });
        let client = support::Client::new(&mapping.to_string(), &file);
        let run = support::dump(&client, &[]);
        prop_assert_eq!(run.code, 0, "{}", run.stderr);
        let sent: Vec<(u64, Vec<(String, String)>)> = run
            .dumps("fixture")
            .validated()
            .into_iter()
            .map(|(row, payload)| {
                let custom = payload["custom"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned())).collect();
                (row, custom)
            })
            .collect();
        prop_assert_eq!(sent, expected);
    }
}
