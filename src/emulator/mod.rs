//! A Microsoft Graph and Entra token endpoint emulator: users rehearse migrations on it, and
//! every test of the operator stands on it.
//!
//! It serves `/v1.0` and `/beta` Graph routes (organization, users, groups, contacts) with Graph's
//! query rules, paging, errors and throttling, a client-credentials token endpoint, and
//! control endpoints under `/_emulator/` (see `control.rs`). Time is emulated (`clock.rs`):
//! a tenant-wide disable of directory sync propagates over emulated time, object by object.
//!
//! Organizational contacts (`GET /contacts`, `/contacts/$count`, `/contacts/{id}`; read-only,
//! paged, `$select` and `$filter` as for users; `routes/contacts.rs`) are seeded (about one
//! synced contact per 50 synced users, at least two), listed by `GET /_emulator/contacts`,
//! moved out of the sync scope by `POST /_emulator/contacts/{id}/scope`, and written to tenant
//! files. They follow the directory-sync state machine like groups: the disable converts them,
//! cycles skip switched ones and take rolled-back ones back (`state/contacts.rs`). Reading
//! them needs `OrgContact.Read.All` (or `Directory.Read.All`), their Source of Authority
//! `Contacts-OnPremisesSyncBehavior.ReadWrite.All`; neither is granted by default.
//!
//! Per object it serves the Source of Authority switch (`…/onPremisesSyncBehavior` of users,
//! groups and contacts; no hard-match gate for contacts), the directory synchronisation
//! features (`/directory/onPremisesSynchronization`), group members and owners (nested, `$ref`
//! writes), and soft delete with restore (`/directory/deletedItems`); a simulated sync client
//! runs a cycle every [`EmulatorConfig::sync_interval`] of emulated time while directory sync
//! is enabled (see `state/cycle.rs`). Those routes need their own application permissions
//! (`User-OnPremisesSyncBehavior.ReadWrite.All`, `Group-OnPremisesSyncBehavior.ReadWrite.All`,
//! `Contacts-OnPremisesSyncBehavior.ReadWrite.All`,
//! `OnPremDirectorySynchronization.ReadWrite.All`, `Group.ReadWrite.All`, …; the table is in
//! `routes/access.rs`); the default grants include the user and group Source of Authority
//! ones and `Group.ReadWrite.All` (owners), not the others: add them to
//! [`EmulatorConfig::permissions`] or with `PUT /_emulator/permissions`.
//!
//! Latency (a distribution per operation, `latency.rs`) and faults (statuses, error rates,
//! outages, connection resets, `faults.rs`) change at run time through `/_emulator/latency` and
//! `/_emulator/faults`, so a test can start a storm mid-run.
//!
//! Applications (`apps.rs`) are registered as in Entra: client id, client secrets, PEM
//! certificates, federated identity credentials and granted permissions. The default one comes
//! from [`EmulatorConfig`] (`client_id`, `client_secret`, `permissions`, `certificates`,
//! `federated_credentials`); more from [`EmulatorConfig::apps`], `--apps` or
//! `POST /_emulator/apps`. The token endpoint (`token/`) accepts a client secret, a client
//! assertion signed by a registered certificate (RS256/PS256, `x5t`/`x5t#S256`, `aud` = the
//! token URL, `iss` = `sub` = client id, `exp`/`nbf` against real time, `jti`), or an external
//! token matching a federated credential (workload identity; `AADSTS70021` otherwise; its
//! signature is verified when the issuer's key was registered, else only its claims, since
//! the emulator cannot fetch keys), each refusal with Entra's AADSTS error. A token is bound to
//! its application: Graph enforces that application's permissions (`403
//! Authorization_RequestDenied`) and charges its own quota buckets (`quota.rs`; the tenant's
//! write bucket is shared, `x-ms-throttle-scope` names the caller).
//!
//! Delta queries (`GET /users/delta`, `GET /groups/delta`, `routes/delta.rs`) read the
//! tenant's change log (`state/changes.rs`), which every mutation feeds (PATCHes, `$ref`
//! writes, SOA switches, deletes, restores and purges, sync cycles, the tenant-wide disable's
//! flips, a re-enable) with sequence numbers per object and property, never copies: a full
//! round in pages, then only what changed, with `$select` tracking, `members@delta`,
//! `@removed`, `$deltatoken=latest`, `Prefer: return=minimal`, tokens valid for 7 days of
//! emulated time (`400 syncStateNotFound`), and `POST /_emulator/delta/reset` (tenant
//! maintenance), after which older tokens answer `410 Gone` with a `Location` that starts over.
//!
//! A real Active Directory ([`EmulatorConfig::active_directory`], `emulator --ad-url …`,
//! [`active_directory`]): the sync client reads the directory's users over LDAP at start and
//! before every cycle and imports them (`state/directory.rs`), so tests run the whole chain
//! real AD → sync → emulated Entra → operator; `GET /_emulator/directory` shows the reads.
//!
//! Behaviours Microsoft leaves UNCONFIRMED (graph-api.md §13) are switches, so both answers
//! can be rehearsed: [`EmulatorConfig::user_sync_after_disable`],
//! [`EmulatorConfig::org_sync_during_disable`], [`EmulatorConfig::assertion_algorithms`]
//! (which `alg` a certificate assertion may use), [`EmulatorConfig::users_delta_cost`], and the
//! per-object ones in [`switches`].
//!
//! JSON batching (`POST /v1.0/$batch`, `POST /beta/$batch`, `batch/`): up to 20 requests,
//! each through the same pipeline as a standalone request (own permission check, quota charge
//! and `429`, write statistics); `dependsOn` names earlier requests, and a request whose
//! dependency failed answers `424 FailedDependency`; the batch answers `200` with the
//! responses shuffled ([`EmulatorConfig::batch_order`]) and costs no resource units itself; a
//! malformed batch answers `400` (the code of the over-20 refusal is the UNCONFIRMED
//! [`EmulatorConfig::batch_limit_code`]). The emulated latency applies once per batch.
//! `/_emulator/state` counts `requests.batches` and `requests.batchItems`.
//!
//! Unknown paths under a version answer `400 BadRequest` "Resource not found for the segment
//! '…'." as Graph does; paths outside `/v1.0` and `/beta` answer `400 BadRequest`
//! "Invalid version: …".
//!
//! HTTPS ([`EmulatorConfig::tls`], `emulator --tls --tls-cert-out PATH`, `tls.rs`): each start
//! makes a CA and a server certificate for `127.0.0.1`, `::1` and `localhost`; clients trust
//! the CA ([`Emulator::ca_pem`]) and absolute links follow the scheme. Microsoft's own client
//! libraries need it (MSAL and azure-identity refuse plain-http authorities; Kiota sends
//! tokens only over https), and so does the operator's TLS path (`GraphConfig::ca_bundle`,
//! exercised by `tests/graph_tls.rs`; not yet settable from a TenantSyncPolicy or `apply`).
//! The discovery documents MSAL reads before a token request are served by `discovery.rs`:
//! `/{tenant}/v2.0/.well-known/openid-configuration` and `/common/discovery/instance`.
//! `tests/sdk_conformance.rs` runs Microsoft's Python Graph SDK (`hack/sdk-conformance/`)
//! against the emulator; requests shaped like the SDK's (`@odata.type` in entity bodies, casts
//! spelt with the `graph.` namespace alias) are accepted as Graph accepts them.

