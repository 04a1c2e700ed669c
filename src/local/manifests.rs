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
    let schema = crd_schema::<TenantSyncPolicy>();
    let user_schema = crd_schema::<CloudUserConversion>();
    let group_schema = crd_schema::<CloudGroupConversion>();
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
                let problems = super::schema::check(&doc, &schema);
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
                let problems = super::schema::check(&doc, &user_schema);
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
                let problems = super::schema::check(&doc, &group_schema);
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
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "eco-manifests-{}-{}",
            std::process::id(),
            fastrand::u64(..)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    const GOOD: &str = r#"
apiVersion: cloudidentity.dev/v1alpha1
kind: TenantSyncPolicy
metadata: {name: contoso, namespace: identity}
spec:
  tenantId: 3f9a1c2e-5b7d-4e8f-9a0b-1c2d3e4f5a6b
  credentials:
    clientSecret:
      clientId: 0b5e7c1d-2f3a-4b6c-8d9e-0f1a2b3c4d5e
      secretRef: {name: graph-credentials, key: clientSecret}
  directorySync: Disabled
---
apiVersion: v1
kind: Secret
metadata: {name: graph-credentials, namespace: identity}
data: {other: c2VjcmV0}
stringData: {clientSecret: "s3cr3t"}
"#;

    #[test]
    fn reads_policies_and_secrets() {
        let m = load(&[write("a.yaml", GOOD)]).unwrap();
        assert_eq!(m.tenants.len(), 1);
        assert_eq!(
            m.tenants[0].resource.metadata.namespace.as_deref(),
            Some("identity")
        );
        let s = &m.secrets[&("identity".to_string(), "graph-credentials".to_string())];
        assert_eq!(s["clientSecret"].expose(), "s3cr3t");
        assert_eq!(s["other"].expose(), "secret");
    }

    #[test]
    fn errors_name_file_document_and_field() {
        let bad = GOOD.replace(
            "directorySync: Disabled",
            "directorySync: Off\n  surprise: 1",
        );
        let p = write("bad.yaml", &bad);
        let e = load(std::slice::from_ref(&p)).err().unwrap().to_string();
        assert!(e.contains("bad.yaml document 1"), "{e}");
        assert!(
            e.contains("spec.directorySync") && e.contains("spec.surprise: unknown field"),
            "{e}"
        );

        let other = write(
            "x.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n",
        );
        assert!(
            load(&[other])
                .err()
                .unwrap()
                .to_string()
                .contains("apps/v1/Deployment")
        );

        let empty = write(
            "e.yaml",
            "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n",
        );
        assert!(matches!(load(&[empty]), Err(ManifestError::Empty(_))));
    }

    #[test]
    fn input_is_bounded_and_errors_name_the_file_and_the_cap() {
        let e = load(&[PathBuf::from("/dev/zero")])
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("/dev/zero is larger than 8388608 bytes"), "{e}");
        let p = write("a.yaml", GOOD);
        let dir = p.parent().unwrap().to_path_buf();
        write_in(&dir, "b.yaml", GOOD);
        let small = |files, bytes, documents| Limits {
            files,
            file_bytes: 100_000,
            bytes,
            documents,
        };
        let e = load_within(std::slice::from_ref(&dir), &small(1, 100_000, 100))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("more than 1 manifest files in one run"), "{e}");
        let len = GOOD.len() as u64;
        let e = load_within(std::slice::from_ref(&dir), &small(10, len + 10, 100))
            .err()
            .unwrap()
            .to_string();
        let expected = format!(
            "b.yaml: more than {} bytes of manifests in one run; give fewer or smaller files with -f",
            len + 10
        );
        assert!(e.ends_with(&expected), "{e}");
        let e = load_within(std::slice::from_ref(&dir), &small(10, 100_000, 3))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("b.yaml: more than 3 documents"), "{e}");
        // Exactly at every cap (two files, their bytes, two documents each) is fine.
        assert!(load_within(&[dir], &small(2, 2 * len, 4)).is_ok());
    }

    fn write_in(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }
}
