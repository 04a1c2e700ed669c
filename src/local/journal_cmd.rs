//! `entra-cloud-operator journal verify|export|summary|report`: check, print (filtered),
//! summarise and report on a journal, from its file or, with `--resource`, from a cluster's
//! journal ConfigMaps (KUBECONFIG or in-cluster config).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use crate::journal::{
    self, ConfigMapJournal, Entry, FileJournal, JournalError, ResourceKey, SecretKey, VerifyReport,
};

use super::journal_report::{self, Verification};

/// The default journal file.
pub const DEFAULT_JOURNAL: &str = "entra-cloud-operator.journal.jsonl";
/// The default name of the cluster journal's key Secret.
pub const DEFAULT_KEY_SECRET: &str = "entra-cloud-operator-journal-key";

/// Where the journal is.
#[derive(clap::Args, Debug)]
pub struct Source {
    /// The journal file.
    #[arg(long, default_value = DEFAULT_JOURNAL)]
    pub journal: PathBuf,
    /// The journal's key file (default: `<journal>.key`).
    #[arg(long, env = "ENTRA_JOURNAL_KEY_FILE")]
    pub journal_key: Option<PathBuf>,
    /// Read the cluster journal of this resource instead: `Kind/namespace/name`, e.g.
    /// `CloudUserConversion/identity/finance-wave`.
    #[arg(long)]
    pub resource: Option<String>,
    /// Namespace of the journal ConfigMaps and key Secret (the operator's namespace).
    #[arg(long, default_value = "entra-system")]
    pub journal_namespace: String,
    /// The Secret holding the cluster journal's key and heads (needs `get` on it).
    #[arg(long, default_value = DEFAULT_KEY_SECRET)]
    pub journal_key_secret: String,
}

/// `journal` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum JournalCommand {
    /// Check the keyed chain and the head kept outside the journal: exit 0 when intact, 1
    /// when an entry was edited, removed, reordered or cut off, or the chain recomputed.
    Verify {
        /// Where the journal is.
        #[command(flatten)]
        source: Source,
    },
    /// Print the entries as CSV or JSON Lines (after checking the chain), all or those the
    /// filters keep.
    Export {
        /// Where the journal is.
        #[command(flatten)]
        source: Source,
        /// Which entries.
        #[command(flatten)]
        filter: super::journal_view::Filter,
        /// Output format.
        #[arg(long, value_enum, default_value = "csv")]
        format: ExportFormat,
    },
    /// Per resource: the objects changed, failed and reverted, and when (after checking the
    /// chain); then the last entry's hash, to keep elsewhere.
    Summary {
        /// Where the journal is.
        #[command(flatten)]
        source: Source,
        /// Which entries.
        #[command(flatten)]
        filter: super::journal_view::Filter,
    },
    /// One self-contained HTML page for an auditor (no scripts, nothing fetched): the chain's
    /// verification and head, a timeline, per resource the changes by action and phase, the
    /// failures with their reasons, unfinished changes and the entries. Written even when the
    /// chain is broken (it says where), then exit 1.
    Report {
        /// Where the journal is.
        #[command(flatten)]
        source: Source,
        /// Which entries.
        #[command(flatten)]
        filter: super::journal_view::Filter,
        /// The HTML file to write (`-`: standard output). An existing file is kept unless
        /// `--force`.
        #[arg(long, value_name = "FILE.html")]
        out: PathBuf,
        /// Replace `--out` if it exists.
        #[arg(long)]
        force: bool,
        /// At most this many rows in each table (entries, failures, unfinished changes, notes);
        /// the counts and the timeline cover every entry.
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
        max_rows: u64,
    },
}

/// Export formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// RFC 4180 CSV.
    Csv,
    /// JSON Lines.
    Json,
}

enum Opened {
    File(PathBuf, Option<journal::JournalKey>),
    Cluster(String, Box<ConfigMapJournal>),
}

async fn open(source: &Source) -> anyhow::Result<Opened> {
    let Some(r) = &source.resource else {
        // Reading a missing file as an empty journal would only hide a mistyped path; a
        // device or a pipe is no journal either (and may never end).
        anyhow::ensure!(
            source.journal.is_file(),
            "--journal {}: {} (give the journal's path, or --resource for a cluster journal)",
            source.journal.display(),
            if source.journal.exists() {
                "not a regular file"
            } else {
                "no such file"
            }
        );
        let key_file = journal::key_path(&source.journal, source.journal_key.as_deref());
        let key = journal::load_key(&source.journal, &key_file, false)?;
        return Ok(Opened::File(source.journal.clone(), key));
    };
    let parts: Vec<&str> = r.split('/').collect();
    let [kind, namespace, name] = parts.as_slice() else {
        anyhow::bail!(
            "--resource must be Kind/namespace/name, e.g. CloudUserConversion/identity/finance-wave"
        );
    };
    let resource = ResourceKey {
        kind: kind.to_string(),
        namespace: namespace.to_string(),
        name: name.to_string(),
    };
    let client = crate::controller::cli::cluster_client().await?;
    let ns = &source.journal_namespace;
    let secret = &source.journal_key_secret;
    let found = journal::read_key_secret(client.clone(), ns, secret)
        .await
        .with_context(|| {
            format!("reading the journal key Secret {ns}/{secret} (--journal-key-secret)")
        })?;
    let key = found.map(|key| SecretKey {
        key,
        secret: secret.clone(),
    });
    let shown = format!("the journal of {r} in namespace {ns}");
    Ok(Opened::Cluster(
        shown,
        Box::new(ConfigMapJournal::new(client, ns, resource, key)),
    ))
}

