//! `CloudUserConversion`: a set of users to make cloud-managed, wave by wave, while Entra
//! Connect keeps synchronising everyone else.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::ObjectFailure;
use super::common::{ConversionMode, GroupRef, OnDelete, Rollout, TenantRef};

/// Users to convert to cloud-managed identities.
// Each `printcolumn(...)` repeats `type_`, which clippy mistakes for a duplicated attribute.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "cloudidentity.dev",
    version = "v1alpha1",
    kind = "CloudUserConversion",
    namespaced,
    status = "CloudUserConversionStatus",
    shortname = "cuc",
    category = "entra",
    doc = "Users of one Entra tenant made cloud-managed in waves (the Source of Authority switch, or the legacy restore from a soft delete), while Entra Connect keeps synchronising everyone else.",
    printcolumn(
        name = "Tenant",
        type_ = "string",
        json_path = ".spec.tenantRef.name",
        priority = 1
    ),
    printcolumn(name = "Mode", type_ = "string", json_path = ".spec.mode"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Matched", type_ = "integer", json_path = ".status.matched"),
    printcolumn(name = "Converted", type_ = "integer", json_path = ".status.converted"),
    printcolumn(name = "Pending", type_ = "integer", json_path = ".status.pending"),
    printcolumn(name = "Failed", type_ = "integer", json_path = ".status.failed"),
    printcolumn(
        name = "Excluded",
        type_ = "integer",
        json_path = ".status.excluded",
        priority = 1
    ),
    printcolumn(
        name = "Waves",
        type_ = "integer",
        json_path = ".status.wavesCompleted",
        priority = 1
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!self.clearImmutableId || self.method == 'SourceOfAuthority'").message("clearImmutableId applies to method SourceOfAuthority only (the other methods clear it anyway)"))]
pub struct CloudUserConversionSpec {
    /// The `TenantSyncPolicy` (same namespace) whose tenant and credentials are used.
    /// Immutable: the journal of what this resource changed belongs to that tenant.
    #[x_kube(validation = Rule::new("self == oldSelf").message("tenantRef is immutable: the journal of what this resource changed belongs to its tenant; create another resource for another tenant"))]
    pub tenant_ref: TenantRef,
    /// `Plan`: compute and report what would change, write nothing. `Apply`: convert.
    pub mode: ConversionMode,
    /// How each user is converted. Immutable: a rollout half done by one method cannot be
    /// finished by another.
    #[serde(default)]
    #[x_kube(validation = Rule::new("self == oldSelf").message("method is immutable: a rollout half done by one method cannot be finished by another; create another resource (onDelete: Keep on this one) for the other method"))]
    pub method: UserConversionMethod,
    /// With `SourceOfAuthority`: also clear the ImmutableID once the switch is verified (the
    /// prior value is journaled first). Microsoft advises keeping it while AD resources are
    /// still in use.
    #[serde(default)]
    pub clear_immutable_id: bool,
    /// Which users: the union of every criterion given (at least one).
    pub selector: UserSelector,
    /// Users never converted, whatever the selector says. The directory synchronisation
    /// service accounts are always excluded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude: Option<UserExclusions>,
    /// Blast radius and waves.
    #[serde(default)]
    pub rollout: Rollout,
    /// With `RestoreDeleted`: at most this many users out of sync scope and not yet
    /// soft-deleted at once, so one Entra Connect sync cycle never deletes more (its
    /// accidental-delete prevention stops an export deleting more than 500 objects, the
    /// default threshold; keep this below yours, leaving room for other deletions). Default
    /// 400.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100_000))]
    pub max_soft_deletes_per_sync_cycle: Option<i64>,
    /// What deleting this resource does: `Keep` the users as converted, or `Revert` them.
    #[serde(default)]
    pub on_delete: OnDelete,
    /// Stop acting (no Graph calls) until set back to false.
    #[serde(default)]
    pub suspend: bool,
    /// Convert only under a plan a person approved: the rollout writes nothing until
    /// `approvedPlan` holds the digest `plan` (or `status.plan`) shows. Setting
    /// `approvedPlan` requires approval too.
    #[serde(default)]
    pub require_approval: bool,
    /// The plan a person approved, as `plan` prints it (`convert:users=N:<16 hex digits>`: the
    /// selected users, counted and fingerprinted). The rollout writes only while the
    /// selection still matches it, up to `planTolerance` objects; else `Stalled`,
    /// `PlanChanged`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = super::common::CONVERSION_PLAN_PATTERN))]
    pub approved_plan: Option<String>,
    /// How many selected objects may differ from the approved plan (joined, left or swapped
    /// since) for the rollout to go on. Default 0: exactly the approved selection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1000000))]
    pub plan_tolerance: Option<i64>,
    /// What becomes of each converted user's AD object: `Keep` (default), `Disable` the
    /// account, or `Move` it to the tenant's `activeDirectory.unsyncedOu`. Needs
    /// `activeDirectory` on the TenantSyncPolicy; journaled and reverted on delete with
    /// `onDelete: Revert`.
    #[serde(default)]
    pub after_conversion: super::active_directory::AfterConversion,
}

/// The default of `maxSoftDeletesPerSyncCycle`: below Entra Connect's default
/// accidental-delete threshold (500 per export).
pub const DEFAULT_SOFT_DELETES_PER_SYNC_CYCLE: i64 = 400;

impl CloudUserConversionSpec {
    /// `maxSoftDeletesPerSyncCycle`, or its default.
    pub fn soft_deletes_per_sync_cycle(&self) -> i64 {
        self.max_soft_deletes_per_sync_cycle
            .unwrap_or(DEFAULT_SOFT_DELETES_PER_SYNC_CYCLE)
            .max(1)
    }
}

/// How a user is converted.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum UserConversionMethod {
    /// Switch the user's Source of Authority to the cloud
    /// (`onPremisesSyncBehavior.isCloudManaged = true`), then read it back.
    #[default]
    SourceOfAuthority,
    /// The legacy path: the AD object has left sync scope, so Entra soft-deleted the user;
    /// restore it and clear its ImmutableID.
    RestoreDeleted,
    /// Only clear the ImmutableID, for users already cloud-managed after a tenant-wide disable.
    ClearImmutableId,
}

/// Selection criteria; the selected users are the union of all of them.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("(has(self.userPrincipalNames) && size(self.userPrincipalNames) > 0) || (has(self.groups) && size(self.groups) > 0) || (has(self.filter) && size(self.filter) > 0) || (has(self.domains) && size(self.domains) > 0)").message("selector: give at least one of userPrincipalNames, groups, filter, domains"))]
pub struct UserSelector {
    /// Users by UPN (`name@domain`; the name in letters, digits and `. _ ! ^ ~ -`, as Entra
    /// allows, less `'` and `#`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 10000),
        inner(regex(pattern = r"^[A-Za-z0-9._!^~-]+@[A-Za-z0-9.-]+$"))
    )]
    pub user_principal_names: Vec<String>,
    /// Members of these groups (direct, or transitive).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    pub groups: Vec<GroupRef>,
    /// An OData `$filter` on users, e.g. `department eq 'Sales'` (sent with advanced-query
    /// parameters). One line: no control characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048), regex(pattern = r"^[^\x00-\x1F\x7F]*$"))]
    pub filter: Option<String>,
    /// Users whose UPN is in one of these domains.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 100),
        inner(regex(
            pattern = r"^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+$"
        ))
    )]
    pub domains: Vec<String>,
}

