//! Signing in and out, the gate in front of every page, CSRF tokens, roles and API tokens.

use replayer::db::users::{Email, Role};

use crate::helpers::{cookie_of, csrf_of, spawn_app, TestApp, PASSWORD};

#[tokio::test]
async fn signed_out_everything_but_the_sign_in_page_redirects_to_it() {
    let app = spawn_app().await;
    for path in ["/", "/uploads/0123456789abcdef0123456789abcdef", "/clients/example/template.csv", "/no/such/page"] {
        let response = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 303, "{path}");
        assert_eq!(response.headers()["location"], "/login", "{path}");
    }
    let response = app.http.post(app.url("/uploads")).body("x").send().await.unwrap();
    assert_eq!(response.headers()["location"], "/login");
    for path in ["/api/uploads/0123456789abcdef0123456789abcdef", "/api/uploads"] {
        let response = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 401, "{path}");
    }
    for path in ["/login", "/assets/app.js", "/assets/style.css"] {
        assert_eq!(app.http.get(app.url(path)).send().await.unwrap().status(), 200, "{path}");
    }
}

#[tokio::test]
async fn a_session_cookie_is_http_only_and_same_site_strict() {
    let app = spawn_app().await;
    app.add_user("ann@example.com", Role::Analyst).await;
    let (login, cookie) = app.login_page().await;
    let response = app
        .http
        .post(app.url("/login"))
        .header("cookie", cookie)
        .form(&[("email", "Ann@Example.com"), ("password", PASSWORD), ("csrf", &csrf_of(&login))])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let set_cookie = response.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"), "{set_cookie}");
    assert!(!set_cookie.contains("Secure"), "{set_cookie}");
    let browser = app.sign_in("ann@example.com").await;
    let home = browser.get("/").await.text().await.unwrap();
    assert!(home.contains("ann@example.com (analyst)"), "{home}");
    // Signing out ends the session on the server, not only in the browser.
    assert_eq!(browser.post_form("/logout", &[("csrf", &browser.csrf)]).await.status(), 303);
    assert_eq!(browser.get("/").await.headers()["location"], "/login");
}

#[tokio::test]
async fn secure_cookies_are_marked_secure() {
    let app = crate::helpers::spawn_app_with(|config| config.secure_cookies = true).await;
    let response = app.http.get(app.url("/login")).send().await.unwrap();
    assert!(response.headers()["set-cookie"].to_str().unwrap().contains("; Secure"));
}

