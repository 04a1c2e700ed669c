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

/// A status with kstatus conditions and an observed generation.
pub trait Conditioned {
    /// The conditions.
    fn conditions(&self) -> &[Condition];
    /// The conditions, to set.
    fn conditions_mut(&mut self) -> &mut Vec<Condition>;
    /// The generation the status describes.
    fn observed_generation(&self) -> Option<i64>;
    /// Record the generation the status describes.
    fn set_observed_generation(&mut self, generation: Option<i64>);
}

/// The status being built in one pass of a conversion, and the Events that go with it.
pub struct Pass<S> {
    /// The status.
    pub status: S,
    /// `metadata.generation`.
    pub generation: Option<i64>,
    /// The pass's time.
    pub now: jiff::Timestamp,
    /// Events to publish.
    pub events: Vec<ReconcileEvent>,
}

impl<S: Conditioned> Pass<S> {
    /// Set the summary conditions from `health`, record the generation, and hand the status
    /// and Events over with the requeue delay.
    pub fn finish(
        mut self,
        health: Health,
        requeue_after: Option<std::time::Duration>,
    ) -> super::Outcome<S> {
        if let Some(e) = apply(
            self.status.conditions_mut(),
            health,
            self.generation,
            self.now,
        ) {
            self.events.push(e);
        }
        self.status.set_observed_generation(self.generation);
        super::Outcome {
            status: self.status,
            events: self.events,
            requeue_after,
        }
    }

    /// `Stalled` with the stall's reason and message, looked at again as it says.
    pub fn stall(self, stall: super::Stall) -> super::Outcome<S> {
        let requeue = stall.requeue_after();
        self.finish(Health::Stalled(stall.reason, stall.message), requeue)
    }

    /// `DriftDetected=True` (reason `TakenBackByAD`) with `message`; an Event when it turns true.
    pub fn mark_drift(&mut self, message: String) {
        if !cond::is_true(self.status.conditions_mut(), cond::DRIFT_DETECTED) {
            self.events.push(ReconcileEvent::warning(
                crate::reasons::DRIFT_DETECTED,
                "Observe",
                message.clone(),
            ));
        }
        let (g, now) = (self.generation, self.now);
        cond::set(
            self.status.conditions_mut(),
            cond::DRIFT_DETECTED,
            TRUE,
            crate::reasons::TAKEN_BACK_BY_AD,
            message,
            g,
            now,
        );
    }

    /// `DriftDetected=False` (reason `Resolved`) with `message`, if it was true.
    pub fn resolve_drift(&mut self, message: &str) {
        if cond::is_true(self.status.conditions_mut(), cond::DRIFT_DETECTED) {
            self.events.push(ReconcileEvent::normal(
                crate::reasons::DRIFT_RESOLVED,
                "Observe",
                message,
            ));
            let (g, now) = (self.generation, self.now);
            cond::set(
                self.status.conditions_mut(),
                cond::DRIFT_DETECTED,
                FALSE,
                crate::reasons::RESOLVED,
                message,
                g,
                now,
            );
        }
    }
}