/// Users never converted.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserExclusions {
    /// Users by UPN, e.g. break-glass accounts (exact names: no wildcards).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 10000),
        inner(regex(pattern = r"^[A-Za-z0-9._!^~-]+@[A-Za-z0-9.-]+$"))
    )]
    pub user_principal_names: Vec<String>,
    /// Members of these groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    pub groups: Vec<GroupRef>,
}

/// Observed state of the conversion.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CloudUserConversionStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`, `Reconciling`, `Stalled`, `DriftDetected`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// `Planned`, `Canary`, `Converting`, `Converted` or `Halted`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// Users the selector matched (exclusions included).
    #[serde(default)]
    pub matched: i64,
    /// Selected users that are cloud-managed (as declared).
    #[serde(default)]
    pub converted: i64,
    /// Selected users still to convert.
    #[serde(default)]
    pub pending: i64,
    /// Users whose conversion failed in the last pass.
    #[serde(default)]
    pub failed: i64,
    /// Users left alone because there is nothing to do (never synchronised).
    #[serde(default)]
    pub skipped: i64,
    /// Users excluded (by the spec, or as sync service accounts).
    #[serde(default)]
    pub excluded: i64,
    /// Waves completed in this generation (the canary counts as one).
    #[serde(default)]
    pub waves_completed: i64,
    /// When the last wave ended (the next starts `pauseBetweenWaves` later).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_wave_at: Option<Time>,
    /// Some excluded users and why (at most 20).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclusions: Vec<Exclusion>,
    /// Converted users taken back by AD (at most 20).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drifted: Vec<String>,
    /// The most recent per-user failures (at most 10); the journal has every one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recent_failures: Vec<ObjectFailure>,
    /// The AD ↔ Entra link audit of the selected users (only with `activeDirectory` on the
    /// TenantSyncPolicy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_audit: Option<super::active_directory::LinkAudit>,
    /// Microsoft's prerequisites for converting these users, as far as the operator could
    /// check them (the sync client's version, mailboxes in Exchange Online, administrative
    /// objects, groups before their members).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prerequisites: Vec<super::common::Prerequisite>,
    /// The plan of this selection: the digest to approve in `spec.approvedPlan`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<super::common::ConversionPlan>,
    /// `RestoreDeleted`: the selected users' memberships in synchronised groups, recorded
    /// (journal) before they leave sync scope: Entra drops them at the soft delete and the
    /// restore does not bring them back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memberships: Option<MembershipsLost>,
}

/// What a `RestoreDeleted` conversion's users lose: their memberships in synchronised groups
/// (AD masters those; Entra drops them at the soft delete). Memberships in cloud groups come
/// back with the restore, and are read back after it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MembershipsLost {
    /// Users whose memberships were recorded before they left sync scope.
    pub users_recorded: i64,
    /// Their memberships in synchronised groups, all users together.
    pub synced_memberships: i64,
    /// The synchronised groups those are in.
    pub synced_groups: i64,
    /// Some of those groups, by display name (at most 10).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<String>,
    /// Restored users whose cloud-group memberships did not all read back (each in
    /// `recentFailures` and the journal, code `MembershipsNotRestored`).
    #[serde(default)]
    pub not_restored: i64,
}

/// An excluded user.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Exclusion {
    /// UPN.
    pub user_principal_name: String,
    /// Why: `ExcludedByName`, `ExcludedByGroup`, `SyncServiceAccount`, `FederatedDomain`,
    /// `DirectoryRole` (holds an Entra administrator role), `RestrictedAdministrativeUnit`
    /// (Graph refuses the conversion of both).
    pub reason: String,
}
