#![allow(clippy::unwrap_used)]
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

    // Nothing this tool reads: the Deployment is skipped, and the run has nothing to do.
    let other = write(
        "x.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n",
    );
    let (result, notes) = load_io(&[other], "");
    assert!(matches!(result, Err(ManifestError::Empty(_))));
    assert!(
        notes
            .ends_with("x.yaml#1: skipped apps/v1/Deployment d (not a resource this tool reads)\n"),
        "{notes}"
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
    let e = load_io_within(
        std::slice::from_ref(&dir),
        &small(1, 100_000, 100),
        &mut &[][..],
    )
    .0
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("more than 1 manifest files in one run"), "{e}");
    let len = GOOD.len() as u64;
    let e = load_io_within(
        std::slice::from_ref(&dir),
        &small(10, len + 10, 100),
        &mut &[][..],
    )
    .0
    .err()
    .unwrap()
    .to_string();
    let expected = format!(
        "b.yaml: more than {} bytes of manifests in one run; give fewer or smaller files with -f",
        len + 10
    );
    assert!(e.ends_with(&expected), "{e}");
    let e = load_io_within(
        std::slice::from_ref(&dir),
        &small(10, 100_000, 3),
        &mut &[][..],
    )
    .0
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("b.yaml: more than 3 documents"), "{e}");
    // Exactly at every cap (two files, their bytes, two documents each) is fine.
    assert!(
        load_io_within(&[dir], &small(2, 2 * len, 4), &mut &[][..])
            .0
            .is_ok()
    );
}

fn write_in(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

/// `load_within` with the default caps, `stdin` as standard input; the notes it wrote.
fn load_io(paths: &[PathBuf], stdin: &str) -> (Result<Manifests, ManifestError>, String) {
    load_io_within(paths, &Limits::DEFAULT, &mut stdin.as_bytes())
}

fn load_io_within(
    paths: &[PathBuf],
    limits: &Limits,
    stdin: &mut dyn Read,
) -> (Result<Manifests, ManifestError>, String) {
    let mut notes = Vec::new();
    let mut io = Io {
        stdin,
        notes: &mut notes,
    };
    let result = load_within(paths, limits, &mut io);
    (result, String::from_utf8(notes).unwrap())
}

fn stdin() -> PathBuf {
    PathBuf::from("-")
}

/// What `kustomize build` prints around a policy: its Namespace and a ConfigMap, an empty
/// document, a Kustomization (Flux's), the policy and its Secret.
fn rendered() -> String {
    format!(
        "apiVersion: v1\nkind: Namespace\nmetadata: {{name: identity}}\n---\n---\n\
         apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: settings, namespace: identity}}\ndata: {{a: b}}\n---\n\
         apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {{name: identity}}\n---\n{GOOD}"
    )
}

#[test]
fn dash_reads_a_stream_from_stdin_and_skips_other_kinds_with_a_line_each() {
    let (m, notes) = load_io(&[stdin()], &rendered());
    let m = m.unwrap();
    assert_eq!(m.tenants.len(), 1);
    assert_eq!(m.tenants[0].source, "STDIN#4");
    // Secrets on standard input supply credentials as in files.
    let s = &m.secrets[&("identity".to_string(), "graph-credentials".to_string())];
    assert_eq!(s["clientSecret"].expose(), "s3cr3t");
    // One line per skipped document, none for the empty one (which the parser does not count).
    assert_eq!(
        notes,
        "STDIN#1: skipped v1/Namespace identity (not a resource this tool reads)\n\
         STDIN#2: skipped v1/ConfigMap settings (not a resource this tool reads)\n\
         STDIN#3: skipped kustomize.toolkit.fluxcd.io/v1/Kustomization identity (not a resource this tool reads)\n"
    );
}

#[test]
fn dash_combines_with_files_once_only() {
    let user = GOOD.replace("contoso", "fabrikam");
    let file = write("b.yaml", &user);
    let (m, _) = load_io(&[stdin(), file.clone()], GOOD);
    let m = m.unwrap();
    let names: Vec<_> = m.tenants.iter().map(|t| t.source.as_str()).collect();
    assert_eq!(names, ["STDIN#1", &format!("{}#1", file.display())]);

    let (e, _) = load_io(&[stdin(), file, stdin()], GOOD);
    let e = e.err().unwrap().to_string();
    assert!(e.contains("-f - given more than once"), "{e}");

    let (e, _) = load_io(&[stdin()], "");
    assert_eq!(
        e.err().unwrap().to_string(),
        "no TenantSyncPolicy, CloudUserConversion or CloudGroupConversion found in STDIN; give manifest files (*.yaml, *.yml, *.json) or directories of them with -f"
    );
}

#[test]
fn stdin_is_read_within_the_same_caps_as_files() {
    // An endless producer ends at the per-file cap.
    let limits = |file_bytes, bytes, documents| Limits {
        files: 10,
        file_bytes,
        bytes,
        documents,
    };
    let (e, _) = load_io_within(
        &[stdin()],
        &limits(1024, 100_000, 100),
        &mut std::io::repeat(b'a'),
    );
    let e = e.err().unwrap().to_string();
    assert!(e.contains("STDIN is larger than 1024 bytes"), "{e}");
    // The run's total counts files and standard input together.
    let file = write("a.yaml", GOOD);
    let len = GOOD.len() as u64;
    let (e, _) = load_io_within(
        &[file.clone(), stdin()],
        &limits(100_000, len + 10, 100),
        &mut GOOD.as_bytes(),
    );
    let e = e.err().unwrap().to_string();
    assert!(
        e.starts_with(&format!("STDIN: more than {} bytes of manifests", len + 10)),
        "{e}"
    );
    let (e, _) = load_io_within(
        &[file, stdin()],
        &limits(100_000, 100_000, 3),
        &mut GOOD.as_bytes(),
    );
    let e = e.err().unwrap().to_string();
    assert!(e.starts_with("STDIN: more than 3 documents"), "{e}");
    // Not text.
    let (e, _) = load_io(&[stdin()], "");
    assert!(e.is_err());
    let (e, _) = load_io_within(&[stdin()], &Limits::DEFAULT, &mut &[0xff_u8, 0xfe][..]);
    let e = e.err().unwrap().to_string();
    assert!(e.contains("STDIN is not UTF-8 text"), "{e}");
}

#[test]
fn near_misses_of_our_kinds_are_refused_not_skipped() {
    let cases = [
        // Our API group, a kind it does not serve (a typo).
        (
            "apiVersion: cloudidentity.dev/v1alpha1\nkind: TenantSyncPolicys\nmetadata: {name: x}\n",
            "kind \"TenantSyncPolicys\" is not served by this version",
        ),
        // Our group, another version.
        (
            "apiVersion: cloudidentity.dev/v1\nkind: TenantSyncPolicy\nmetadata: {name: x}\n",
            "cloudidentity.dev/v1/TenantSyncPolicy is not a resource this tool reads",
        ),
        // Our kind under a misspelt group, or in the wrong case.
        (
            "apiVersion: cloudidentiy.dev/v1alpha1\nkind: CloudUserConversion\nmetadata: {name: x}\n",
            "cloudidentiy.dev/v1alpha1/CloudUserConversion is not a resource",
        ),
        (
            "apiVersion: example.com/v1\nkind: cloudgroupconversion\nmetadata: {name: x}\n",
            "example.com/v1/cloudgroupconversion is not a resource",
        ),
        (
            "apiVersion: v1beta1\nkind: Secret\nmetadata: {name: x}\n",
            "v1beta1/Secret is not a resource",
        ),
        // A List holding our resources would hide them.
        (
            "apiVersion: v1\nkind: List\nmetadata: {name: l}\nitems:\n- {apiVersion: cloudidentity.dev/v1alpha1, kind: TenantSyncPolicy}\n",
            "v1/List l holds cloudidentity.dev resources",
        ),
        // A document with no kind is not a Kubernetes manifest: refused, not skipped.
        (
            "metadata: {name: x}\nspec: {}\n",
            "not a Kubernetes manifest: apiVersion and kind missing",
        ),
        // A known kind with a bad spec.
        (
            "apiVersion: cloudidentity.dev/v1alpha1\nkind: TenantSyncPolicy\nmetadata: {name: x}\nspec: {directorySync: Off}\n",
            "TenantSyncPolicy x is invalid",
        ),
        ("a: [\n", "STDIN: not valid YAML"),
    ];
    for (doc, expected) in cases {
        let (e, notes) = load_io(&[stdin()], &format!("{GOOD}---\n{doc}"));
        let e = e.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains(expected), "{doc}: {e}");
        if !expected.contains("YAML") {
            assert!(e.starts_with("STDIN document 3: "), "{e}");
        }
        assert_eq!(notes, "", "{doc}");
    }
    // A List of other things is skipped like them.
    let list = "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap}\n";
    let (m, notes) = load_io(&[stdin()], &format!("{list}---\n{GOOD}"));
    assert_eq!(m.unwrap().tenants.len(), 1);
    assert_eq!(
        notes,
        "STDIN#1: skipped v1/List (not a resource this tool reads)\n"
    );
}

