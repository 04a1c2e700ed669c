//! Control endpoints of organizational contacts:
//! - `GET /_emulator/contacts` → `{"value":[…]}`: every contact with all its properties and the
//!   annotation users and groups get (`kind`, `isCloudManaged`, `inScope`, `joined`, `writes`,
//!   `writeCounts`);
//! - `POST /_emulator/contacts/{id}/scope` `{"inScope": bool}` → `{"id","inScope","state"}`:
//!   moves the AD contact into or out of a synchronised OU; the next cycle acts on it (out of
//!   scope: deleted for good).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{AppState, annotate, bad_body, current, error, parse};
use crate::emulator::shared::Shared;
use crate::emulator::state::ScopeError;

/// The routes (nested under `/_emulator`).
pub fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/contacts", get(contacts))
        .route("/contacts/{id}/scope", post(scope))
}

async fn contacts(State(shared): AppState) -> Response {
    let value: Vec<Value> = {
        let t = current(&shared);
        t.tenant
            .contacts
            .values()
            .map(|c| {
                let mut obj = c.to_json();
                annotate(&mut obj, c.kind, &c.sync, c.writes);
                Value::Object(obj)
            })
            .collect()
    };
    axum::Json(json!({ "value": value })).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Scope {
    in_scope: bool,
}

async fn scope(State(shared): AppState, Path(id): Path<String>, body: Bytes) -> Response {
    let request: Scope = match parse(&body) {
        Ok(r) => r,
        Err(message) => return bad_body(message),
    };
    let mut t = current(&shared);
    match t.tenant.set_contact_scope(&id, request.in_scope) {
        Ok(state) => {
            tracing::info!(id, in_scope = request.in_scope, "AD contact moved");
            axum::Json(json!({ "id": id, "inScope": request.in_scope, "state": state.name() }))
                .into_response()
        }
        Err(ScopeError::NotFound) => error(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("no contact '{id}'"),
        ),
        Err(ScopeError::NoAdObject) => error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            format!("'{id}' is cloud-only: it has no AD object to move"),
        ),
    }
}
