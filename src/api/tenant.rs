//! `TenantSyncPolicy`: one Entra tenant, how to reach it, and the tenant-wide directory
//! synchronisation state the operator drives it toward.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{CertificateSecretRef, SecretKeyRef};

/// Desired state of one Entra tenant.
// Each `printcolumn(...)` repeats `type_`, which clippy mistakes for a duplicated attribute.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "cloudidentity.dev",
    version = "v1alpha1",
    kind = "TenantSyncPolicy",
    namespaced,
    status = "TenantSyncPolicyStatus",
    shortname = "tsp",
    category = "entra",
    doc = "One Entra tenant's directory synchronisation: observed, turned off under a plan a person approved (converting every synchronised user and group to cloud-managed), and guarded afterwards.",
    printcolumn(
        name = "Tenant",
        type_ = "string",
        json_path = ".spec.tenantId",
        priority = 1
    ),
    printcolumn(name = "Desired", type_ = "string", json_path = ".spec.directorySync"),
    printcolumn(
        name = "Sync",
        type_ = "string",
        description = "Observed directory synchronisation state",
        json_path = ".status.syncState"
    ),
    printcolumn(
        name = "Progress",
        type_ = "string",
        description = "Synchronised objects converted to cloud-managed",
        json_path = ".status.progress"
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
#[x_kube(validation = Rule::new("!self.clearImmutableIds || self.directorySync == 'Disabled'").message("clearImmutableIds: true requires directorySync: Disabled (ImmutableIDs can only be cleared once synchronisation is off)"))]
pub struct TenantSyncPolicySpec {
    /// The Entra tenant (directory) id, a GUID. Immutable: create a new resource for another tenant.
    #[schemars(regex(
        pattern = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    ))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("tenantId is immutable; create a new TenantSyncPolicy for another tenant"))]
    pub tenant_id: String,

    /// The Microsoft cloud the tenant lives in; selects the Graph and login endpoints.
    #[serde(default)]
    pub cloud: Cloud,

    /// Overrides of the cloud's endpoints, for example to rehearse against the emulator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoints: Option<Endpoints>,

    /// How the operator authenticates to Microsoft Graph as an application.
    pub credentials: Credentials,

    /// Desired tenant-wide directory synchronisation: `Disabled` converts every synchronised
    /// user and group to cloud-managed; `Enabled` keeps (or turns) it on; `Unmanaged` only
    /// observes and reports.
    #[serde(default)]
    pub directory_sync: DirectorySyncMode,

    /// The plan a person approved for turning directory synchronisation off, which cannot be
    /// undone: the digest `plan` prints and `status.plan.digest` shows, e.g.
    /// `disable:users=420,groups=37:9f2c4e0a1b3d5f67` (the synchronised users and groups,
    /// counted, and a fingerprint of the set). Without it the disable waits (`Stalled`,
    /// `ApprovalRequired`); with it, it runs while the tenant still matches (see
    /// `planTolerance`), else `Stalled`, `PlanChanged`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = APPROVED_PLAN_PATTERN))]
    pub approved_plan: Option<String>,

    /// How many synchronised users and groups may differ from the approved plan (joined,
    /// left, or swapped since it was approved) for the disable to run. Default 0: exactly the
    /// approved set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1000000))]
    pub plan_tolerance: Option<i64>,

    /// Once synchronisation is off everywhere, clear `onPremisesImmutableId` on every formerly
    /// synchronised user (each prior value is kept in the journal first).
    #[serde(default)]
    pub clear_immutable_ids: bool,

    /// What to do when Entra departs from the declared state after convergence (for example
    /// directory synchronisation re-enabled by someone else): `Report` or `Remediate`.
    #[serde(default)]
    pub drift: DriftPolicy,

    /// Stop acting on this tenant (no Graph calls) until set back to false.
    #[serde(default)]
    pub suspend: bool,

    /// The Microsoft Graph quotas the operator paces itself to, shared by every resource of
    /// this tenant. Defaults to Microsoft's documented limits for one application in a small
    /// tenant (3,000 writes per 150 s; 3,500 resource units per 10 s), used at 95 %.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<QuotaSpec>,

    /// The on-premises Active Directory that Entra Connect synchronises into this tenant,
    /// reached over LDAP. Optional: with it the operator audits the AD ↔ Entra link and moves
    /// AD objects itself for `RestoreDeleted` and `afterConversion`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_directory: Option<super::active_directory::ActiveDirectoryConnection>,
}

