//! Reading manifests from files, directories and standard input (`-f -`, what `kustomize
//! build` or `helm template` print): the resources to reconcile and the Secrets that hold their
//! credentials; documents of other kinds are skipped with a line each.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::api::{API_VERSION, CloudGroupConversion, CloudUserConversion, GROUP, TenantSyncPolicy};
use crate::graph::SecretString;

#[path = "manifest_kinds.rs"]
mod kinds;
use kinds::{KINDS, custom, is_foreign, schemas, secret_data};

/// A problem with the input files. Each names the file and document.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// A path could not be read.
    #[error("cannot read {path}")]
    Read {
        /// The path.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A file is not valid YAML or JSON.
    #[error("{path}: not valid YAML: {detail}")]
    Parse {
        /// The file.
        path: String,
        /// The parser's message.
        detail: String,
    },
    /// A document is not one we can use.
    #[error("{path} document {index}: {detail}")]
    Invalid {
        /// The file.
        path: String,
        /// 1-based document number in the file.
        index: usize,
        /// What is wrong and the fix.
        detail: String,
    },
    /// A file that cannot be read, is too large, is a directory or is not text.
    #[error(transparent)]
    Input(#[from] crate::input::InputError),
    /// More input than a run takes: files, bytes or documents over their cap.
    #[error("{path}: more than {cap} {what} in one run; give fewer or smaller files with -f")]
    TooMuch {
        /// The file or directory where the cap was passed.
        path: String,
        /// The cap.
        cap: u64,
        /// What is counted: `manifest files`, `bytes of manifests`, `documents`.
        what: &'static str,
    },
    /// `-f -` given more than once: standard input is read once.
    #[error("-f - given more than once: standard input can be read only once; give -f - once")]
    StdinTwice,
    /// Nothing to do.
    #[error(
        "no TenantSyncPolicy, CloudUserConversion or CloudGroupConversion found in {0}; give manifest files (*.yaml, *.yml, *.json) or directories of them with -f"
    )]
    Empty(String),
}

/// The most manifest files one run reads (a directory's included).
pub const MAX_FILES: usize = 1_000;
/// The most bytes of manifests one run reads, all files together: 64 MiB.
pub const MAX_TOTAL_BYTES: u64 = 64 * 1024 * 1024;
/// The most YAML documents one run reads, all files together.
pub const MAX_DOCUMENTS: usize = 10_000;

/// A `TenantSyncPolicy` and where it came from.
#[derive(Clone, Debug)]
pub struct Loaded<T> {
    /// The resource (namespace defaulted to `default`).
    pub resource: T,
    /// `file#document`.
    pub source: String,
}

/// Everything read from the inputs.
#[derive(Default)]
pub struct Manifests {
    /// Tenant policies, in input order.
    pub tenants: Vec<Loaded<TenantSyncPolicy>>,
    /// User conversions, in input order.
    pub users: Vec<Loaded<CloudUserConversion>>,
    /// Group conversions, in input order.
    pub groups: Vec<Loaded<CloudGroupConversion>>,
    /// Secrets by (namespace, name), each key decoded.
    pub secrets: BTreeMap<(String, String), BTreeMap<String, SecretString>>,
}

/// What `-f -` reads: standard input, named so in messages (as kubectl does).
pub const STDIN: &str = "STDIN";

/// Read `paths` (files, `-` for standard input, or directories whose `*.yaml`, `*.yml` and
/// `*.json` files are read in name order), within [`MAX_FILES`], [`MAX_TOTAL_BYTES`] (each
/// file, standard input too, within [`crate::input::MAX_FILE_BYTES`]) and [`MAX_DOCUMENTS`].
///
/// Documents of kinds this tool does not read (a Namespace, a ConfigMap, kustomize's own
/// `kustomization.yaml`: what `kustomize build` or `helm template` put around the resources)
/// are skipped with one line each on stderr.
pub fn load(paths: &[PathBuf]) -> Result<Manifests, ManifestError> {
    let mut io = Io {
        stdin: &mut std::io::stdin().lock(),
        notes: &mut std::io::stderr(),
    };
    load_within(paths, &Limits::DEFAULT, &mut io)
}

/// Where `-f -` reads from and where the lines about skipped documents go.
struct Io<'a> {
    stdin: &'a mut dyn Read,
    notes: &'a mut dyn Write,
}

impl Io<'_> {
    fn note(&mut self, line: &str) {
        // A closed stderr loses a note, not the run.
        let _ = writeln!(self.notes, "{line}");
    }
}

/// The caps of one run's input.
#[derive(Clone, Copy, Debug)]
struct Limits {
    files: usize,
    file_bytes: u64,
    bytes: u64,
    documents: usize,
}