fn print_report(what: &str, report: &VerifyReport) {
    println!("{what}: {}", super::journal_view::verify_text(report));
}

/// Run a `journal` subcommand.
pub async fn run(command: JournalCommand) -> anyhow::Result<ExitCode> {
    match command {
        JournalCommand::Verify { source } => {
            match open(&source).await? {
                Opened::File(path, key) => {
                    let report = FileJournal::verify(&path, key.as_ref())?;
                    print_report(&path.display().to_string(), &report);
                }
                Opened::Cluster(shown, j) => {
                    let report = j
                        .verify()
                        .await
                        .with_context(|| format!("verifying {shown}"))?;
                    print_report(&shown, &report);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        JournalCommand::Report {
            source,
            filter,
            out,
            force,
            max_rows,
        } => {
            filter.validate()?;
            report(&source, &filter, &out, force, max_rows).await
        }
        JournalCommand::Summary { source, filter } => {
            filter.validate()?;
            let (entries, head) = verified_entries(&source, &filter).await?;
            print!("{}", super::journal_view::summary(&entries, head.as_ref()));
            Ok(ExitCode::SUCCESS)
        }
        JournalCommand::Export {
            source,
            filter,
            format,
        } => {
            filter.validate()?;
            let (entries, _) = verified_entries(&source, &filter).await?;
            let mut out = std::io::stdout().lock();
            let written = match format {
                ExportFormat::Json => entries.iter().try_for_each(|e| {
                    serde_json::to_writer(&mut out, e)?;
                    std::io::Write::write_all(&mut out, b"\n")
                }),
                ExportFormat::Csv => journal::write_csv(&entries, &mut out),
            }
            .and_then(|()| std::io::Write::flush(&mut out));
            match written {
                // The reader stopped early (`journal export | head`): not an error.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
                other => other.map(|()| ExitCode::SUCCESS).map_err(Into::into),
            }
        }
    }
}

/// The journal's entries the filter keeps, its chain checked first.
/// The entries `filter` keeps, and the journal's last entry (its head), whatever it kept.
async fn verified_entries(
    source: &Source,
    filter: &super::journal_view::Filter,
) -> anyhow::Result<(Vec<Entry>, Option<Entry>)> {
    let entries: Vec<Entry> = match open(source).await? {
        Opened::File(path, key) => {
            FileJournal::verify(&path, key.as_ref())?;
            FileJournal::read(&path, key.as_ref())
                .with_context(|| format!("reading {}", path.display()))?
        }
        Opened::Cluster(shown, j) => j
            .entries()
            .await
            .with_context(|| format!("reading {shown}"))?,
    };
    let head = entries.last().cloned();
    Ok((
        entries.into_iter().filter(|e| filter.keeps(e)).collect(),
        head,
    ))
}

/// `journal report`: the chain checked (a broken one is reported, not refused), the page
/// rendered from the entries the filter keeps, written to `out`.
async fn report(
    source: &Source,
    filter: &super::journal_view::Filter,
    out: &std::path::Path,
    force: bool,
    max_rows: u64,
) -> anyhow::Result<ExitCode> {
    let (origin, verification, entries) = match open(source).await? {
        Opened::File(path, key) => {
            let origin = path.display().to_string();
            let verification = verification(FileJournal::verify(&path, key.as_ref()))?;
            let entries = FileJournal::read(&path, key.as_ref())
                .with_context(|| format!("reading {}", path.display()))?;
            (origin, verification, entries)
        }
        Opened::Cluster(shown, j) => {
            let verification =
                verification(j.verify().await).with_context(|| format!("verifying {shown}"))?;
            let entries = j
                .entries_checked()
                .await
                .with_context(|| format!("reading {shown}"))?;
            (shown, verification, entries)
        }
    };
    let last = entries.last().map(|e| (e.seq, e.hash.clone()));
    let verification = match verification {
        Verification::Broken { seq, message, .. } => Verification::Broken { seq, message, last },
        intact => intact,
    };
    let kept: Vec<Entry> = entries.into_iter().filter(|e| filter.keeps(e)).collect();
    let page = journal_report::render(&journal_report::Report {
        origin: &origin,
        generated: jiff::Timestamp::now()
            .round(jiff::Unit::Second)
            .context("reading the clock")?,
        verification: &verification,
        filter: filter.describe(),
        entries: &kept,
        max_rows: usize::try_from(max_rows).unwrap_or(usize::MAX),
    });
    journal_report::write(out, force, &page)?;
    Ok(match verification {
        Verification::Intact(_) => ExitCode::SUCCESS,
        Verification::Broken { message, .. } => {
            eprintln!("report written; the journal does not verify: {message}");
            ExitCode::from(1)
        }
    })
}

/// A chain that does not verify is a finding to report; any other failure (no key, the wrong
/// key, an unreadable journal) stops the report.
fn verification(checked: Result<VerifyReport, JournalError>) -> anyhow::Result<Verification> {
    match checked {
        Ok(report) => Ok(Verification::Intact(report)),
        Err(e @ JournalError::Tampered { seq, .. }) => Ok(Verification::Broken {
            seq,
            message: e.to_string(),
            last: None,
        }),
        Err(e) => Err(e.into()),
    }
}
