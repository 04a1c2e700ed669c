//! `entra-cloud-operator`: the command line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use entra_cloud_operator::emulator::{self, EmulatorArgs};
use entra_cloud_operator::local::credentials::{EndpointOverrides, Env};
use entra_cloud_operator::local::output::{self, Format, PlanFormat};
use entra_cloud_operator::local::progress::ProgressMode;
use entra_cloud_operator::local::{self, RunOptions, manifests, saved_plan};
use entra_cloud_operator::{api, demo, duration};

/// Converts Entra Connect-synchronised users and groups into cloud-managed identities in
/// Microsoft Entra ID, driven by Kubernetes custom resources.
#[derive(Parser, Debug)]
#[command(name = "entra-cloud-operator", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value = "text")]
    log_format: LogFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Reconcile the resources in manifest files until each is Ready or Stalled, without a
    /// cluster. Exit code: 0 all Ready, 1 any Stalled or bad input, 2 timed out, 3 stopped by
    /// SIGTERM or Ctrl-C.
    Apply {
        #[command(flatten)]
        run: RunArgs,
        /// Output format of the resources printed at the end: a table (as `kubectl get`), or
        /// every resource with its status as a `v1 List`.
        #[arg(short = 'o', long, value_enum, default_value = "table")]
        output: Format,
        /// Give up after this long, e.g. `30m`, `72h`, a pass in flight included (abandoned at
        /// the deadline; the next run settles it from the journal); exit code 2.
        #[arg(long, default_value = "30m", value_parser = duration::parse)]
        timeout: Duration,
        /// Progress display on stderr.
        #[arg(long, value_enum, default_value = "auto")]
        progress: ProgressMode,
        /// On SIGTERM or Ctrl-C, how long the passes in flight may take to finish their wave
        /// before they are abandoned (the next run settles them from the journal); exit code 3.
        #[arg(long, default_value = "20s", value_parser = duration::parse)]
        shutdown_grace: Duration,
        /// Apply exactly the plan `plan --out FILE` saved: refused when the manifests changed
        /// since; each resource runs under the saved digest as its approved plan, so a tenant
        /// or selection that changed since stalls (`PlanChanged`) with nothing written.
        #[arg(long = "plan", value_name = "FILE")]
        saved_plan: Option<PathBuf>,
    },
    /// Observe each tenant and print what `apply` would change. Sends only reads.
    Plan {
        #[command(flatten)]
        run: RunArgs,
        /// Output format (`--format` works too).
        #[arg(
            short = 'o',
            long,
            alias = "format",
            value_enum,
            default_value = "text"
        )]
        output: PlanFormat,
        /// Exit 0 when nothing would change, 2 when changes or conflicts are pending review,
        /// 1 on an error (as Terraform's `plan -detailed-exitcode`). Without it: 0, or 1 on
        /// an error.
        #[arg(long)]
        detailed_exitcode: bool,
        /// Save the plan to FILE (JSON, no secrets) for `apply --plan FILE`; not saved when a
        /// resource could not be planned or conflicts.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Give up after this long, e.g. `10m` (a tenant that answers slowly, a large
        /// selection); nothing is written either way. Exit code 1.
        #[arg(long, default_value = "10m", value_parser = duration::parse)]
        timeout: Duration,
    },
    /// Undo what the user and group conversions of the manifests did, from the journal, as
    /// `onDelete: Revert` does in a cluster. Exit code: 0 all reverted, 1 something kept or
    /// failed; with `--plan`: 0 nothing to revert, 2 something to revert, 1 an error.
    ///
    /// The same safety rules as the finalizer: only entries the journal key proves drive a
    /// write (a journal that does not verify is refused), prior values come from the journal,
    /// an ImmutableID goes back only onto its AD anchor and not over one someone set since.
    /// Prints the plan first, then undoes it, journaled. TenantSyncPolicies are not reverted:
    /// turning directory sync back on is not something the operator undoes.
    Revert {
        #[command(flatten)]
        run: RunArgs,
        /// Only print what would be undone, and what would be kept and why: reads the journal,
        /// Graph and AD, writes nothing (not even the journal).
        #[arg(long)]
        plan: bool,
        /// Output format: text (the plan, then what was done) or JSON (one object per
        /// resource, with its plan and result).
        #[arg(short = 'o', long, value_enum, default_value = "text")]
        output: local::revert::Format,
        /// Give up after this long, e.g. `10m`; what was done is journaled and the next
        /// `revert` finishes it. Exit code 1.
        #[arg(long, default_value = "30m", value_parser = duration::parse)]
        timeout: Duration,
    },
    /// Start the Graph emulator in-process with a synchronised tenant, apply `examples/`
    /// against it, and show the whole cutover.
    Demo(demo::DemoArgs),
    /// Run the operator in a Kubernetes cluster (in-cluster config or KUBECONFIG).
    Controller(entra_cloud_operator::controller::cli::ControllerArgs),
    /// Run the Microsoft Graph emulator.
    Emulator(Box<EmulatorArgs>),
    /// Print the CustomResourceDefinitions as YAML.
    Crds,
    /// Inspect the journal of changes.
    Journal {
        #[command(subcommand)]
        command: local::journal_cmd::JournalCommand,
    },
}

