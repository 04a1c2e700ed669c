//! `entra-cloud-operator emulator`: run the emulator as a process.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;

use crate::duration;

use super::latency::LatencyProfile;
use super::tenant_file::TenantFile;
use super::{
    AccessTokenFormat, AfterDisable, AppRegistration, AssertionAlgorithms, BatchLimitCode,
    BatchOrder, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_TENANT_ID, Emulator,
    EmulatorConfig, FederatedCredentialSpec, HardMatchFlagAppOnly, ImmutableIdAfterSoa,
    ImmutableIdOnRestore, LastOwnerRemoval, OwnerAddOnSyncedGroup, SoaOnCloudObject,
    SoaPatchResponse, UnavailableOwners, UserSoaApi, UsersDeltaCost,
};

/// Flags of the `emulator` subcommand.
#[derive(clap::Args, Debug)]
pub struct EmulatorArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Start with the tenant this YAML or JSON file describes (`organization`, `users`,
    /// `groups`, `contacts`, `apps`, by their Graph names; "Tenant files" in docs/emulator.md
    /// shows one, and a dump from `GET /_emulator/dump` is one) instead of a generated one.
    #[arg(long, value_name = "PATH")]
    pub tenant_file: Option<std::path::PathBuf>,
    /// Synced users to seed (plus cloud-only, sync service and break-glass accounts, and a
    /// synced organizational contact per 50 users, at least two).
    #[arg(long, default_value_t = 1_000, value_parser = parse_users)]
    pub users: usize,
    /// Synced groups to seed (plus three cloud-only groups: All Company, Cloud Admins, Migration Wave 1).
    #[arg(long, default_value_t = 50, value_parser = parse_groups)]
    pub groups: usize,
    /// RNG seed: the same seed gives the same tenant.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Emulated seconds per real second (e.g. 3600: an emulated hour per second).
    #[arg(long, default_value_t = 1.0, value_parser = crate::clock::parse_scale)]
    pub time_scale: f64,
    /// Emulated time a tenant-wide disable of directory sync takes to reach every object
    /// (30m, 72h, 90s, 1h30m; real tenants take up to 72h).
    #[arg(long, default_value = "30m", value_parser = duration::parse)]
    pub propagation: Duration,
    /// Eventual consistency: emulated time per-object reads (a user, its
    /// onPremisesSyncBehavior, a group, its members and owners) and plain lists show an
    /// object as it was before a Graph write (2s, 500ms, 0 for at once; at most 24h).
    #[arg(long, default_value = "2s", value_parser = parse_lag)]
    pub read_lag: Duration,
    /// Emulated time advanced queries (ConsistencyLevel: eventual with $count, $search,
    /// /$count) show an object as it was before a Graph write: they read an index.
    #[arg(long, default_value = "10s", value_parser = parse_lag)]
    pub index_lag: Duration,
    /// Tenant id.
    #[arg(long, default_value = DEFAULT_TENANT_ID)]
    pub tenant_id: String,
    /// Organization display name (the initial domain is `<name lowercase>.onmicrosoft.com`).
    #[arg(long, default_value = "Contoso")]
    pub tenant_name: String,
    /// Verified custom domain of the synced users.
    #[arg(long, default_value = "contoso.com")]
    pub domain: String,
    /// Application (client) id the token endpoint accepts.
    #[arg(long, default_value = DEFAULT_CLIENT_ID)]
    pub client_id: String,
    /// Client secret the token endpoint accepts (a test credential, printed at start).
    #[arg(long, env = "EMULATOR_CLIENT_SECRET", default_value = DEFAULT_CLIENT_SECRET, hide_env_values = true)]
    pub client_secret: String,
    /// Application permissions granted, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "Organization.ReadWrite.All,User.ReadWrite.All,Group.Read.All,GroupMember.Read.All,Group.ReadWrite.All,User-OnPremisesSyncBehavior.ReadWrite.All,Group-OnPremisesSyncBehavior.ReadWrite.All"
    )]
    pub permissions: Vec<String>,
    /// Access tokens: JWTs whose `roles` claim lists the granted permissions (as Entra issues
    /// for Graph), or opaque strings (as a token a client cannot decode looks).
    #[arg(long, value_enum, default_value_t = AccessTokenFormat::Jwt)]
    pub access_token_format: AccessTokenFormat,
    /// A PEM certificate file registered on the default application: client assertions
    /// signed by its private key are accepted (repeatable).
    #[arg(long = "client-certificate", value_name = "PEM_FILE", value_parser = read_certificate)]
    pub client_certificates: Vec<String>,
    /// A federated identity credential of the default application, `ISSUER,SUBJECT[,AUDIENCE]`
    /// (audience default api://AzureADTokenExchange); claims only, since the emulator cannot
    /// fetch the issuer's keys: register a signing key with --apps (repeatable).
    #[arg(long = "federated-credential", value_name = "ISSUER,SUBJECT[,AUDIENCE]", value_parser = parse_federated)]
    pub federated_credentials: Vec<FederatedCredentialSpec>,
    /// A JSON file with more applications to register: an array of the bodies
    /// `POST /_emulator/apps` takes (clientId, displayName, secrets, certificates,
    /// federatedCredentials with signingKey, permissions).
    #[arg(long, value_name = "JSON_FILE", value_parser = read_apps)]
    pub apps: Option<AppsFile>,
    /// UNCONFIRMED behaviour: the alg Entra accepts in a certificate assertion.
    #[arg(long, value_enum, default_value_t = AssertionAlgorithms::default())]
    pub assertion_algorithms: AssertionAlgorithms,
    /// UNCONFIRMED behaviour: what converted users, groups and contacts report as
    /// onPremisesSyncEnabled.
    #[arg(long, value_enum, default_value_t = AfterDisable::False)]
    pub user_sync_after_disable: AfterDisable,
    /// UNCONFIRMED behaviour: what the organization reports while a disable is pending.
    #[arg(long, value_enum, default_value_t = AfterDisable::False)]
    pub org_sync_during_disable: AfterDisable,
    /// Emulated time between two cycles of the simulated sync client while directory sync is
    /// enabled (Entra Connect: 30m); 0s: cycles only run on `POST /_emulator/sync/cycle`.
    #[arg(long, default_value = "30m", value_parser = duration::parse)]
    pub sync_interval: Duration,
    /// Entra Connect's accidental-delete prevention: an export deleting more objects than this
    /// is stopped and exports nothing until `POST /_emulator/sync/allow-deletes` (Connect's
    /// default 500); `off` disables it.
    #[arg(long, default_value = "500", value_parser = delete_threshold)]
    pub accidental_delete_threshold: DeleteThreshold,
    /// Initial blockCloudObjectTakeoverThroughHardMatchEnabled (true: blocking; user SOA
    /// rollbacks are refused until it is turned off).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub block_hard_match_takeover: bool,
    /// A successful SOA PATCH answers 204 (the newest reference page; default) or, as earlier
    /// revisions showed, 200 with a body.
    #[arg(long, value_enum, default_value_t = SoaPatchResponse::NoContent)]
    pub soa_patch_response: SoaPatchResponse,
    /// UNCONFIRMED behaviour: the user SOA route on /v1.0 and /beta, or /beta only.
    #[arg(long, value_enum, default_value_t = UserSoaApi::Both)]
    pub user_soa_api: UserSoaApi,
    /// UNCONFIRMED behaviour: an SOA PATCH on a never-synced object is refused (400) or
    /// accepted as a no-op (200).
    #[arg(long, value_enum, default_value_t = SoaOnCloudObject::Refuse)]
    pub soa_on_cloud_object: SoaOnCloudObject,
    /// UNCONFIRMED behaviour: whether onPremisesImmutableId can be changed on a user switched
    /// by SOA.
    #[arg(long, value_enum, default_value_t = ImmutableIdAfterSoa::Allow)]
    pub immutable_id_after_soa: ImmutableIdAfterSoa,
    /// UNCONFIRMED behaviour: whether an application may PATCH
    /// /v1.0/directory/onPremisesSynchronization (beta always accepts it).
    #[arg(long, value_enum, default_value_t = HardMatchFlagAppOnly::Deny)]
    pub hard_match_flag_app_only: HardMatchFlagAppOnly,
    /// UNCONFIRMED behaviour: whether a restored user keeps its onPremisesImmutableId.
    #[arg(long, value_enum, default_value_t = ImmutableIdOnRestore::Keep)]
    pub immutable_id_survives_restore: ImmutableIdOnRestore,
    /// UNCONFIRMED behaviour: whether owners can be added to (removed from) a still-synced group.
    #[arg(long, value_enum, default_value_t = OwnerAddOnSyncedGroup::Refuse)]
    pub owner_add_on_synced_group: OwnerAddOnSyncedGroup,
    /// UNCONFIRMED behaviour: base resource-unit cost of GET /users/delta (other: 1, list: 2).
    #[arg(long, value_enum, default_value_t = UsersDeltaCost::Other)]
    pub users_delta_cost: UsersDeltaCost,
    /// Removing a group's last owner: refuse (400, as Graph does) or allow.
    #[arg(long, value_enum, default_value_t = LastOwnerRemoval::Refuse)]
    pub last_owner_removal: LastOwnerRemoval,
    /// UNCONFIRMED behaviour: GET /groups/{id}/owners of a synced group, distribution list or
    /// mail-enabled security group (Graph says owners are "not available"): refuse (400),
    /// empty (200, no owners) or list.
    #[arg(long, value_enum, default_value_t = UnavailableOwners::Refuse)]
    pub unavailable_owners: UnavailableOwners,
    /// UNCONFIRMED behaviour: error.code of a JSON batch of more than 20 requests.
    #[arg(long, value_enum, default_value_t = BatchLimitCode::BadRequest)]
    pub batch_limit_code: BatchLimitCode,
    /// Order of a JSON batch's responses: shuffled (Graph keeps no order) or the request order.
    #[arg(long, value_enum, default_value_t = BatchOrder::Shuffled)]
    pub batch_order: BatchOrder,
    /// Do not enforce resource-unit and write quotas.
    #[arg(long)]
    pub no_quotas: bool,
    /// Share (0 to 0.99) of the tenant's write budget (18,000 per 5 min, all applications)
    /// used continuously by other applications; the emulator's clients get the rest.
    /// Changeable at run time: `PUT /_emulator/quotas`. `0`: none.
    #[arg(long, default_value_t = super::quota::DEFAULT_BACKGROUND_SHARE, value_parser = background_share)]
    pub background_write_share: f64,
    /// UNCONFIRMED: also enforce each write budget over this short window (emulated time;
    /// capacity: the budget's rate × the window), refusing bursts the long windows admit;
    /// `0s`: off.
    #[arg(long, default_value = "0s", value_parser = duration::parse)]
    pub burst_window: Duration,
    /// Latency of the answers: `realistic` (reads ~40 ms, writes ~80 ms, tokens ~120 ms
    /// median, with a tail), `0` (none), a fixed `50ms`, `uniform:20ms..200ms`,
    /// `lognormal:MEDIAN/P99`, or per operation `read=…,write=…,token=…,spike=1%:2s`.
    /// Changeable at run time: `PUT /_emulator/latency`.
    #[arg(long, default_value = "realistic")]
    pub latency: LatencyProfile,
    /// Serve HTTPS with a certificate authority made up at start (Microsoft's own client
    /// libraries refuse plain http); clients must trust its certificate.
    #[arg(long)]
    pub tls: bool,
    /// Where to write that CA certificate (PEM) before serving; default: a file in the
    /// temporary directory. The path is printed at start.
    #[arg(long, requires = "tls", value_name = "PATH")]
    pub tls_cert_out: Option<PathBuf>,
    /// How many tenants to serve from this one process, each with its own directory,
    /// organization, application registration and quotas (the other flags apply to each):
    /// the first is `--tenant-id`, the others have ids `0000000N-e1a7-4c0d-9e00-00000000000N`
    /// (N from 2, hexadecimal), domains `tN.<--domain>`; `GET /_emulator/tenants` lists them and
    /// `/_emulator/tenants/<id>/…` are each tenant's control endpoints.
    #[arg(long, default_value_t = 1, value_parser = parse_tenants)]
    pub tenants: usize,
    /// A real Active Directory for the simulated sync client (`--ad-*`).
    #[command(flatten)]
    pub ad: super::active_directory::AdArgs,
}