/// Graph quotas of one application in this tenant (graph-api.md §8).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct QuotaSpec {
    /// Size class of the tenant, which sets its resource-unit quota: `Small` (under 50 users,
    /// 3,500 per 10 s), `Medium` (50 to 500, 5,000), `Large` (over 500, 8,000).
    #[serde(default)]
    pub tenant_size: TenantSize,
    /// Resource units per `resourceUnitWindow`, instead of the size class's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10000000))]
    pub resource_units: Option<u32>,
    /// Window of the resource-unit quota (default `10s`), a positive duration such as `10s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = crate::duration::PATTERN))]
    pub resource_unit_window: Option<String>,
    /// Write requests per `writeWindow` (default 3,000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10000000))]
    pub writes: Option<u32>,
    /// Window of the write quota (default `150s`), a positive duration such as `150s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = crate::duration::PATTERN))]
    pub write_window: Option<String>,
    /// Share of the quota to use, in percent (50 to 100, default 95): headroom for other
    /// applications' traffic and Graph's own load.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 50, max = 100))]
    pub headroom_percent: Option<u32>,
    /// Send bulk work (switching, verifying and clearing many users) as JSON batches of up
    /// to 20 requests (default `true`): fewer round trips for the same quota cost, each
    /// request still paced and retried on its own. `false` sends one HTTP request per object,
    /// for example behind a proxy that refuses `$batch`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<bool>,
}

/// Tenant size class of the resource-unit quota.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum TenantSize {
    /// Under 50 users: 3,500 resource units per 10 s.
    #[default]
    Small,
    /// 50 to 500 users: 5,000.
    Medium,
    /// Over 500 users: 8,000.
    Large,
}

impl QuotaSpec {
    /// The quota the Graph client paces to; the error is the field (below `spec`) and what
    /// is wrong with it.
    pub fn quota(&self) -> Result<crate::graph::pacing::Quota, (&'static str, String)> {
        let window = |field: &'static str, text: &Option<String>, default: u64| match text {
            None => Ok(std::time::Duration::from_secs(default)),
            Some(t) => super::common::parse_duration(t)
                .filter(|d| !d.is_zero())
                .ok_or_else(|| {
                    (
                        field,
                        format!("{t:?} is not a positive duration (e.g. 150s, 10s, 5m)"),
                    )
                }),
        };
        let size_units = match self.tenant_size {
            TenantSize::Small => 3_500,
            TenantSize::Medium => 5_000,
            TenantSize::Large => 8_000,
        };
        let headroom = self.headroom_percent.unwrap_or(95);
        if !(50..=100).contains(&headroom) {
            return Err((
                "quota.headroomPercent",
                format!("{headroom} is outside 50 to 100"),
            ));
        }
        Ok(crate::graph::pacing::Quota {
            writes: f64::from(self.writes.unwrap_or(3_000).max(1)),
            write_window: window("quota.writeWindow", &self.write_window, 150)?,
            resource_units: f64::from(self.resource_units.unwrap_or(size_units).max(1)),
            ru_window: window("quota.resourceUnitWindow", &self.resource_unit_window, 10)?,
            headroom: f64::from(headroom) / 100.0,
        })
    }
}

impl TenantSyncPolicySpec {
    /// Whether the Graph client batches bulk work (`spec.quota.batch`, default true).
    pub fn batching(&self) -> bool {
        self.quota.as_ref().and_then(|q| q.batch).unwrap_or(true)
    }

