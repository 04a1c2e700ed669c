//! Registered applications (`apps.rs`):
//! - `GET /_emulator/apps`: every application, the default one first, with its certificates'
//!   thumbprints, federated credentials and grants; secrets only as `passwordCredentials`
//!   key ids, never their values;
//! - `POST /_emulator/apps` `{"clientId"?, "displayName"?, "secrets"?, "certificates"? (PEM),
//!   "federatedCredentials"? [{"name"?, "issuer", "subject", "audiences"?, "signingKey"? (PEM)}],
//!   "permissions"?}`: registers one (201; 400 if invalid; 409 if the client id is taken);
//! - `GET`/`PUT /_emulator/apps/{clientId}/permissions` `{"permissions": [...]}`: its grants
//!   (`/_emulator/permissions` is the same for the default application).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use super::{AppState, Permissions, bad_body, error, parse};
use crate::emulator::apps::{AppRegistration, RegisterError};
use crate::emulator::shared::Shared;

/// The application routes (nested under `/_emulator`).
pub fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/apps", get(list).post(register))
        .route(
            "/apps/{client_id}/permissions",
            get(permissions).put(set_permissions),
        )
}

async fn list(State(shared): AppState) -> Response {
    axum::Json(shared.apps().to_json()).into_response()
}

async fn register(State(shared): AppState, body: Bytes) -> Response {
    let registration: AppRegistration = match parse(&body) {
        Ok(r) => r,
        Err(message) => return bad_body(message),
    };
    let mut apps = shared.apps();
    match apps.register(registration) {
        Ok(app) => (StatusCode::CREATED, axum::Json(app.to_json(false))).into_response(),
        Err(RegisterError::Invalid(m)) => bad_body(m),
        Err(RegisterError::Conflict(m)) => error(StatusCode::CONFLICT, "Conflict", m),
    }
}

fn unknown(client_id: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "NotFound",
        format!("no application with client id {client_id} is registered"),
    )
}

async fn permissions(State(shared): AppState, Path(client_id): Path<String>) -> Response {
    let apps = shared.apps();
    match apps.get(&client_id) {
        Some(app) => {
            axum::Json(json!({ "clientId": app.client_id, "permissions": app.permissions }))
                .into_response()
        }
        None => unknown(&client_id),
    }
}

async fn set_permissions(
    State(shared): AppState,
    Path(client_id): Path<String>,
    body: Bytes,
) -> Response {
    let request: Permissions = match parse(&body) {
        Ok(r) => r,
        Err(message) => return bad_body(message),
    };
    let mut apps = shared.apps();
    let Some(app) = apps.get_mut(&client_id) else {
        return unknown(&client_id);
    };
    tracing::info!(client_id = %app.client_id, permissions = ?request.permissions, "app permissions replaced");
    app.permissions = request.permissions;
    axum::Json(json!({ "clientId": app.client_id, "permissions": app.permissions })).into_response()
}