#[tokio::test]
async fn a_form_without_its_csrf_token_is_refused() {
    let app = spawn_app().await;
    app.add_user("ann@example.com", Role::Analyst).await;
    // The sign-in form: without the token of its cookie.
    let (_, cookie) = app.login_page().await;
    let response = app
        .http
        .post(app.url("/login"))
        .header("cookie", cookie)
        .form(&[("email", "ann@example.com"), ("password", PASSWORD), ("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert!(response.text().await.unwrap().contains("CSRF"));

    let browser = app.sign_in("ann@example.com").await;
    let response = browser.post_form("/logout", &[]).await;
    assert_eq!(response.status(), 403);
    let response = browser.post_form("/logout", &[("csrf", "0".repeat(64).as_str())]).await;
    assert_eq!(response.status(), 403);
    // The upload form without its token stores nothing.
    let form = reqwest::multipart::Form::new().text("client", "example").part(
        "file",
        reqwest::multipart::Part::bytes(std::fs::read(crate::helpers::repo("clients/example/example.csv")).unwrap())
            .file_name("example.csv"),
    );
    let response =
        app.http.post(app.url("/uploads")).header("cookie", &browser.cookie).multipart(form).send().await.unwrap();
    assert_eq!(response.status(), 403);
    assert!(app.db.uploads(10).await.unwrap().is_empty());
    // The API with the session cookie needs the token too (in X-CSRF-Token).
    let response = app
        .http
        .delete(app.url("/api/uploads/0123456789abcdef0123456789abcdef"))
        .header("cookie", &browser.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    // And the session still works.
    assert_eq!(browser.get("/").await.status(), 200);
}

/// A client whose requests come from another loopback address (Linux routes all of 127/8).
fn client_from(last: u8) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .local_address(std::net::IpAddr::from([127, 0, 0, last]))
        .build()
        .unwrap()
}

/// One sign-in try through the sign-in page, from `http`.
async fn try_sign_in(app: &TestApp, http: &reqwest::Client, email: &str, password: &str) -> reqwest::Response {
    let response = http.get(app.url("/login")).send().await.unwrap();
    let cookie = format!("replayer_signin={}", cookie_of(response.headers(), "replayer_signin").unwrap());
    let login = response.text().await.unwrap();
    http.post(app.url("/login"))
        .header("cookie", cookie)
        .form(&[("email", email), ("password", password), ("csrf", &csrf_of(&login))])
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forty_parallel_wrong_sign_ins_check_the_password_at_most_ten_times_and_the_owner_still_gets_in() {
    let app = spawn_app().await;
    app.add_user("ann@example.com", Role::Analyst).await;
    let attacker = client_from(1);
    let tries = (0..40).map(|_| try_sign_in(&app, &attacker, "ann@example.com", "wrong password"));
    let responses = futures_util::future::join_all(tries).await;
    let checked = responses.iter().filter(|response| response.status() == 401).count();
    let refused: Vec<&reqwest::Response> = responses.iter().filter(|response| response.status() == 429).collect();
    assert_eq!(checked + refused.len(), 40);
    assert!(checked <= 10, "{checked} password checks");
    assert!(checked >= 1);
    for response in &refused {
        let wait: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=60).contains(&wait), "Retry-After: {wait}");
    }
    // Even the right password waits from the attacker's address…
    assert_eq!(try_sign_in(&app, &attacker, "ann@example.com", PASSWORD).await.status(), 429);
    // …but not from Ann's own.
    let response = try_sign_in(&app, &client_from(2), "ann@example.com", PASSWORD).await;
    assert_eq!(response.status(), 303, "the owner is not locked out");
    assert!(cookie_of(response.headers(), "replayer_session").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_e_mail_addresses_tried_from_one_client_are_limited_too() {
    let app = spawn_app().await;
    let http = client_from(3);
    let mut statuses = Vec::new();
    let started = std::time::Instant::now();
    for n in 0..60 {
        statuses.push(try_sign_in(&app, &http, &format!("user{n}@example.com"), "guess").await.status().as_u16());
    }
    // A burst of 30, then one more every 2 s (30 a minute): a slow, loaded machine earns a few.
    let allowed = 30 + (started.elapsed().as_secs_f64() / 2.0).ceil() as usize;
    let checked = statuses.iter().filter(|&&status| status == 401).count();
    assert!(checked <= allowed, "{checked} of 60 checked, {allowed} allowed: {statuses:?}");
    assert!(statuses.iter().filter(|&&status| status == 429).count() >= 60 - allowed, "{statuses:?}");
    assert!(allowed < 45, "the tries took too long to tell: {:?}", started.elapsed());
}

#[tokio::test]
async fn a_sign_in_cookie_the_server_did_not_issue_is_refused() {
    let app = spawn_app().await;
    app.add_user("ann@example.com", Role::Analyst).await;
    // A token of the right shape, set by someone else (a sibling subdomain, a script).
    let planted = "a".repeat(64);
    let response = app
        .http
        .post(app.url("/login"))
        .header("cookie", format!("replayer_signin={planted}"))
        .form(&[("email", "ann@example.com"), ("password", PASSWORD), ("csrf", planted.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    // The page replaces it with one of its own.
    let response =
        app.http.get(app.url("/login")).header("cookie", format!("replayer_signin={planted}")).send().await.unwrap();
    let issued = cookie_of(response.headers(), "replayer_signin").unwrap();
    assert_ne!(issued, planted);
    assert_eq!(try_sign_in(&app, &app.http, "ann@example.com", PASSWORD).await.status(), 303);
}

fn users_command(app: &TestApp, arguments: &[&str], stdin: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = crate::support::replayer()
        .arg("users")
        .args(arguments)
        .arg("--database-url")
        .arg(format!("sqlite:{}", app.dir.path().join("replayer.sqlite").display()))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_change_ends_the_users_sessions_and_removing_a_user_ends_sessions_and_token() {
    let app = spawn_app().await;
    app.add_user("ann@example.com", Role::Analyst).await;
    let browser = app.sign_in("ann@example.com").await;
    assert_eq!(browser.get("/").await.status(), 200);
    let changed =
        users_command(&app, &["password", "--email", "ann@example.com", "--password-stdin"], "a new password 2\n");
    assert!(changed.status.success(), "{}", String::from_utf8_lossy(&changed.stderr));
    assert!(String::from_utf8_lossy(&changed.stdout).contains("sessions have ended"));
    assert_eq!(browser.get("/").await.headers()["location"], "/login", "the session ended");
    assert_eq!(try_sign_in(&app, &app.http, "ann@example.com", PASSWORD).await.status(), 401);
    assert_eq!(try_sign_in(&app, &app.http, "ann@example.com", "a new password 2").await.status(), 303);
    let missing =
        users_command(&app, &["password", "--email", "nobody@example.com", "--password-stdin"], "whatever 12345\n");
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no user nobody@example.com"));

    // `users add` over an existing user is a password change too.
    let browser = app.sign_in_with("ann@example.com", "a new password 2").await;
    let added = users_command(
        &app,
        &["add", "--email", "ann@example.com", "--role", "operator", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    );
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    assert_eq!(browser.get("/").await.headers()["location"], "/login");

    let browser = app.sign_in("ann@example.com").await;
    let token = app.db.new_api_token(&Email::parse("ann@example.com").unwrap()).await.unwrap();
    let removed = users_command(&app, &["remove", "--email", "ann@example.com"], "");
    assert!(removed.status.success(), "{}", String::from_utf8_lossy(&removed.stderr));
    assert_eq!(browser.get("/").await.headers()["location"], "/login");
    let api = app.http.get(app.url("/api/uploads/0123456789abcdef0123456789abcdef")).bearer_auth(&token).send().await;
    assert_eq!(api.unwrap().status(), 401);
}

#[tokio::test]
async fn an_analyst_and_an_operator_see_what_their_role_allows() {
    let app = spawn_app().await;
    app.add_user("ann@example.com", Role::Analyst).await;
    app.add_user("otto@example.com", Role::Operator).await;
    let analyst = app.sign_in("ann@example.com").await;
    let operator = app.sign_in("otto@example.com").await;
    let id = analyst.upload_and_check("example", &crate::helpers::repo("clients/example/example.csv")).await;

    // Both upload, check, download and delete; only an operator may fire.
    let analyst_page = analyst.get(&format!("/uploads/{id}")).await.text().await.unwrap();
    assert!(analyst_page.contains("Only operators send rows"), "{analyst_page}");
    let operator_page = operator.get(&format!("/uploads/{id}")).await.text().await.unwrap();
    assert!(!operator_page.contains("Only operators send rows") && operator_page.contains("id=\"fire\""));
    for (browser, status, action) in [(&analyst, 403, "fire"), (&operator, 202, "fire"), (&analyst, 403, "cancel")] {
        let response = app
            .http
            .post(app.url(&format!("/api/uploads/{id}/{action}")))
            .header("cookie", &browser.cookie)
            .header("x-csrf-token", &browser.csrf)
            .json(&serde_json::json!({ "confirm_rows": 32 }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{action}");
    }
    assert_eq!(operator.get(&format!("/uploads/{id}/dumps/requests")).await.status(), 200);
    assert_eq!(analyst.get(&format!("/uploads/{id}/dumps/requests")).await.status(), 200);
}

#[tokio::test]
async fn an_api_token_works_in_place_of_a_session() {
    let app = spawn_app().await;
    app.add_user("bot@example.com", Role::Analyst).await;
    let token = app.db.new_api_token(&Email::parse("bot@example.com").unwrap()).await.unwrap();
    let bytes = std::fs::read(crate::helpers::repo("clients/example/example.csv")).unwrap();
    let form = reqwest::multipart::Form::new()
        .text("client", "example")
        .part("file", reqwest::multipart::Part::bytes(bytes).file_name("example.csv"));
    let response = app.http.post(app.url("/api/uploads")).bearer_auth(&token).multipart(form).send().await.unwrap();
    assert_eq!(response.status(), 201);
    let created: serde_json::Value = response.json().await.unwrap();
    assert_eq!(created["state"], "checking");
    assert_eq!(created["staged"], true);
    let id = created["id"].as_str().unwrap().to_owned();
    let wrong = app.http.get(app.url(&format!("/api/uploads/{id}"))).bearer_auth("nope").send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    let deleted = app.http.delete(app.url(&format!("/api/uploads/{id}"))).bearer_auth(&token).send().await.unwrap();
    assert_eq!(deleted.status(), 200);
    let deleted: serde_json::Value = deleted.json().await.unwrap();
    assert_eq!((deleted["state"].as_str(), deleted["staged"].as_bool()), (Some("deleted"), Some(false)));
    // Only the hash is stored.
    for entry in std::fs::read_dir(app.dir.path()).unwrap().flatten() {
        if entry.file_name().to_string_lossy().starts_with("replayer.sqlite") {
            let bytes = std::fs::read(entry.path()).unwrap();
            assert!(!bytes.windows(token.len()).any(|window| window == token.as_bytes()));
        }
    }
}