    /// The quota to pace to: the spec's, or Microsoft's documented one for a small tenant.
    pub fn pacing(&self) -> Result<crate::graph::pacing::Quota, String> {
        self.quota
            .clone()
            .unwrap_or_default()
            .quota()
            .map_err(|(field, message)| format!("spec.{field}: {message}"))
    }
}

/// A Microsoft national cloud.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum Cloud {
    /// Global Azure (also Microsoft 365 GCC moderate).
    #[default]
    Global,
    /// US Government L4 (GCC High).
    USGov,
    /// US Government L5 (DoD).
    USGovDoD,
    /// Azure operated by 21Vianet.
    China,
}

impl Cloud {
    /// Graph root URL of this cloud; its `/.default` is the token scope.
    pub fn graph_root(self) -> &'static str {
        match self {
            Cloud::Global => "https://graph.microsoft.com",
            Cloud::USGov => "https://graph.microsoft.us",
            Cloud::USGovDoD => "https://dod-graph.microsoft.us",
            Cloud::China => "https://microsoftgraph.chinacloudapi.cn",
        }
    }

    /// Token authority of this cloud.
    pub fn login_root(self) -> &'static str {
        match self {
            Cloud::Global => "https://login.microsoftonline.com",
            Cloud::USGov | Cloud::USGovDoD => "https://login.microsoftonline.us",
            Cloud::China => "https://login.chinacloudapi.cn",
        }
    }
}

/// Endpoint overrides; each defaults to the cloud's own. Anything but Microsoft's own host of
/// `spec.cloud` over https (the emulator, a proxy) is honoured only when the operator was
/// started with `--allow-endpoint-override` (chart value `allowEndpointOverride`) and, with the
/// operator's own workload identity, only where a credential grant allows it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Endpoints {
    /// Graph root URL without version, e.g. `http://127.0.0.1:8080` for the emulator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^https?://[^\s/?#]+(/[^\s?#]*)?$"))]
    pub graph: Option<String>,
    /// Token authority root URL, e.g. `http://127.0.0.1:8080` for the emulator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^https?://[^\s/?#]+(/[^\s?#]*)?$"))]
    pub login: Option<String>,
    /// CA certificates (PEM) to trust, besides the public web roots, for these endpoints: an
    /// enterprise TLS-inspecting proxy, or the emulator's `--tls` certificate. A `secretRef`
    /// names a Secret of the policy's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_bundle: Option<super::active_directory::CaBundle>,
}

/// Application credentials: exactly one of `clientSecret`, `certificate`, `workloadIdentity`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("[has(self.clientSecret), has(self.certificate), has(self.workloadIdentity)].filter(x, x).size() == 1").message("credentials: set exactly one of clientSecret, certificate, workloadIdentity"))]
pub struct Credentials {
    /// A client secret of the application, read from a Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<ClientSecretCredential>,
    /// A certificate registered on the application, read from a Secret (PEM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<CertificateCredential>,
    /// Workload identity federation: the pod's projected service-account token is exchanged
    /// for a Graph token (azure-workload-identity conventions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_identity: Option<WorkloadIdentityCredential>,
}

/// Client-secret credential.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClientSecretCredential {
    /// The application (client) id, a GUID.
    #[schemars(regex(
        pattern = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    ))]
    pub client_id: String,
    /// The Secret key holding the client secret value (not its id).
    pub secret_ref: SecretKeyRef,
}

/// Certificate credential.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CertificateCredential {
    /// The application (client) id, a GUID.
    #[schemars(regex(
        pattern = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    ))]
    pub client_id: String,
    /// The Secret holding the certificate and its private key.
    pub secret_ref: CertificateSecretRef,
}

/// Workload identity federation credential.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadIdentityCredential {
    /// The application (client) id; defaults to `AZURE_CLIENT_ID` as injected by the
    /// azure-workload-identity webhook.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(
        pattern = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    ))]
    pub client_id: Option<String>,
}

/// Desired tenant-wide directory synchronisation state.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum DirectorySyncMode {
    /// Keep (or turn) directory synchronisation on.
    Enabled,
    /// Turn directory synchronisation off: every synchronised object becomes cloud-managed.
    Disabled,
    /// Observe and report only; never change the tenant's synchronisation state.
    #[default]
    Unmanaged,
}

