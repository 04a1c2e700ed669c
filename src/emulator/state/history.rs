//! The prior states of objects written within the read lags (`emulator::lag` decides what a
//! route reads or writes and swaps them in and out).

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use jiff::Timestamp;

use crate::emulator::clock::add_secs;
use crate::emulator::model::{Group, User};

/// Which lag a read sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// Per-object reads and plain lists.
    Read,
    /// Advanced queries (`ConsistencyLevel: eventual` with `$count`, `$search`) and `$count`.
    Index,
}

/// An object as it was before a write.
#[derive(Debug, Clone)]
pub(crate) enum Prior {
    User(Box<User>),
    Group(Box<Group>),
}

/// The read lags and the prior states of the objects written within them.
#[derive(Debug, Clone, Default)]
pub struct Lag {
    /// How long per-object reads show the state before a write (tenant time).
    pub read: Duration,
    /// How long advanced queries show it (tenant time).
    pub index: Duration,
    pub(crate) history: HashMap<String, VecDeque<(Timestamp, Prior)>>,
}

impl Lag {
    /// Lags of `read` and `index` (zero: reads see every write at once).
    pub fn new(read: Duration, index: Duration) -> Self {
        Lag {
            read,
            index,
            history: HashMap::new(),
        }
    }

    /// The lag of `window`.
    pub fn of(&self, window: Window) -> Duration {
        match window {
            Window::Read => self.read,
            Window::Index => self.index,
        }
    }

    /// Objects with a prior state kept (for the control endpoint and tests).
    pub fn pending(&self) -> usize {
        self.history.len()
    }

    /// Forgets prior states no window can show at `now`.
    pub(crate) fn prune(&mut self, now: Timestamp) {
        let keep = self.read.max(self.index).as_secs_f64();
        let oldest = add_secs(now, -keep);
        self.history.retain(|_, entries| {
            while entries.front().is_some_and(|(at, _)| *at <= oldest) {
                entries.pop_front();
            }
            !entries.is_empty()
        });
    }

    pub(crate) fn record(&mut self, now: Timestamp, id: String, prior: Prior) {
        self.prune(now);
        if self.read.is_zero() && self.index.is_zero() {
            return;
        }
        self.history.entry(id).or_default().push_back((now, prior));
    }
}
