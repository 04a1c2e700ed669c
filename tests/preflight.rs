//! The permission preflight end to end, on the command line against the emulator process:
//! a flow missing a permission stops `Stalled` `MissingPermission` before its first write (a
//! group conversion with owners, a user conversion that clears ImmutableIDs, a tenant-wide
//! disable followed by clearing), `plan` reports what is missing, and with opaque access
//! tokens (`--access-token-format opaque`) the read-only probe checks the reads and reports the
//! writes as unverified.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

use common::process::{EmulatorProcess, state};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_entra-cloud-operator");

/// The permissions the emulator's default application had before it could add owners: the
/// group conversion with owners switched groups, then failed to add their owner (403).
const WITHOUT_OWNERS: &str = "Organization.ReadWrite.All,User.ReadWrite.All,Group.Read.All,GroupMember.Read.All,User-OnPremisesSyncBehavior.ReadWrite.All,Group-OnPremisesSyncBehavior.ReadWrite.All";

const TENANT: &str = r#"apiVersion: cloudidentity.dev/v1alpha1
kind: TenantSyncPolicy
metadata: {name: contoso, namespace: identity}
spec:
  tenantId: 3f9a1c2e-5b7d-4e8f-9a0b-1c2d3e4f5a6b
  credentials:
    clientSecret:
      clientId: 0b5e7c1d-2f3a-4b6c-8d9e-0f1a2b3c4d5e
      secretRef: {name: graph-credentials, key: clientSecret}
  directorySync: SYNC
  clearImmutableIds: CLEAR
---
apiVersion: v1
kind: Secret
metadata: {name: graph-credentials, namespace: identity}
stringData: {clientSecret: emulator-client-secret}
"#;

const GROUPS: &str = r#"apiVersion: cloudidentity.dev/v1alpha1
kind: CloudGroupConversion
metadata: {name: groups, namespace: identity}
spec:
  tenantRef: {name: contoso}
  mode: Apply
  selector: {filter: "startswith(displayName,'SG ')"}
  owners: [admin@contoso.onmicrosoft.com]
  rollout: {maxObjects: 1000}
"#;

const USERS: &str = r#"apiVersion: cloudidentity.dev/v1alpha1
kind: CloudUserConversion
metadata: {name: wave, namespace: identity}
spec:
  tenantRef: {name: contoso}
  mode: Apply
  selector: {domains: [contoso.com]}
  clearImmutableId: true
  rollout: {maxObjects: 1000}
"#;

fn emulator(permissions: &str, extra: &[&str]) -> EmulatorProcess {
    let mut args = vec![
        "--latency",
        "0",
        "--users",
        "12",
        "--groups",
        "4",
        "--permissions",
        permissions,
    ];
    args.extend_from_slice(extra);
    EmulatorProcess::start(BIN, &args)
}

/// A directory holding the tenant (`sync`, `clear`) and `resources`.
fn manifests(name: &str, sync: &str, clear: bool, resources: &[&str]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "eco-preflight-{name}-{}-{}",
        std::process::id(),
        fastrand::u64(..)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let tenant = TENANT
        .replace("SYNC", sync)
        .replace("CLEAR", &clear.to_string());
    std::fs::write(dir.join("tenant.yaml"), tenant).unwrap();
    for (i, r) in resources.iter().enumerate() {
        std::fs::write(dir.join(format!("r{i}.yaml")), r).unwrap();
    }
    dir
}

fn apply(emu: &EmulatorProcess, dir: &Path) -> (i32, String, String) {
    let journal = dir.join("journal.jsonl");
    let out = Command::new(BIN)
        .args(["apply", "-f", dir.to_str().unwrap()])
        .args(["--graph-url", &emu.url, "--login-url", &emu.url])
        .args(["--journal", journal.to_str().unwrap()])
        .args(["--progress", "plain", "--timeout", "60s", "-o", "yaml"])
        .env_remove("AZURE_CLIENT_SECRET")
        .output()
        .unwrap();
    let (o, e) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    for text in [&o, &e] {
        assert!(!text.contains("eyJ"), "a JWT in the output: {text}");
    }
    (out.status.code().unwrap_or(-1), o, e)
}

fn plan(emu: &EmulatorProcess, dir: &Path, format: &str) -> (i32, String) {
    let out = Command::new(BIN)
        .args(["plan", "-f", dir.to_str().unwrap(), "--format", format])
        .args(["--graph-url", &emu.url, "--login-url", &emu.url])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!text.contains("eyJ"), "a JWT in the plan: {text}");
    (out.status.code().unwrap_or(-1), text)
}

/// The JSON plan of the resource of `kind`.
fn plan_of(emu: &EmulatorProcess, dir: &Path, kind: &str) -> (i32, Value) {
    let (code, text) = plan(emu, dir, "json");
    let all: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    let one = all
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == kind)
        .cloned()
        .unwrap_or_else(|| panic!("no {kind} in {text}"));
    (code, one)
}

/// Writes Graph accepted and refused so far.
fn writes(emu: &EmulatorProcess) -> (u64, u64) {
    let s = state(&emu.url);
    (
        s["writes"]["accepted"].as_u64().unwrap(),
        s["writes"]["refused"].as_u64().unwrap(),
    )
}

/// The `Stalled` condition of the resource `name` in `apply`'s YAML.
fn stalled<'a>(out: &'a str, name: &str) -> &'a str {
    let start = out
        .find(&format!("name: {name}\n"))
        .unwrap_or_else(|| panic!("no {name} in {out}"));
    let rest = &out[start..];
    let end = rest[1..]
        .find("\n- apiVersion")
        .map_or(rest.len(), |e| e + 1);
    &rest[..end]
}