/// Parses `--tenants`: 1 to [`super::tenants::MAX_TENANTS`].
fn parse_tenants(text: &str) -> Result<usize, String> {
    let max = super::tenants::MAX_TENANTS;
    text.parse::<usize>()
        .ok()
        .filter(|n| (1..=max).contains(n))
        .ok_or_else(|| format!("{text:?}: give a number of tenants from 1 to {max}"))
}

/// The applications of an `--apps` file.
#[derive(Clone, Debug, Default)]
pub struct AppsFile(pub Vec<AppRegistration>);

fn read_file(path: &str) -> Result<String, String> {
    crate::input::read_text(Path::new(path), crate::input::MAX_FILE_BYTES)
        .map_err(|e| format!("{:#}", anyhow::Error::from(e)))
}

fn read_certificate(path: &str) -> Result<String, String> {
    let pem = read_file(path)?;
    super::apps::Certificate::from_pem(&pem).map_err(|e| format!("{path}: {e}"))?;
    Ok(pem)
}

fn read_apps(path: &str) -> Result<AppsFile, String> {
    let text = read_file(path)?;
    serde_json::from_str(&text)
        .map(AppsFile)
        .map_err(|e| format!("{path}: not a JSON array of application registrations: {e}"))
}

fn parse_count(text: &str, max: usize) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) if n <= max => Ok(n),
        _ => Err(format!(
            "{text:?} is not a count: use a whole number from 0 to {max}"
        )),
    }
}