pub mod active_directory;
pub mod apps;
mod batch;
mod cli;
pub mod clock;
mod control;
mod discovery;
pub mod faults;
mod graph;
pub mod lag;
pub mod latency;
pub mod model;
pub mod odata;
pub mod quota;
mod routes;
pub mod seed;
mod server;
mod shared;
pub mod state;
pub mod switches;
pub mod tenant_file;
pub mod tenants;
pub mod tls;
mod token;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use apps::{AppRegistration, FederatedCredentialSpec};
pub use batch::{BatchOrder, MAX_REQUESTS as MAX_BATCH_REQUESTS};
pub use cli::{EmulatorArgs, parse_groups, parse_users, run};
pub use latency::{Dist, LatencyProfile};
pub use switches::{
    AfterDisable, BatchLimitCode, HardMatchFlagAppOnly, ImmutableIdAfterSoa, ImmutableIdOnRestore,
    LastOwnerRemoval, OwnerAddOnSyncedGroup, SoaOnCloudObject, SoaPatchResponse, UnavailableOwners,
    UserSoaApi, UsersDeltaCost,
};
pub use token::{AccessTokenFormat, AssertionAlgorithms};

/// Default tenant id.
pub const DEFAULT_TENANT_ID: &str = "3f9a1c2e-5b7d-4e8f-9a0b-1c2d3e4f5a6b";
/// Default application (client) id.
pub const DEFAULT_CLIENT_ID: &str = "0b5e7c1d-2f3a-4b6c-8d9e-0f1a2b3c4d5e";
/// Default client secret: the emulator's documented test credential, never a real one.
pub const DEFAULT_CLIENT_SECRET: &str = "emulator-client-secret";
/// Permissions granted by default.
pub const DEFAULT_PERMISSIONS: &[&str] = &[
    "Organization.ReadWrite.All",
    "User.ReadWrite.All",
    "Group.Read.All",
    "GroupMember.Read.All",
    "Group.ReadWrite.All",
    "User-OnPremisesSyncBehavior.ReadWrite.All",
    "Group-OnPremisesSyncBehavior.ReadWrite.All",
];

