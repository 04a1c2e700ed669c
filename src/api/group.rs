//! `CloudGroupConversion`: a set of synchronised groups to make cloud-managed, nested groups
//! first, wave by wave, with owners added once they are cloud-managed.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::ObjectFailure;
use super::common::{ConversionMode, OnDelete, Rollout, TenantRef};

/// Groups to convert to cloud-managed groups.
// Each `printcolumn(...)` repeats `type_`, which clippy mistakes for a duplicated attribute.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "cloudidentity.dev",
    version = "v1alpha1",
    kind = "CloudGroupConversion",
    namespaced,
    status = "CloudGroupConversionStatus",
    shortname = "cgc",
    category = "entra",
    doc = "Groups of one Entra tenant made cloud-managed in waves through their Source of Authority switch, nested groups first, with the owners they need added.",
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
pub struct CloudGroupConversionSpec {
    /// The `TenantSyncPolicy` (same namespace) whose tenant and credentials are used.
    /// Immutable: the journal of what this resource changed belongs to that tenant.
    #[x_kube(validation = Rule::new("self == oldSelf").message("tenantRef is immutable: the journal of what this resource changed belongs to its tenant; create another resource for another tenant"))]
    pub tenant_ref: TenantRef,
    /// `Plan`: compute and report what would change, write nothing. `Apply`: convert.
    pub mode: ConversionMode,
    /// Which groups: the union of every criterion given (at least one).
    pub selector: GroupSelector,
    /// Groups never converted, whatever the selector says (nested groups included).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude: Option<GroupExclusions>,
    /// Users to add as owners of each group once it is cloud-managed (converted groups are
    /// left without owners), by UPN or object id. Mail-enabled groups converted
    /// (`mailEnabledGroups: Convert`) get none: Exchange Online manages them after the switch.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 100),
        inner(regex(
            pattern = r"^([A-Za-z0-9._!^~-]+@[A-Za-z0-9.-]+|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$"
        ))
    )]
    pub owners: Vec<String>,
    /// Distribution lists and mail-enabled security groups among the selected: `Exclude`
    /// (default) leaves them synchronised and lists them in `status.exclusions`
    /// (`MailEnabled`); `Convert` switches them too, once every member's mailbox is in
    /// Exchange Online (Microsoft's prerequisite, which the operator cannot see): Exchange
    /// Online manages them from then on and Graph refuses writes to them.
    #[serde(default)]
    pub mail_enabled_groups: MailEnabledGroups,
    /// Blast radius and waves.
    #[serde(default)]
    pub rollout: Rollout,
    /// What deleting this resource does: `Keep` the groups as converted, or `Revert` them.
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
    /// The plan a person approved, as `plan` prints it (`convert:groups=N:<16 hex digits>`: the
    /// selected groups, counted and fingerprinted). The rollout writes only while the
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
}

/// Selection criteria; the selected groups are the union of all of them.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("(has(self.groupIds) && size(self.groupIds) > 0) || (has(self.filter) && size(self.filter) > 0)").message("selector: give at least one of groupIds, filter"))]
pub struct GroupSelector {
    /// Groups by object id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 10000),
        inner(regex(
            pattern = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
        ))
    )]
    pub group_ids: Vec<String>,
    /// An OData `$filter` on groups, e.g. `startswith(displayName,'SG-Finance')` (sent with
    /// advanced-query parameters). One line: no control characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048), regex(pattern = r"^[^\x00-\x1F\x7F]*$"))]
    pub filter: Option<String>,
    /// Also convert the groups nested in the selected ones, at any depth. Nested groups are
    /// always converted before the groups that contain them (bottom-up).
    #[serde(default = "default_true")]
    pub include_nested: bool,
}

fn default_true() -> bool {
    true
}

impl Default for GroupSelector {
    fn default() -> Self {
        GroupSelector {
            group_ids: Vec::new(),
            filter: None,
            include_nested: true,
        }
    }
}

/// What a group conversion does with mail-enabled groups (graph-api.md §3, §14).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum MailEnabledGroups {
    /// Leave them synchronised; report them as excluded (`MailEnabled`).
    #[default]
    Exclude,
    /// Convert them (without owners): Exchange Online manages them afterwards.
    Convert,
}

/// Groups never converted.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupExclusions {
    /// Groups by object id. Groups nested only in an excluded group are not reached through it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 10000),
        inner(regex(
            pattern = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
        ))
    )]
    pub group_ids: Vec<String>,
}

/// Observed state of the conversion.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CloudGroupConversionStatus {
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
    /// Groups the selector matched, nested groups and exclusions included.
    #[serde(default)]
    pub matched: i64,
    /// Selected groups that are cloud-managed with their owners (as declared).
    #[serde(default)]
    pub converted: i64,
    /// Selected groups still to convert (or still missing owners).
    #[serde(default)]
    pub pending: i64,
    /// Groups whose conversion failed in the last pass.
    #[serde(default)]
    pub failed: i64,
    /// Groups left alone because there is nothing to do (never synchronised, or named but
    /// not found).
    #[serde(default)]
    pub skipped: i64,
    /// Groups excluded by the spec.
    #[serde(default)]
    pub excluded: i64,
    /// Waves completed in this generation (the canary counts as one).
    #[serde(default)]
    pub waves_completed: i64,
    /// When the last wave ended (the next starts `pauseBetweenWaves` later).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_wave_at: Option<Time>,
    /// Converted mail-enabled groups (distribution lists, mail-enabled security groups), which
    /// Exchange Online manages from now on; Graph refuses writes to them (at most 20).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exchange_managed: Vec<String>,
    /// Some excluded or missing groups and why (at most 20).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclusions: Vec<GroupExclusion>,
    /// Converted groups taken back by AD (at most 20).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drifted: Vec<String>,
    /// The most recent per-group failures (at most 10); the journal has every one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recent_failures: Vec<ObjectFailure>,
    /// Microsoft's prerequisites for converting these groups, as far as the operator could
    /// check them (the sync client's version, mail-enabled groups, nested groups bottom-up,
    /// extension attributes 1–15, owners).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prerequisites: Vec<super::common::Prerequisite>,
    /// The plan of this selection: the digest to approve in `spec.approvedPlan`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<super::common::ConversionPlan>,
}

/// An excluded or missing group.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupExclusion {
    /// Object id.
    pub id: String,
    /// Display name, when the group exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Why: `ExcludedById`, or `NotFound` (named in `selector.groupIds` but absent).
    pub reason: String,
}
