//! The pages of SPEC §13 through their form posts: the column-matching page (the suggested
//! matching confirmed, a required field left out refused), the client's form (an analyst's save
//! refused, the CSRF token required, a typo key's message shown with what was typed, a save
//! making a new version), and a new client. On SQLite, MariaDB and PostgreSQL.

use replayer::db::users::Role;

use crate::helpers::{fresh_database, repo, spawn_app, spawn_app_with, TestApp};

fn renamed_example(dir: &std::path::Path) -> std::path::PathBuf {
    let text = std::fs::read_to_string(repo("clients/example/example.csv")).unwrap();
    let (header, rest) = text.split_once('\n').unwrap();
    let header = header.replace("Sale Date", "Date of Sale").replace("Order Ref", "Order Reference");
    let path = dir.join("renamed.csv");
    std::fs::write(&path, format!("{header}\n{rest}")).unwrap();
    path
}

fn tag() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{}-{:x}", std::process::id(), nanos % 0xffff_ffff)
}

async fn pages(app: TestApp) {
    let tag = tag();
    let (operator, analyst) = (format!("op-{tag}@example.com"), format!("an-{tag}@example.com"));
    app.add_user(&operator, Role::Operator).await;
    app.add_user(&analyst, Role::Analyst).await;
    let operator = app.sign_in(&operator).await;
    let analyst = app.sign_in(&analyst).await;

    // The column matching: the page suggests, a required field left out is refused, the
    // suggestion confirmed checks the file again.
    let dir = tempfile::tempdir().unwrap();
    let id = analyst.upload_and_check("example", &renamed_example(dir.path())).await;
    let upload_page = analyst.get(&format!("/uploads/{id}")).await.text().await.unwrap();
    assert!(upload_page.contains(&format!("href=\"/uploads/{id}/columns\"")), "{upload_page}");
    let path = format!("/uploads/{id}/columns");
    let page = analyst.get(&path).await.text().await.unwrap();
    assert!(page.contains("value=\"h:Date of Sale\" selected"), "{page}");
    assert!(!page.contains("sam.1@example.com"), "personal data is masked");
    assert!(!page.contains("save-as-mapping"), "analysts do not save mappings");
    let csrf = analyst.csrf.as_str();
    let without = analyst.post_form(&path, &[("csrf", csrf), ("do", "confirm"), ("f.event_time", "")]).await;
    assert_eq!(without.status(), 422);
    assert!(without.text().await.unwrap().contains("event_time is required"));
    let no_token = analyst.post_form(&path, &[("do", "confirm")]).await;
    assert_eq!(no_token.status(), 403, "the CSRF token comes first");
    let saved = analyst.post_form(&path, &[("csrf", csrf), ("do", "save")]).await;
    assert_eq!(saved.status(), 403, "an analyst's save as the mapping is refused");
    let confirmed = analyst.post_form(&path, &[("csrf", csrf), ("do", "confirm")]).await;
    assert_eq!(confirmed.status(), 303);
    let checked = analyst.wait_checked(&id).await;
    assert_eq!(checked["counts"]["valid"], 32, "{checked}");
    assert_eq!(checked["column_matching"]["event_time"], "Date of Sale");

    // The client's form: read by analysts, saved by operators only.
    let client = analyst.get("/clients/example").await.text().await.unwrap();
    assert!(client.contains("Only operators change mappings") && !client.contains("id=\"save-mapping\""));
    let form = |token: &str, timezone: &str| -> Vec<(String, String)> {
        vec![
            ("csrf".into(), token.into()),
            ("client".into(), "Example Ltd".into()),
            ("account_token".into(), "ex4mpl3-t0k3n-0001".into()),
            ("timezone".into(), timezone.into()),
            ("events".into(), "offline_sale\nstore_visit\nphone_sale".into()),
            ("columns.event_time".into(), "Sale Date".into()),
            ("columns.email".into(), "Email".into()),
            ("defaults.event_name".into(), "offline_sale".into()),
            ("do".into(), "save".into()),
        ]
    };
    let as_pairs = |fields: &[(String, String)]| fields.iter().map(|(k, v)| (k.clone(), v.clone())).collect::<Vec<_>>();
    let post = |browser: &crate::helpers::Browser<'_>, fields: Vec<(String, String)>| {
        let request = browser.app.http.post(browser.app.url("/clients/example")).header("cookie", &browser.cookie);
        request.form(&fields).send()
    };
    let refused = post(&analyst, as_pairs(&form(&analyst.csrf, "Europe/London"))).await.unwrap();
    assert_eq!(refused.status(), 403);
    assert!(refused.text().await.unwrap().contains("only operators"));
    let no_token = post(&operator, as_pairs(&form("", "Europe/London"))).await.unwrap();
    assert_eq!(no_token.status(), 403);
    // The checker's message, on the form, with what was typed.
    let typo = post(&operator, as_pairs(&form(&operator.csrf, "Europe/Londn"))).await.unwrap();
    assert_eq!(typo.status(), 422);
    let typo = typo.text().await.unwrap();
    assert!(
        typo.contains("did you mean &quot;Europe/London&quot;") || typo.contains("did you mean \"Europe/London\""),
        "{typo}"
    );
    assert!(typo.contains("value=\"Europe/Londn\"") && typo.contains("phone_sale"), "{typo}");
    let json = [
        ("csrf", operator.csrf.as_str()),
        ("do", "save-json"),
        ("json", "{\"client\": \"Example Ltd\", \"colums\": {}}"),
    ];
    let typo_key = operator.post_form("/clients/example", &json).await;
    assert_eq!(typo_key.status(), 422);
    let typo_key = typo_key.text().await.unwrap();
    assert!(typo_key.contains("unknown key &quot;colums&quot; (did you mean &quot;columns&quot;?)"), "{typo_key}");
    assert!(typo_key.contains("&quot;colums&quot;: {}"), "the JSON typed is kept: {typo_key}");
    let before =
        app.db.client_history(&replayer::db::clients::ClientName::parse("example").unwrap()).await.unwrap().len();
    let saved = post(&operator, as_pairs(&form(&operator.csrf, "Europe/London"))).await.unwrap();
    assert_eq!(saved.status(), 303);
    let location = saved.headers()["location"].to_str().unwrap().to_owned();
    let page = operator.get(&location).await.text().await.unwrap();
    assert!(page.contains(&format!("Saved as version {}", before + 1)), "{page}");
    assert!(page.contains("events"), "the versions say what changed: {page}");

    // A new client, by operators only.
    let new = [
        ("csrf", operator.csrf.as_str()),
        ("client", "New Co"),
        ("name", "new-co"),
        ("account_token", "newc0-t0k3n-0001"),
    ];
    assert_eq!(operator.post_form("/clients", &new).await.status(), 303);
    let list = analyst.get("/clients").await.text().await.unwrap();
    assert!(list.contains("New Co") && list.contains("Example Ltd"), "{list}");
    let again = operator.post_form("/clients", &new).await;
    assert_eq!(again.status(), 409);
    let as_analyst = [("csrf", analyst.csrf.as_str()), ("client", "Other"), ("name", "other"), ("account_token", "")];
    assert_eq!(analyst.post_form("/clients", &as_analyst).await.status(), 403);
}

#[tokio::test]
async fn the_mapping_pages_on_sqlite() {
    pages(spawn_app().await).await;
}

#[tokio::test]
async fn the_mapping_pages_on_mariadb() {
    if let Some(url) = fresh_database("REPLAYER_TEST_MYSQL_URL", "mapping_pages").await {
        pages(spawn_app_with(|config| config.database_url = url).await).await;
    }
}

#[tokio::test]
async fn the_mapping_pages_on_postgres() {
    if let Some(url) = fresh_database("REPLAYER_TEST_POSTGRES_URL", "mapping_pages").await {
        pages(spawn_app_with(|config| config.database_url = url).await).await;
    }
}