/// Parses `--users`: 0 to [`super::MAX_USERS`].
pub fn parse_users(text: &str) -> Result<usize, String> {
    parse_count(text, super::MAX_USERS)
}

/// Parses `--groups`: 0 to [`super::MAX_GROUPS`].
pub fn parse_groups(text: &str) -> Result<usize, String> {
    parse_count(text, super::MAX_GROUPS)
}

fn parse_federated(text: &str) -> Result<FederatedCredentialSpec, String> {
    let parts: Vec<&str> = text.split(',').map(str::trim).collect();
    match parts.as_slice() {
        [issuer, subject, rest @ ..]
            if !issuer.is_empty() && !subject.is_empty() && rest.len() <= 1 =>
        {
            Ok(FederatedCredentialSpec {
                issuer: (*issuer).to_string(),
                subject: (*subject).to_string(),
                audiences: rest.iter().map(|a| (*a).to_string()).collect(),
                ..FederatedCredentialSpec::default()
            })
        }
        _ => Err(format!("expected ISSUER,SUBJECT[,AUDIENCE], got '{text}'")),
    }
}

fn background_share(text: &str) -> Result<f64, String> {
    let max = super::quota::MAX_BACKGROUND_SHARE;
    match text.trim().parse::<f64>() {
        Ok(x) if x.is_finite() && (0.0..=max).contains(&x) => Ok(x),
        _ => Err(format!(
            "background write share must be a number from 0 to {max}, got '{text}'"
        )),
    }
}

