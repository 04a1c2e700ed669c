//! Reads of the directory outside the tenant's lock: a middleware reads it when a cycle is
//! due, before the request's handler runs the cycle; `POST /_emulator/sync/cycle` reads it
//! for the cycle it runs.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::source::DirectorySource;
use crate::emulator::shared::Shared;
use crate::emulator::state::SyncState;

/// When a cycle is due, reads the directory and runs the cycle with what was read.
async fn run_due(shared: &Shared, source: &DirectorySource) {
    let due = || {
        let t = shared.tenancy();
        t.tenant.directory_read_due(t.clock.now())
    };
    source
        .read_if_due(due, |read| {
            let mut t = shared.tenancy();
            t.tenant.stage_directory(Some(read));
            t.apply_due();
            // A read no cycle used (sync turned off meanwhile) must not feed a later one.
            t.tenant.stage_directory(None);
        })
        .await;
}

/// Middleware of every route: runs a due cycle, with a fresh read of the directory, before
/// the handler sees the tenant.
pub async fn middleware(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(source) = &shared.directory {
        run_due(&shared, source).await;
    }
    next.run(request).await
}

/// The first sync at start: the tenant holds the directory's users before the first request.
/// A directory that cannot be read is reported, not fatal (the next cycle reads it again).
pub async fn initial_import(shared: &Shared, source: &DirectorySource) {
    let read = source.read().await;
    let mut t = shared.tenancy();
    let now = t.clock.now();
    match read {
        Ok(users) => {
            let imported = t.tenant.import_directory(&users, now);
            if t.tenant.sync == SyncState::Enabled {
                t.tenant.run_cycle(now);
            }
            tracing::info!(
                read = imported.read,
                in_scope = imported.in_scope,
                created = imported.created.len(),
                "imported the directory"
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "the directory could not be read at start");
            t.tenant.directory_failed(e.to_string());
        }
    }
}
