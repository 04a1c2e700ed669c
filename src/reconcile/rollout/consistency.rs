//! Graph is eventually consistent: "a successful write to Microsoft Entra does not guarantee
//! that an immediate read will reflect that change", and advanced queries
//! (`ConsistencyLevel: eventual`) read an index that lags further (Entra blog "Designing for
//! Eventual Consistency for Microsoft Entra", 2026-03-24; graph docs `aad-advanced-queries`).
//!
//! So a switch is confirmed through the object's own `onPremisesSyncBehavior` read, never
//! from a selection (an advanced query) alone; read back again with backoff within the pass
//! ([`read_back`]); and an object the operator switched that still does not read back is
//! *waiting*, neither failed nor drift, for [`WINDOW`] after the wave that switched it (the
//! window measured by the reconcilers' clock: tenant time under `--time-scale`). Only after
//! the window does a `false` read count as drift.

use std::future::Future;
use std::time::Duration;

use crate::graph::GraphError;

/// How long after its wave an object the operator switched may still read as before. Microsoft
/// publishes no bound ("typically seconds"); minutes leave room for a slow replica.
pub const WINDOW: Duration = Duration::from_secs(5 * 60);

/// The pauses between the read-backs of a pass: from 250 ms, doubling up to 1 s, about 4 s
/// in all (real time). What is not confirmed by then waits for a later pass.
pub const READ_BACK_DELAYS: [Duration; 5] = [
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(1),
    Duration::from_secs(1),
];

/// Whether `now` is within [`WINDOW`] after the last wave (`None`: no wave in this
/// generation).
pub fn within_window(last_wave_at: Option<jiff::Timestamp>, now: jiff::Timestamp) -> bool {
    last_wave_at.is_some_and(|last| last <= now && now.duration_since(last).unsigned_abs() < WINDOW)
}

/// When to look again while objects wait to read back: as long as they have waited since the
/// wave (a backoff across passes), from 5 s to a minute, never past the window's end.
pub fn requeue(last_wave_at: Option<jiff::Timestamp>, now: jiff::Timestamp) -> Duration {
    let since = last_wave_at
        .filter(|last| *last <= now)
        .map_or(Duration::ZERO, |last| {
            now.duration_since(last).unsigned_abs()
        });
    let left = WINDOW.saturating_sub(since).max(Duration::from_secs(1));
    since
        .clamp(Duration::from_secs(5), Duration::from_secs(60))
        .min(left)
}

/// Reads `items` with `read` (one answer per item, in order), then reads again, after each of
/// [`READ_BACK_DELAYS`], those that answered `Ok(false)`, until every one reads `true` or the
/// delays are spent. Errors are final (the client already retried what is retryable).
pub async fn read_back<T, F, Fut>(items: &[T], read: F) -> Vec<Result<bool, GraphError>>
where
    T: Clone,
    F: FnMut(Vec<T>) -> Fut,
    Fut: Future<Output = Vec<Result<bool, GraphError>>>,
{
    read_back_after(items, &READ_BACK_DELAYS, read).await
}

/// [`read_back`] with these pauses.
async fn read_back_after<T, F, Fut>(
    items: &[T],
    delays: &[Duration],
    mut read: F,
) -> Vec<Result<bool, GraphError>>
where
    T: Clone,
    F: FnMut(Vec<T>) -> Fut,
    Fut: Future<Output = Vec<Result<bool, GraphError>>>,
{
    let mut results = read(items.to_vec()).await;
    for &delay in delays {
        let again: Vec<usize> = (0..results.len())
            .filter(|&i| matches!(results[i], Ok(false)))
            .collect();
        if again.is_empty() {
            break;
        }
        tokio::time::sleep(delay).await;
        let fresh = read(
            again
                .iter()
                .filter_map(|&i| items.get(i).cloned())
                .collect(),
        )
        .await;
        for (i, r) in again.into_iter().zip(fresh) {
            results[i] = r;
        }
    }
    results
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ts(s: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    #[test]
    fn the_window_follows_the_last_wave() {
        assert!(within_window(Some(ts(0)), ts(0)));
        assert!(within_window(Some(ts(0)), ts(299)));
        assert!(!within_window(Some(ts(0)), ts(300)));
        assert!(!within_window(None, ts(0)));
        // A wave stamped in the future (a clock set back) is not a reason to wait forever.
        assert!(!within_window(Some(ts(10)), ts(0)));
    }

    #[test]
    fn passes_back_off_within_the_window() {
        assert_eq!(requeue(Some(ts(0)), ts(1)), Duration::from_secs(5));
        assert_eq!(requeue(Some(ts(0)), ts(20)), Duration::from_secs(20));
        assert_eq!(requeue(Some(ts(0)), ts(200)), Duration::from_secs(60));
        assert_eq!(requeue(Some(ts(0)), ts(280)), Duration::from_secs(20));
        assert_eq!(requeue(None, ts(0)), Duration::from_secs(5));
    }

    #[tokio::test]
    async fn reads_again_only_what_is_not_confirmed_until_it_is() {
        let mut calls: Vec<Vec<u32>> = Vec::new();
        // Item 1 reads true on the third read; item 2 never; item 3 fails.
        let results = read_back_after(&[0u32, 1, 2, 3], &[Duration::ZERO; 5], |batch| {
            calls.push(batch.clone());
            let n = calls.len();
            async move {
                batch
                    .into_iter()
                    .map(|i| match i {
                        0 => Ok(true),
                        1 => Ok(n >= 3),
                        2 => Ok(false),
                        _ => Err(GraphError::Transport {
                            operation: crate::graph::Operation::GetSyncBehavior,
                            detail: "reset".into(),
                        }),
                    })
                    .collect()
            }
        })
        .await;
        assert!(matches!(results[0], Ok(true)));
        assert!(matches!(results[1], Ok(true)));
        assert!(matches!(results[2], Ok(false)));
        assert!(results[3].is_err());
        assert_eq!(calls[0], vec![0, 1, 2, 3]);
        assert_eq!(calls[1], vec![1, 2]);
        assert_eq!(calls[2], vec![1, 2]);
        assert_eq!(calls[3], vec![2], "item 1 is not read again once true");
        assert_eq!(calls.len(), 6, "the first read and one per pause");
    }
}
