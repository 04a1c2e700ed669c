//! Every reason the operator writes on a condition (`Ready`, `Reconciling`, `Stalled`,
//! `DirectorySyncDisabled`, `DriftDetected`) or an Event, in one place: the reasons are an API
//! that Argo CD health checks, alerts and scripts match on, so they are named once here and
//! never spelled as literals elsewhere. Graph's error categories (`graph::ErrorCategory`) and
//! the Active Directory's (`ad::AdErrorKind`) map onto the same constants.

// ---- Ready=True ----
/// `mode: Plan`: the plan is in status, nothing was written.
pub const PLANNED: &str = "Planned";
/// A conversion: every selected object is as declared.
pub const CONVERTED: &str = "Converted";
/// The tenant: directory synchronisation is as declared and the work after it done.
pub const CONVERGED: &str = "Converged";
/// `directorySync: Unmanaged`: observing only.
pub const OBSERVING: &str = "Observing";

// ---- Reconciling=True (Ready=False) ----
/// A wave was converted; the next follows.
pub const CONVERTING: &str = "Converting";
/// Waiting `rollout.pauseBetweenWaves` before the next wave.
pub const PAUSED_BETWEEN_WAVES: &str = "PausedBetweenWaves";
/// `RestoreDeleted`: waiting for the sync cycle to soft-delete users whose AD objects left scope.
pub const WAITING_FOR_SOFT_DELETE: &str = "WaitingForSoftDelete";
/// Objects the operator switched do not read back yet (Graph is eventually consistent):
/// read again within the consistency window, neither failed nor drift.
pub const WAITING_FOR_CONSISTENCY: &str = "WaitingForConsistency";
/// The tenant-wide disable was requested; Entra has not applied it yet.
pub const DISABLE_PENDING: &str = "DisablePending";
/// Entra is converting the tenant's objects after the disable.
pub const PROPAGATING: &str = "Propagating";
/// ImmutableIDs are being cleared.
pub const CLEARING_IMMUTABLE_IDS: &str = "ClearingImmutableIds";
/// Objects that failed (transiently, or refused by Graph one by one) are tried again later.
pub const RETRYING_FAILURES: &str = "RetryingFailures";
/// Before its first write since the operator started, a conversion waits for the earlier
/// conversions of its tenant and kind to show what they select (see [`SELECTION_OVERLAP`]).
pub const WAITING_FOR_SELECTIONS: &str = "WaitingForSelections";

// ---- Stalled=True: the spec or the tenant needs a human ----
/// The spec is invalid: waits for a change of the spec (never retried as it is).
pub const INVALID_SPEC: &str = "InvalidSpec";
/// `spec.tenantRef` names no TenantSyncPolicy (or, for the CLI, none among the manifests).
pub const TENANT_NOT_FOUND: &str = "TenantNotFound";
/// Graph answered for another tenant than `spec.tenantId`.
pub const TENANT_MISMATCH: &str = "TenantMismatch";
/// The credentials could not be read (Secret, certificate, federated token).
pub const CREDENTIALS_UNAVAILABLE: &str = "CredentialsUnavailable";
/// A policy would use the operator's own identity where no credential grant covers it.
pub const CREDENTIAL_NOT_GRANTED: &str = "CredentialNotGranted";
/// `spec.endpoints` leaves Microsoft's hosts and the operator was not started with the opt-in.
pub const ENDPOINT_OVERRIDE_NOT_ALLOWED: &str = "EndpointOverrideNotAllowed";
/// The application may not read role assignments or administrative units: privileged users
/// were not looked for before converting.
pub const PRIVILEGED_UNVERIFIED: &str = "PrivilegedUnverified";
/// The application may not read the users' group memberships: what `RestoreDeleted` users
/// lose, or whether `SourceOfAuthority` users come before their groups, is not verified.
pub const MEMBERSHIPS_UNVERIFIED: &str = "MembershipsUnverified";
/// Another TenantSyncPolicy already sets this tenant's `directorySync`.
pub const TENANT_CLAIMED: &str = "TenantClaimed";
/// A pass ran past the controller's `--pass-timeout` and was cut.
pub const PASS_TIMEOUT: &str = "PassTimeout";
/// More objects selected than `rollout.maxObjects`.
pub const BLAST_RADIUS_EXCEEDED: &str = "BlastRadiusExceeded";
/// A wave failed more often than `rollout.maxFailuresPerWave`: waits for a spec change.
pub const AUTO_HALTED: &str = "AutoHalted";
/// Drift under `drift: Report`, and the `DriftDetected` Event.
pub const DRIFT_DETECTED: &str = "DriftDetected";
/// A group named in a selector or an exclusion does not exist.
pub const GROUP_NOT_FOUND: &str = "GroupNotFound";
/// Graph refused the selector (a `$filter` it does not support, say).
pub const INVALID_SELECTOR: &str = "InvalidSelector";
/// An owner named in `spec.owners` does not exist.
pub const OWNER_NOT_FOUND: &str = "OwnerNotFound";
/// An earlier conversion of the same tenant and kind selects some of the same objects: the
/// later writes nothing until one selection is narrowed or one resource deleted.
pub const SELECTION_OVERLAP: &str = "SelectionOverlap";
/// Selected groups nest in a cycle: no bottom-up order exists.
pub const NESTING_CYCLE: &str = "NestingCycle";
/// ImmutableIDs could not be cleared.
pub const CLEAR_FAILED: &str = "ClearFailed";
/// A revert did not finish.
pub const REVERT_INCOMPLETE: &str = "RevertIncomplete";

