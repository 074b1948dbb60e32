//! Builds the application: the one the binary serves is the one the tests start.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result};
use axum::extract::DefaultBodyLimit;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::{header, HeaderValue};
use axum::middleware::from_fn_with_state;
use axum::response::IntoResponse;
use axum::routing::{get, patch, post};
use axum::Router;
use tower_http::set_header::SetResponseHeaderLayer;

use super::authentication::signin_token::SigninTokens;
use super::routes::{api, assets, clients, columns, fire, fix, home, login, logout, review, uploads};
use super::state::AppState;
use super::{recovery, ServeConfig};
use crate::db::Database;

pub struct Application {
    listener: tokio::net::TcpListener,
    router: Router,
    pub state: AppState,
}

impl Application {
    /// Connects to the database (creating the server's tables), takes over what a stopped server
    /// left, starts the watch for abandoned work and the retention sweep, and binds the port
    /// (`:0` picks a free one).
    pub async fn build(config: ServeConfig) -> Result<Application> {
        let db = Database::connect(&config.database_url).await?;
        db.ensure_web_tables().await?;
        // The run lock's table holds the leases of uploads and of the sweep too.
        db.ensure_journal().await?;
        // SPEC §13: the clients of --clients-dir that the database does not have yet.
        crate::clients::import_new(&db, &config.clients_dir).await?;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}; is another server using the port?", config.listen))?;
        let signin_key = db.server_key("signin-csrf").await?;
        let state = AppState::new(db, config, SigninTokens::new(&signin_key));
        recovery::at_start(&state).await?;
        tokio::spawn(recovery::watch(state.clone()));
        let router = router(state.clone());
        Ok(Application { listener, router, state })
    }

    pub fn address(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    pub async fn run_until_stopped(self, stop: impl Future<Output = ()> + Send + 'static) -> Result<()> {
        // Fires stop as Ctrl-C stops a run (in flight finished, dumps and journal complete)
        // before the connections are waited for: their pages' event streams end with them.
        let fires = self.state.fires.clone();
        let stop = async move {
            stop.await;
            tracing::info!("stopping: fires are stopped as Cancel stops them, then connections drained");
            fires.stop_all("the server's shutdown", FIRES_STOP_WITHIN).await;
        };
        super::server::serve(self.listener, self.router, self.state.config.max_connections, stop).await;
        self.state.db.close().await;
        Ok(())
    }
}

/// How long a stopping server waits for its fires to finish what is in flight and record it.
const FIRES_STOP_WITHIN: Duration = Duration::from_secs(30);

pub fn router(state: AppState) -> Router {
    // Uploads are limited by --max-upload while they stream, not by axum's 2 MB default.
    let upload_routes = Router::new()
        .route("/uploads", post(uploads::post::upload))
        .route("/api/uploads", post(api::create))
        .route("/api/uploads/{id}/corrections", post(review::corrections))
        .layer(DefaultBodyLimit::disable());
    let signed_in = Router::new()
        .route("/", get(home::get::home))
        .route("/logout", post(logout::post::logout))
        .route("/clients", get(clients::page::list).post(clients::page::create))
        .route("/clients/{client}", get(clients::page::show).post(clients::page::save))
        .route("/clients/{client}/template.csv", get(clients::get::template))
        .route("/clients/{client}/template.xlsx", get(clients::get::template_xlsx))
        .route("/uploads/{id}", get(uploads::get::page))
        .route("/uploads/{id}/delete", get(uploads::delete::confirm).post(uploads::delete::delete))
        .route("/uploads/{id}/dumps/{kind}", get(uploads::dumps::download))
        .route("/api/uploads/{id}", get(api::show).delete(api::delete))
        .route("/api/uploads/{id}/dumps/{kind}", get(uploads::dumps::download))
        .route("/api/uploads/{id}/fire", post(api::fire))
        .route("/api/uploads/{id}/cancel", post(api::cancel))
        .route("/api/uploads/{id}/preflight", get(api::preflight))
        .route("/api/clients", get(clients::api::list))
        .route(
            "/api/clients/{client}",
            get(clients::api::show).put(clients::api::save).layer(DefaultBodyLimit::max(clients::api::MAX_BODY)),
        )
        .route(
            "/api/uploads/{id}/columns",
            post(clients::api::columns).layer(DefaultBodyLimit::max(clients::api::MAX_BODY)),
        )
        .route("/api/uploads/{id}/problems", get(review::problems))
        .route("/api/uploads/{id}/rows", get(review::rows))
        .route("/api/uploads/{id}/rows/{row}", patch(review::patch_row))
        .route("/api/uploads/{id}/replace", post(review::replace))
        .route("/api/uploads/{id}/rejected.csv", get(review::rejected_csv))
        .route("/api/uploads/{id}/rejected.xlsx", get(review::rejected_xlsx))
        .route("/api/uploads/{id}/edits", get(review::edits))
        .route("/uploads/{id}/columns", get(columns::get::columns).post(columns::post::columns))
        .route("/uploads/{id}/fix", get(fix::page))
        .route("/uploads/{id}/rows/{row}", post(fix::save_row))
        .route("/uploads/{id}/replace", post(fix::replace_form))
        .route("/uploads/{id}/fire", get(fire::confirm_page).post(fire::fire_form))
        .route("/uploads/{id}/cancel", post(fire::cancel_form))
        .route("/uploads/{id}/events", get(fire::events))
        .merge(upload_routes)
        .fallback(super::pages::not_found)
        .layer(from_fn_with_state(state.clone(), super::authentication::require_user));
    Router::new()
        .route("/login", get(login::get::form).post(login::post::sign_in))
        .route("/assets/app.js", get(assets::app_js))
        .route("/assets/style.css", get(assets::style_css))
        .route("/assets/fire.js", get(assets::fire_js))
        .route("/favicon.ico", get(|| async { axum::http::StatusCode::NO_CONTENT }))
        .route("/healthz", get(healthz))
        .merge(signed_in)
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; form-action 'self'",
            ),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(SetResponseHeaderLayer::if_not_present(header::REFERRER_POLICY, HeaderValue::from_static("same-origin")))
        .layer(SetResponseHeaderLayer::if_not_present(header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .layer(super::log::trace_layer())
        .with_state(state)
}

/// `GET /healthz`, for load balancers and monitoring: 200 when the database answers, else 503.
async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    match tokio::time::timeout(Duration::from_secs(5), state.db.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, "ok\n".to_owned()),
        Ok(Err(error)) => (StatusCode::SERVICE_UNAVAILABLE, format!("the database does not answer: {error:#}\n")),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "the database did not answer within 5 s\n".to_owned()),
    }
}
