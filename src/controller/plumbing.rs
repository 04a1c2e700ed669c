//! The controller plumbing every kind shares: publishing a pass's Events, writing a status by
//! server-side apply, the metric label of a status, and what to do after a failed pass.

use std::time::Duration;

use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType as KubeEventType};
use kube::{Api, ResourceExt};
use serde_json::json;
use tracing::{info, warn};

use crate::api::API_VERSION;
use crate::api::conditions as cond;
use crate::journal::ResourceKey;
use crate::reconcile::EventType;

use super::{Context, Error, FIELD_MANAGER};

/// Publish the pass's Events about `oref` (failures to publish are logged, not fatal).
pub async fn publish(
    ctx: &Context,
    oref: &k8s_openapi::api::core::v1::ObjectReference,
    key: &ResourceKey,
    events: &[crate::reconcile::ReconcileEvent],
) {
    for e in events {
        let ev = Event {
            type_: match e.type_ {
                EventType::Normal => KubeEventType::Normal,
                EventType::Warning => KubeEventType::Warning,
            },
            reason: e.reason.clone(),
            note: Some(truncate(&e.note, 1000)),
            action: e.action.clone(),
            secondary: None,
        };
        if let Err(err) = ctx.recorder.publish(&ev, oref).await {
            warn!(resource = %key, reason = %e.reason, error = %err, "could not publish event");
        }
    }
}

/// Write the status by server-side apply on the status subresource, one field manager.
pub async fn patch_status<K>(
    ctx: &Context,
    ns: &str,
    name: &str,
    status: &impl serde::Serialize,
) -> Result<(), Error>
where
    K: kube::Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(ctx.client.clone(), ns);
    let patch = json!({
        "apiVersion": API_VERSION,
        "kind": K::kind(&()),
        "status": status,
    });
    api.patch_status(
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    info!(namespace = ns, name, kind = %K::kind(&()), "status written");
    Ok(())
}

/// The metric label of a status: ready, stalled or progressing.
pub fn result_label(
    c: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition],
) -> &'static str {
    if cond::is_true(c, cond::READY) {
        "ready"
    } else if cond::is_true(c, cond::STALLED) {
        "stalled"
    } else {
        "progressing"
    }
}

/// The error policy of every kind: count the failure, then wait as [`backoff_for`] says.
pub fn requeue_after_error<K: kube::Resource<DynamicType = ()>>(
    obj: &K,
    err: &Error,
    ctx: &Context,
) -> Action {
    let kind = K::kind(&());
    let key = format!(
        "{kind}/{}/{}",
        obj.namespace().unwrap_or_default(),
        obj.name_any()
    );
    ctx.metrics.reconcile_error(&kind, err.category());
    ctx.metrics.reconciled(&kind, "error", Duration::ZERO);
    let wait = backoff_for(ctx, &key, err);
    warn!(resource = %key, error = %err, category = err.category(), retry_in_s = wait.as_secs_f64(), "reconcile failed");
    Action::requeue(wait)
}

/// How long to wait after `err`: Graph's Retry-After when it gave one, else exponential
/// backoff on the resource's consecutive failures.
pub fn backoff_for(ctx: &Context, key: &str, err: &Error) -> Duration {
    let failures = ctx.count_failure(key);
    match err {
        Error::Reconcile(e) if e.retry_after().is_some() => e.retry_after().unwrap_or_default(),
        _ => backoff(failures),
    }
}

fn backoff(failures: u32) -> Duration {
    let step = Duration::from_secs(5)
        .saturating_mul(1u32 << failures.saturating_sub(1).min(6))
        .min(Duration::from_secs(300));
    step / 2 + (step / 2).mul_f64(fastrand::f64())
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_bounded_and_grows() {
        assert!(backoff(1) <= Duration::from_secs(5));
        assert!(backoff(3) >= Duration::from_secs(10));
        assert!(backoff(50) <= Duration::from_secs(300));
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate("abc", 10), "abc");
        assert_eq!(truncate("ééé", 3), "é…");
    }
}