/// Default read lag after a write (tenant time): Microsoft publishes no figure ("typically
/// seconds"); a couple of seconds makes every read-after-write visible to tests.
pub const DEFAULT_READ_LAG: Duration = Duration::from_secs(2);
/// Default lag of advanced queries (tenant time), longer: they read an index.
pub const DEFAULT_INDEX_LAG: Duration = Duration::from_secs(10);

/// How the emulator behaves and what tenant it seeds.
#[derive(Clone)]
pub struct EmulatorConfig {
    /// Tenant id (the organization's id).
    pub tenant_id: String,
    /// Organization display name; the initial domain is `{name lowercase}.onmicrosoft.com`.
    pub tenant_name: String,
    /// Verified custom domain of synced users.
    pub domain: String,
    /// The application's client id.
    pub client_id: String,
    /// The application's client secret.
    pub client_secret: String,
    /// Application permissions granted (changeable at run time).
    pub permissions: Vec<String>,
    /// The tenant to start with (`--tenant-file`); `None`: a generated one of `users` and
    /// `groups`.
    pub tenant_file: Option<tenant_file::TenantFile>,
    /// PEM certificates registered on the default application (client assertions).
    pub certificates: Vec<String>,
    /// Federated identity credentials of the default application (workload identity).
    pub federated_credentials: Vec<FederatedCredentialSpec>,
    /// More applications, each with its own credentials, permissions and quotas.
    pub apps: Vec<AppRegistration>,
    /// UNCONFIRMED: the `alg` Entra accepts in a certificate assertion.
    pub assertion_algorithms: AssertionAlgorithms,
    /// Synced users to seed.
    pub users: usize,
    /// Synced groups to seed.
    pub groups: usize,
    /// RNG seed: the same seed gives the same tenant.
    pub seed: u64,
    /// Emulated seconds per real second (> 0).
    pub time_scale: f64,
    /// Emulated time a tenant-wide disable takes to reach every object (real tenants: up to 72 h).
    pub propagation: Duration,
    /// Emulated time per-object reads show an object as it was before a Graph write
    /// (eventual consistency, `lag.rs`); zero: at once.
    pub read_lag: Duration,
    /// Emulated time advanced queries (`ConsistencyLevel: eventual`, `$count`) lag behind.
    pub index_lag: Duration,
    /// UNCONFIRMED: value converted users, groups and contacts report.
    pub user_sync_after_disable: AfterDisable,
    /// UNCONFIRMED: value the organization reports while a disable is pending.
    pub org_sync_during_disable: AfterDisable,
    /// Enforce resource-unit and write quotas.
    pub quotas: bool,
    /// Harsher throttling: background load on the tenant's write budget, burst window
    /// (`quota.rs`; changeable at run time with `PUT /_emulator/quotas`).
    pub quota_settings: quota::QuotaSettings,
    /// Latency of every answer (per operation; see `latency.rs`).
    pub latency: LatencyProfile,
    /// Token lifetime (real time).
    pub token_lifetime: Duration,
    /// Access tokens as JWTs naming the granted permissions (default), or opaque strings.
    pub access_token_format: AccessTokenFormat,
    /// Emulated time between two cycles of the simulated sync client while directory sync is
    /// enabled (Entra Connect's default: 30 min); zero: cycles run only when asked
    /// (`POST /_emulator/sync/cycle`).
    pub sync_interval: Duration,
    /// Entra Connect's accidental-delete prevention: an export deleting more objects is stopped
    /// until `POST /_emulator/sync/allow-deletes`; `None`: off. Default 500, Connect's.
    pub accidental_delete_threshold: Option<u32>,
    /// Initial `blockCloudObjectTakeoverThroughHardMatchEnabled` of the tenant's directory
    /// synchronisation features (true: blocking, which also refuses user SOA rollbacks).
    pub block_hard_match_takeover: bool,
    /// UNCONFIRMED: 200 with a body or 204 for a successful SOA PATCH.
    pub soa_patch_response: SoaPatchResponse,
    /// UNCONFIRMED: whether `/v1.0` serves the user SOA route (or only `/beta`).
    pub user_soa_api: UserSoaApi,
    /// UNCONFIRMED: SOA PATCH on a never-synced object.
    pub soa_on_cloud_object: SoaOnCloudObject,
    /// UNCONFIRMED: changing `onPremisesImmutableId` on a user switched by SOA.
    pub immutable_id_after_soa: ImmutableIdAfterSoa,
    /// UNCONFIRMED: app-only `PATCH /v1.0/directory/onPremisesSynchronization/{id}`.
    pub hard_match_flag_app_only: HardMatchFlagAppOnly,
    /// UNCONFIRMED: `onPremisesImmutableId` of a restored user.
    pub immutable_id_survives_restore: ImmutableIdOnRestore,
    /// UNCONFIRMED: owner `$ref` writes on a still-synced group.
    pub owner_add_on_synced_group: OwnerAddOnSyncedGroup,
    /// UNCONFIRMED: the base resource-unit cost of `GET /users/delta`.
    pub users_delta_cost: UsersDeltaCost,
    /// Removing a group's last owner: refused, as Graph does (default), or allowed.
    pub last_owner_removal: LastOwnerRemoval,
    /// UNCONFIRMED: listing the owners of a synced or Exchange-mastered group (Graph says
    /// "not available"): refused (default), empty, or listed.
    pub unavailable_owners: UnavailableOwners,
    /// UNCONFIRMED: `error.code` of a batch of more than 20 requests.
    pub batch_limit_code: BatchLimitCode,
    /// Order of a batch's responses: shuffled (as Graph may) or the request order.
    pub batch_order: BatchOrder,
    /// Serve HTTPS with a certificate authority made up at start (see [`tls`] and
    /// [`Emulator::ca_pem`]); plain HTTP when false (default).
    pub tls: bool,
    /// A real Active Directory the simulated sync client reads before each cycle (see
    /// [`active_directory`]); `None`: the AD twins are simulated.
    pub active_directory: Option<active_directory::AdSourceConfig>,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            tenant_id: DEFAULT_TENANT_ID.to_string(),
            tenant_name: "Contoso".to_string(),
            domain: "contoso.com".to_string(),
            client_id: DEFAULT_CLIENT_ID.to_string(),
            client_secret: DEFAULT_CLIENT_SECRET.to_string(),
            permissions: DEFAULT_PERMISSIONS
                .iter()
                .map(|p| (*p).to_string())
                .collect(),
            tenant_file: None,
            certificates: Vec::new(),
            federated_credentials: Vec::new(),
            apps: Vec::new(),
            assertion_algorithms: AssertionAlgorithms::default(),
            users: 1_000,
            groups: 50,
            seed: 42,
            time_scale: 1.0,
            propagation: Duration::from_secs(30 * 60),
            read_lag: DEFAULT_READ_LAG,
            index_lag: DEFAULT_INDEX_LAG,
            user_sync_after_disable: AfterDisable::False,
            org_sync_during_disable: AfterDisable::False,
            quotas: true,
            quota_settings: quota::QuotaSettings::default(),
            latency: LatencyProfile::default(),
            token_lifetime: Duration::from_secs(3_599),
            access_token_format: AccessTokenFormat::Jwt,
            sync_interval: Duration::from_secs(30 * 60),
            accidental_delete_threshold: Some(500),
            block_hard_match_takeover: true,
            soa_patch_response: SoaPatchResponse::NoContent,
            user_soa_api: UserSoaApi::Both,
            soa_on_cloud_object: SoaOnCloudObject::Refuse,
            immutable_id_after_soa: ImmutableIdAfterSoa::Allow,
            hard_match_flag_app_only: HardMatchFlagAppOnly::Deny,
            immutable_id_survives_restore: ImmutableIdOnRestore::Keep,
            owner_add_on_synced_group: OwnerAddOnSyncedGroup::Refuse,
            users_delta_cost: UsersDeltaCost::Other,
            last_owner_removal: LastOwnerRemoval::Refuse,
            unavailable_owners: UnavailableOwners::Refuse,
            batch_limit_code: BatchLimitCode::BadRequest,
            batch_order: BatchOrder::Shuffled,
            tls: false,
            active_directory: None,
        }
    }
}

