//! Control endpoints of delta queries:
//! - `GET /_emulator/delta` → the change log's counters (`seq`, `resyncFrom`, `users`,
//!   `groups`, `properties`, `tombstones`, `memberChanges`);
//! - `POST /_emulator/delta/reset` → the same counters: tenant maintenance, after which every
//!   `$deltatoken` and `$skiptoken` issued so far answers `410 Gone` with a `Location` that
//!   starts a full round again.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::{AppState, current};
use crate::emulator::shared::Shared;

/// The routes (nested under `/_emulator`).
pub fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/delta", get(stats))
        .route("/delta/reset", post(reset))
}

async fn stats(State(shared): AppState) -> Response {
    let t = current(&shared);
    axum::Json(t.tenant.changes.stats()).into_response()
}

async fn reset(State(shared): AppState) -> Response {
    let mut t = current(&shared);
    let from = t.tenant.changes.require_resync();
    tracing::info!(
        resync_from = from,
        "delta tokens invalidated (tenant maintenance)"
    );
    axum::Json(t.tenant.changes.stats()).into_response()
}
