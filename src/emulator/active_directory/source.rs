//! The directory the sync client reads: its connection, changeable at run time, and one read
//! at a time.

use std::sync::{PoisonError, RwLock};

use super::{AdSourceConfig, AdSourceError, read_users};
use crate::emulator::state::AdUser;

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

    /// When `due()`, reads the directory and hands what was read (or why not) to `apply`,
    /// still one at a time: a request that waited for another's read asks `due()` again, as
    /// that read may have served its cycle.
    pub async fn read_if_due(
        &self,
        due: impl Fn() -> bool,
        apply: impl FnOnce(Result<Vec<AdUser>, String>),
    ) {
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
        apply(read);
    }
}
