//! Control endpoint of the harsher throttling modes (`quota.rs`):
//! - `GET /_emulator/quotas` → `{"backgroundWriteShare", "burstWindowSecs",
//!   "grantedTenantWritesPerSec"}`;
//! - `PUT /_emulator/quotas` with `{"backgroundWriteShare"?, "burstWindowSecs"?}` (fields left
//!   out keep their value) → the same document; 400 outside the ranges.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{AppState, bad_body, current, parse};
use crate::emulator::quota::QuotaSettings;
use crate::emulator::shared::Shared;

/// The routes (nested under `/_emulator`).
pub fn router() -> Router<Arc<Shared>> {
    Router::new().route("/quotas", get(show).put(change))
}

fn document(settings: QuotaSettings) -> Value {
    json!({
        "backgroundWriteShare": settings.background_write_share,
        "burstWindowSecs": settings.burst_window_secs,
        "grantedTenantWritesPerSec": settings.tenant_write_rate(),
    })
}

async fn show(State(shared): AppState) -> Response {
    axum::Json(document(current(&shared).quotas.settings())).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Change {
    background_write_share: Option<f64>,
    burst_window_secs: Option<f64>,
}

async fn change(State(shared): AppState, body: Bytes) -> Response {
    let change: Change = match parse(&body) {
        Ok(c) => c,
        Err(e) => return bad_body(e),
    };
    let mut t = current(&shared);
    let old = t.quotas.settings();
    let settings = QuotaSettings {
        background_write_share: change
            .background_write_share
            .unwrap_or(old.background_write_share),
        burst_window_secs: change.burst_window_secs.unwrap_or(old.burst_window_secs),
    };
    if let Err(e) = settings.validate() {
        return bad_body(e);
    }
    let now = t.clock.secs();
    t.quotas.set_settings(settings, now);
    axum::Json(document(settings)).into_response()
}