#[derive(clap::Args, Debug)]
struct RunArgs {
    /// Manifest files or directories (`*.yaml`, `*.yml`, `*.json`), `-` for a stream on standard
    /// input (`kustomize build | … -f -`); other kinds among them are skipped with a line on
    /// stderr. Secrets among them supply credentials, else AZURE_CLIENT_SECRET (and
    /// AZURE_CLIENT_ID, AZURE_TENANT_ID to check).
    #[arg(short = 'f', long = "filename", required = true)]
    files: Vec<PathBuf>,
    /// Override every resource's Graph root URL, e.g. the emulator's.
    #[arg(long)]
    graph_url: Option<String>,
    /// Override every resource's token authority URL.
    #[arg(long)]
    login_url: Option<String>,
    /// Honour endpoints the manifests name outside Microsoft's hosts (`spec.endpoints`: the
    /// emulator, a proxy), and send environment credentials (AZURE_CLIENT_SECRET,
    /// AZURE_CLIENT_CERTIFICATE_PATH, AZURE_FEDERATED_TOKEN_FILE, AD_BIND_PASSWORD) to hosts the
    /// manifests name. Only for manifests you trust: never over an untrusted pull request.
    #[arg(long)]
    allow_endpoint_override: bool,
    /// CA certificates (PEM file) to trust besides the web roots for Graph and the token
    /// authority: an enterprise TLS-inspecting proxy, or the emulator's `--tls` certificate.
    #[arg(long, value_name = "FILE")]
    ca_bundle: Option<PathBuf>,
    /// Journal file: every change with its prior values, written before the change.
    #[arg(long, default_value = "entra-cloud-operator.journal.jsonl")]
    journal: PathBuf,
    /// The journal's key file, which chains its entries (HMAC-SHA256). Default:
    /// `<journal>.key`, created with mode 0600 when absent; kept elsewhere (another
    /// directory, user or volume) it protects the journal better.
    #[arg(long, env = "ENTRA_JOURNAL_KEY_FILE")]
    journal_key: Option<PathBuf>,
    /// Tenant seconds per real second: match an emulator's `--time-scale` to rehearse a
    /// 72-hour propagation in seconds. 1 against real tenants.
    #[arg(long, default_value_t = 1.0, value_parser = entra_cloud_operator::clock::parse_scale)]
    time_scale: f64,
    /// Graph requests in flight at once per resource: JSON batches of up to 20 (or, with a
    /// TenantSyncPolicy's `spec.quota.batch: false`, single requests).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
    concurrency: u16,
}

impl RunArgs {
    fn options(&self, timeout: Duration, progress: ProgressMode) -> anyhow::Result<RunOptions> {
        anyhow::ensure!(
            self.time_scale.is_finite() && self.time_scale > 0.0,
            "--time-scale must be a positive number"
        );
        let ca_bundle = match &self.ca_bundle {
            None => None,
            Some(path) => Some(read_ca_bundle(path)?),
        };
        Ok(RunOptions {
            overrides: EndpointOverrides {
                graph: self.graph_url.clone(),
                login: self.login_url.clone(),
                ca_bundle,
            },
            env: Env {
                allow_endpoint_override: self.allow_endpoint_override,
                ..Env::from_process()
            },
            journal: self.journal.clone(),
            journal_key: self.journal_key.clone(),
            timeout,
            time_scale: self.time_scale,
            concurrency: usize::from(self.concurrency),
            progress,
        })
    }
}

