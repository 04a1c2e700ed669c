//! `plan -f` over manifests from an untrusted pull request: endpoints the manifests name
//! outside Microsoft's hosts receive nothing, and no credential from the environment, unless
//! the command line opts in with `--allow-endpoint-override`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_entra-cloud-operator");
const TENANT: &str = "3f9a1c2e-5b7d-4e8f-9a0b-1c2d3e4f5a6b";
const CLIENT: &str = "0b5e7c1d-2f3a-4b6c-8d9e-0f1a2b3c4d5e";
const CANARY: &str = "Env-Canary-Secret-2b9f4c";

/// A listener on 127.0.0.1 that counts connections and answers each with a bare 400 (an
/// answer the client does not retry).
fn listener() -> (String, Arc<AtomicUsize>) {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            c.fetch_add(1, Ordering::SeqCst);
            if let Ok(mut conn) = conn {
                let _ = conn.set_read_timeout(Some(std::time::Duration::from_secs(5)));
                let mut buf = [0u8; 4096];
                let _ = conn.read(&mut buf);
                let _ = conn.write_all(
                    b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
        }
    });
    (format!("http://{addr}"), count)
}

fn temp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "eco-untrusted-{name}-{}-{}",
        std::process::id(),
        fastrand::u64(..)
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn manifest(url: &str, credentials: Value, extra: Value) -> String {
    let mut spec = json!({"tenantId": TENANT, "directorySync": "Unmanaged",
                          "endpoints": {"graph": url, "login": url},
                          "credentials": credentials});
    if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
        s.extend(e.clone());
    }
    json!({"apiVersion": "cloudidentity.dev/v1alpha1", "kind": "TenantSyncPolicy",
           "metadata": {"name": "pr", "namespace": "identity"}, "spec": spec})
    .to_string()
}

fn plan(file: &std::path::Path, env: &[(&str, String)], opt_in: bool) -> (i32, String) {
    let dir = file.parent().unwrap();
    let mut cmd = Command::new(BIN);
    cmd.args(["plan", "-f", file.to_str().unwrap(), "--journal"])
        .arg(dir.join("journal.jsonl"))
        .env_remove("AZURE_CLIENT_SECRET")
        .env_remove("AZURE_CLIENT_ID")
        .env_remove("AZURE_TENANT_ID")
        .env_remove("AZURE_CLIENT_CERTIFICATE_PATH")
        .env_remove("AZURE_FEDERATED_TOKEN_FILE")
        .env_remove("AD_BIND_PASSWORD")
        .envs(env.iter().map(|(k, v)| (*k, v.clone())));
    if opt_in {
        cmd.arg("--allow-endpoint-override");
    }
    let out = cmd.output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn environment_credentials_never_reach_hosts_the_manifests_name() {
    let dir = temp("env");
    let token = dir.join("token");
    std::fs::write(&token, CANARY).unwrap();
    let secret = json!({"clientSecret": {"clientId": CLIENT,
                        "secretRef": {"name": "graph-credentials", "key": "clientSecret"}}});
    let cases = [
        (
            "secret",
            secret.clone(),
            json!({}),
            vec![("AZURE_CLIENT_SECRET", CANARY.to_string())],
        ),
        (
            "federated",
            json!({"workloadIdentity": {"clientId": CLIENT}}),
            json!({}),
            vec![("AZURE_FEDERATED_TOKEN_FILE", token.display().to_string())],
        ),
    ];
    for (name, credentials, extra, env) in cases {
        let (url, hits) = listener();
        let file = dir.join(format!("{name}.yaml"));
        std::fs::write(&file, manifest(&url, credentials, extra)).unwrap();
        let (_, text) = plan(&file, &env, false);
        assert!(text.contains("--allow-endpoint-override"), "{name}: {text}");
        assert!(text.contains(&url), "{name}: names the endpoint: {text}");
        assert!(!text.contains(CANARY), "{name}: {text}");
        assert_eq!(hits.load(Ordering::SeqCst), 0, "{name}: nothing was sent");
        // The opt-in is what lets it through (the check can fail).
        let (_, text) = plan(&file, &env, true);
        assert!(hits.load(Ordering::SeqCst) >= 1, "{name}: {text}");
    }

    // The AD bind password from the environment and a domain controller the manifests name.
    let (url, hits) = listener();
    let (dc, dc_hits) = listener();
    let ad = json!({"activeDirectory": {
        "url": dc.replace("http://", "ldap://"), "allowInsecure": true,
        "bindDn": "CN=svc,DC=corp,DC=example", "passwordSecretRef": {"name": "ad-bind", "key": "password"},
        "baseDn": "DC=corp,DC=example", "syncedOus": ["OU=Users,DC=corp,DC=example"],
        "unsyncedOu": "OU=Unsynced,DC=corp,DC=example"}});
    let with_secret = manifest(&url, secret, ad)
        + "\n---\n"
        + &json!({"apiVersion": "v1", "kind": "Secret",
                  "metadata": {"name": "graph-credentials", "namespace": "identity"},
                  "stringData": {"clientSecret": "from-the-manifests"}})
        .to_string();
    let file = dir.join("ad.yaml");
    std::fs::write(&file, with_secret).unwrap();
    let (_, text) = plan(&file, &[("AD_BIND_PASSWORD", CANARY.to_string())], false);
    assert!(text.contains("--allow-endpoint-override"), "{text}");
    assert!(!text.contains(CANARY), "{text}");
    assert_eq!(hits.load(Ordering::SeqCst), 0, "{text}");
    assert_eq!(dc_hits.load(Ordering::SeqCst), 0, "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}
