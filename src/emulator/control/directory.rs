//! Control endpoints of the link to a real Active Directory (`active_directory/`):
//! - `GET /_emulator/directory` → `{"linked", "url", "bindDn", "baseDn", "syncedOus",
//!   "starttls", "caBundle", "status": {"reads", "failures", "skippedCycles", "lastError",
//!   "lastReadAt", "lastImport"}}` (never the password);
//! - `POST /_emulator/directory/connection` `{"url"?, "bindDn"?, "password"?}` → the same
//!   document: points the sync client elsewhere (tests make the DC unreachable or the
//!   credentials wrong with it); 409 when no directory is linked.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{AppState, bad_body, current, error, parse};
use crate::emulator::shared::Shared;

/// The routes (nested under `/_emulator`).
pub fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/directory", get(status))
        .route("/directory/connection", post(connection))
}

fn document(shared: &Shared) -> Value {
    let Some(source) = &shared.directory else {
        return json!({ "linked": false });
    };
    let c = source.config();
    let status = current(shared)
        .tenant
        .directory
        .as_ref()
        .map(|l| json!(l.status));
    json!({
        "linked": true,
        "url": c.url,
        "bindDn": c.bind_dn,
        "baseDn": c.base_dn,
        "syncedOus": c.synced_ous,
        "starttls": c.starttls,
        "caBundle": c.ca_pem.is_some(),
        "status": status,
    })
}

async fn status(State(shared): AppState) -> Response {
    axum::Json(document(&shared)).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Connection {
    url: Option<String>,
    bind_dn: Option<String>,
    password: Option<String>,
}

async fn connection(State(shared): AppState, body: Bytes) -> Response {
    let request: Connection = match parse(&body) {
        Ok(r) => r,
        Err(message) => return bad_body(message),
    };
    let Some(source) = &shared.directory else {
        return error(
            StatusCode::CONFLICT,
            "NoDirectory",
            "no Active Directory is linked: start the emulator with --ad-url",
        );
    };
    source.update(|c| {
        if let Some(url) = request.url {
            c.url = url;
        }
        if let Some(dn) = request.bind_dn {
            c.bind_dn = dn;
        }
        if let Some(pw) = request.password {
            c.password = pw;
        }
    });
    tracing::info!(url = %source.config().url, "directory connection changed");
    axum::Json(document(&shared)).into_response()
}
