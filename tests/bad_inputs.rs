//! The bad-input corpus (issue #6, point 3): every manifest in `tests/data/bad/` is malformed
//! or dangerous, and each must be refused by the layer its header names, with a message that
//! names the field, and without a single Graph write:
//!
//! - `schema`: the CRD's `openAPIV3Schema` (from `crds/crds.yaml`) refuses it, checked with a
//!   real JSON Schema validator (`hack/validate-crs.py`, Python `jsonschema`, strict about
//!   unknown fields as kubectl is);
//! - `reconciler`: the schema admits it, and the local runner (`apply`) against the in-process
//!   emulator ends the resource `Stalled`, its message naming the field.
//!
//! Whatever the header says, every case also goes through the local runner, which must refuse
//! it (at load, by its own check of the same schema, or `Stalled`) without writing: `apply -f`
//! has no API server in front of it. A `(the CRD's CEL rule too)` header says the CRD's CEL
//! rules refuse it as well, evaluated with kube's client-side CEL; without it, they must not.
//! The examples pass the same validator, so it cannot be vacuous.
//!
//! The validator comes from `hack/tools.sh` (`.tools/venv`, which `make test` installs).
//! Without it a plain `cargo test` says so and checks the other layers; with
//! `SCHEMA_VALIDATOR=required` (set by `make test`) a missing validator fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use entra_cloud_operator::api::{CloudGroupConversion, CloudUserConversion, TenantSyncPolicy};
use entra_cloud_operator::local::credentials::{EndpointOverrides, Env};
use entra_cloud_operator::local::progress::ProgressMode;
use entra_cloud_operator::local::{RunOptions, Settled, manifests};
use serde_json::Value;

const KINDS: [&str; 3] = [
    "TenantSyncPolicy",
    "CloudUserConversion",
    "CloudGroupConversion",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Layer {
    Schema,
    Reconciler,
}

/// One file of the corpus, as its header describes it.
#[derive(Debug)]
struct Case {
    path: PathBuf,
    file: String,
    layer: Layer,
    field: String,
    cel: bool,
    /// The resources of the file; the last is the one that is wrong, the others support it.
    docs: Vec<Value>,
}

impl Case {
    fn subject(&self) -> &Value {
        self.docs.last().expect("a case has a resource")
    }
    fn kind(&self) -> &str {
        self.subject()["kind"].as_str().unwrap_or("?")
    }
    fn name(&self) -> String {
        format!(
            "identity/{}",
            self.subject()["metadata"]["name"].as_str().unwrap_or("?")
        )
    }
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

fn documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    serde_saphyr::from_multiple::<Value>(&text)
        .unwrap_or_else(|e| panic!("{}: not YAML: {e}", path.display()))
        .into_iter()
        .filter(|d| KINDS.contains(&d["kind"].as_str().unwrap_or_default()))
        .collect()
}

fn cases() -> Vec<Case> {
    yaml_files(&root().join("tests/data/bad"))
        .into_iter()
        .map(|path| {
            let file = path.file_name().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(
                text.starts_with("# Wrong: "),
                "{file}: the header must start with `# Wrong: <what is wrong>`"
            );
            let by = text
                .lines()
                .take_while(|l| l.starts_with('#'))
                .find_map(|l| l.strip_prefix("# Rejected by: "))
                .unwrap_or_else(|| panic!("{file}: no `# Rejected by: <layer> at <field>` line"));
            let (layer, rest) = by
                .split_once(" at ")
                .unwrap_or_else(|| panic!("{file}: `{by}` is not `<layer> at <field>`"));
            let layer = match layer {
                "schema" => Layer::Schema,
                "reconciler" => Layer::Reconciler,
                other => panic!("{file}: unknown layer {other:?}"),
            };
            let field = rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
            let docs = documents(&path);
            assert!(!docs.is_empty(), "{file}: no custom resource");
            Case {
                cel: rest.contains("CEL rule"),
                path,
                file,
                layer,
                field,
                docs,
            }
        })
        .collect()
}

/// The schema validator's verdict on one document: `None` accepted, else the bad fields.
type Verdicts = BTreeMap<(String, u64), Option<Vec<String>>>;

/// Runs `hack/validate-crs.py` on `files`; `None` when the validator is not installed (and
/// not required).
fn validate(files: &[PathBuf]) -> Option<Verdicts> {
    let tools = std::env::var_os("TOOLS_DIR").map_or_else(|| root().join(".tools"), PathBuf::from);
    let python = tools.join("venv/bin/python");
    if !python.exists() {
        let why = format!(
            "{} is missing: run hack/tools.sh (make test does) for the JSON Schema layer",
            python.display()
        );
        assert!(
            std::env::var("SCHEMA_VALIDATOR").as_deref() != Ok("required"),
            "{why}"
        );
        eprintln!("SKIPPED the schema layer: {why}");
        return None;
    }
    let out = Command::new(python)
        .arg(root().join("hack/validate-crs.py"))
        .arg(root().join("crds/crds.yaml"))
        .args(files)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "validate-crs.py failed: {stderr}"
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut verdicts = Verdicts::new();
    for r in report["results"].as_array().unwrap() {
        let key = (
            r["file"].as_str().unwrap().to_string(),
            r["document"].as_u64().unwrap(),
        );
        let errors = r["errors"].as_array().unwrap().iter();
        let fields = errors.map(|e| e["field"].as_str().unwrap().to_string());
        match r["verdict"].as_str().unwrap() {
            "accepted" => verdicts.insert(key, None),
            "rejected" => verdicts.insert(key, Some(fields.collect())),
            _ => None,
        };
    }
    Some(verdicts)
}

/// The verdicts on `case`'s custom resources, in order.
fn verdicts_of<'a>(verdicts: &'a Verdicts, case: &Case) -> Vec<&'a Option<Vec<String>>> {
    let file = case.path.to_string_lossy().into_owned();
    verdicts
        .range((file.clone(), 0)..(file, u64::MAX))
        .map(|(_, v)| v)
        .collect()
}