#[test]
fn a_kustomize_directory_is_read_around_its_kustomization_file() {
    let policy = write("policy.yaml", GOOD);
    let dir = policy.parent().unwrap().to_path_buf();
    // kustomize's file has no kind at all, or kind: Kustomization.
    write_in(
        &dir,
        "kustomization.yaml",
        "resources:\n- policy.yaml\nnamespace: identity\n",
    );
    let (m, notes) = load_io(std::slice::from_ref(&dir), "");
    assert_eq!(m.unwrap().tenants.len(), 1);
    let shown = dir.join("kustomization.yaml").display().to_string();
    assert!(
        notes.starts_with(&format!("{shown}#1: skipped kustomize's kustomization file (not a resource this tool reads; to read what it builds: kustomize build {} | entra-cloud-operator plan -f -)", dir.display())),
        "{notes}"
    );
    write_in(
        &dir,
        "kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [policy.yaml]\n",
    );
    let (m, notes) = load_io(&[dir.join("kustomization.yaml"), policy], "");
    assert_eq!(m.unwrap().tenants.len(), 1);
    assert!(
        notes.starts_with(&format!("{shown}#1: skipped kustomize's Kustomization")),
        "{notes}"
    );
    // Elsewhere a document with no kind is still refused.
    write_in(&dir, "other.yaml", "resources:\n- policy.yaml\n");
    let (e, _) = load_io(&[dir], "");
    let e = e.err().unwrap().to_string();
    assert!(
        e.contains("other.yaml document 1: not a Kubernetes manifest"),
        "{e}"
    );
}
