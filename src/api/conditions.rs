//! Status conditions in the Kubernetes `metav1.Condition` shape, following kstatus: `Ready`
//! is the summary; `Reconciling` and `Stalled` are "abnormal-true" conditions, present only
//! while true; domain conditions (`DirectorySyncDisabled`, `DriftDetected`) carry detail.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// The resource has reached the declared state.
pub const READY: &str = "Ready";
/// Work is in progress (for example waiting for Entra to propagate a change).
pub const RECONCILING: &str = "Reconciling";
/// No progress is possible without a human (bad spec, missing permission, …).
pub const STALLED: &str = "Stalled";
/// Directory synchronisation is off for the tenant and every object reflects it.
pub const DIRECTORY_SYNC_DISABLED: &str = "DirectorySyncDisabled";
/// Entra was changed outside the operator after it had converged.
pub const DRIFT_DETECTED: &str = "DriftDetected";

/// `status` values.
pub const TRUE: &str = "True";
pub const FALSE: &str = "False";
pub const UNKNOWN: &str = "Unknown";

/// Set (or replace) the condition of type `type_`. The transition time moves only when the
/// status flips, as `metav1.Condition` requires.
pub fn set(
    conditions: &mut Vec<Condition>,
    type_: &str,
    status: &str,
    reason: &str,
    message: impl Into<String>,
    generation: Option<i64>,
    now: jiff::Timestamp,
) {
    let message = message.into();
    if let Some(existing) = conditions.iter_mut().find(|c| c.type_ == type_) {
        if existing.status != status {
            existing.last_transition_time = Time(now);
        }
        existing.status = status.to_string();
        existing.reason = reason.to_string();
        existing.message = message;
        existing.observed_generation = generation;
    } else {
        conditions.push(Condition {
            type_: type_.to_string(),
            status: status.to_string(),
            reason: reason.to_string(),
            message,
            observed_generation: generation,
            last_transition_time: Time(now),
        });
    }
}

/// Remove the condition of type `type_` (kstatus: abnormal-true conditions disappear when
/// they stop applying).
pub fn remove(conditions: &mut Vec<Condition>, type_: &str) {
    conditions.retain(|c| c.type_ != type_);
}

/// The condition of type `type_`, if present.
pub fn get<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Whether the condition of type `type_` is present and `True`.
pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    get(conditions, type_).is_some_and(|c| c.status == TRUE)
}

/// Validate a reason against the `metav1.Condition` rule (CamelCase identifier), so a typo
/// cannot produce a status the API server rejects.
pub fn is_valid_reason(reason: &str) -> bool {
    let mut chars = reason.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && reason.len() <= 1024
        && reason
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ',' || c == ':')
}

/// Check `conditions` against the kstatus conventions that Argo CD and Flux rely on to read
/// health without custom checks, for a resource at `generation`:
/// - `status.observedGeneration` and every condition's `observedGeneration` equal `generation`;
/// - `Ready` is present; `Reconciling` and `Stalled` are "abnormal-true": present only while
///   `True`, never both;
/// - `Ready=True` has neither; `Ready=False` has exactly one of them, so the state is
///   unambiguous (in progress or failed);
/// - each condition has a CamelCase reason, a message and a known status.
pub fn check_kstatus(
    conditions: &[Condition],
    observed_generation: Option<i64>,
    generation: Option<i64>,
) -> Result<(), String> {
    if observed_generation != generation {
        return Err(format!(
            "observedGeneration {observed_generation:?} != generation {generation:?}"
        ));
    }
    for c in conditions {
        if c.observed_generation != generation {
            return Err(format!(
                "condition {} has observedGeneration {:?}",
                c.type_, c.observed_generation
            ));
        }
        if !is_valid_reason(&c.reason) {
            return Err(format!("condition {} has reason {:?}", c.type_, c.reason));
        }
        if c.message.trim().is_empty() {
            return Err(format!("condition {} has no message", c.type_));
        }
        if ![TRUE, FALSE, UNKNOWN].contains(&c.status.as_str()) {
            return Err(format!("condition {} has status {:?}", c.type_, c.status));
        }
        if conditions.iter().filter(|o| o.type_ == c.type_).count() > 1 {
            return Err(format!("condition {} appears twice", c.type_));
        }
    }
    for abnormal in [RECONCILING, STALLED] {
        if get(conditions, abnormal).is_some_and(|c| c.status != TRUE) {
            return Err(format!(
                "{abnormal} must be removed rather than set to False"
            ));
        }
    }
    let reconciling = is_true(conditions, RECONCILING);
    let stalled = is_true(conditions, STALLED);
    match get(conditions, READY).map(|c| c.status.as_str()) {
        None => Err("no Ready condition".into()),
        Some(TRUE) if reconciling || stalled => {
            Err("Ready=True alongside Reconciling or Stalled".into())
        }
        Some(FALSE) if reconciling == stalled => {
            Err("Ready=False needs exactly one of Reconciling or Stalled".into())
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(s).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
    }

    #[test]
    fn transition_time_moves_only_on_flip() {
        let mut c = Vec::new();
        set(&mut c, READY, FALSE, "Propagating", "a", Some(1), at(10));
        set(&mut c, READY, FALSE, "Propagating", "b", Some(2), at(20));
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].last_transition_time, Time(at(10)));
        assert_eq!(c[0].message, "b");
        assert_eq!(c[0].observed_generation, Some(2));
        set(&mut c, READY, TRUE, "Converged", "c", Some(2), at(30));
        assert_eq!(c[0].last_transition_time, Time(at(30)));
        assert!(is_true(&c, READY));
        remove(&mut c, READY);
        assert!(get(&c, READY).is_none());
    }

    #[test]
    fn kstatus_rules() {
        let now = at(1);
        let mut c = Vec::new();
        assert!(
            check_kstatus(&c, Some(1), Some(1)).is_err(),
            "Ready is required"
        );
        set(&mut c, READY, FALSE, "Propagating", "m", Some(1), now);
        assert!(
            check_kstatus(&c, Some(1), Some(1)).is_err(),
            "Ready=False alone is ambiguous"
        );
        set(&mut c, RECONCILING, TRUE, "Propagating", "m", Some(1), now);
        assert_eq!(check_kstatus(&c, Some(1), Some(1)), Ok(()));
        assert!(
            check_kstatus(&c, Some(1), Some(2)).is_err(),
            "stale observedGeneration"
        );
        set(&mut c, STALLED, TRUE, "X", "m", Some(1), now);
        assert!(
            check_kstatus(&c, Some(1), Some(1)).is_err(),
            "both abnormal conditions"
        );
        remove(&mut c, RECONCILING);
        set(&mut c, READY, TRUE, "Converged", "m", Some(1), now);
        assert!(
            check_kstatus(&c, Some(1), Some(1)).is_err(),
            "Ready=True with Stalled"
        );
        set(&mut c, STALLED, FALSE, "X", "m", Some(1), now);
        assert!(
            check_kstatus(&c, Some(1), Some(1)).is_err(),
            "Stalled=False must be removed"
        );
        remove(&mut c, STALLED);
        assert_eq!(check_kstatus(&c, Some(1), Some(1)), Ok(()));
    }

    #[test]
    fn reasons_are_camel_case_identifiers() {
        assert!(is_valid_reason("DisablePending"));
        assert!(!is_valid_reason("disable pending"));
        assert!(!is_valid_reason(""));
        assert!(!is_valid_reason("1Bad"));
    }
}
