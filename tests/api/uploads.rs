//! Uploading: templates, the size limit, files that are not CSV, deleting and the sweep.

use std::time::Duration;

use replayer::db::users::Role;

use crate::helpers::{repo, spawn_app, spawn_app_with};

#[tokio::test]
async fn each_client_has_a_template_of_its_mapped_headers() {
    let app = spawn_app().await;
    app.add_user("ann@example.com", Role::Analyst).await;
    let browser = app.sign_in("ann@example.com").await;
    let home = browser.get("/").await.text().await.unwrap();
    assert!(home.contains("href=\"/clients/example/template.csv\""), "{home}");
    let response = browser.get("/clients/example/template.csv").await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let template = response.text().await.unwrap();
    assert_eq!(
        template,
        "Account Token,Event,Sale Date,Visitor,Customer,Email,Phone,Order Ref,Sale Value,Currency,Qty,Landing Page,Referrer,IP,User Agent,Store,Sold By\n"
    );
    assert_eq!(browser.get("/clients/..%2Fclients/template.csv").await.status(), 404);
    assert_eq!(browser.get("/clients/nobody/template.csv").await.status(), 404);
}

#[tokio::test]
async fn the_template_workbook_downloads_for_a_signed_in_user_only() {
    let app = spawn_app().await;
    let anonymous = app.http.get(app.url("/clients/example/template.xlsx")).send().await.unwrap();
    assert_eq!(anonymous.status(), 303);
    assert_eq!(anonymous.headers()["location"], "/login");

    app.add_user("ann@example.com", Role::Analyst).await;
    let browser = app.sign_in("ann@example.com").await;
    let home = browser.get("/").await.text().await.unwrap();
    assert!(home.contains("href=\"/clients/example/template.xlsx\""), "{home}");
    let response = browser.get("/clients/example/template.xlsx").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet");
    assert_eq!(response.headers()["content-disposition"], "attachment; filename=\"example-template.xlsx\"");
    let bytes = response.bytes().await.unwrap().to_vec();
    let mut workbook = calamine::Xlsx::new(std::io::Cursor::new(bytes)).unwrap();
    use calamine::Reader;
    assert_eq!(workbook.sheet_names(), ["Example Ltd", "Fields"]);
    let range = workbook.worksheet_range("Example Ltd").unwrap();
    let headers: Vec<String> = range.rows().next().unwrap().iter().map(|cell| cell.to_string()).collect();
    let csv = browser.get("/clients/example/template.csv").await.text().await.unwrap();
    assert_eq!(headers.join(",") + "\n", csv, "the workbook and the CSV have the same columns");
    assert_eq!(browser.get("/clients/nobody/template.xlsx").await.status(), 404);
}

#[tokio::test]
async fn an_upload_over_the_limit_gets_a_clear_message_and_leaves_nothing_staged() {
    let app = spawn_app_with(|config| config.max_upload = 4096).await;
    app.add_user("ann@example.com", Role::Analyst).await;
    let browser = app.sign_in("ann@example.com").await;
    let bytes = std::fs::read(repo("clients/example/example.csv")).unwrap();
    assert!(bytes.len() > 4096);
    let response = browser.upload("/uploads", "example", "example.csv", bytes).await;
    assert_eq!(response.status(), 413);
    let page = response.text().await.unwrap();
    assert!(page.contains("larger than the upload limit of 4 KiB (--max-upload)"), "{page}");
    let uploads = app.db.uploads(10).await.unwrap();
    assert_eq!(uploads.len(), 1);
    assert!(!uploads[0].staged);
    assert_eq!(app.chunks(uploads[0].id.as_str()).await, 0);
    // Past axum's default 2 MB limit, within ours: accepted.
    let app = spawn_app_with(|config| config.max_upload = 8 << 20).await;
    app.add_user("ann@example.com", Role::Analyst).await;
    let browser = app.sign_in("ann@example.com").await;
    let mut big = std::fs::read(repo("clients/example/example.csv")).unwrap();
    let rows: Vec<u8> = big.split(|&b| b == b'\n').nth(1).unwrap().to_vec();
    while big.len() < 3 << 20 {
        big.extend_from_slice(&rows);
        big.push(b'\n');
    }
    let response = browser.upload("/uploads", "example", "big.csv", big.clone()).await;
    assert_eq!(response.status(), 303);
    let id = response.headers()["location"].to_str().unwrap().trim_start_matches("/uploads/").to_owned();
    let upload = browser.wait_checked(&id).await;
    assert_eq!(upload["size_bytes"], big.len() as u64);
    assert_eq!(app.chunks(&id).await, big.len().div_ceil(1 << 20) as i64);
}