// ---- Graph error categories (`graph::ErrorCategory::reason`) ----
/// The credentials were refused.
pub const INVALID_CREDENTIALS: &str = "InvalidCredentials";
/// An application permission is missing.
pub const MISSING_PERMISSION: &str = "MissingPermission";
/// An object is gone.
pub const NOT_FOUND: &str = "NotFound";
/// Graph throttled the request.
pub const THROTTLED: &str = "Throttled";
/// 5xx, connection or timeout.
pub const TRANSIENT: &str = "Transient";
/// Graph refused the request itself (400).
pub const GRAPH_REJECTED: &str = "GraphRejected";
/// An answer that could not be understood.
pub const UNEXPECTED_RESPONSE: &str = "UnexpectedResponse";

// ---- DriftDetected ----
/// `DriftDetected=True` of a conversion: AD took converted objects back.
pub const TAKEN_BACK_BY_AD: &str = "TakenBackByAD";
/// `DriftDetected=False` after drift.
pub const RESOLVED: &str = "Resolved";

// ---- Events only ----
/// A wave ended.
pub const WAVE_COMPLETED: &str = "WaveCompleted";
/// Mail-enabled groups became Exchange-managed.
pub const EXCHANGE_MANAGED: &str = "ExchangeManaged";
/// Drift went away.
pub const DRIFT_RESOLVED: &str = "DriftResolved";
/// Changes a stop left without an outcome were read back.
pub const RESUMED: &str = "Resumed";
/// A revert finished.
pub const REVERTED: &str = "Reverted";
/// A revert could not start (tenant or credentials gone); nothing was undone.
pub const REVERT_SKIPPED: &str = "RevertSkipped";
/// The AD ↔ Entra link audit found mismatches.
pub const LINK_MISMATCH: &str = "LinkMismatch";

// ---- The tenant ----
/// The tenant-wide enable was sent.
pub const ENABLE_REQUESTED: &str = "EnableRequested";
/// The tenant-wide disable was sent.
pub const DISABLE_REQUESTED: &str = "DisableRequested";
/// ImmutableIDs were cleared.
pub const IMMUTABLE_IDS_CLEARED: &str = "ImmutableIdsCleared";
/// ImmutableIDs the operator had cleared read set again after the consistency window (set
/// outside the operator, or by AD): cleared once more.
pub const IMMUTABLE_IDS_SET_AGAIN: &str = "ImmutableIdsSetAgain";
/// `DirectorySyncDisabled=False`: synchronisation is on.
pub const SYNC_ENABLED: &str = "SyncEnabled";
/// Drift: synchronisation was re-enabled outside the operator.
pub const SYNC_RE_ENABLED: &str = "SyncReEnabled";
/// Drift: synchronisation was disabled outside the operator.
pub const SYNC_DISABLED: &str = "SyncDisabled";

// ---- The on-premises Active Directory ----
/// An AD object was moved out of the synchronised OUs.
pub const MOVED_OUT_OF_SYNC_SCOPE: &str = "MovedOutOfSyncScope";
/// An AD change failed.
pub const DIRECTORY_CHANGE_FAILED: &str = "DirectoryChangeFailed";
/// The tenant-wide disable waits for a person to approve its plan (`spec.approvedPlan`).
pub const APPROVAL_REQUIRED: &str = "ApprovalRequired";
/// The tenant changed beyond `spec.planTolerance` since its plan was approved.
pub const PLAN_CHANGED: &str = "PlanChanged";
/// The disable runs under an approved plan the tenant differs from within the tolerance.
pub const PLAN_APPROVED: &str = "PlanApproved";
/// Everything is read again to plan the disable.
pub const PLANNING: &str = "Planning";
