//! The command line end to end: the emulator as its own process, `plan` and `apply` against
//! it, exit codes and output.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

mod common;

use common::process::EmulatorProcess;

const BIN: &str = env!("CARGO_BIN_EXE_entra-cloud-operator");

fn emulator(args: &[&str]) -> EmulatorProcess {
    // No latency unless a test asks for some (flags given later win).
    let all: Vec<&str> = ["--latency", "0"].iter().chain(args).copied().collect();
    EmulatorProcess::start(BIN, &all)
}

/// The examples, copied to a directory of their own.
fn examples() -> PathBuf {
    common::process::examples_in(&temp("examples"))
}

fn temp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "eco-cli-{name}-{}-{}",
        std::process::id(),
        fastrand::u64(..)
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn state(url: &str) -> serde_json::Value {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        reqwest::get(format!("{url}/_emulator/state"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    })
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .env_remove("AZURE_CLIENT_SECRET")
        .env_remove("AZURE_CLIENT_ID")
        .env_remove("AZURE_TENANT_ID")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn plan_then_apply_examples_against_the_emulator_process() {
    let emu = emulator(&[
        "--users",
        "400",
        "--groups",
        "10",
        "--time-scale",
        "3600",
        "--propagation",
        "30m",
    ]);
    let dir = temp("apply");
    let journal = dir.join("journal.jsonl");
    let journal = journal.to_str().unwrap();
    let ex = examples();
    let ex = ex.to_str().unwrap();

    // plan: reads only, says what would change.
    let (code, out, err) = run(&[
        "plan",
        "-f",
        ex,
        "--graph-url",
        &emu.url,
        "--login-url",
        &emu.url,
    ]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains(
            "PATCH /organization/3f9a1c2e-5b7d-4e8f-9a0b-1c2d3e4f5a6b onPremisesSyncEnabled=false"
        ),
        "{out}"
    );
    assert!(out.contains("400 users"), "{out}");
    assert!(
        out.contains("CloudGroupConversion identity/finance-groups")
            && out.contains("PATCH /groups/{id}/onPremisesSyncBehavior isCloudManaged=true"),
        "{out}"
    );
    assert!(
        out.contains("identity/contoso-observer") && out.contains("no changes"),
        "{out}"
    );
    let (code, md, err) = run(&[
        "plan",
        "-f",
        ex,
        "--graph-url",
        &emu.url,
        "--login-url",
        &emu.url,
        "--format",
        "markdown",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(md.starts_with("## entra-cloud-operator plan"), "{md}");
    assert!(
        md.contains("| `identity/finance-wave` | CloudUserConversion |"),
        "{md}"
    );
    assert!(
        md.contains("| `identity/finance-groups` | CloudGroupConversion |"),
        "{md}"
    );
    assert!(
        md.contains("### `identity/contoso` (TenantSyncPolicy"),
        "{md}"
    );
    let s = state(&emu.url);
    assert_eq!(s["writes"]["accepted"], 0, "plan wrote: {s}");
    assert_eq!(s["writes"]["refused"], 0, "plan wrote: {s}");

    // The tenant-wide disable can't be undone: it waits for its plan to be approved. Plan
    // shows the digest; apply without it turns nothing off and says what to approve.
    let digest = regex::Regex::new(r"disable:users=400,groups=[0-9]+:[0-9a-f]{16}")
        .unwrap()
        .find(&out)
        .unwrap_or_else(|| panic!("no plan digest in:\n{out}"))
        .as_str()
        .to_string();
    assert!(out.contains("not approved"), "{out}");
    let (code, _, err) = run(&[
        "apply",
        "-f",
        ex,
        "--graph-url",
        &emu.url,
        "--login-url",
        &emu.url,
        "--journal",
        journal,
        "--progress",
        "plain",
        "--timeout",
        "60s",
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("ApprovalRequired") && err.contains(&digest),
        "{err}"
    );
    let s = state(&emu.url);
    assert_eq!(
        s["writes"]["accepted"], 0,
        "nothing written unapproved: {s}"
    );
    // Approving is an edit of the manifest (a pull request under GitOps).
    let cutover = Path::new(ex).join("tenant-cutover.yaml");
    let text = std::fs::read_to_string(&cutover).unwrap();
    let approved = text.replacen(
        "  directorySync: Disabled",
        &format!("  approvedPlan: {digest}\n  directorySync: Disabled"),
        1,
    );
    assert_ne!(approved, text);
    std::fs::write(&cutover, approved).unwrap();
    let tokens_before = s["tokens"]["issued"].as_u64().unwrap();

    // apply: converges, prints the resources with status, exit 0.
    let started = Instant::now();
    let (code, out, err) = run(&[
        "apply",
        "-f",
        ex,
        "--graph-url",
        &emu.url,
        "--login-url",
        &emu.url,
        "--time-scale",
        "3600",
        "--journal",
        journal,
        "--progress",
        "plain",
        "-o",
        "json",
        "--timeout",
        "120s",
    ]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(started.elapsed() < Duration::from_secs(120));
    // One client per TenantSyncPolicy, shared by its conversions (and their one pacer): the two
    // policies took one token each, whatever the number of resources.
    let tokens = state(&emu.url)["tokens"]["issued"].as_u64().unwrap() - tokens_before;
    assert_eq!(tokens, 2, "tokens issued by apply");
    let list: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(list["kind"], "List");
    let items = list["items"].as_array().unwrap();
    assert_eq!(
        items.len(),
        6,
        "two TenantSyncPolicies, three CloudUserConversions and a CloudGroupConversion"
    );
    let by_group = items
        .iter()
        .find(|i| i["metadata"]["name"] == "wave-1")
        .unwrap();
    assert!(
        by_group["status"]["matched"].as_i64().unwrap() > 0,
        "{by_group}"
    );
    for item in items {
        let ready = item["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "Ready")
            .unwrap();
        assert_eq!(ready["status"], "True", "{item}");
    }
    let cutover = items
        .iter()
        .find(|i| i["metadata"]["name"] == "contoso")
        .unwrap();
    assert_eq!(cutover["status"]["syncState"], "Disabled");
    assert_eq!(cutover["status"]["immutableIds"]["cleared"], 400);
    assert!(
        err.contains("DisableRequested") && err.contains("Propagating"),
        "{err}"
    );
    let s = state(&emu.url);
    assert_eq!(s["users"]["withImmutableId"], 0, "{s}");
    assert_eq!(s["writes"]["refused"], 0, "{s}");

    // The journal verifies and exports.
    let (code, out, _) = run(&["journal", "verify", "--journal", journal]);
    assert_eq!(code, 0);
    assert!(out.contains("keyed chain intact"), "{out}");
    // Its key was created beside it, readable by its owner only.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let key = std::fs::metadata(format!("{journal}.key")).unwrap();
        assert_eq!(key.permissions().mode() & 0o777, 0o600);
    }
    // The last entry removed from a copy (its key and head copied along): exit 1, naming why.
    let copy = format!("{journal}.cut");
    let text = std::fs::read_to_string(journal).unwrap();
    let kept: Vec<&str> = text.lines().collect();
    std::fs::write(&copy, kept[..kept.len() - 1].join("\n") + "\n").unwrap();
    std::fs::copy(format!("{journal}.key"), format!("{copy}.key")).unwrap();
    std::fs::copy(format!("{journal}.head"), format!("{copy}.head")).unwrap();
    let (code, _, err) = run(&["journal", "verify", "--journal", &copy]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("removed from its end"), "{err}");
    // Without its key: a clear error, not a new key.
    std::fs::remove_file(format!("{copy}.key")).unwrap();
    let (code, _, err) = run(&["journal", "verify", "--journal", &copy]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("none was given"), "{err}");
    let (code, csv, _) = run(&["journal", "export", "--journal", journal, "--format", "csv"]);
    assert_eq!(code, 0);
    assert_eq!(
        csv.lines()
            .filter(|l| l.contains(",ClearImmutableId,Intent,"))
            .count(),
        400
    );

    // A second apply finds nothing to do and writes nothing.
    let before = state(&emu.url)["writes"]["accepted"].clone();
    let (code, _, err) = run(&[
        "apply",
        "-f",
        ex,
        "--graph-url",
        &emu.url,
        "--login-url",
        &emu.url,
        "--journal",
        journal,
        "--progress",
        "quiet",
        "--timeout",
        "60s",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(state(&emu.url)["writes"]["accepted"], before);
}

#[test]
fn wrong_secret_exits_1_with_a_stalled_status_and_no_secret_in_output() {
    let emu = emulator(&["--users", "10", "--groups", "1"]);
    let dir = temp("wrong");
    let manifest = std::fs::read_to_string(examples().join("tenant-cutover.yaml"))
        .unwrap()
        .replace(
            "clientSecret: emulator-client-secret",
            "clientSecret: Wr0ng-Canary-Value",
        );
    let file = dir.join("m.yaml");
    std::fs::write(&file, manifest).unwrap();
    let (code, out, err) = run(&[
        "apply",
        "-f",
        file.to_str().unwrap(),
        "--graph-url",
        &emu.url,
        "--login-url",
        &emu.url,
        "--journal",
        dir.join("j.jsonl").to_str().unwrap(),
        "--progress",
        "plain",
        "--timeout",
        "60s",
        "-o",
        "yaml",
    ]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(out.contains("reason: InvalidCredentials"), "{out}");
    assert!(out.contains("AADSTS7000215"), "{out}");
    for text in [&out, &err] {
        assert!(!text.contains("Wr0ng-Canary-Value"));
        assert!(!text.contains("emulator-client-secret"));
    }
    assert_eq!(state(&emu.url)["writes"]["accepted"], 0);
}

#[test]
fn bad_manifests_exit_1_naming_file_and_field() {
    let dir = temp("bad");
    let file = dir.join("bad.yaml");
    std::fs::write(
        &file,
        "apiVersion: cloudidentity.dev/v1alpha1\nkind: TenantSyncPolicy\nmetadata: {name: x}\nspec:\n  tenantId: not-a-guid\n  credentials: {}\n  directorySync: Off\n",
    )
    .unwrap();
    let (code, _, err) = run(&["apply", "-f", file.to_str().unwrap(), "--timeout", "5s"]);
    assert_eq!(code, 1);
    assert!(err.contains("bad.yaml document 1"), "{err}");
    assert!(
        err.contains("spec.tenantId") && err.contains("spec.directorySync"),
        "{err}"
    );

    let (code, _, err) = run(&["apply", "-f", dir.join("missing.yaml").to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("missing.yaml"), "{err}");
}

#[test]
fn duration_flags_take_the_crd_grammar_only() {
    // One grammar for flags and fields (crate::duration): no bare seconds, days or fractions;
    // clap refuses them, quoting the value and saying the form, with exit code 1 (bad input;
    // 2 is apply's timeout, so clap's own 2 is not used).
    for (args, bad) in [
        (&["apply", "-f", "x.yaml", "--timeout"][..], "10"),
        (&["apply", "-f", "x.yaml", "--shutdown-grace"], "1.5s"),
        (&["demo", "--propagation"], "1d"),
        (&["emulator", "--sync-interval"], "2min"),
    ] {
        let mut argv = args.to_vec();
        argv.push(bad);
        let (code, _, err) = run(&argv);
        assert_eq!(code, 1, "{argv:?}: {err}");
        assert!(
            err.contains(&format!("{bad:?} is not a duration")) && err.contains("e.g. 90s, 10m"),
            "{argv:?}: {err}"
        );
    }
}

#[test]
fn the_emulator_starts_from_a_tenant_file_and_refuses_a_broken_one() {
    let dir = temp("tenant-file");
    let good = dir.join("tenant.yaml");
    std::fs::write(
        &good,
        "users:\n  - { userPrincipalName: ada@contoso.com }\n  - { userPrincipalName: admin@contoso.onmicrosoft.com, kind: cloudOnly }\ngroups:\n  - { displayName: SG Finance, members: [ada@contoso.com] }\n",
    )
    .unwrap();
    let emu = emulator(&["--tenant-file", good.to_str().unwrap()]);
    let s = state(&emu.url);
    assert_eq!(s["users"]["total"], 2);
    assert_eq!(s["users"]["synced"], 1);
    assert_eq!(s["groups"]["total"], 1);
    drop(emu);

    let bad = dir.join("broken.yaml");
    std::fs::write(
        &bad,
        "users:\n  - { userPrincipalName: ada@contoso.com, colour: red }\n",
    )
    .unwrap();
    let (code, _, err) = run(&[
        "emulator",
        "--listen",
        "127.0.0.1:0",
        "--tenant-file",
        bad.to_str().unwrap(),
    ]);
    assert_ne!(code, 0);
    assert!(
        err.contains("broken.yaml") && err.contains("colour"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// `make demo` runs `demo` over the shipped examples: every resource ends as it should (exit
/// 0), and the example that needs a domain controller is named as left out.
#[test]
fn the_demo_over_the_shipped_examples_succeeds() {
    let dir = temp("demo");
    let out = Command::new(BIN)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "demo",
            "--users",
            "300",
            "--groups",
            "12",
            "--propagation",
            "1h",
        ])
        .args(["--time-scale", "3600", "--timeout", "120s", "--journal"])
        .arg(dir.join("journal.jsonl"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("Left out examples/user-restore-from-ad.yaml"),
        "{stdout}"
    );
    assert!(stdout.contains("keyed chain and head intact"), "{stdout}");
}