impl EmulatorArgs {
    /// The configuration these flags describe.
    pub fn config(&self) -> EmulatorConfig {
        EmulatorConfig {
            tenant_id: self.tenant_id.clone(),
            tenant_name: self.tenant_name.clone(),
            domain: self.domain.clone(),
            client_id: self.client_id.clone(),
            client_secret: self.client_secret.clone(),
            permissions: self
                .permissions
                .iter()
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty())
                .collect(),
            access_token_format: self.access_token_format,
            certificates: self.client_certificates.clone(),
            federated_credentials: self.federated_credentials.clone(),
            apps: self.apps.clone().unwrap_or_default().0,
            assertion_algorithms: self.assertion_algorithms,
            users: self.users,
            groups: self.groups,
            seed: self.seed,
            time_scale: self.time_scale,
            propagation: self.propagation,
            read_lag: self.read_lag,
            index_lag: self.index_lag,
            user_sync_after_disable: self.user_sync_after_disable,
            org_sync_during_disable: self.org_sync_during_disable,
            quotas: !self.no_quotas,
            quota_settings: super::quota::QuotaSettings {
                background_write_share: self.background_write_share,
                burst_window_secs: self.burst_window.as_secs_f64(),
            },
            latency: self.latency,
            sync_interval: self.sync_interval,
            accidental_delete_threshold: self.accidental_delete_threshold.0,
            block_hard_match_takeover: self.block_hard_match_takeover,
            soa_patch_response: self.soa_patch_response,
            user_soa_api: self.user_soa_api,
            soa_on_cloud_object: self.soa_on_cloud_object,
            immutable_id_after_soa: self.immutable_id_after_soa,
            hard_match_flag_app_only: self.hard_match_flag_app_only,
            immutable_id_survives_restore: self.immutable_id_survives_restore,
            owner_add_on_synced_group: self.owner_add_on_synced_group,
            users_delta_cost: self.users_delta_cost,
            last_owner_removal: self.last_owner_removal,
            unavailable_owners: self.unavailable_owners,
            batch_limit_code: self.batch_limit_code,
            batch_order: self.batch_order,
            tls: self.tls,
            ..EmulatorConfig::default()
        }
    }
}

/// The longest read lag the flags take.
const MAX_LAG: Duration = Duration::from_secs(24 * 3600);