/// Redacts the client secret, so a config can be logged.
impl std::fmt::Debug for EmulatorConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatorConfig")
            .field("tenant_id", &self.tenant_id)
            .field("tenant_name", &self.tenant_name)
            .field("domain", &self.domain)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("permissions", &self.permissions)
            .field("tenant_file", &self.tenant_file.is_some())
            .field("certificates", &self.certificates.len())
            .field("federated_credentials", &self.federated_credentials)
            .field("apps", &self.apps)
            .field("assertion_algorithms", &self.assertion_algorithms)
            .field("users", &self.users)
            .field("groups", &self.groups)
            .field("seed", &self.seed)
            .field("time_scale", &self.time_scale)
            .field("propagation", &self.propagation)
            .field("read_lag", &self.read_lag)
            .field("index_lag", &self.index_lag)
            .field("user_sync_after_disable", &self.user_sync_after_disable)
            .field("org_sync_during_disable", &self.org_sync_during_disable)
            .field("quotas", &self.quotas)
            .field("quota_settings", &self.quota_settings)
            .field("latency", &self.latency.to_string())
            .field("token_lifetime", &self.token_lifetime)
            .field("access_token_format", &self.access_token_format)
            .field("sync_interval", &self.sync_interval)
            .field(
                "accidental_delete_threshold",
                &self.accidental_delete_threshold,
            )
            .field("block_hard_match_takeover", &self.block_hard_match_takeover)
            .field("soa_patch_response", &self.soa_patch_response)
            .field("user_soa_api", &self.user_soa_api)
            .field("soa_on_cloud_object", &self.soa_on_cloud_object)
            .field("immutable_id_after_soa", &self.immutable_id_after_soa)
            .field("hard_match_flag_app_only", &self.hard_match_flag_app_only)
            .field(
                "immutable_id_survives_restore",
                &self.immutable_id_survives_restore,
            )
            .field("owner_add_on_synced_group", &self.owner_add_on_synced_group)
            .field("users_delta_cost", &self.users_delta_cost)
            .field("last_owner_removal", &self.last_owner_removal)
            .field("unavailable_owners", &self.unavailable_owners)
            .field("batch_limit_code", &self.batch_limit_code)
            .field("batch_order", &self.batch_order)
            .field("tls", &self.tls)
            .field("active_directory", &self.active_directory)
            .finish()
    }
}

