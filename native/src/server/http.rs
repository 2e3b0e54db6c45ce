//! The HTTP side: the WebSocket endpoint at `/socket/websocket`, the demo page at `/`, and the
//! `beryl-presence` package files the page imports, at `/pkg/`.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::extract::{Extension, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

use super::listen::ConnectionSlot;
use super::service::PresenceService;
use super::session::Endpoint;
use super::socket;

const INDEX_HTML: &str = include_str!("../../assets/index.html");
const APP_JS: &str = include_str!("../../assets/app.js");
const CHANNEL_JS: &str = include_str!("../../assets/channel.js");
const STYLE_CSS: &str = include_str!("../../assets/style.css");

/// The shared state of the HTTP handlers.
pub struct Site<S> {
    endpoint: Arc<Endpoint<S>>,
    package_dir: Option<PathBuf>,
    next_socket: AtomicU64,
}

/// The routes of a server.
pub fn router<S: PresenceService>(
    endpoint: Arc<Endpoint<S>>,
    package_dir: Option<PathBuf>,
) -> Router {
    let site = Arc::new(Site {
        endpoint,
        package_dir,
        next_socket: AtomicU64::new(1),
    });
    Router::new()
        .route("/socket/websocket", get(websocket::<S>))
        .route(
            "/",
            get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }),
        )
        .route(
            "/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/channel.js",
            get(|| async { asset("text/javascript; charset=utf-8", CHANNEL_JS) }),
        )
        .route(
            "/style.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE_CSS) }),
        )
        .route("/health", get(health::<S>))
        .route("/pkg/{*path}", get(package_file::<S>))
        .with_state(site)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// Whether a header holds `token` in its comma-separated list, ignoring case.
fn header_has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|item| item.trim().eq_ignore_ascii_case(token))
}

async fn websocket<S: PresenceService>(
    State(site): State<Arc<Site<S>>>,
    Query(params): Query<HashMap<String, String>>,
    slot: Option<Extension<ConnectionSlot>>,
    mut request: Request,
) -> Response {
    match params.get("vsn").map(String::as_str) {
        Some("2.0.0") => {}
        other => {
            let message = format!(
                "this endpoint speaks the Phoenix V2 protocol: connect with vsn=2.0.0 (got {})",
                other.unwrap_or("no vsn")
            );
            return (StatusCode::BAD_REQUEST, message).into_response();
        }
    }
    // The WebSocket opening handshake (RFC 6455, section 4.2).
    let headers = request.headers();
    if request.method() != Method::GET
        || !header_has_token(headers, header::CONNECTION, "upgrade")
        || !header_has_token(headers, header::UPGRADE, "websocket")
    {
        return (
            StatusCode::UPGRADE_REQUIRED,
            [(header::UPGRADE, "websocket")],
            "this is a WebSocket endpoint: connect with a WebSocket client",
        )
            .into_response();
    }
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_none_or(|version| version != "13")
    {
        return (
            StatusCode::BAD_REQUEST,
            [(header::SEC_WEBSOCKET_VERSION, "13")],
            "unsupported WebSocket version: use version 13",
        )
            .into_response();
    }
    let Some(key) = headers.get(header::SEC_WEBSOCKET_KEY) else {
        return (StatusCode::BAD_REQUEST, "missing Sec-WebSocket-Key").into_response();
    };
    let Ok(accept) = HeaderValue::try_from(derive_accept_key(key.as_bytes())) else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let Some(on_upgrade) = request.extensions_mut().remove::<OnUpgrade>() else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "this connection cannot be upgraded",
        )
            .into_response();
    };

    let id = site.next_socket.fetch_add(1, Ordering::Relaxed);
    let pid = format!("socket-{id}");
    let endpoint = site.endpoint.clone();
    let config = socket::websocket_config(&endpoint.config);
    tokio::spawn(async move {
        // The connection keeps its place under the connection caps while the socket lives.
        let _slot = slot;
        let upgraded = match on_upgrade.await {
            Ok(upgraded) => upgraded,
            Err(error) => {
                tracing::debug!(socket = id, %error, "the WebSocket upgrade failed");
                return;
            }
        };
        let ws =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config))
                .await;
        socket::run(endpoint, ws, id, pid, params).await;
    });
    (
        StatusCode::SWITCHING_PROTOCOLS,
        [
            (header::CONNECTION, HeaderValue::from_static("upgrade")),
            (header::UPGRADE, HeaderValue::from_static("websocket")),
            (header::SEC_WEBSOCKET_ACCEPT, accept),
        ],
    )
        .into_response()
}

async fn health<S: PresenceService>(State(site): State<Arc<Site<S>>>) -> Response {
    let replica = site.endpoint.service.replica();
    let body = serde_json::json!({
        "replica": { "name": replica.name(), "incarnation": replica.incarnation().to_string() },
        "subscriptions": site.endpoint.hub.subscriptions(),
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|extension| extension.to_str()) {
        Some("js" | "mjs" | "cjs") => "text/javascript; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("json" | "map") => "application/json",
        Some("ts") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

async fn package_file<S: PresenceService>(
    State(site): State<Arc<Site<S>>>,
    axum::extract::Path(path): axum::extract::Path<String>,
) -> Response {
    let Some(root) = &site.package_dir else {
        return (
            StatusCode::NOT_FOUND,
            "this server serves no package directory (start it with --package-dir)",
        )
            .into_response();
    };
    let relative = Path::new(&path);
    if !relative
        .components()
        .all(|component| matches!(component, Component::Normal(_)))
    {
        return (StatusCode::BAD_REQUEST, "bad path").into_response();
    }
    let full = root.join(relative);
    match tokio::fs::read(&full).await {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, content_type(&full)),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            bytes,
        )
            .into_response(),
        Err(error) => {
            // The server's own paths stay in its log, not in what clients are told.
            tracing::debug!(path = %full.display(), %error, "a package file cannot be read");
            (
                StatusCode::NOT_FOUND,
                format!(
                    "/pkg/{} not found in the package directory; build the package with \
                     scripts/build-wasm.sh",
                    relative.display()
                ),
            )
                .into_response()
        }
    }
}
