//! `apply` and `plan` as their own processes, logging at TRACE, with each kind of credential:
//! a client secret from a Secret among the manifests, a certificate (PKCS#1 key) from
//! `AZURE_CLIENT_CERTIFICATE_PATH`, a federated token from `AZURE_FEDERATED_TOKEN_FILE`, and a
//! wrong `AZURE_CLIENT_SECRET`. Returns their output and journals, for the caller to search.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use crate::common::*;
use crate::{APP_CRT, APP_PKCS1_KEY, Cred, SUBJECT, WRONG, sa_token, tap};

const BIN: &str = env!("CARGO_BIN_EXE_entra-cloud-operator");

fn manifests(credentials: Value, with_secret: bool, upns: &[String]) -> String {
    let mut docs = vec![
        json!({"apiVersion": "cloudidentity.dev/v1alpha1", "kind": "TenantSyncPolicy",
               "metadata": {"name": "contoso", "namespace": "identity"},
               "spec": {"tenantId": TENANT, "directorySync": "Unmanaged",
                        "credentials": credentials}}),
        json!({"apiVersion": "cloudidentity.dev/v1alpha1", "kind": "CloudUserConversion",
               "metadata": {"name": "wave", "namespace": "identity"},
               "spec": {"tenantRef": {"name": "contoso"}, "mode": "Apply",
                        "clearImmutableId": true, "selector": {"userPrincipalNames": upns}}}),
    ];
    if with_secret {
        docs.push(json!({"apiVersion": "v1", "kind": "Secret",
                         "metadata": {"name": "graph-credentials", "namespace": "identity"},
                         "stringData": {"clientSecret": SECRET}}));
    }
    docs.iter()
        .map(|d| serde_json::to_string(d).unwrap())
        .collect::<Vec<_>>()
        .join("\n---\n")
}

/// Runs the binary; its exit code and everything it printed.
async fn run(args: Vec<String>, env: Vec<(&'static str, String)>) -> (i32, String) {
    tokio::task::spawn_blocking(move || {
        let out = Command::new(BIN)
            .args(&args)
            .env("RUST_LOG", "trace")
            .env_remove("AZURE_CLIENT_SECRET")
            .env_remove("AZURE_CLIENT_ID")
            .env_remove("AZURE_TENANT_ID")
            .env_remove("AZURE_CLIENT_CERTIFICATE_PATH")
            .env_remove("AZURE_FEDERATED_TOKEN_FILE")
            .envs(env)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.code().unwrap_or(-1), text)
    })
    .await
    .unwrap()
}

fn args(command: &str, file: &Path, graph: &str, login: &str, journal: &Path) -> Vec<String> {
    let mut a: Vec<String> = [command, "-f", file.to_str().unwrap(), "--graph-url", graph]
        .iter()
        .map(|s| s.to_string())
        .collect();
    a.extend(["--login-url".into(), login.into()]);
    a.extend(["--journal".into(), journal.to_str().unwrap().into()]);
    if command == "apply" {
        a.extend(["--time-scale", "60", "--timeout", "60s", "-o", "json"].map(String::from));
    } else {
        a.extend(["-o", "json"].map(String::from));
    }
    a
}

/// Each credential through `plan` and `apply`, then a wrong one.
pub async fn every_credential(seen: &tap::Seen) -> String {
    let emu = crate::flows::emulator().await;
    let login = tap::start(&emu.url(), seen.clone()).await;
    let dir = temp_dir("secrets-cli");
    let synced: Vec<String> = users(&emu)
        .await
        .into_iter()
        .filter(|u| u["kind"] == "synced")
        .map(|u| u["userPrincipalName"].as_str().unwrap().to_string())
        .collect();
    let pem = dir.join("app.pem");
    std::fs::write(&pem, format!("{APP_CRT}\n{APP_PKCS1_KEY}")).unwrap();
    let token = dir.join("token");
    std::fs::write(&token, sa_token(SUBJECT)).unwrap();
    let secret_ref = json!({"clientSecret": {"clientId": CLIENT,
        "secretRef": {"name": "graph-credentials", "key": "clientSecret"}}});

    let mut out = String::new();
    for (i, cred) in crate::CREDS.into_iter().enumerate() {
        let (credentials, with_secret, env) = match cred {
            Cred::ClientSecret => (secret_ref.clone(), true, vec![]),
            Cred::Certificate => (
                json!({"certificate": {"clientId": CLIENT, "secretRef": {"name": "app-cert"}}}),
                false,
                vec![("AZURE_CLIENT_CERTIFICATE_PATH", pem.display().to_string())],
            ),
            Cred::WorkloadIdentity => (
                json!({"workloadIdentity": {"clientId": CLIENT}}),
                false,
                vec![("AZURE_FEDERATED_TOKEN_FILE", token.display().to_string())],
            ),
        };
        // Disjoint users for each credential, so each apply converts someone.
        let file = dir.join(format!("{cred:?}.yaml"));
        let upns = &synced[i * 3..i * 3 + 3];
        std::fs::write(&file, manifests(credentials, with_secret, upns)).unwrap();
        let journal = dir.join(format!("{cred:?}.jsonl"));
        for command in ["plan", "apply"] {
            let (code, text) = run(
                args(command, &file, &emu.url(), &login, &journal),
                env.clone(),
            )
            .await;
            assert_eq!(code, 0, "{command} with {cred:?}: {text}");
            out.push_str(&text);
        }
        let written = std::fs::read_to_string(&journal).unwrap();
        assert!(written.contains("SwitchToCloud"), "{cred:?}: {written}");
        out.push_str(&written);
    }

    // A wrong secret from the environment: Stalled, exit 1.
    let file = dir.join("wrong.yaml");
    std::fs::write(&file, manifests(secret_ref, false, &synced[9..10])).unwrap();
    let journal = dir.join("wrong.jsonl");
    let env = vec![("AZURE_CLIENT_SECRET", WRONG.to_string())];
    let (code, text) = run(args("apply", &file, &emu.url(), &login, &journal), env).await;
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("InvalidCredentials"), "{text}");
    out.push_str(&text);

    assert!(
        out.contains("TRACE") || out.contains("DEBUG"),
        "the processes logged"
    );
    emu.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    out
}
