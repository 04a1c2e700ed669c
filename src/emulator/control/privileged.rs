//! Control endpoints of the per-object refusals (`state/privileged.rs`):
//! - `GET /_emulator/privileged` → `{"objects": {"<id>": {"privilege", "answer"}}}`;
//! - `PUT /_emulator/privileged` `{"id", "privilege": "adminRole"|"adminSdHolder"|"restrictedAu"|null,
//!   "answer"?: "forbidden"|"badRequest"}` → the object's marker (`null` unmarks); 404 when no
//!   user, group or deleted object has that id.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::json;

use super::{AppState, bad_body, current, error, parse};
use crate::emulator::shared::Shared;
use crate::emulator::state::{Marker, Privilege, RefusalAnswer};

/// The routes (nested under `/_emulator`).
pub fn router() -> Router<Arc<Shared>> {
    Router::new().route("/privileged", get(list).put(set))
}

async fn list(State(shared): AppState) -> Response {
    let t = current(&shared);
    axum::Json(json!({ "objects": t.tenant.privileged })).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SetPrivilege {
    id: String,
    privilege: Option<Privilege>,
    #[serde(default)]
    answer: RefusalAnswer,
}

async fn set(State(shared): AppState, body: Bytes) -> Response {
    let request: SetPrivilege = match parse(&body) {
        Ok(r) => r,
        Err(message) => return bad_body(message),
    };
    let marker = request.privilege.map(|privilege| Marker {
        privilege,
        answer: request.answer,
    });
    let mut t = current(&shared);
    if !t.tenant.set_privilege(&request.id, marker) {
        return error(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("no user, group or deleted object has id {}", request.id),
        );
    }
    tracing::info!(id = %request.id, marker = ?marker, "privileged marker set");
    axum::Json(json!({ "id": request.id.to_lowercase(), "marker": marker })).into_response()
}