impl Limits {
    const DEFAULT: Limits = Limits {
        files: MAX_FILES,
        file_bytes: crate::input::MAX_FILE_BYTES,
        bytes: MAX_TOTAL_BYTES,
        documents: MAX_DOCUMENTS,
    };
}

/// One input: a file, or standard input (`-f -`).
#[derive(Debug, PartialEq, Eq)]
enum Input {
    File(PathBuf),
    Stdin,
}

fn is_stdin(p: &Path) -> bool {
    p.as_os_str() == "-"
}

fn load_within(
    paths: &[PathBuf],
    limits: &Limits,
    io: &mut Io<'_>,
) -> Result<Manifests, ManifestError> {
    if paths.iter().filter(|p| is_stdin(p)).count() > 1 {
        return Err(ManifestError::StdinTwice);
    }
    let mut inputs = Vec::new();
    for p in paths {
        if is_stdin(p) {
            if inputs.len() >= limits.files {
                return Err(ManifestError::TooMuch {
                    path: STDIN.into(),
                    cap: limits.files as u64,
                    what: "manifest files",
                });
            }
            inputs.push(Input::Stdin);
        } else {
            collect(p, &mut inputs, limits.files)?;
        }
    }
    let mut out = Manifests::default();
    let mut budget = Budget {
        file_bytes: limits.file_bytes,
        total_bytes: limits.bytes,
        bytes: limits.bytes,
        total_documents: limits.documents,
        documents: limits.documents,
    };
    for input in &inputs {
        load_input(input, &mut out, &mut budget, io)?;
    }
    if out.tenants.is_empty() && out.users.is_empty() && out.groups.is_empty() {
        let shown: Vec<String> = paths
            .iter()
            .map(|p| {
                if is_stdin(p) {
                    STDIN.to_string()
                } else {
                    p.display().to_string()
                }
            })
            .collect();
        return Err(ManifestError::Empty(shown.join(", ")));
    }
    Ok(out)
}

/// Whether `p` is a file a directory given to `-f` contributes: `*.yaml`, `*.yml`, `*.json`.
pub fn is_manifest_file(p: &Path) -> bool {
    p.is_file()
        && matches!(
            p.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        )
}