#[test]
fn a_message_names_a_field_only_as_a_whole() {
    assert!(names("spec.selector: give at least one", "spec.selector"));
    assert!(names(
        "fix spec.credentials or the Secret",
        "spec.credentials"
    ));
    assert!(names("spec.owners[0]: \"x\" does not match", "spec.owners"));
    assert!(!names(
        "spec.selector.filter: Graph rejected it",
        "spec.selector"
    ));
    assert!(!names(
        "spec.rollout: cannot be negative",
        "spec.rollout.canary"
    ));
}

#[test]
fn the_corpus_is_large_and_covers_every_kind_and_layer() {
    let cases = cases();
    assert!(cases.len() >= 50, "only {} cases", cases.len());
    for kind in KINDS {
        for layer in [Layer::Schema, Layer::Reconciler] {
            let n = cases
                .iter()
                .filter(|c| c.kind() == kind && c.layer == layer)
                .count();
            assert!(n >= 3, "only {n} {kind} cases for the {layer:?} layer");
        }
    }
    for c in &cases {
        assert!(
            c.field == "apiVersion" || c.field.starts_with("spec"),
            "{}: field {:?} is not a path below spec",
            c.file,
            c.field
        );
    }
}

#[test]
fn the_examples_pass_the_schema_validator() {
    let files = yaml_files(&root().join("examples"));
    let Some(verdicts) = validate(&files) else {
        return;
    };
    let kinds: std::collections::BTreeSet<String> = files
        .iter()
        .flat_map(|f| documents(f))
        .map(|d| d["kind"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        kinds.len(),
        3,
        "the examples should hold every kind: {kinds:?}"
    );
    let accepted = verdicts.values().filter(|v| v.is_none()).count();
    let refused: Vec<_> = verdicts.iter().filter(|(_, v)| v.is_some()).collect();
    assert!(refused.is_empty(), "examples refused: {refused:#?}");
    assert!(accepted >= 5, "only {accepted} example resources checked");
}

#[test]
fn each_case_is_refused_by_the_schema_or_admitted_for_the_reconciler() {
    let cases = cases();
    let files: Vec<PathBuf> = cases.iter().map(|c| c.path.clone()).collect();
    let Some(verdicts) = validate(&files) else {
        return;
    };
    let mut wrong = Vec::new();
    for c in &cases {
        let v = verdicts_of(&verdicts, c);
        assert_eq!(v.len(), c.docs.len(), "{}: documents validated", c.file);
        match c.layer {
            Layer::Schema => match v.last().unwrap() {
                Some(fields) if fields.contains(&c.field) => {}
                Some(fields) => wrong.push(format!(
                    "{}: refused by the schema at {fields:?}, not at {}",
                    c.file, c.field
                )),
                None => wrong.push(format!("{}: the schema accepts it", c.file)),
            },
            Layer::Reconciler => {
                if let Some(fields) = v.iter().find_map(|x| x.as_ref()) {
                    wrong.push(format!(
                        "{}: the schema refuses it at {fields:?}; say `schema` in its header",
                        c.file
                    ));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The CRD's CEL rules, evaluated client-side, on each case the schema admits.
#[test]
fn cel_rules_refuse_exactly_the_cases_that_say_so() {
    let mut wrong = Vec::new();
    for c in cases().iter().filter(|c| c.layer == Layer::Reconciler) {
        let refused = c.docs.iter().any(|d| {
            let d = d.clone();
            match d["kind"].as_str().unwrap() {
                "TenantSyncPolicy" => kube::core::cel::validate_cel(
                    &serde_json::from_value::<TenantSyncPolicy>(d).unwrap(),
                )
                .is_err(),
                "CloudUserConversion" => kube::core::cel::validate_cel(
                    &serde_json::from_value::<CloudUserConversion>(d).unwrap(),
                )
                .is_err(),
                _ => kube::core::cel::validate_cel(
                    &serde_json::from_value::<CloudGroupConversion>(d).unwrap(),
                )
                .is_err(),
            }
        });
        if refused != c.cel {
            wrong.push(format!(
                "{}: CEL {} it, but its header says {}",
                c.file,
                if refused { "refuses" } else { "admits" },
                if c.cel { "it does" } else { "nothing of CEL" }
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Whether `msg` names `field` itself (`spec.selector` is not named by `spec.selector.filter`).
fn names(msg: &str, field: &str) -> bool {
    msg.match_indices(field).any(|(i, _)| {
        msg[i + field.len()..]
            .chars()
            .next()
            .is_none_or(|next| !next.is_alphanumeric() && next != '.')
    })
}

/// How the local runner ended a case.
enum Local {
    /// Refused at load, with this message.
    Refused(String),
    /// Ran; where the subject settled and its `Stalled` message.
    Ran(Settled, String),
}

async fn run_locally(emu: &entra_cloud_operator::emulator::Emulator, c: &Case) -> Local {
    let context = root().join("tests/data/bad/context/tenant.yaml");
    let m = match manifests::load(&[context, c.path.clone()]) {
        Ok(m) => m,
        Err(e) => return Local::Refused(e.to_string()),
    };
    let opts = RunOptions {
        overrides: EndpointOverrides {
            graph: Some(emu.url()),
            login: Some(emu.url()),
            ca_bundle: None,
        },
        env: Env::default(),
        journal: common::temp_dir("bad-inputs").join("journal.jsonl"),
        journal_key: None,
        timeout: Duration::from_secs(60),
        time_scale: 1.0,
        concurrency: 4,
        progress: ProgressMode::Quiet,
    };
    let result = entra_cloud_operator::local::apply(m, &opts).await.unwrap();
    let ran = result
        .resources
        .iter()
        .find(|r| r.name == c.name() && r.object["kind"] == c.kind())
        .unwrap_or_else(|| panic!("{}: {} {} did not run", c.file, c.kind(), c.name()));
    let stalled = ran.object["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|x| x["type"] == "Stalled" && x["status"] == "True")
        .map(|x| format!("{}: {}", x["reason"], x["message"]))
        .unwrap_or_default();
    Local::Ran(ran.settled, stalled)
}

/// Every case through `apply` against the in-process emulator: refused at load or `Stalled`,
/// naming the field, and not one Graph write, accepted or refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_runner_refuses_every_case_without_a_graph_write() {
    let mut config = common::config(30, 6);
    config.client_secret = "Bad-Inputs-Corpus-Canary-2c9d".into();
    let emu = common::start(config).await;
    let mut wrong = Vec::new();
    let mut by_layer = BTreeMap::new();
    for c in cases() {
        let local = run_locally(&emu, &c).await;
        let s = common::state(&emu).await;
        let writes = (&s["writes"]["accepted"], &s["writes"]["refused"]);
        if writes != (&Value::from(0), &Value::from(0)) {
            wrong.push(format!("{}: Graph writes after it: {writes:?}", c.file));
            break;
        }
        let names_field = |msg: &str| {
            names(msg, &c.field)
                || (c.field == "apiVersion"
                    && msg.contains(c.subject()["apiVersion"].as_str().unwrap_or("?")))
        };
        let layer = match &local {
            Local::Refused(msg) if names_field(msg) => "load",
            Local::Ran(Settled::Stalled, msg) if names_field(msg) => "Stalled",
            Local::Refused(msg) => {
                wrong.push(format!(
                    "{}: refused at load without naming {}: {msg}",
                    c.file, c.field
                ));
                continue;
            }
            Local::Ran(settled, msg) => {
                wrong.push(format!(
                    "{}: ended {settled:?}, not Stalled naming {}: {msg}",
                    c.file, c.field
                ));
                continue;
            }
        };
        // What the schema refuses the runner's own schema check refuses at load; what it
        // admits reaches the reconciler.
        let expected = if c.layer == Layer::Schema {
            "load"
        } else {
            "Stalled"
        };
        if layer != expected {
            wrong.push(format!(
                "{}: the local runner refused it by {layer}, expected {expected}",
                c.file
            ));
        }
        *by_layer.entry(layer).or_insert(0) += 1;
    }
    eprintln!("local runner: {by_layer:?}");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
