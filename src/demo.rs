//! `entra-cloud-operator demo`: the whole tenant-wide cutover against the embedded emulator,
//! in under a minute: directory sync turned off, a multi-hour propagation watched at a
//! scaled clock, every ImmutableID cleared, then the guard standing by.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::emulator::{Emulator, EmulatorConfig};
use crate::graph::Credential;
use crate::journal::FileJournal;
use crate::local::credentials::{self, EndpointOverrides, Env};
use crate::local::progress::ProgressMode;
use crate::local::{self, RunOptions, manifests};

/// Options of `demo`.
#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Manifests to apply (their tenant id and credentials configure the emulator).
    #[arg(long, default_value = "examples")]
    pub examples: PathBuf,
    /// Synchronised users in the emulated tenant.
    #[arg(long, default_value_t = 3000, value_parser = crate::emulator::parse_users)]
    pub users: usize,
    /// Synchronised groups in the emulated tenant.
    #[arg(long, default_value_t = 60, value_parser = crate::emulator::parse_groups)]
    pub groups: usize,
    /// How long Entra takes to convert every object after the disable (emulated time).
    #[arg(long, default_value = "6h", value_parser = crate::duration::parse)]
    pub propagation: Duration,
    /// Emulated seconds per real second, for the emulator and the operator alike.
    #[arg(long, default_value_t = 1800.0, value_parser = crate::clock::parse_scale)]
    pub time_scale: f64,
    /// Journal file (default: a fresh file under the system temp directory).
    #[arg(long)]
    pub journal: Option<PathBuf>,
    /// The journal's key file (default: `<journal>.key`, created with mode 0600 when absent).
    #[arg(long, env = "ENTRA_JOURNAL_KEY_FILE")]
    pub journal_key: Option<PathBuf>,
    /// Give up after this long (real time).
    #[arg(long, default_value = "120s", value_parser = crate::duration::parse)]
    pub timeout: Duration,
}

/// Run the demo.
pub async fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        args.time_scale.is_finite() && args.time_scale > 0.0,
        "--time-scale must be a positive number"
    );
    let started = Instant::now();
    let (files, left_out) = example_files(&args.examples)
        .with_context(|| format!("reading {}", args.examples.display()))?;
    let m =
        manifests::load(&files).with_context(|| format!("reading {}", args.examples.display()))?;
    let Some(first) = m.tenants.first().map(|t| &t.resource) else {
        anyhow::bail!(
            "--examples {}: no TenantSyncPolicy among the manifests; the demo needs one to configure the emulated tenant (see examples/tenant-cutover.yaml)",
            args.examples.display()
        );
    };
    let mut config = EmulatorConfig {
        tenant_id: first.spec.tenant_id.clone(),
        users: args.users,
        groups: args.groups,
        propagation: args.propagation,
        time_scale: args.time_scale,
        ..EmulatorConfig::default()
    };
    // The emulator accepts the application the examples name, with the secret they carry.
    if let Ok(Credential::ClientSecret { client_id, secret }) =
        credentials::resolve(first, &m.secrets, &Env::default())
    {
        config.client_id = client_id;
        config.client_secret = secret.expose().to_string();
    }
    let emu = Emulator::start(config.clone(), "127.0.0.1:0".parse()?).await?;
    println!(
        "Graph emulator on {}: tenant {} ({}) with {} synchronised users and {} groups, plus cloud-only, break-glass and sync service accounts.",
        emu.url(),
        config.tenant_id,
        config.tenant_name,
        config.users,
        config.groups
    );
    for f in &left_out {
        println!(
            "Left out {}: it needs an Active Directory domain controller (`make samba` starts a test one; see docs/development.md).",
            f.display()
        );
    }
    println!(
        "Time runs {}x faster: Entra's {} propagation takes about {:.0} s here.\n",
        args.time_scale,
        humane(args.propagation),
        args.propagation.as_secs_f64() / args.time_scale
    );

    let journal = args.journal.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!(
            "entra-cloud-operator-demo-{}.journal.jsonl",
            std::process::id()
        ))
    });
    let opts = RunOptions {
        overrides: EndpointOverrides {
            graph: Some(emu.url()),
            login: Some(emu.url()),
            ca_bundle: None,
        },
        env: Env::default(),
        journal: journal.clone(),
        journal_key: args.journal_key.clone(),
        timeout: args.timeout,
        time_scale: args.time_scale,
        concurrency: 16,
        progress: ProgressMode::Auto,
    };
    let m = approve_plans(m, &opts).await;
    let result = local::apply(m, &opts).await?;

    print!("\n{}", local::output::table(&result));
    let state: serde_json::Value = reqwest::get(format!("{}/_emulator/state", emu.url()))
        .await?
        .json()
        .await?;
    println!(
        "\nEmulated tenant now: organization onPremisesSyncEnabled={}, users synchronised={}, users with an ImmutableID={}, writes accepted={}, refused={}.",
        state["organization"]["onPremisesSyncEnabled"],
        state["users"]["synced"],
        state["users"]["withImmutableId"],
        state["writes"]["accepted"],
        state["writes"]["refused"]
    );
    let key_file = crate::journal::key_path(&journal, args.journal_key.as_deref());
    let key = crate::journal::load_key(&journal, &key_file, false)?;
    let report = FileJournal::verify(&journal, key.as_ref())?;
    println!(
        "Journal {}: {} entries (every prior ImmutableID kept), keyed chain and head intact.",
        journal.display(),
        report.entries
    );
    println!("Done in {:.1} s.", started.elapsed().as_secs_f64());
    emu.shutdown().await;
    Ok(if result.all_ready() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn humane(d: Duration) -> String {
    let s = d.as_secs();
    match (s / 3600, (s % 3600) / 60) {
        (0, m) => format!("{m}-minute"),
        (h, 0) => format!("{h}-hour"),
        (h, m) => format!("{h} h {m} min"),
    }
}

/// The manifests the demo applies: `path` itself, or the files of the directory `path` except
/// those that need a domain controller (`*-from-ad.yaml`), which are returned apart.
fn example_files(path: &std::path::Path) -> std::io::Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    if !path.is_dir() {
        return Ok((vec![path.to_path_buf()], Vec::new()));
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| manifests::is_manifest_file(p))
        .collect();
    files.sort();
    Ok(files.into_iter().partition(|p| {
        !p.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with("-from-ad.yaml"))
    }))
}

/// The tenant-wide disable runs only under a plan a person approved: the demo plans each
/// policy that would turn sync off, shows the digest, and approves it as a reviewer would by
/// writing it into `spec.approvedPlan` (in a repository: a pull request).
async fn approve_plans(mut m: manifests::Manifests, opts: &RunOptions) -> manifests::Manifests {
    let only_tenants = manifests::Manifests {
        tenants: m.tenants.clone(),
        users: Vec::new(),
        groups: Vec::new(),
        secrets: m.secrets.clone(),
    };
    let reports = local::plan(only_tenants, opts).await;
    for (loaded, report) in m.tenants.iter_mut().zip(reports) {
        if let Some(digest) = report.approval {
            println!(
                "Plan of {}: {}. A reviewer approves it in the manifest: spec.approvedPlan: {digest}",
                report.resource, report.next_step
            );
            loaded.resource.spec.approved_plan = Some(digest);
        }
    }
    m
}