fn collect(path: &Path, files: &mut Vec<Input>, max: usize) -> Result<(), ManifestError> {
    let read_err = |source| ManifestError::Read {
        path: path.display().to_string(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(read_err)?;
    let too_many = || ManifestError::TooMuch {
        path: path.display().to_string(),
        cap: max as u64,
        what: "manifest files",
    };
    if meta.is_dir() {
        let mut entries = Vec::new();
        for entry in std::fs::read_dir(path).map_err(read_err)? {
            let p = entry.map_err(read_err)?.path();
            if is_manifest_file(&p) {
                if files.len() + entries.len() >= max {
                    return Err(too_many());
                }
                entries.push(p);
            }
        }
        entries.sort();
        files.extend(entries.into_iter().map(Input::File));
    } else {
        if files.len() >= max {
            return Err(too_many());
        }
        files.push(Input::File(path.to_path_buf()));
    }
    Ok(())
}

/// What is left of a run's allowance of bytes and documents.
struct Budget {
    file_bytes: u64,
    total_bytes: u64,
    bytes: u64,
    total_documents: usize,
    documents: usize,
}

/// At most `cap` bytes of UTF-8 from standard input: read through a reader that stops one
/// byte past the cap, so an endless producer ends with an error, not exhausted memory.
fn read_stdin(stdin: &mut dyn Read, cap: u64) -> Result<String, ManifestError> {
    use crate::input::InputError;
    let mut bytes = Vec::new();
    stdin
        .take(cap.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|source| ManifestError::Read {
            path: STDIN.into(),
            source,
        })?;
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > cap {
        return Err(InputError::TooLarge {
            path: STDIN.into(),
            cap,
        }
        .into());
    }
    String::from_utf8(bytes).map_err(|_| InputError::NotText { path: STDIN.into() }.into())
}

/// Whether `path` is kustomize's own file, which names resources rather than being one.
fn is_kustomization(path: &Path) -> bool {
    matches!(
        path.file_name().and_then(|n| n.to_str()),
        Some("kustomization.yaml" | "kustomization.yml" | "Kustomization")
    )
}

fn load_input(
    input: &Input,
    out: &mut Manifests,
    budget: &mut Budget,
    io: &mut Io<'_>,
) -> Result<(), ManifestError> {
    let cap = budget.file_bytes.min(budget.bytes);
    let (shown, read, kustomization) = match input {
        Input::File(path) => (
            path.display().to_string(),
            crate::input::read_text(path, cap).map_err(ManifestError::from),
            // The directory kustomize would build, when this is its file.
            is_kustomization(path).then(|| match path.parent() {
                Some(dir) if !dir.as_os_str().is_empty() => dir.display().to_string(),
                _ => ".".to_string(),
            }),
        ),
        Input::Stdin => (STDIN.to_string(), read_stdin(io.stdin, cap), None),
    };
    let text = read.map_err(|e| match e {
        // The run's total, not the file's own cap, is what this input passed.
        ManifestError::Input(crate::input::InputError::TooLarge { .. })
            if cap < budget.file_bytes =>
        {
            ManifestError::TooMuch {
                path: shown.clone(),
                cap: budget.total_bytes,
                what: "bytes of manifests",
            }
        }
        e => e,
    })?;
    budget.bytes = budget.bytes.saturating_sub(text.len() as u64);
    let docs: Vec<Value> =
        serde_saphyr::from_multiple(&text).map_err(|e| ManifestError::Parse {
            path: shown.clone(),
            detail: e.to_string(),
        })?;
    budget.documents =
        budget
            .documents
            .checked_sub(docs.len())
            .ok_or_else(|| ManifestError::TooMuch {
                path: shown.clone(),
                cap: budget.total_documents as u64,
                what: "documents",
            })?;
    // Empty documents (`---` alone, a template that rendered nothing) are skipped silently.
    for (i, doc) in docs.into_iter().enumerate().filter(|(_, d)| !d.is_null()) {
        let index = i + 1;
        let source = format!("{shown}#{index}");
        let invalid = |detail: String| ManifestError::Invalid {
            path: shown.clone(),
            index,
            detail,
        };
        let field = |p: &str| {
            doc.pointer(p)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let (api_version, kind, name) = (
            field("/apiVersion"),
            field("/kind"),
            field("/metadata/name"),
        );
        if let Some(dir) = &kustomization
            && doc.is_object()
            && matches!(kind.as_str(), "" | "Kustomization" | "Component")
        {
            io.note(&format!(
                "{source}: skipped kustomize's {kind_shown} (not a resource this tool reads; to read what it builds: kustomize build {dir} | entra-cloud-operator plan -f -)",
                kind_shown = if kind.is_empty() { "kustomization file" } else { kind.as_str() },
            ));
            continue;
        }
        if api_version.is_empty() || kind.is_empty() {
            return Err(invalid(format!(
                "not a Kubernetes manifest: apiVersion and kind missing (expected {API_VERSION} TenantSyncPolicy, CloudUserConversion or CloudGroupConversion, or v1 Secret; other kinds are skipped)"
            )));
        }
        if is_foreign(&api_version, &kind, &doc) {
            let named = if name.is_empty() {
                String::new()
            } else {
                format!(" {name}")
            };
            io.note(&format!(
                "{source}: skipped {api_version}/{kind}{named} (not a resource this tool reads)"
            ));
            continue;
        }
        if name.is_empty() {
            return Err(invalid(format!("{kind} without metadata.name")));
        }
        let schemas = schemas();
        match (api_version.as_str(), kind.as_str()) {
            (API_VERSION, "TenantSyncPolicy") => out.tenants.push(Loaded {
                resource: custom(doc, &schemas.tenant, &kind, &name).map_err(invalid)?,
                source,
            }),
            (API_VERSION, "CloudUserConversion") => out.users.push(Loaded {
                resource: custom(doc, &schemas.user, &kind, &name).map_err(invalid)?,
                source,
            }),
            (API_VERSION, "CloudGroupConversion") => out.groups.push(Loaded {
                resource: custom(doc, &schemas.group, &kind, &name).map_err(invalid)?,
                source,
            }),
            ("v1", "Secret") => {
                let ns = doc
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or("default")
                    .to_string();
                let data = secret_data(&doc).map_err(|d| invalid(format!("Secret {name}: {d}")))?;
                out.secrets.insert((ns, name.clone()), data);
            }
            (API_VERSION, other) => {
                return Err(invalid(format!(
                    "kind {other:?} is not served by this version (known: {})",
                    KINDS.join(", ")
                )));
            }
            ("v1", "List") => {
                return Err(invalid(format!(
                    "v1/List {name} holds {GROUP} resources; give each item as a document of its own (separated by ---)"
                )));
            }
            _ => {
                return Err(invalid(format!(
                    "{api_version}/{kind} is not a resource this tool reads, and too close to one to skip (expected {API_VERSION} TenantSyncPolicy, CloudUserConversion or CloudGroupConversion, or v1 Secret)"
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "manifests_tests.rs"]
mod tests;
