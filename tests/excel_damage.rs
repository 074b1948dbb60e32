//! Excel's damage in a CSV (SPEC §11.2): digits lost to scientific notation, error values and
//! formulas as text, data under no header, day and month that could be swapped, identifiers the
//! client hashed. Each is caught with a message naming the row, the column and the fix.

mod support;

use support::*;

/// The fixture's mapping over the fixture's header and `email`, `phone` (read by their names).
const HEADER_WITH_PERSONAL: &str = "Sale Date,Customer,Order Ref,Sale Value,utm_source,Store,email,phone";

fn warnings_and_exceptions(run: &Run) -> (Vec<String>, Vec<String>) {
    let dumps = run.dumps("fixture");
    (dumps.lines("warnings"), dumps.lines("exceptions"))
}

#[test]
fn identifiers_in_scientific_notation_are_exceptions_and_custom_ones_warnings() {
    let client = Client::rows(&[
        "15/06/2024 10:00,1.23457E+12,O-1,10.00,,ST01",
        "15/06/2024 10:01,C-2,4.56e+15,10.00,,ST02",
        "15/06/2024 10:02,C-3,O-3,10.00,,1.23456789012346E+18",
        "15/06/2024 10:03,C-4,O-4,10.00,,ST04",
    ]);
    let run = dump(&client, &[]);
    run.expect_code(1);
    let (warnings, exceptions) = warnings_and_exceptions(&run);
    assert_eq!(
        exceptions,
        [
            r#"row 2, column "Customer" (customer_id): "1.23457E+12": Excel wrote this number in scientific notation and kept only 6 of its digits; format the column as Text in the template and export again; row not fired"#,
            r#"row 3, column "Order Ref" (order_id): "4.56e+15": Excel wrote this number in scientific notation and kept only 3 of its digits; format the column as Text in the template and export again; row not fired"#,
        ]
    );
    assert_eq!(
        warnings,
        [
            r#"row 4, column "Store" (custom.store_id): "1.23456789012346E+18": Excel wrote this number in scientific notation and kept only 15 of its digits; format the column as Text in the template and export again; sent 1.23456789012346E+18"#
        ]
    );
    let validated = run.dumps("fixture").validated();
    assert_eq!(validated.iter().map(|(row, _)| *row).collect::<Vec<_>>(), [4, 5]);
    assert_eq!(validated[0].1["custom"]["store_id"], "1.23456789012346E+18");
}

