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