#[tokio::test]
async fn a_file_that_is_not_csv_gets_a_clear_message() {
    let app = spawn_app().await;
    app.add_user("ann@example.com", Role::Analyst).await;
    let browser = app.sign_in("ann@example.com").await;
    let cases: [(&str, Vec<u8>, &str); 2] = [
        ("logo.png", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec(), "PNG image"),
        ("data.bin", b"Account Token,Event\n\0\0\0\x01\x02\0".to_vec(), "NUL bytes"),
    ];
    for (name, bytes, expected) in cases {
        let response = browser.upload("/uploads", "example", name, bytes).await;
        assert_eq!(response.status(), 415, "{name}");
        let page = response.text().await.unwrap();
        assert!(page.contains("not a CSV file") && page.contains(expected), "{name}: {page}");
    }
    for upload in app.db.uploads(10).await.unwrap() {
        assert_eq!(app.chunks(upload.id.as_str()).await, 0);
    }
    // A ZIP is taken as a workbook and checked as the command line checks it, which says what it is.
    let response =
        browser.upload("/uploads", "example", "sales.xlsx", b"PK\x03\x04\x14\x00\x06\x00rest".to_vec()).await;
    assert_eq!(response.status(), 303);
    let id = response.headers()["location"].to_str().unwrap().trim_start_matches("/uploads/").to_owned();
    let upload = browser.wait_checked(&id).await;
    assert!(upload["error"].as_str().is_some_and(|error| error.contains("not a workbook")), "{upload}");
    let response = browser.upload("/uploads", "nobody", "x.csv", b"a,b\n".to_vec()).await;
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("there is no client"));
}

#[tokio::test]
async fn a_file_name_is_only_shown_escaped() {
    let app = spawn_app().await;
    app.add_user("ann@example.com", Role::Analyst).await;
    let browser = app.sign_in("ann@example.com").await;
    let bytes = std::fs::read(repo("clients/example/example.csv")).unwrap();
    let response = browser.upload("/uploads", "example", "..\\<img src=x onerror=alert(1)>.csv", bytes).await;
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let page = browser.get(&location).await.text().await.unwrap();
    assert!(!page.contains("<img") && page.contains("&lt;img src=x onerror=alert(1)&gt;.csv"), "{page}");
}

#[tokio::test]
async fn delete_removes_the_staged_chunks_and_keeps_the_history() {
    let app = spawn_app().await;
    app.add_user("ann@example.com", Role::Analyst).await;
    let browser = app.sign_in("ann@example.com").await;
    let id = browser.upload_and_check("example", &repo("clients/example/example.csv")).await;
    assert_eq!(app.chunks(&id).await, 1);
    assert!(!app.dumps_of(&id).is_empty());
    let response = browser.post_form(&format!("/uploads/{id}/delete"), &[("csrf", &browser.csrf)]).await;
    assert_eq!(response.status(), 303);
    assert_eq!(app.chunks(&id).await, 0);
    assert!(app.dumps_of(&id).is_empty());
    let upload = browser.api(&id).await;
    assert_eq!(upload["state"], "deleted");
    assert_eq!(upload["staged"], false);
    assert_eq!(upload["deleted_by"], "ann@example.com");
    assert_eq!(upload["counts"]["valid"], 32);
    assert_eq!(upload["file_name"], "example.csv");
    assert_eq!(browser.get(&format!("/uploads/{id}/dumps/requests")).await.status(), 404);
    let home = browser.get("/").await.text().await.unwrap();
    assert!(home.contains("example.csv") && home.contains("deleted"));
}

#[tokio::test]
async fn staged_files_older_than_the_retention_are_swept() {
    let app = spawn_app_with(|config| config.retention = Duration::from_secs(1)).await;
    app.add_user("ann@example.com", Role::Analyst).await;
    let browser = app.sign_in("ann@example.com").await;
    let id = browser.upload_and_check("example", &repo("clients/example/example.csv")).await;
    let start = std::time::Instant::now();
    while app.chunks(&id).await > 0 {
        assert!(start.elapsed() < Duration::from_secs(10), "the sweep did not come");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let upload = browser.api(&id).await;
    assert_eq!((upload["state"].as_str(), upload["staged"].as_bool()), (Some("checked"), Some(false)));
    // The dumps stay: the sweep removes what is staged in the database.
    assert_eq!(browser.get(&format!("/uploads/{id}/dumps/requests")).await.status(), 200);
}

#[tokio::test]
async fn a_restarted_server_checks_again_what_it_was_checking_and_interrupts_half_uploads() {
    use replayer::db::uploads::UploadId;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("replayer.sqlite").display());
    // What a server killed during a check and during an upload leaves behind.
    let db = replayer::db::Database::connect(&url).await.unwrap();
    db.ensure_web_tables().await.unwrap();
    let (checking, arriving) = (UploadId::random(), UploadId::random());
    let bytes = std::fs::read(repo("clients/example/example.csv")).unwrap();
    db.create_upload(&checking, "example", "example.csv", "ann@example.com").await.unwrap();
    assert!(db.add_chunk(&checking, 0, &bytes).await.unwrap());
    db.upload_staged(&checking, bytes.len() as i64).await.unwrap();
    db.create_upload(&arriving, "example", "half.csv", "ann@example.com").await.unwrap();
    assert!(db.add_chunk(&arriving, 0, &bytes[..100]).await.unwrap());
    db.close().await;

    let app = spawn_app_with(|config| config.database_url = url).await;
    app.add_user("ann@example.com", Role::Analyst).await;
    let browser = app.sign_in("ann@example.com").await;
    let upload = browser.wait_checked(checking.as_str()).await;
    assert_eq!((upload["state"].as_str(), upload["counts"]["valid"].as_i64()), (Some("checked"), Some(32)));
    let half = browser.api(arriving.as_str()).await;
    assert_eq!((half["state"].as_str(), half["staged"].as_bool()), (Some("interrupted"), Some(false)));
    assert!(half["error"].as_str().unwrap().contains("upload it again"));
    assert_eq!(app.chunks(arriving.as_str()).await, 0);
}