#[test]
fn error_values_and_formulas_written_as_text_are_exceptions() {
    let client = Client::rows(&[
        "15/06/2024 10:00,#N/A,O-1,10.00,,ST01",
        "15/06/2024 10:01,C-2,O-2,#VALUE!,,ST02",
        "15/06/2024 10:02,C-3,O-3,10.00,,\"=VLOOKUP(A4,Stores!A:B,2,FALSE)\"",
        "15/06/2024 10:03,C-4,O-4,10.00,=A1+B2,ST04",
        "#REF!,C-5,O-5,10.00,,ST05",
        "15/06/2024 10:05,C-6,O-6,=SUM(D2:D6),,ST06",
        // A hashtag and a lone '=' are data.
        "15/06/2024 10:06,C-7,O-7,10.00,#summer,=",
    ]);
    let run = dump(&client, &[]);
    run.expect_code(1);
    let (_, exceptions) = warnings_and_exceptions(&run);
    let error = |value: &str, meaning: &str| {
        format!("holds Excel's error value {value} ({meaning}), not data; fix the formula in Excel (or paste the column as values) and export again; row not fired")
    };
    let formula = "holds the text of an Excel formula, not its value; fix the formula in Excel, or copy the column and paste it as values, and export again; row not fired";
    assert_eq!(
        exceptions,
        [
            format!(r#"row 2, column "Customer" (customer_id): {}"#, error("#N/A", "a look-up found nothing")),
            format!(
                r#"row 3, column "Sale Value" (revenue): {}"#,
                error("#VALUE!", "a formula got a value of the wrong type")
            ),
            format!(r#"row 4, column "Store" (custom.store_id): {formula}"#),
            format!(r#"row 5, column "utm_source" (utm_source): {formula}"#),
            format!(
                r#"row 6, column "Sale Date" (event_time): {}"#,
                error("#REF!", "a formula refers to a cell that was deleted")
            ),
            format!(r#"row 7, column "Sale Value" (revenue): {formula}"#),
        ]
    );
    let validated = run.dumps("fixture").validated();
    assert_eq!(validated.len(), 1);
    assert_eq!(validated[0].1["utm_source"], "#summer");
    assert_eq!(validated[0].1["custom"]["store_id"], "=");
}

#[test]
fn data_under_no_header_is_one_warning_and_empty_headerless_columns_stay_silent() {
    // Column C has no header and holds data; H (inside the header row) too; I is Excel's
    // trailing comma, empty in every row.
    let csv = "Sale Date,Customer,,Order Ref,Sale Value,utm_source,Store,,\n\
               15/06/2024 10:00,C-1,note,O-1,10.00,,ST01,,\n\
               15/06/2024 10:01,C-2,,O-2,10.00,,ST02,x,\n\
               15/06/2024 10:02,C-3,other,O-3,10.00,,ST03,,\n\
               15/06/2024 10:03,C-4,,O-4,10.00,,ST04\n";
    let client = Client::new(MAPPING, csv);
    let run = dump(&client, &[]);
    run.expect_code(0);
    let (warnings, exceptions) = warnings_and_exceptions(&run);
    assert!(exceptions.is_empty(), "{exceptions:?}");
    assert_eq!(
        warnings,
        [
            r#"file: 2 columns hold data but have no header, so they are not sent: column C (2 cells), column H (1 cell); give them a header and map them in "columns" or "custom" if they matter, or delete them"#
        ]
    );
    let dumps = run.dumps("fixture");
    assert_eq!(dumps.validated_rows(), [2, 3, 4, 5]);
    for request in dumps.lines("requests") {
        assert!(!request.contains("note") && !request.contains("other"), "{request}");
    }

    // A cell past the header row's own cells is still an extra cell; an empty column is silent.
    let csv = "Sale Date,Customer,Order Ref,Sale Value,utm_source,Store,\n\
               15/06/2024 10:00,C-1,O-1,10.00,,ST01,,\n\
               15/06/2024 10:01,C-2,O-2,10.00,,ST02,,late\n";
    let client = Client::new(MAPPING, csv);
    let run = dump(&client, &[]);
    run.expect_code(1);
    let (warnings, exceptions) = warnings_and_exceptions(&run);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(exceptions.len(), 1);
    assert!(
        exceptions[0].starts_with("row 3: cell 8 is past the header's last column and not empty"),
        "{exceptions:?}"
    );
}

#[test]
fn dates_that_could_be_read_month_first_get_one_warning() {
    let client = Client::rows(&[
        "05/05/2024 10:00,C-1,O-1,10.00,,ST01",
        "01/02/2024 10:00,C-2,O-2,10.00,,ST02",
        "12/03/2024,C-3,O-3,10.00,,ST03",
    ]);
    let run = dump(&client, &[]);
    run.expect_code(0);
    let (warnings, _) = warnings_and_exceptions(&run);
    assert_eq!(
        warnings,
        [
            r#"file: all 3 dates of the event time were read day first and none has a day over 12, so each could also be read month first: 01/02/2024 10:00 (row 3) was read as 1 February 2024, not 2 January; if the client writes the month first, put a month-first format like "%m/%d/%Y" in the mapping's "date_formats""#
        ]
    );
    // The terminal shows it too, wrapped.
    let terminal = run.stderr.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(terminal.contains("was read as 1 February 2024, not 2 January"), "{}", run.stderr);

    // One day over 12, an ISO date or an Excel serial settles it: no warning.
    for settling in ["13/02/2024 10:00", "2024-02-01 10:00", "45444"] {
        let mapping =
            MAPPING.replace(r#""%d/%m/%Y %H:%M", "%d/%m/%Y""#, r#""%d/%m/%Y %H:%M", "%d/%m/%Y", "%Y-%m-%d %H:%M""#);
        let csv = format!("{HEADER}\n01/02/2024 10:00,C-1,O-1,10.00,,ST01\n{settling},C-2,O-2,10.00,,ST02\n");
        let client = Client::new(&mapping, csv);
        let run = dump(&client, &[]);
        let (warnings, exceptions) = warnings_and_exceptions(&run);
        assert!(exceptions.is_empty(), "{settling}: {exceptions:?}");
        assert!(warnings.iter().all(|line| !line.contains("month first")), "{settling}: {warnings:?}");
    }

    // A default is no date of the column: it neither counts nor settles (its day is over 12).
    let mapping = MAPPING.replace(r#""defaults": {"#, r#""defaults": { "event_time": "20/06/2024 12:00","#);
    let csv = format!("{HEADER}\n,C-1,O-1,10.00,,ST01\n03/04/2024 10:00,C-2,O-2,10.00,,ST02\n");
    let client = Client::new(&mapping, csv);
    let run = dump(&client, &[]);
    run.expect_code(0);
    let (warnings, _) = warnings_and_exceptions(&run);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with("file: the only date of the event time")
            && warnings[0].contains("(row 3) was read as 3 April 2024, not 4 March"),
        "{warnings:?}"
    );
}

const SHA256_ABC: &str = "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD";

#[test]
fn hashes_made_by_the_client_are_sent_once_counted_or_dropped() {
    let md5 = "900150983cd24fb0d6963f7d28e17f72";
    let base64 = "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=";
    let rows = [
        format!("15/06/2024 10:00,C-1,O-1,10.00,,ST01,{SHA256_ABC},"),
        format!("15/06/2024 10:01,C-2,O-2,10.00,,ST02,{},+44 20 7946 0958", SHA256_ABC.to_lowercase()),
        format!("15/06/2024 10:02,C-3,O-3,10.00,,ST03,{md5},{SHA256_ABC}"),
        format!("15/06/2024 10:03,C-4,O-4,10.00,,ST04,jane@example.com,{base64}"),
    ];
    let client = Client::new(MAPPING, format!("{HEADER_WITH_PERSONAL}\n{}\n", rows.join("\n")));
    let run = dump(&client, &[]);
    run.expect_code(0);
    let (warnings, _) = warnings_and_exceptions(&run);
    let lower = SHA256_ABC.to_lowercase();
    for line in &warnings {
        for secret in [lower.as_str(), SHA256_ABC, md5, base64, "jane"] {
            assert!(!line.contains(secret), "{line} shows personal data");
        }
    }
    assert_eq!(
        warnings,
        [
            r#"row 4, column "email" (email): holds an MD5 hash (32 hex digits) instead of the address or number (value not shown: personal data), which the DCS cannot match; send the address or number itself (it is hashed here), or its SHA-256 in hex; not sent"#,
            r#"row 5, column "phone" (phone): holds a base64-encoded hash instead of the address or number (value not shown: personal data), which the DCS cannot match; send the address or number itself (it is hashed here), or its SHA-256 in hex; not sent"#,
            "file: 2 email cell(s) and 1 phone cell(s) held 64 hex digits, taken as SHA-256 hashes the client made and sent as they are (lower-cased), not hashed again; they match only if the values were normalised before hashing as the ad platforms do (e-mail trimmed and lower-cased, without mailto:; phone in E.164, like +442079460958): check with the client",
        ]
    );
    let validated = run.dumps("fixture").validated();
    assert_eq!(validated[0].1["email_sha256"], lower.as_str());
    assert_eq!(validated[1].1["email_sha256"], lower.as_str());
    assert_eq!(validated[2].1.get("email_sha256"), None);
    assert_eq!(validated[2].1["phone_sha256"], lower.as_str());
    assert_eq!(validated[3].1.get("phone_sha256"), None);
}

/// A file of `rows` rows well past the first 64 KiB; `last` is the last row's text.
fn long_file(rows: usize, date: impl Fn(usize) -> String, last: &str) -> String {
    let mut csv = String::from("Sale Date,Customer,Order Ref,Sale Value,utm_source,Store,\n");
    for index in 0..rows - 1 {
        csv.push_str(&format!("{},C-{index},O-{index},{}.50,,ST{:02},\n", date(index), index % 500, index % 7));
    }
    csv.push_str(last);
    csv.push('\n');
    assert!(csv.len() > 3 * 65536, "{} bytes", csv.len());
    csv
}

#[test]
fn damage_in_the_last_rows_of_a_long_file_is_found() {
    // Every day 12 or less but the last row's; its header-less cell and its scientific
    // customer id are the only ones.
    let date = |index: usize| format!("{:02}/{:02}/2024 10:{:02}", index % 12 + 1, index % 5 + 1, index % 60);
    let csv = long_file(5000, date, "13/05/2024 10:00,4.56E+15,O-last,1.00,,ST01,stray");
    let client = Client::new(MAPPING, csv);
    let run = dump(&client, &[]);
    run.expect_code(1);
    let (warnings, exceptions) = warnings_and_exceptions(&run);
    assert_eq!(
        exceptions,
        [
            r#"row 5001, column "Customer" (customer_id): "4.56E+15": Excel wrote this number in scientific notation and kept only 3 of its digits; format the column as Text in the template and export again; row not fired"#
        ]
    );
    assert_eq!(
        warnings,
        [
            r#"file: column G holds data in 1 cell but has no header, so it is not sent; give it a header and map it in "columns" or "custom" if it matters, or delete it"#
        ]
    );
    assert_eq!(summary_value(&run.stdout, "valid"), "4,999");

    // Without the last row's day over 12, the first date whose day and month differ is shown,
    // whichever batch and core read it.
    let same = |index: usize| {
        let day = index % 12 + 1;
        match index {
            0..3000 => format!("{day:02}/{day:02}/2024 10:{:02}", index % 60),
            _ => format!("{day:02}/{:02}/2024 10:{:02}", (index + 1) % 12 + 1, index % 60),
        }
    };
    let csv = long_file(5000, same, "11/05/2024 10:00,C-last,O-last,1.00,,ST01,");
    let client = Client::new(MAPPING, csv);
    let run = dump(&client, &[]);
    run.expect_code(0);
    let (warnings, _) = warnings_and_exceptions(&run);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with("file: all 5000 dates")
            && warnings[0].contains("01/02/2024 10:00 (row 3002) was read as 1 February 2024, not 2 January"),
        "{warnings:?}"
    );
}
