//! Reads of the directory outside the tenant's lock: a middleware reads it when a cycle is
//! due, before the request's handler runs the cycle; `POST /_emulator/sync/cycle` reads it
//! for the cycle it runs.

use std::sync::{Arc, PoisonError, RwLock};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::{AdSourceConfig, AdSourceError, read_users};
use crate::emulator::server::{Shared, lock};
use crate::emulator::state::{AdUser, SyncState};

/// The directory the sync client reads, changeable at run time.
#[derive(Debug)]
pub struct DirectorySource {
    config: RwLock<AdSourceConfig>,
    /// One read at a time: requests that find the same cycle due wait for the first read.
    reading: tokio::sync::Mutex<()>,
}

impl DirectorySource {
    /// A source reading `config`.
    pub fn new(config: AdSourceConfig) -> Self {
        Self {
            config: RwLock::new(config),
            reading: tokio::sync::Mutex::new(()),
        }
    }

    /// The configuration now.
    pub fn config(&self) -> AdSourceConfig {
        self.config
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Changes the configuration (the next read uses it).
    pub fn update(&self, change: impl FnOnce(&mut AdSourceConfig)) {
        change(&mut self.config.write().unwrap_or_else(PoisonError::into_inner));
    }

    /// Reads the directory (one read at a time).
    pub async fn read(&self) -> Result<Vec<AdUser>, AdSourceError> {
        let _one = self.reading.lock().await;
        let config = self.config();
        let read = read_users(&config).await;
        if let Err(e) = &read {
            tracing::warn!(error = %e, "reading the directory failed: the sync cycle changes nothing");
        }
        read
    }

    /// When a cycle is due, reads the directory and runs the cycle with what was read.
    pub async fn run_due(&self, shared: &Shared) {
        let due = || {
            let inner = lock(&shared.inner);
            inner.tenant.directory_read_due(inner.clock.now())
        };
        if !due() {
            return;
        }
        let _one = self.reading.lock().await;
        if !due() {
            return; // another request read it for this cycle
        }
        let config = self.config();
        let read = read_users(&config).await.map_err(|e| {
            tracing::warn!(error = %e, "reading the directory failed: the sync cycle changes nothing");
            e.to_string()
        });
        let mut inner = lock(&shared.inner);
        let now = inner.clock.now();
        inner.tenant.stage_directory(Some(read));
        inner.tenant.apply_due(now);
        // A read no cycle used (sync turned off meanwhile) must not feed a later one.
        inner.tenant.stage_directory(None);
    }
}

/// Middleware of every route: runs a due cycle, with a fresh read of the directory, before
/// the handler sees the tenant.
pub async fn middleware(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(source) = &shared.directory {
        source.run_due(&shared).await;
    }
    next.run(request).await
}

/// The first sync at start: the tenant holds the directory's users before the first request.
/// A directory that cannot be read is reported, not fatal (the next cycle reads it again).
pub async fn initial_import(shared: &Shared, source: &DirectorySource) {
    let read = source.read().await;
    let mut inner = lock(&shared.inner);
    let now = inner.clock.now();
    match read {
        Ok(users) => {
            let imported = inner.tenant.import_directory(&users, now);
            if inner.tenant.sync == SyncState::Enabled {
                inner.tenant.run_cycle(now);
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
            inner.tenant.directory_failed(e.to_string());
        }
    }
}
