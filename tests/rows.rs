//! Row-level checks (SPEC §4, §5, §6): duplicates, cells that try to change the tag's query, and
//! the tag URL's length limit.

mod support;

use support::*;

#[test]
fn duplicate_order_ids_and_duplicate_rows() {
    let client = Client::rows(&[
        "01/06/2024 10:00,C-1,O-1,10.00,,ST01",
        "02/06/2024 10:00,C-2,O-1,20.00,,ST02",
        "01/06/2024 10:00,C-1,O-1,10.00,,ST01",
        "03/06/2024 10:00,C-5,,5,,",
        "03/06/2024 10:00,C-5,,5,,",
        // The same as row 2 once trimmed.
        "01/06/2024 10:00, C-1 , O-1 ,10.00,,ST01 ",
        "04/06/2024 10:00,C-8,O-8,8,,",
    ]);
    let run = dump(&client, &[]);
    run.expect_code(1);
    let dumps = run.dumps("fixture");
    assert_eq!(dumps.validated_rows(), [2, 5, 8]);
    assert_eq!(
        dumps.lines("exceptions"),
        [
            r#"row 3, column "Order Ref" (order_id): order id "O-1" was already used in row 2; row not fired"#,
            "row 4: duplicate of row 2 (the same payload); row not fired",
            "row 6: duplicate of row 5 (the same payload); row not fired",
            "row 7: duplicate of row 2 (the same payload); row not fired",
        ]
    );
    assert_eq!(summary_value(&run.stdout, "with exceptions"), "4 (not fired)");
}

const EVIL: &str = "x&rid=evil&account_token=zzz";

#[test]
fn cells_cannot_add_or_change_a_query_parameter() {
    let cells = [
        EVIL,
        "a=b",
        "say \"hi\"",
        "?replay=0",
        "#frag",
        "50%25 off+more",
        "%26rid%3Devil",
        "line\nrid=evil",
        "sp ace;semi,colon",
    ];
    let mut lines = Vec::new();
    for (index, cell) in cells.iter().enumerate() {
        let quote = |text: &str| format!("\"{}\"", text.replace('"', "\"\""));
        let (quoted, order_id) = (quote(cell), quote(&format!("O-{index}{cell}")));
        lines.push(format!("01/06/2024 10:00,{quoted},{order_id},1,{quoted},{quoted}"));
    }
    let client = Client::rows(&lines.iter().map(String::as_str).collect::<Vec<_>>());
    let run = dump(&client, &[]);
    run.expect_code(0);
    let dumps = run.dumps("fixture");
    let requests = dumps.lines("requests");
    let validated = dumps.validated();
    // One line per row: a newline in a cell is encoded too.
    assert_eq!(requests.len(), cells.len());
    for ((request, (_, payload)), cell) in requests.iter().zip(&validated).zip(cells) {
        let pairs = query_map(request);
        assert_eq!(
            pairs.keys().map(String::as_str).collect::<Vec<_>>(),
            [
                "account_token",
                "currency",
                "custom",
                "customer_id",
                "event_name",
                "event_time",
                "order_id",
                "replay",
                "revenue",
                "rid",
                "utm_source"
            ],
            "{request}"
        );
        assert_eq!(pairs["account_token"], TOKEN);
        assert_eq!(pairs["replay"], "1");
        assert_eq!(pairs["rid"], payload["rid"].as_str().unwrap());
        assert_eq!(pairs["customer_id"], cell.trim());
        assert_eq!(pairs["utm_source"], cell.trim());
        assert!(pairs["order_id"].ends_with(cell.trim()));
        assert_eq!(custom_of(&pairs)["store_id"], cell.trim());
        assert_eq!(payload["utm_source"], cell.trim());
        // Only the unreserved characters of RFC 3986 are left as they are in a value.
        let query = request.split_once('?').unwrap().1;
        for part in query.split('&') {
            let (_, value) = part.split_once('=').unwrap();
            assert!(
                value.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)),
                "{part} is not fully percent-encoded"
            );
        }
    }
}

#[test]
fn a_tag_url_over_8000_bytes_is_an_exception() {
    let url_length = |source: &str| -> usize {
        let client = Client::rows(&[&format!("01/06/2024 10:00,C-1,O-1,10.00,{source},ST01")]);
        let run = dump(&client, &[]);
        run.expect_code(0);
        run.lines_of("fixture", "requests")[0].len()
    };
    let base = url_length(&"a".repeat(100));
    // A utm_source that makes the URL exactly 8,000 bytes: still fine.
    let longest = 100 + 8000 - base;
    assert_eq!(url_length(&"a".repeat(longest)), 8000);

    let client = Client::rows(&[
        &format!("01/06/2024 10:00,C-1,O-1,10.00,{},ST01", "a".repeat(longest + 1)),
        "02/06/2024 10:00,C-2,O-2,20.00,,ST02",
        &format!("03/06/2024 10:00,C-3,O-3,30.00,,{}", "é".repeat(5000)),
    ]);
    let run = dump(&client, &[]);
    run.expect_code(1);
    let dumps = run.dumps("fixture");
    assert_eq!(dumps.validated_rows(), [3]);
    let exceptions = dumps.lines("exceptions");
    assert_eq!(exceptions.len(), 2);
    assert!(
        exceptions[0].starts_with("row 2: its tag URL would be 8001 bytes, over the DCS's 8000;"),
        "{}",
        exceptions[0]
    );
    assert!(exceptions[0].ends_with("; row not fired"));
    assert!(exceptions[1].starts_with("row 4: its tag URL would be "), "{}", exceptions[1]);
    // The long cell is not repeated in the message.
    assert!(exceptions.iter().all(|line| line.len() < 300));
}