/// The PEM text of `--ca-bundle` (at most 1 MiB, with at least one certificate).
fn read_ca_bundle(path: &std::path::Path) -> anyhow::Result<String> {
    use std::io::Read;
    const MAX: u64 = 1024 * 1024;
    let file =
        std::fs::File::open(path).with_context(|| format!("--ca-bundle {}", path.display()))?;
    let mut pem = String::new();
    file.take(MAX + 1)
        .read_to_string(&mut pem)
        .with_context(|| format!("--ca-bundle {}: not a PEM text file", path.display()))?;
    anyhow::ensure!(
        pem.len() as u64 <= MAX,
        "--ca-bundle {}: larger than 1 MiB; give the PEM file of the CA certificates",
        path.display()
    );
    anyhow::ensure!(
        pem.contains("-----BEGIN CERTIFICATE-----"),
        "--ca-bundle {}: holds no -----BEGIN CERTIFICATE----- block; give the PEM file of the CA certificates",
        path.display()
    );
    Ok(pem)
}

fn init_logging(format: LogFormat, default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Colour only for a person at a terminal, and never against NO_COLOR (no-color.org).
    let ansi = {
        use std::io::IsTerminal as _;
        std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

fn main() -> ExitCode {
    // clap exits 2 on a bad flag, the code `apply` gives a timeout: a bad flag is bad input, 1.
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    // The controller runs for months: glibc's malloc is set to give memory back (this
    // executes the process again, before any thread starts, unless the deployment set it).
    use entra_cloud_operator::controller::allocator;
    let tuned = matches!(cli.command, Command::Controller(_))
        .then(|| allocator::tune(std::env::args_os().skip(1)));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(async_main(cli, tuned))
}

async fn async_main(
    cli: Cli,
    tuned: Option<entra_cloud_operator::controller::allocator::Tuned>,
) -> ExitCode {
    let default_level = match cli.command {
        Command::Emulator(_) | Command::Controller(_) => "info",
        _ => "warn",
    };
    init_logging(cli.log_format, default_level);
    use entra_cloud_operator::controller::allocator::{TUNABLES_VAR, Tuned};
    match tuned {
        Some(Tuned::Failed(e)) => tracing::warn!(
            "could not set the memory allocator's settings ({TUNABLES_VAR}) by executing the controller again: {e}; it runs with glibc's defaults, which keep more memory"
        ),
        Some(Tuned::AlreadySet) => tracing::info!(
            "memory allocator settings: {TUNABLES_VAR}={}",
            std::env::var(TUNABLES_VAR).unwrap_or_default()
        ),
        Some(Tuned::NotGlibc) | None => {}
    }
    let format = cli.log_format;
    match run(cli.command, format).await {
        Ok(code) => code,
        Err(e) if format == LogFormat::Json => {
            let line = serde_json::json!({"level": "ERROR", "message": format!("{e:#}")});
            eprintln!("{line}");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

async fn run(command: Command, log_format: LogFormat) -> anyhow::Result<ExitCode> {
    match command {
        Command::Apply {
            run,
            output: format,
            timeout,
            progress,
            shutdown_grace,
            saved_plan,
        } => {
            // JSON logs get JSON progress lines: never plain lines mixed in.
            let progress = match (log_format, progress) {
                (LogFormat::Json, ProgressMode::Auto | ProgressMode::Plain) => ProgressMode::Json,
                (_, p) => p,
            };
            let opts = run.options(timeout, progress)?;
            let mut m = manifests::load(&run.files)?;
            if let Some(path) = &saved_plan {
                let plan = saved_plan::load(path)?;
                saved_plan::bind(&plan, path, &mut m)?;
                eprintln!(
                    "applying the plan saved in {} at {}",
                    path.display(),
                    plan.created_at
                );
            }
            let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
            tokio::spawn(async move {
                entra_cloud_operator::controller::cli::terminated().await;
                eprintln!(
                    "stopping: no new pass starts; passes in flight get {}s to finish",
                    shutdown_grace.as_secs_f64()
                );
                let _ = stop_tx.send(true);
            });
            let stop = local::Stop::new(stop_rx, shutdown_grace);
            let result = local::apply_until(m, &opts, &stop).await?;
            print!("{}", output::resources(&result, format)?);
            Ok(exit_code(&result))
        }
        Command::Plan {
            run,
            output: format,
            detailed_exitcode,
            out,
            timeout,
        } => {
            let opts = run.options(timeout, ProgressMode::Quiet)?;
            let m = manifests::load(&run.files)?;
            let specs = saved_plan::Specs::of(&m);
            let Ok(reports) = tokio::time::timeout(timeout, local::plan(m, &opts)).await else {
                anyhow::bail!(
                    "plan timed out after --timeout {}: Graph (or the directory) did not answer in time; nothing was written. Try again, or give a longer --timeout",
                    duration::format(timeout)
                );
            };
            print!("{}", output::plans(&reports, format)?);
            if let Some(path) = &out {
                saved_plan::save(&saved_plan::of(&reports, &specs)?, path)?;
                eprintln!(
                    "plan saved to {}: apply exactly it with `apply -f … --plan {}`",
                    path.display(),
                    path.display()
                );
            }
            let verdict = local::Verdict::of(&reports);
            Ok(match (verdict, detailed_exitcode) {
                (local::Verdict::Pending, false) => ExitCode::SUCCESS,
                (v, _) => ExitCode::from(v.exit_code()),
            })
        }
        Command::Revert {
            run,
            plan,
            output: format,
            timeout,
        } => revert(run, plan, format, timeout).await,
        Command::Demo(args) => demo::run(args).await,
        Command::Controller(args) => {
            entra_cloud_operator::controller::cli::run(args).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Emulator(args) => {
            emulator::run(*args).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Crds => {
            print!("{}", api::crds_yaml()?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Journal { command } => local::journal_cmd::run(command).await,
    }
}

/// `revert`: the plan, then (without `--plan`) the revert, within `timeout`.
async fn revert(
    run: RunArgs,
    plan_only: bool,
    format: local::revert::Format,
    timeout: Duration,
) -> anyhow::Result<ExitCode> {
    use local::revert::{self, Format as RevertFormat};
    let opts = run.options(timeout, ProgressMode::Quiet)?;
    let m = manifests::load(&run.files)?;
    let session = revert::Session::open(m, &run.files, opts, !plan_only)?;
    let deadline = tokio::time::Instant::now().checked_add(timeout);
    let timed_out = || {
        anyhow::anyhow!(
            "timed out after --timeout {}s: what was undone is journaled; run revert again to finish",
            timeout.as_secs()
        )
    };
    let within = |d: Option<tokio::time::Instant>| async move {
        match d {
            Some(d) => tokio::time::sleep_until(d).await,
            None => std::future::pending().await,
        }
    };
    let planned = tokio::select! {
        r = session.plan() => r,
        () = within(deadline) => return Err(timed_out()),
    };
    if plan_only {
        print!("{}", revert::render(&planned, format, false)?);
        return Ok(ExitCode::from(revert::plan_exit_code(&planned)));
    }
    if format == RevertFormat::Text {
        print!("{}", revert::render(&planned, format, false)?);
    }
    let done = tokio::select! {
        r = session.revert() => r,
        () = within(deadline) => return Err(timed_out()),
    };
    print!("{}", revert::render(&done, format, true)?);
    Ok(ExitCode::from(revert::revert_exit_code(&done)))
}

fn exit_code(result: &local::RunResult) -> ExitCode {
    use local::Settled;
    let any = |s: Settled| result.resources.iter().any(|r| r.settled == s);
    if result.all_ready() {
        ExitCode::SUCCESS
    } else if any(Settled::Interrupted) {
        ExitCode::from(3)
    } else if any(Settled::TimedOut) {
        ExitCode::from(2)
    } else {
        ExitCode::from(1)
    }
}
