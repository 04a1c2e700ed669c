//! The summary conditions every resource carries, set the kstatus way: `Ready`, plus
//! `Reconciling` (only while work is in progress) or `Stalled` (only while a human is needed).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

use crate::api::conditions::{self as cond, FALSE, TRUE};

use super::ReconcileEvent;

/// How a resource stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Health {
    /// The declared state holds.
    Ready(&'static str, String),
    /// Work is in progress.
    Progressing(&'static str, String),
    /// No progress without a human.
    Stalled(&'static str, String),
}

impl Health {
    /// The reason.
    pub fn reason(&self) -> &'static str {
        match self {
            Health::Ready(r, _) | Health::Progressing(r, _) | Health::Stalled(r, _) => r,
        }
    }
}

/// Set `Ready`/`Reconciling`/`Stalled` from `health`, and return the Event for the
/// transition when `Ready`'s reason changed.
pub fn apply(
    conditions: &mut Vec<Condition>,
    health: Health,
    generation: Option<i64>,
    now: jiff::Timestamp,
) -> Option<ReconcileEvent> {
    let previous = cond::get(conditions, cond::READY).map(|c| c.reason.clone());
    let (reason, message, warning) = match health {
        Health::Ready(reason, msg) => {
            cond::set(
                conditions,
                cond::READY,
                TRUE,
                reason,
                msg.clone(),
                generation,
                now,
            );
            cond::remove(conditions, cond::RECONCILING);
            cond::remove(conditions, cond::STALLED);
            (reason, msg, false)
        }
        Health::Progressing(reason, msg) => {
            cond::set(
                conditions,
                cond::READY,
                FALSE,
                reason,
                msg.clone(),
                generation,
                now,
            );
            cond::set(
                conditions,
                cond::RECONCILING,
                TRUE,
                reason,
                msg.clone(),
                generation,
                now,
            );
            cond::remove(conditions, cond::STALLED);
            (reason, msg, false)
        }
        Health::Stalled(reason, msg) => {
            cond::set(
                conditions,
                cond::READY,
                FALSE,
                reason,
                msg.clone(),
                generation,
                now,
            );
            cond::set(
                conditions,
                cond::STALLED,
                TRUE,
                reason,
                msg.clone(),
                generation,
                now,
            );
            cond::remove(conditions, cond::RECONCILING);
            (reason, msg, true)
        }
    };
    if previous.as_deref() == Some(reason) {
        return None;
    }
    Some(if warning {
        ReconcileEvent::warning(reason, "Reconcile", message)
    } else {
        ReconcileEvent::normal(reason, "Reconcile", message)
    })
}