/// A running emulator.
#[derive(Debug)]
pub struct Emulator {
    addr: SocketAddr,
    scheme: &'static str,
    ca_pem: Option<String>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

/// Serves `app` on `listener` until `stopped` fires.
fn serve<L>(listener: L, app: axum::Router, stopped: oneshot::Receiver<()>) -> JoinHandle<()>
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    tokio::spawn(async move {
        let serve = axum::serve(listener, app).with_graceful_shutdown(async {
            let _ = stopped.await;
        });
        if let Err(e) = serve.await {
            tracing::error!(error = %e, "emulator server failed");
        }
    })
}

/// The most synchronised users an emulated tenant is seeded with (`--users`).
pub const MAX_USERS: usize = 1_000_000;
/// The most synchronised groups an emulated tenant is seeded with (`--groups`).
pub const MAX_GROUPS: usize = 100_000;

impl Emulator {
    /// Seeds the tenant, binds `listen` (port 0 picks a free port) and serves on the current
    /// tokio runtime: HTTPS when [`EmulatorConfig::tls`] is set, else plain HTTP.
    pub async fn start(config: EmulatorConfig, listen: SocketAddr) -> anyhow::Result<Emulator> {
        Self::start_tenants(vec![config], listen).await
    }

    /// `http://127.0.0.1:PORT` (`https://` under TLS; no trailing slash): Graph and the
    /// token endpoint.
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// The CA certificate (PEM) clients must trust, when serving HTTPS.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting connections and waits for in-flight requests.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        if let Err(e) = self.task.await {
            tracing::warn!(error = %e, "emulator task ended abnormally");
        }
    }
}