/// Drift handling after convergence.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum DriftPolicy {
    /// Report the drift (condition `DriftDetected`, an Event) and wait for a human.
    #[default]
    Report,
    /// Report the drift and drive the tenant back to the declared state.
    Remediate,
}

/// The shape of `spec.approvedPlan`.
pub const APPROVED_PLAN_PATTERN: &str =
    r"^disable:users=[0-9]{1,9},groups=[0-9]{1,9}:[0-9a-f]{16}$";

/// The plan of a tenant-wide disable (`status.plan`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantPlan {
    /// What to write into `spec.approvedPlan` to approve it.
    pub digest: String,
    /// Synchronised users it converts.
    pub users: i64,
    /// Synchronised groups it converts.
    pub groups: i64,
}

/// Observed state of the tenant.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantSyncPolicyStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`, `Reconciling`, `Stalled`, `DirectorySyncDisabled`, `DriftDetected`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// Observed tenant-wide synchronisation state: `Enabled`, `DisablePending` (off for the
    /// tenant, objects still converting), `Disabled`, or `NeverSynced`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_state: Option<ObservedSyncState>,
    /// Formerly synchronised objects now cloud-managed, over all synchronised ones, e.g. `4812/5040`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<String>,
    /// The organization as last read from Graph.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<OrganizationStatus>,
    /// User counts from the last full read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<ObjectCounts>,
    /// Group counts from the last full read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<ObjectCounts>,
    /// ImmutableID clearing progress (only with `clearImmutableIds`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub immutable_ids: Option<ImmutableIdCounts>,
    /// When the operator asked Entra to turn directory synchronisation off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_requested_at: Option<Time>,
    /// When every object was first seen converted after the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub converged_at: Option<Time>,
    /// When the operator last cleared ImmutableIDs: until the consistency window after it
    /// ends, one it cleared that still reads set is waited for, not cleared again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub immutable_ids_cleared_at: Option<Time>,
    /// The plan of the tenant-wide disable as last observed: the digest to approve in
    /// `spec.approvedPlan`, and what it counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<TenantPlan>,
    /// When drift was last detected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift_detected_at: Option<Time>,
    /// The most recent per-object failures (at most 10); the journal has every one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recent_failures: Vec<ObjectFailure>,
    /// The AD ↔ Entra link audit over all the tenant's synchronised users (only with
    /// `activeDirectory`; refreshed hourly and on every spec change).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_audit: Option<super::active_directory::LinkAudit>,
}

/// Observed tenant-wide synchronisation state.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ObservedSyncState {
    /// Directory synchronisation is on.
    Enabled,
    /// Turned off for the tenant; some objects still report synchronised.
    DisablePending,
    /// Off, and no object reports synchronised.
    Disabled,
    /// The tenant has never been synchronised.
    NeverSynced,
}

/// The organization as read from Graph.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationStatus {
    /// Display name of the tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// `onPremisesSyncEnabled` as Graph reports it (absent = null: never synchronised, or
    /// reported null while a disable runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_premises_sync_enabled: Option<bool>,
    /// `onPremisesLastSyncDateTime` as Graph reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_premises_last_sync_date_time: Option<String>,
}

/// Counts of directory objects by synchronisation state.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObjectCounts {
    /// Still synchronised from Active Directory.
    pub synced: i64,
    /// Formerly synchronised, now cloud-managed.
    pub converted: i64,
    /// Never synchronised.
    pub cloud_only: i64,
}

/// ImmutableID clearing progress.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImmutableIdCounts {
    /// Formerly synchronised users whose ImmutableID is clear.
    pub cleared: i64,
    /// Formerly synchronised users whose ImmutableID is still set.
    pub remaining: i64,
    /// Users whose clearing failed in the last pass.
    pub failed: i64,
}

pub use super::common::ObjectFailure;
