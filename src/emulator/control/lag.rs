//! Control endpoints of the read lag (`lag.rs`), switchable mid-run:
//! - `GET /_emulator/lag` → `{"readSecs", "indexSecs", "objects"}` (objects whose prior state
//!   some read can still show);
//! - `PUT /_emulator/lag` `{"readSecs"?, "indexSecs"?}` (tenant seconds, 0 to 86400) → the
//!   same document. A reseed or load starts again from the configured lags.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{AppState, bad_body, current, parse};
use crate::emulator::lag::Lag;
use crate::emulator::shared::Shared;

/// The longest lag the endpoint takes (a day).
const MAX_SECS: f64 = 86_400.0;

/// The routes (nested under `/_emulator`).
pub fn router() -> Router<Arc<Shared>> {
    Router::new().route("/lag", get(show).put(set))
}

fn document(lag: &Lag) -> Value {
    json!({
        "readSecs": lag.read.as_secs_f64(),
        "indexSecs": lag.index.as_secs_f64(),
        "objects": lag.pending(),
    })
}

async fn show(State(shared): AppState) -> Response {
    let t = current(&shared);
    axum::Json(document(&t.tenant.lag)).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SetLag {
    read_secs: Option<f64>,
    index_secs: Option<f64>,
}

fn seconds(name: &str, value: Option<f64>) -> Result<Option<Duration>, String> {
    match value {
        None => Ok(None),
        Some(s) if s.is_finite() && (0.0..=MAX_SECS).contains(&s) => {
            Ok(Some(Duration::from_secs_f64(s)))
        }
        Some(s) => Err(format!(
            "{name}: {s} is not a lag: give 0 to {MAX_SECS} seconds"
        )),
    }
}

async fn set(State(shared): AppState, body: Bytes) -> Response {
    let request: SetLag = match parse(&body) {
        Ok(r) => r,
        Err(message) => return bad_body(message),
    };
    let (read, index) = match (
        seconds("readSecs", request.read_secs),
        seconds("indexSecs", request.index_secs),
    ) {
        (Ok(r), Ok(i)) => (r, i),
        (Err(m), _) | (_, Err(m)) => return bad_body(m),
    };
    let mut t = current(&shared);
    let lag = &mut t.tenant.lag;
    lag.read = read.unwrap_or(lag.read);
    lag.index = index.unwrap_or(lag.index);
    tracing::info!(read = ?lag.read, index = ?lag.index, "read lag set");
    axum::Json(document(lag)).into_response()
}
