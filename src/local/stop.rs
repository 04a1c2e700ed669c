//! Stopping `apply` cleanly (SIGTERM): no pass starts after a stop, and a pass in flight may
//! finish its wave within a grace period before it is abandoned.

use std::time::Duration;

/// A request to stop (`apply` on SIGTERM): no pass starts after it, and the passes in flight
/// get `grace` to finish before they are abandoned.
#[derive(Clone, Debug)]
pub struct Stop {
    signal: tokio::sync::watch::Receiver<bool>,
    grace: Duration,
}

impl Stop {
    /// A stop that `signal` turning true triggers.
    pub fn new(signal: tokio::sync::watch::Receiver<bool>, grace: Duration) -> Self {
        Stop { signal, grace }
    }

    /// Never stops.
    pub fn never() -> Self {
        // The sender is dropped at once: `requested` then never resolves.
        let (_, rx) = tokio::sync::watch::channel(false);
        Stop::new(rx, Duration::ZERO)
    }

    pub(super) fn is_requested(&self) -> bool {
        *self.signal.borrow()
    }

    /// Resolves once a stop is requested (never, when the sender is gone without one).
    pub(super) async fn requested(&self) {
        let mut rx = self.signal.clone();
        if rx.wait_for(|s| *s).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Resolves `grace` after a stop is requested.
    pub(super) async fn expired(&self) {
        self.requested().await;
        tokio::time::sleep(self.grace).await;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use futures::FutureExt;

    use super::*;

    #[tokio::test]
    async fn never_stops_and_a_signal_stops() {
        let never = Stop::never();
        assert!(!never.is_requested());
        assert!(never.requested().now_or_never().is_none());
        let (tx, rx) = tokio::sync::watch::channel(false);
        let stop = Stop::new(rx, Duration::ZERO);
        assert!(stop.requested().now_or_never().is_none());
        tx.send(true).unwrap();
        assert!(stop.is_requested());
        assert!(stop.requested().now_or_never().is_some());
        // Bounded: the grace is zero, so it resolves at once once requested.
        tokio::time::timeout(Duration::from_secs(10), stop.expired())
            .await
            .unwrap();
    }
}
