//! The Argo CD health check shipped in `deploy/argocd/` (one Lua script for the three kinds),
//! run with Lua 5.4 against statuses the reconcilers really produce for each kind: Ready →
//! Healthy, work in progress → Progressing, a person needed → Degraded, a status of an older
//! generation → Progressing. `make test` installs Debian's `lua5.4` and sets
//! `ARGOCD_LUA=required`; elsewhere a machine without it skips, saying so.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use common::*;
use entra_cloud_operator::api::{CloudGroupConversion, CloudUserConversion};
use serde_json::{Value, json};

const LUA: &str = "lua5.4";

fn script() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/argocd/health.lua"))
        .unwrap()
}

/// Whether Lua 5.4 is here; without it, a skip unless `ARGOCD_LUA=required`.
fn lua_available() -> bool {
    let found = Command::new(LUA)
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("ARGOCD_LUA").as_deref() != Ok("required"),
            "ARGOCD_LUA=required but {LUA} is not installed (apt-get install lua5.4)"
        );
        eprintln!("skipped: {LUA} is not installed");
    }
    found
}

/// `v` as a Lua table constructor (JSON null leaves the key out, as Argo CD's conversion does).
fn lua(v: &Value) -> String {
    match v {
        Value::Null => "nil".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => {
            let mut out = String::from("\"");
            for c in s.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '"' => out.push_str("\\\""),
                    c if (c as u32) < 0x20 => out.push_str(&format!("\\{}", c as u32)),
                    c => out.push(c),
                }
            }
            out.push('"');
            out
        }
        Value::Array(a) => format!("{{{}}}", a.iter().map(lua).collect::<Vec<_>>().join(", ")),
        Value::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| format!("[{}] = {}", lua(&Value::String(k.clone())), lua(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Argo CD's verdict on `obj`: (status, message).
fn health(obj: &Value) -> (String, String) {
    let program = format!(
        "local obj = {}\nlocal function health(obj)\n{}\nend\nlocal r = health(obj)\nio.write(r.status, \"\\n\", r.message or \"\", \"\\n\")\n",
        lua(obj),
        script()
    );
    let mut child = Command::new(LUA)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(program.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "lua failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut lines = text.lines();
    (
        lines.next().unwrap_or_default().to_string(),
        lines.next().unwrap_or_default().to_string(),
    )
}

/// The resource as the cluster would hold it: generation 1 unless the harness moved it on.
fn as_object<R: serde::Serialize>(obj: &R) -> Value {
    let mut v = serde_json::to_value(obj).unwrap();
    if v["metadata"]["generation"].is_null() {
        v["metadata"]["generation"] = json!(1);
    }
    v
}

fn assert_health(obj: &Value, status: &str, message_has: &str) {
    let (got, message) = health(obj);
    assert_eq!(got, status, "{message}\n{:#}", obj["status"]);
    assert!(
        message.contains(message_has),
        "{message_has:?} in {message:?}"
    );
}

#[test]
fn the_shipped_configmap_patch_holds_the_script_for_every_kind() {
    let patch = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/argocd/argocd-cm-health.yaml"),
    )
    .unwrap();
    let v: Value = serde_saphyr::from_str(&patch).unwrap();
    for kind in [
        "TenantSyncPolicy",
        "CloudUserConversion",
        "CloudGroupConversion",
    ] {
        let key = format!("resource.customizations.health.cloudidentity.dev_{kind}");
        assert_eq!(v["data"][&key].as_str(), Some(script().as_str()), "{key}");
    }
}

#[tokio::test]
async fn every_kind_is_healthy_progressing_or_degraded_as_its_status_says() {
    if !lua_available() {
        return;
    }
    let emu = start(entra_cloud_operator::emulator::EmulatorConfig {
        time_scale: 3600.0,
        propagation: std::time::Duration::from_secs(1800),
        ..consistent_config(12, 3)
    })
    .await;
    control_put(
        &emu,
        "permissions",
        json!({"permissions": ["Organization.ReadWrite.All", "User.ReadWrite.All",
            "Group.ReadWrite.All", "GroupMember.Read.All",
            "User-OnPremisesSyncBehavior.ReadWrite.All",
            "Group-OnPremisesSyncBehavior.ReadWrite.All"]}),
    )
    .await;

    // TenantSyncPolicy: observing is Ready; a disable waiting for approval is Stalled.
    let mut h = Harness::tenant(&emu, policy("Unmanaged", false, "Report"), SECRET);
    h.pass().await.unwrap();
    assert_health(&as_object(&h.obj), "Healthy", "");
    let mut h = Harness::tenant(&emu, policy("Disabled", false, "Report"), SECRET);
    h.approve = false;
    h.pass().await.unwrap();
    assert_health(&as_object(&h.obj), "Degraded", "ApprovalRequired: ");
    // Approved: the disable propagates (Reconciling, Ready False): Progressing.
    h.approve_plan();
    h.pass().await.unwrap();
    let propagating = as_object(&h.obj);
    assert_health(&propagating, "Progressing", "");
    // The operator has not seen the newest generation yet: Progressing whatever it said.
    let mut newer = propagating.clone();
    newer["metadata"]["generation"] = json!(99);
    assert_health(&newer, "Progressing", "generation 99");
    emu.shutdown().await;
    // The conversions on a tenant of their own (this one is turning synchronisation off).
    let emu = start(consistent_config(12, 3)).await;
    control_put(
        &emu,
        "permissions",
        json!({"permissions": ["Organization.Read.All", "User.ReadWrite.All",
            "Group.ReadWrite.All", "GroupMember.Read.All",
            "User-OnPremisesSyncBehavior.ReadWrite.All",
            "Group-OnPremisesSyncBehavior.ReadWrite.All"]}),
    )
    .await;

    // CloudUserConversion: planned is Ready; an unapproved Apply is Stalled; a rollout
    // pausing between waves is Progressing.
    let cuc = |spec: Value| -> CloudUserConversion {
        serde_json::from_value(json!({
            "apiVersion": "cloudidentity.dev/v1alpha1", "kind": "CloudUserConversion",
            "metadata": {"name": "wave", "namespace": "identity", "generation": 1},
            "spec": spec
        }))
        .unwrap()
    };
    let base = json!({"tenantRef": {"name": "contoso"}, "mode": "Plan",
        "selector": {"domains": ["contoso.com"]},
        "rollout": {"maxObjects": 100, "canary": 1, "waveSize": 50, "pauseBetweenWaves": "1h"}});
    let mut h = Harness::new(&emu, cuc(base.clone()));
    h.pass().await.unwrap();
    assert_health(&as_object(&h.obj), "Healthy", "");
    let mut apply = base.clone();
    apply["mode"] = json!("Apply");
    apply["requireApproval"] = json!(true);
    let mut h = Harness::new(&emu, cuc(apply.clone()));
    h.approve = false;
    h.pass().await.unwrap();
    assert_health(&as_object(&h.obj), "Degraded", "ApprovalRequired: ");
    apply["requireApproval"] = json!(false);
    let mut h = Harness::new(&emu, cuc(apply));
    h.pass().await.unwrap();
    assert_health(&as_object(&h.obj), "Progressing", "");

    // CloudGroupConversion: planned is Ready; a selector beyond maxObjects is Stalled.
    let cgc = |rollout: Value| -> CloudGroupConversion {
        serde_json::from_value(json!({
            "apiVersion": "cloudidentity.dev/v1alpha1", "kind": "CloudGroupConversion",
            "metadata": {"name": "groups", "namespace": "identity", "generation": 1},
            "spec": {"tenantRef": {"name": "contoso"}, "mode": "Plan",
                     "selector": {"filter": "startswith(displayName,'SG')"}, "rollout": rollout}
        }))
        .unwrap()
    };
    let mut h = Harness::new(&emu, cgc(json!({"maxObjects": 1000})));
    h.pass().await.unwrap();
    assert_health(&as_object(&h.obj), "Healthy", "");
    let mut h = Harness::new(&emu, cgc(json!({"maxObjects": 1})));
    h.pass().await.unwrap();
    assert_health(&as_object(&h.obj), "Degraded", "BlastRadiusExceeded: ");
    emu.shutdown().await;
}