#[test]
fn a_row_without_required_fields_or_identifiers_names_what_is_missing() {
    let client = Client::rows(&[",C-1,O-1,1,,", "01/06/2024 10:00,,O-2,1,,ST02"]);
    let run = dump(&client, &[]);
    run.expect_code(1);
    assert_eq!(
        run.lines_of("fixture", "exceptions"),
        [
            r#"row 2, column "Sale Date" (event_time): is empty and the mapping has no default; fill it in; row not fired"#,
            "row 3 (identifier): none of visitor_id, customer_id, email or phone has a usable value; a row needs one to be attributed; row not fired",
        ]
    );
}

#[test]
fn years_that_are_not_four_digits_are_exceptions_not_panics() {
    let client = Client::rows(&["24/06/24,C-1,O-1,1,,", "01/06/-0001,C-2,O-2,1,,", "01/06/2024,C-3,O-3,1,,"]);
    let run = dump(&client, &[]);
    run.expect_code(1);
    let dumps = run.dumps("fixture");
    assert_eq!(dumps.validated_rows(), [4]);
    let exceptions = dumps.lines("exceptions");
    assert!(
        exceptions[0].starts_with(r#"row 2, column "Sale Date" (event_time): "24/06/24" is in the year 24"#),
        "{exceptions:?}"
    );
    assert!(exceptions[1].starts_with("row 3, "), "{exceptions:?}");
}

// --- personal data ---------------------------------------------------------------------------

#[test]
fn an_email_address_outside_the_email_column_is_never_sent() {
    // A mapping that sends the Email column as a custom key, as the order id, as utm_source.
    let client = Client::rows(&[
        "01/06/2024 10:00,C-1,O-1,1,,jane.doe@example.com",
        "01/06/2024 10:00,C-2,Jane.Doe@Example.com,1,,s",
        "01/06/2024 10:00,C-3,O-3,1,mailto:jane.doe@example.com,s",
        "01/06/2024 10:00,jane.doe@example.com,O-4,1,,s",
        "01/06/2024 10:00,C-5,O-5,1,,@brand",
    ]);
    let run = dump(&client, &[]);
    run.expect_code(1);
    let dumps = run.dumps("fixture");
    let exceptions = dumps.lines("exceptions");
    let columns: Vec<&str> = exceptions.iter().map(|line| line.split(':').next().unwrap()).collect();
    assert_eq!(
        columns,
        [
            r#"row 2, column "Store" (custom.store_id)"#,
            r#"row 3, column "Order Ref" (order_id)"#,
            r#"row 4, column "utm_source" (utm_source)"#,
            r#"row 5, column "Customer" (customer_id)"#,
        ]
    );
    for line in &exceptions {
        assert!(line.contains(r#"map this column to "email""#), "{line}");
    }
    assert_eq!(dumps.validated_rows(), [6]);
    for kind in dumps.kinds() {
        assert!(!dumps.text(kind).to_lowercase().contains("jane"), "{kind} shows the address");
    }
    assert!(!run.stderr.to_lowercase().contains("jane") && !run.stdout.to_lowercase().contains("jane"));
}

const PHONE_MAPPING: &str = r#"{
  "account_token": "f1xtur3-t0k3n-0001",
  "timezone": "Europe/London",
  "country": "GB",
  "columns": { "event_time": "Date", "email": "Email", "phone": "Phone" },
  "defaults": { "event_name": "offline_sale" }
}"#;

#[test]
fn emails_and_phones_are_normalised_before_hashing() {
    use sha2::{Digest, Sha256};
    let hex = |text: &str| Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect::<String>();
    let csv = "Date,Email,Phone,customer_id\n\
        01/06/2024 10:00,mailto:Jane.Doe@Example.com,tel:+44 20 7946 0958,c1\n\
        01/06/2024 11:00,\u{200b}JANE.DOE@example.com\u{a0},020 7946 0958 ext. 7,c2\n\
        01/06/2024 12:00,x,020 7946 0958 / 020 7946 0959,c3\n";
    let client = Client::new(PHONE_MAPPING, csv);
    let run = dump(&client, &[]);
    run.expect_code(0);
    let dumps = run.dumps("fixture");
    let validated = dumps.validated();
    for (_, payload) in &validated[..2] {
        assert_eq!(payload["email_sha256"], hex("jane.doe@example.com"));
        assert_eq!(payload["phone_sha256"], hex("+442079460958"));
    }
    assert!(validated[2].1.get("phone_sha256").is_none());
    let warnings = dumps.lines("warnings");
    assert!(warnings
        .iter()
        .any(|w| w.starts_with("row 3, column \"Phone\" (phone): the phone number has an extension")));
    assert!(warnings
        .iter()
        .any(|w| w.starts_with("row 4, column \"Phone\" (phone): the phone number holds more than one number")));
    assert!(!dumps.text("warnings").contains("7946"));
}
