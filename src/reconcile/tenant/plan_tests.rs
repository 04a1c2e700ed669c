//! Unit tests of `plan.rs`.
#![allow(clippy::unwrap_used)]

use super::*;
use crate::api::common::SecretKeyRef;
use crate::api::tenant::{ClientSecretCredential, Credentials};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

fn spec(mode: DirectorySyncMode, clear: bool, drift: DriftPolicy) -> TenantSyncPolicySpec {
    TenantSyncPolicySpec {
        tenant_id: "3f9a1c2e-5b7d-4e8f-9a0b-1c2d3e4f5a6b".into(),
        cloud: Default::default(),
        endpoints: None,
        credentials: Credentials {
            client_secret: Some(ClientSecretCredential {
                client_id: "0b5e7c1d-2f3a-4b6c-8d9e-0f1a2b3c4d5e".into(),
                secret_ref: SecretKeyRef {
                    name: "s".into(),
                    key: "k".into(),
                },
            }),
            ..Default::default()
        },
        directory_sync: mode,
        approved_plan: None,
        plan_tolerance: None,
        clear_immutable_ids: clear,
        drift,
        suspend: false,
        quota: None,
        active_directory: None,
    }
}

fn obs(org: Option<bool>, synced: i64, converted: i64, remaining: i64) -> Observation {
    Observation {
        affected: None,
        organization: Organization {
            id: "t".into(),
            display_name: None,
            on_premises_sync_enabled: org,
            on_premises_last_sync_date_time: None,
            verified_domains: vec![],
        },
        users: ObjectCounts {
            synced,
            converted,
            cloud_only: 3,
        },
        groups: ObjectCounts::default(),
        immutable_ids: ImmutableIdCounts {
            cleared: converted - remaining,
            remaining,
            failed: 0,
        },
    }
}

fn ts(s: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_second(1_800_000_000 + s).unwrap()
}

use DirectorySyncMode::*;
use DriftPolicy::*;

#[test]
fn disabled_flow_in_order() {
    let s = spec(Disabled, true, Report);
    let st = TenantSyncPolicyStatus::default();
    let off = Decision::SetSync {
        enabled: false,
        remediation: false,
    };
    assert_eq!(
        decide(&s, &obs(Some(true), 10, 0, 0), &st, true, ts(0)),
        off
    );
    assert_eq!(
        decide(&s, &obs(Some(false), 6, 4, 4), &st, false, ts(0)),
        Decision::WaitForPropagation
    );
    assert_eq!(
        decide(&s, &obs(None, 6, 4, 4), &st, false, ts(0)),
        Decision::WaitForPropagation
    );
    assert_eq!(
        decide(&s, &obs(Some(false), 0, 10, 10), &st, false, ts(0)),
        Decision::ClearImmutableIds
    );
    assert_eq!(
        decide(&s, &obs(Some(false), 0, 10, 0), &st, false, ts(0)),
        Decision::Converged
    );
    let keep = spec(Disabled, false, Report);
    assert_eq!(
        decide(&keep, &obs(Some(false), 0, 10, 10), &st, false, ts(0)),
        Decision::Converged
    );
}

#[test]
fn our_own_write_is_not_drift_and_is_resent_after_grace() {
    let s = spec(Disabled, false, Report);
    let st = TenantSyncPolicyStatus {
        disable_requested_at: Some(Time(ts(0))),
        ..Default::default()
    };
    let o = obs(Some(true), 10, 0, 0);
    assert_eq!(
        decide(&s, &o, &st, false, ts(30)),
        Decision::WaitForPropagation
    );
    assert_eq!(
        decide(&s, &o, &st, false, ts(600)),
        Decision::SetSync {
            enabled: false,
            remediation: false
        }
    );
}

#[test]
fn drift_after_convergence() {
    let st = TenantSyncPolicyStatus {
        converged_at: Some(Time(ts(0))),
        ..Default::default()
    };
    let o = obs(Some(true), 10, 0, 0);
    assert_eq!(
        decide(&spec(Disabled, false, Report), &o, &st, false, ts(9)),
        Decision::ReportDrift(Drift::SyncReEnabled)
    );
    assert_eq!(
        decide(&spec(Disabled, false, Remediate), &o, &st, false, ts(9)),
        Decision::SetSync {
            enabled: false,
            remediation: true
        }
    );
    // A spec change is an instruction, not drift.
    assert_eq!(
        decide(&spec(Disabled, false, Report), &o, &st, true, ts(9)),
        Decision::SetSync {
            enabled: false,
            remediation: false
        }
    );
    let off = obs(Some(false), 0, 10, 0);
    assert_eq!(
        decide(&spec(Enabled, false, Report), &off, &st, false, ts(9)),
        Decision::ReportDrift(Drift::SyncDisabled)
    );
    assert_eq!(
        decide(&spec(Enabled, false, Remediate), &off, &st, false, ts(9)),
        Decision::SetSync {
            enabled: true,
            remediation: true
        }
    );
}

#[test]
fn enabled_and_unmanaged() {
    let st = TenantSyncPolicyStatus::default();
    assert_eq!(
        decide(
            &spec(Enabled, false, Report),
            &obs(Some(true), 5, 0, 0),
            &st,
            true,
            ts(0)
        ),
        Decision::Converged
    );
    assert_eq!(
        decide(
            &spec(Enabled, false, Report),
            &obs(Some(false), 5, 5, 0),
            &st,
            true,
            ts(0)
        ),
        Decision::WaitForPendingDisable
    );
    assert_eq!(
        decide(
            &spec(Enabled, false, Report),
            &obs(Some(false), 0, 5, 0),
            &st,
            true,
            ts(0)
        ),
        Decision::SetSync {
            enabled: true,
            remediation: false
        }
    );
    for o in [
        obs(Some(true), 5, 0, 0),
        obs(None, 0, 0, 0),
        obs(Some(false), 0, 5, 5),
    ] {
        assert_eq!(
            decide(&spec(Unmanaged, false, Remediate), &o, &st, false, ts(0)),
            Decision::Observe
        );
    }
}

#[test]
fn sync_state_and_progress() {
    assert_eq!(
        obs(Some(true), 5, 0, 0).sync_state(),
        ObservedSyncState::Enabled
    );
    assert_eq!(
        obs(None, 5, 5, 0).sync_state(),
        ObservedSyncState::DisablePending
    );
    assert_eq!(
        obs(Some(false), 0, 5, 0).sync_state(),
        ObservedSyncState::Disabled
    );
    assert_eq!(
        obs(None, 0, 0, 0).sync_state(),
        ObservedSyncState::NeverSynced
    );
    assert_eq!(obs(None, 0, 5, 0).sync_state(), ObservedSyncState::Disabled);
    assert_eq!(obs(Some(false), 6, 4, 0).progress(), "4/10");
}

#[test]
fn propagation_poll_grows_and_is_bounded() {
    let mut st = TenantSyncPolicyStatus::default();
    assert_eq!(propagation_poll(&st, ts(0)), Duration::from_secs(30));
    st.disable_requested_at = Some(Time(ts(0)));
    assert_eq!(propagation_poll(&st, ts(60)), Duration::from_secs(30));
    assert_eq!(propagation_poll(&st, ts(1200)), Duration::from_secs(300));
    assert_eq!(
        propagation_poll(&st, ts(72 * 3600)),
        Duration::from_secs(900)
    );
}