/// A read lag: a duration (`2s`, `500ms`, `1m`) or `0`, at most [`MAX_LAG`].
fn parse_lag(text: &str) -> Result<Duration, String> {
    let lag = match text.trim() {
        "0" => Duration::ZERO,
        t => duration::parse(t).map_err(|e| e.to_string())?,
    };
    if lag > MAX_LAG {
        return Err(format!("{text}: a read lag is at most 24h"));
    }
    Ok(lag)
}

async fn terminated() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Writes `pem` to `path` through a temporary file, so a reader never sees half of it.
fn write_ca(path: &Path, pem: &str) -> anyhow::Result<()> {
    // The rename replaces whatever is there: only ever a regular file (never /dev/null, say).
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        anyhow::ensure!(
            meta.is_file(),
            "--tls-cert-out {} exists and is not a regular file; give a file path",
            path.display()
        );
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, pem).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

/// Starts the emulator, prints where it listens and the credentials it accepts (and under
/// `--tls` where the CA certificate is, written before the first line), and serves until
/// Ctrl-C or SIGTERM.
pub async fn run(args: EmulatorArgs) -> anyhow::Result<()> {
    let mut config = args.config();
    if let Some(path) = &args.tenant_file {
        let text = crate::input::read_text(path, crate::input::MAX_FILE_BYTES)
            .context("reading --tenant-file")?;
        let file = TenantFile::parse(&text)
            .with_context(|| format!("--tenant-file {}", path.display()))?;
        config.tenant_file = Some(file);
    }
    config.active_directory = args.ad.source()?;
    let banner = format!(
        "tenant {} client_id {} client_secret {} (permissions: {}; certificates: {}; federated credentials: {}; more applications: {})",
        config.tenant_id,
        config.client_id,
        config.client_secret,
        config.permissions.join(", "),
        config.certificates.len(),
        config.federated_credentials.len(),
        config.apps.len(),
    );
    let directory = config.active_directory.as_ref().map(|ad| {
        format!(
            "sync client reads {} under {} ({} synced OUs)",
            ad.url,
            ad.base_dn,
            ad.synced_ous.len()
        )
    });
    if args.tenants > 1 {
        // The front routes Graph requests by the token's `tid` claim, which opaque tokens hide;
        // a tenant file describes one tenant.
        anyhow::ensure!(
            config.access_token_format == super::AccessTokenFormat::Jwt,
            "--tenants {} needs --access-token-format jwt: Graph requests are routed to their tenant by the token's tenant id",
            args.tenants
        );
        anyhow::ensure!(
            config.tenant_file.is_none(),
            "--tenants {} takes no --tenant-file: a tenant file describes one tenant; seed the tenants with --users and --groups",
            args.tenants
        );
    }
    let count = args.tenants;
    let configs = super::tenants::configs(config, count);
    let last = configs
        .last()
        .map(|c| c.tenant_id.clone())
        .unwrap_or_default();
    let emulator = Emulator::start_tenants(configs, args.listen).await?;
    let ca_path = match emulator.ca_pem() {
        Some(pem) => {
            let path = args.tls_cert_out.clone().unwrap_or_else(|| {
                std::env::temp_dir().join(format!(
                    "entra-cloud-operator-emulator-ca-{}.pem",
                    emulator.addr().port()
                ))
            });
            write_ca(&path, pem)?;
            Some(path)
        }
        None => None,
    };
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "emulator listening on {}", emulator.url())?;
        writeln!(out, "{banner}")?;
        if count > 1 {
            writeln!(
                out,
                "{count} tenants, the same application in each; the last is {last} (GET /_emulator/tenants lists them)"
            )?;
        }
        if let Some(line) = &directory {
            writeln!(out, "{line}")?;
        }
        if let Some(path) = &ca_path {
            writeln!(out, "TLS: trust the CA certificate in {}", path.display())?;
        }
        out.flush()?;
    }
    terminated().await;
    tracing::info!("emulator stopping");
    emulator.shutdown().await;
    Ok(())
}

#[cfg(test)]
#[path = "cli_tests.rs"]
mod tests;

/// `--accidental-delete-threshold`: a count, or `off`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeleteThreshold(pub Option<u32>);

fn delete_threshold(text: &str) -> Result<DeleteThreshold, String> {
    if text.eq_ignore_ascii_case("off") {
        return Ok(DeleteThreshold(None));
    }
    text.parse::<u32>()
        .ok()
        .filter(|n| (1..=1_000_000).contains(n))
        .map(|n| DeleteThreshold(Some(n)))
        .ok_or_else(|| format!("{text:?}: give a number of objects from 1 to 1000000, or off"))
}
