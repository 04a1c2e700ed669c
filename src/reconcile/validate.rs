//! Checks of a spec that need no I/O, shared by every kind: the CRD schema enforces the same
//! rules in a cluster; the local runner has no API server, so each pass checks them itself
//! and stalls, naming the field, before any Graph call. What a check proves is kept in a
//! typed value ([`ValidRollout`]), so the pass never parses a field a second time.

use std::time::Duration;

use crate::api::common::{GroupRef, Rollout, is_upn, is_uuid};

/// An invalid field and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("spec.{field}: {message}")]
pub struct SpecError {
    /// Path below `spec`, e.g. `credentials.clientSecret.clientId`.
    pub field: &'static str,
    /// What is wrong and the fix.
    pub message: String,
}

pub(crate) fn err(field: &'static str, message: impl Into<String>) -> SpecError {
    SpecError {
        field,
        message: message.into(),
    }
}

/// `spec.rollout`, checked: the blast radius, the waves and the pause as numbers the pass uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ValidRollout {
    /// More selected objects than this: `BlastRadiusExceeded`.
    pub max_objects: i64,
    /// Objects per wave (at least 1).
    pub wave_size: usize,
    /// Objects in the canary wave (0: none).
    pub canary: usize,
    /// Wait between waves.
    pub pause: Duration,
    /// Failures tolerated in one wave.
    pub max_failures_per_wave: i64,
}

impl ValidRollout {
    /// Waves (the canary counting as one) to convert `pending` objects.
    pub fn waves_needed(&self, pending: usize) -> usize {
        if pending == 0 {
            return 0;
        }
        let canary = self.canary.min(pending);
        usize::from(canary > 0) + (pending - canary).div_ceil(self.wave_size)
    }
}

/// Check `spec.rollout`.
pub fn rollout(r: &Rollout) -> Result<ValidRollout, SpecError> {
    if r.max_objects < 1 {
        return Err(err("rollout.maxObjects", "must be at least 1"));
    }
    let wave_size = usize::try_from(r.wave_size)
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| err("rollout.waveSize", "must be at least 1"))?;
    let canary =
        usize::try_from(r.canary).map_err(|_| err("rollout.canary", "cannot be negative"))?;
    if r.max_failures_per_wave < 0 {
        return Err(err("rollout.maxFailuresPerWave", "cannot be negative"));
    }
    let pause = crate::duration::parse(&r.pause_between_waves)
        .map_err(|e| err("rollout.pauseBetweenWaves", e.to_string()))?;
    Ok(ValidRollout {
        max_objects: r.max_objects,
        wave_size,
        canary,
        pause,
        max_failures_per_wave: r.max_failures_per_wave,
    })
}

/// Check a user principal name given in `field`.
pub fn upn(field: &'static str, upn: &str) -> Result<(), SpecError> {
    if is_upn(upn) {
        Ok(())
    } else {
        Err(err(
            field,
            format!(
                "{upn:?} is not a user principal name (name@domain; no wildcards, quotes or URL characters)"
            ),
        ))
    }
}

/// Check a group reference given in `field`: an id or a display name, not both.
pub fn group_ref(field: &'static str, g: &GroupRef) -> Result<(), SpecError> {
    match (&g.id, &g.display_name) {
        (Some(id), None) if is_uuid(id) => Ok(()),
        (Some(id), None) => Err(err(
            field,
            format!("{id:?} is not a group object id (GUID)"),
        )),
        (None, Some(name)) if !name.trim().is_empty() && name.len() <= 256 => Ok(()),
        (Some(_), Some(_)) => Err(err(
            field,
            "give each group's id or its displayName, not both",
        )),
        _ => Err(err(
            field,
            "give each group's id or its displayName (a non-blank name of at most 256 characters)",
        )),
    }
}

/// Check group object ids given in `field`.
pub fn group_ids(field: &'static str, ids: &[String]) -> Result<(), SpecError> {
    match ids.iter().find(|id| !is_uuid(id)) {
        Some(bad) => Err(err(
            field,
            format!("{bad:?} is not a group object id (GUID)"),
        )),
        None => Ok(()),
    }
}

/// Check an OData `$filter` given in `field`.
pub fn filter(field: &'static str, f: &str) -> Result<(), SpecError> {
    if f.len() > 2048 || f.chars().any(char::is_control) {
        return Err(err(
            field,
            "must be one line of at most 2048 characters, without control characters",
        ));
    }
    Ok(())
}

/// Check `spec.tenantRef.name`.
pub fn tenant_ref(name: &str) -> Result<(), SpecError> {
    if name.trim().is_empty() {
        return Err(err(
            "tenantRef.name",
            "name the TenantSyncPolicy of the tenant",
        ));
    }
    Ok(())
}

/// A conversion spec that passed every check, with what the checks proved.
#[derive(Clone, Copy, Debug)]
pub struct Valid<'a, S> {
    /// The spec as declared.
    pub spec: &'a S,
    /// `spec.rollout`, as numbers and a duration.
    pub rollout: ValidRollout,
}

impl<S> std::ops::Deref for Valid<'_, S> {
    type Target = S;
    fn deref(&self) -> &S {
        self.spec
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn rollout_of(v: serde_json::Value) -> Result<ValidRollout, SpecError> {
        rollout(&serde_json::from_value(v).unwrap())
    }

    #[test]
    fn waves_needed_counts_the_canary() {
        let r = rollout_of(serde_json::json!({"waveSize": 10, "canary": 2})).unwrap();
        assert_eq!(r.waves_needed(0), 0);
        assert_eq!(r.waves_needed(1), 1);
        assert_eq!(r.waves_needed(12), 2);
        assert_eq!(r.waves_needed(13), 3);
    }

    #[test]
    fn the_rollout_is_checked_into_numbers_and_a_duration() {
        let r = rollout_of(serde_json::json!({"pauseBetweenWaves": "1h30m"})).unwrap();
        assert_eq!(r.pause, Duration::from_secs(5400));
        assert_eq!((r.wave_size, r.canary, r.max_objects), (100, 0, 1000));
        let field = |v| rollout_of(v).err().map(|e| e.field);
        assert_eq!(
            field(serde_json::json!({"maxObjects": 0})),
            Some("rollout.maxObjects")
        );
        assert_eq!(
            field(serde_json::json!({"waveSize": 0})),
            Some("rollout.waveSize")
        );
        assert_eq!(
            field(serde_json::json!({"canary": -1})),
            Some("rollout.canary")
        );
        assert_eq!(
            field(serde_json::json!({"maxFailuresPerWave": -1})),
            Some("rollout.maxFailuresPerWave")
        );
        let e = rollout_of(serde_json::json!({"pauseBetweenWaves": "10"})).unwrap_err();
        assert_eq!(e.field, "rollout.pauseBetweenWaves");
        assert!(e.to_string().contains("\"10\""), "{e}");
    }
}
