//! Reading manifests from files and directories: the resources to reconcile and the Secrets
//! that hold their credentials.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine;
use kube::CustomResourceExt;
use serde_json::Value;

use crate::api::{API_VERSION, CloudGroupConversion, CloudUserConversion, TenantSyncPolicy};
use crate::graph::SecretString;

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

/// Read `paths` (files, or directories whose `*.yaml`, `*.yml` and `*.json` files are read in
/// name order), within [`MAX_FILES`], [`MAX_TOTAL_BYTES`] (each file within
/// [`crate::input::MAX_FILE_BYTES`]) and [`MAX_DOCUMENTS`].
pub fn load(paths: &[PathBuf]) -> Result<Manifests, ManifestError> {
    load_within(paths, &Limits::DEFAULT)
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

fn load_within(paths: &[PathBuf], limits: &Limits) -> Result<Manifests, ManifestError> {
    let mut files = Vec::new();
    for p in paths {
        collect(p, &mut files, limits.files)?;
    }
    let mut out = Manifests::default();
    let mut budget = Budget {
        file_bytes: limits.file_bytes,
        total_bytes: limits.bytes,
        bytes: limits.bytes,
        total_documents: limits.documents,
        documents: limits.documents,
    };
    for f in &files {
        load_file(f, &mut out, &mut budget)?;
    }
    if out.tenants.is_empty() && out.users.is_empty() && out.groups.is_empty() {
        let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
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

fn collect(path: &Path, files: &mut Vec<PathBuf>, max: usize) -> Result<(), ManifestError> {
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
        files.extend(entries);
    } else {
        if files.len() >= max {
            return Err(too_many());
        }
        files.push(path.to_path_buf());
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

fn load_file(path: &Path, out: &mut Manifests, budget: &mut Budget) -> Result<(), ManifestError> {
    let shown = path.display().to_string();
    let cap = budget.file_bytes.min(budget.bytes);
    let text = crate::input::read_text(path, cap).map_err(|e| match e {
        // The run's total, not the file's own cap, is what this file passed.
        crate::input::InputError::TooLarge { .. } if cap < budget.file_bytes => {
            ManifestError::TooMuch {
                path: shown.clone(),
                cap: budget.total_bytes,
                what: "bytes of manifests",
            }
        }
        e => e.into(),
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
    let Schemas {
        tenant: schema,
        user: user_schema,
        group: group_schema,
    } = schemas();
    for (i, doc) in docs.into_iter().enumerate().filter(|(_, d)| !d.is_null()) {
        let index = i + 1;
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
        if api_version.is_empty() || kind.is_empty() {
            return Err(invalid(format!(
                "not a Kubernetes manifest: apiVersion and kind missing (expected {API_VERSION} TenantSyncPolicy, CloudUserConversion or CloudGroupConversion, or v1 Secret)"
            )));
        }
        if name.is_empty() {
            return Err(invalid(format!("{kind} without metadata.name")));
        }
        match (api_version.as_str(), kind.as_str()) {
            (API_VERSION, "TenantSyncPolicy") => {
                let problems = super::schema::check(&doc, schema);
                if !problems.is_empty() {
                    return Err(invalid(format!(
                        "TenantSyncPolicy {name} is invalid:\n  {}",
                        problems.join("\n  ")
                    )));
                }
                let mut tsp: TenantSyncPolicy = serde_json::from_value(doc)
                    .map_err(|e| invalid(format!("TenantSyncPolicy {name}: {e}")))?;
                if tsp.metadata.namespace.is_none() {
                    tsp.metadata.namespace = Some("default".into());
                }
                tsp.metadata.generation.get_or_insert(1);
                out.tenants.push(Loaded {
                    resource: tsp,
                    source: format!("{shown}#{index}"),
                });
            }
            ("v1", "Secret") => {
                let ns = doc
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or("default")
                    .to_string();
                let data = secret_data(&doc).map_err(|d| invalid(format!("Secret {name}: {d}")))?;
                out.secrets.insert((ns, name.clone()), data);
            }
            (API_VERSION, "CloudUserConversion") => {
                let problems = super::schema::check(&doc, user_schema);
                if !problems.is_empty() {
                    return Err(invalid(format!(
                        "CloudUserConversion {name} is invalid:\n  {}",
                        problems.join("\n  ")
                    )));
                }
                let mut cuc: CloudUserConversion = serde_json::from_value(doc)
                    .map_err(|e| invalid(format!("CloudUserConversion {name}: {e}")))?;
                if cuc.metadata.namespace.is_none() {
                    cuc.metadata.namespace = Some("default".into());
                }
                cuc.metadata.generation.get_or_insert(1);
                out.users.push(Loaded {
                    resource: cuc,
                    source: format!("{shown}#{index}"),
                });
            }
            (API_VERSION, "CloudGroupConversion") => {
                let problems = super::schema::check(&doc, group_schema);
                if !problems.is_empty() {
                    return Err(invalid(format!(
                        "CloudGroupConversion {name} is invalid:\n  {}",
                        problems.join("\n  ")
                    )));
                }
                let mut cgc: CloudGroupConversion = serde_json::from_value(doc)
                    .map_err(|e| invalid(format!("CloudGroupConversion {name}: {e}")))?;
                if cgc.metadata.namespace.is_none() {
                    cgc.metadata.namespace = Some("default".into());
                }
                cgc.metadata.generation.get_or_insert(1);
                out.groups.push(Loaded {
                    resource: cgc,
                    source: format!("{shown}#{index}"),
                });
            }
            (API_VERSION, other) => {
                return Err(invalid(format!(
                    "kind {other:?} is not served by this version (known: TenantSyncPolicy, CloudUserConversion, CloudGroupConversion)"
                )));
            }
            _ => {
                return Err(invalid(format!(
                    "{api_version}/{kind} is not a resource this tool reads (expected {API_VERSION} TenantSyncPolicy, CloudUserConversion or CloudGroupConversion, or v1 Secret)"
                )));
            }
        }
    }
    Ok(())
}

/// The three kinds' CRD schemas, generated once per process (generating them costs more than
/// reading a small manifest).
struct Schemas {
    tenant: Value,
    user: Value,
    group: Value,
}

fn schemas() -> &'static Schemas {
    static SCHEMAS: std::sync::OnceLock<Schemas> = std::sync::OnceLock::new();
    SCHEMAS.get_or_init(|| Schemas {
        tenant: crd_schema::<TenantSyncPolicy>(),
        user: crd_schema::<CloudUserConversion>(),
        group: crd_schema::<CloudGroupConversion>(),
    })
}

fn crd_schema<K: CustomResourceExt>() -> Value {
    serde_json::to_value(K::crd())
        .ok()
        .and_then(|crd| {
            crd.pointer("/spec/versions/0/schema/openAPIV3Schema")
                .cloned()
        })
        .unwrap_or(Value::Null)
}

/// `data` (base64) and `stringData` of a Secret, `stringData` winning as in Kubernetes.
fn secret_data(doc: &Value) -> Result<BTreeMap<String, SecretString>, String> {
    let mut out = BTreeMap::new();
    if let Some(data) = doc.get("data").and_then(Value::as_object) {
        for (k, v) in data {
            let encoded = v
                .as_str()
                .ok_or_else(|| format!("data.{k} must be a base64 string"))?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .map_err(|_| {
                    format!("data.{k} is not valid base64 (use stringData for plain text)")
                })?;
            let text =
                String::from_utf8(bytes).map_err(|_| format!("data.{k} is not UTF-8 text"))?;
            out.insert(k.clone(), SecretString::new(text));
        }
    }
    if let Some(data) = doc.get("stringData").and_then(Value::as_object) {
        for (k, v) in data {
            let text = v
                .as_str()
                .ok_or_else(|| format!("stringData.{k} must be a string"))?;
            out.insert(k.clone(), SecretString::new(text));
        }
    }
    Ok(out)
}

#[cfg(test)]
#[path = "manifests_tests.rs"]
mod tests;