#[test]
fn a_group_conversion_without_the_owner_permission_stalls_with_zero_writes() {
    let emu = emulator(WITHOUT_OWNERS, &[]);
    let dir = manifests("groups", "Unmanaged", false, &[GROUPS]);

    let (code, p) = plan_of(&emu, &dir, "CloudGroupConversion");
    assert_eq!(code, 1, "a missing permission fails the plan: {p}");
    let perms = &p["permissions"];
    assert_eq!(perms["source"], "token", "{p}");
    assert_eq!(
        perms["missing"],
        serde_json::json!(["Group.ReadWrite.All"]),
        "{p}"
    );
    assert_eq!(perms["unverified"], serde_json::json!([]), "{p}");
    assert!(
        perms["needed"]
            .as_array()
            .unwrap()
            .contains(&"Group.ReadWrite.All".into())
            && perms["granted"]
                .as_array()
                .unwrap()
                .contains(&"GroupMember.Read.All".into()),
        "{p}"
    );
    let (_, text) = plan(&emu, &dir, "text");
    assert!(
        text.contains(
            "permissions: missing Group.ReadWrite.All (apply stalls MissingPermission before any write)"
        ),
        "{text}"
    );

    let (code, out, err) = apply(&emu, &dir);
    assert_eq!(code, 1, "{out}\n{err}");
    let groups = stalled(&out, "groups");
    assert!(groups.contains("reason: MissingPermission"), "{groups}");
    assert!(
        groups.contains("grant the application permission Group.ReadWrite.All to application 0b5e7c1d-2f3a-4b6c-8d9e-0f1a2b3c4d5e")
            && groups.contains("nothing was written"),
        "{groups}"
    );
    // Not one group switched without its owner: nothing reached Graph, not even a refusal.
    assert_eq!(writes(&emu), (0, 0));
}

#[test]
fn a_user_conversion_that_clears_immutable_ids_without_the_write_permission_writes_nothing() {
    let perms = "Organization.Read.All,User.Read.All,User-OnPremisesSyncBehavior.ReadWrite.All";
    let emu = emulator(perms, &[]);
    let dir = manifests("users", "Unmanaged", false, &[USERS]);
    let (code, out, err) = apply(&emu, &dir);
    assert_eq!(code, 1, "{out}\n{err}");
    let wave = stalled(&out, "wave");
    assert!(
        wave.contains("reason: MissingPermission")
            && wave.contains("grant the application permission User.ReadWrite.All "),
        "{wave}"
    );
    // The switch alone was allowed: it was not made, since the clearing after it could not be.
    assert_eq!(writes(&emu), (0, 0));
}

#[test]
fn a_tenant_disable_that_could_not_clear_immutable_ids_is_not_started() {
    let emu = emulator(
        "Organization.ReadWrite.All,User.Read.All,GroupMember.Read.All",
        &[],
    );
    let dir = manifests("tenant", "Disabled", true, &[]);
    let (_, p) = plan_of(&emu, &dir, "TenantSyncPolicy");
    assert_eq!(
        p["permissions"]["missing"],
        serde_json::json!(["User.ReadWrite.All"]),
        "{p}"
    );
    // Approve the plan, as its operator would, so that only the permission stands in the way.
    let digest = p["approval"].as_str().unwrap().to_string();
    let file = dir.join("tenant.yaml");
    let text = std::fs::read_to_string(&file).unwrap().replacen(
        "  directorySync: Disabled",
        &format!("  approvedPlan: {digest}\n  directorySync: Disabled"),
        1,
    );
    std::fs::write(&file, text).unwrap();
    let (code, out, err) = apply(&emu, &dir);
    assert_eq!(code, 1, "{out}\n{err}");
    let contoso = stalled(&out, "contoso");
    assert!(
        contoso.contains("reason: MissingPermission")
            && contoso.contains("grant the application permission User.ReadWrite.All "),
        "{contoso}"
    );
    assert_eq!(writes(&emu), (0, 0), "the organization was not patched");
    assert_eq!(
        state(&emu.url)["organization"]["onPremisesSyncEnabled"],
        true
    );
}

#[test]
fn opaque_tokens_are_probed_reads_checked_and_writes_unverified() {
    let emu = emulator(WITHOUT_OWNERS, &["--access-token-format", "opaque"]);
    let dir = manifests("opaque", "Unmanaged", false, &[GROUPS]);
    let (code, p) = plan_of(&emu, &dir, "CloudGroupConversion");
    assert_eq!(code, 0, "{p}");
    let perms = &p["permissions"];
    assert_eq!(perms["source"], "probe", "{p}");
    assert!(perms.get("granted").is_none(), "{p}");
    assert_eq!(perms["missing"], serde_json::json!([]), "{p}");
    // The switch's permission is the one its read needs, which the probe read: only the
    // owner write is left unknown.
    assert_eq!(
        perms["unverified"],
        serde_json::json!(["Group.ReadWrite.All"]),
        "{p}"
    );
    let (_, text) = plan(&emu, &dir, "text");
    assert!(
        text.contains("permissions: unverified Group.ReadWrite.All"),
        "{text}"
    );

    // A read the flow needs, refused to the probe: stalled before any write.
    let emu = emulator(
        "Organization.Read.All,User.Read.All,GroupMember.Read.All",
        &["--access-token-format", "opaque"],
    );
    let (code, out, err) = apply(&emu, &dir);
    assert_eq!(code, 1, "{out}\n{err}");
    let groups = stalled(&out, "groups");
    assert!(
        groups.contains("reason: MissingPermission")
            && groups.contains("Group-OnPremisesSyncBehavior.ReadWrite.All"),
        "{groups}"
    );
    assert_eq!(writes(&emu), (0, 0));
}
