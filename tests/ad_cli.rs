//! `apply -f examples/user-restore-from-ad.yaml` end to end: the Samba DC, the emulator as its
//! own process with its sync client reading that DC, and the command line converting a wave of
//! users from it; the AD objects end in the target OU, their previous DNs in the journal.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

mod common;

use common::process::EmulatorProcess;
use common::samba::samba_dc;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_entra-cloud-operator");

#[test]
fn apply_the_restore_from_ad_example_against_a_real_directory() {
    let Some(dc) = samba_dc() else { return };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let ous = rt.block_on(dc.fresh_ous("cli"));
    let wave: Vec<_> = (0..3)
        .map(|i| rt.block_on(dc.add_user(&ous.synced, &format!("Cli{i}"), None)))
        .collect();
    let dir = common::temp_dir("ad-cli");
    let password = dir.join("bind-password");
    std::fs::write(&password, &dc.password).unwrap();
    let ca = dc.ca_pem.to_str().unwrap();
    let emu = EmulatorProcess::start(
        BIN,
        &[
            "--latency",
            "0",
            "--users",
            "0",
            "--groups",
            "0",
            "--time-scale",
            "3600",
            "--domain",
            common::samba::UPN_SUFFIX,
            "--ad-url",
            &dc.ldaps_url,
            "--ad-bind-dn",
            &dc.bind_dn,
            "--ad-password-file",
            password.to_str().unwrap(),
            "--ad-ca-file",
            ca,
            "--ad-base-dn",
            &dc.base_dn,
            "--ad-synced-ou",
            &ous.synced,
        ],
    );

    // The example as shipped, pointed at this test's OUs (every test has its own).
    let example = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/user-restore-from-ad.yaml"),
    )
    .unwrap()
    .replace("OU=Synced,DC=corp,DC=example,DC=test", &ous.synced)
    .replace("OU=NotSynced,DC=corp,DC=example,DC=test", &ous.unsynced);
    let example_path = dir.join("user-restore-from-ad.yaml");
    std::fs::write(&example_path, example).unwrap();
    // Its Secrets, kept out of the example: the Graph client secret, the bind password, the CA.
    let pem = std::fs::read_to_string(&dc.ca_pem).unwrap();
    let indent = |s: &str| {
        s.lines()
            .map(|l| format!("    {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let secrets = format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: graph-credentials, namespace: identity}}\nstringData: {{clientSecret: emulator-client-secret}}\n---\napiVersion: v1\nkind: Secret\nmetadata: {{name: ad-bind, namespace: identity}}\nstringData:\n  password: {:?}\n---\napiVersion: v1\nkind: Secret\nmetadata: {{name: ad-ca, namespace: identity}}\nstringData:\n  ca.crt: |\n{}\n",
        dc.password,
        indent(&pem)
    );
    let secrets_path = dir.join("secrets.yaml");
    std::fs::write(&secrets_path, secrets).unwrap();
    let journal = dir.join("journal.jsonl");

    // plan: the link audit of the wave, every finding in markdown; reads only. Saved, since
    // the example requires an approved plan: applying the saved plan is the approval.
    let saved = dir.join("plan.json");
    let plan = Command::new(BIN)
        .args(["plan", "-f"])
        .arg(&example_path)
        .arg("-f")
        .arg(&secrets_path)
        .args([
            "--graph-url",
            &emu.url,
            "--login-url",
            &emu.url,
            "--format",
            "markdown",
            "--out",
        ])
        .arg(&saved)
        .output()
        .unwrap();
    let md = String::from_utf8_lossy(&plan.stdout);
    assert!(
        plan.status.success(),
        "{md}\n{}",
        String::from_utf8_lossy(&plan.stderr)
    );
    assert!(
        md.contains(
            "Link audit (AD ↔ Entra): link audit: 3 checked, 3 linked, 0 ImmutableID mismatches"
        ),
        "{md}"
    );
    assert!(!md.contains(&dc.password));

    let out = Command::new(BIN)
        .args(["apply", "-f"])
        .arg(&example_path)
        .arg("-f")
        .arg(&secrets_path)
        .args([
            "--graph-url",
            &emu.url,
            "--login-url",
            &emu.url,
            "--time-scale",
            "3600",
        ])
        .arg("--journal")
        .arg(&journal)
        .arg("--plan")
        .arg(&saved)
        .args(["--progress", "plain", "-o", "json", "--timeout", "120s"])
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(!stdout.contains(&dc.password) && !stderr.contains(&dc.password));
    let list: Value = serde_json::from_str(&stdout).unwrap();
    let cuc = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == "CloudUserConversion")
        .unwrap();
    assert_eq!(cuc["status"]["converted"], 3, "{cuc}");
    assert_eq!(cuc["status"]["linkAudit"]["mismatched"], 0, "{cuc}");

    // The AD objects are in the target OU, their previous DNs in the journal.
    let journal: Vec<Value> = std::fs::read_to_string(&journal)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for u in &wave {
        let now = rt.block_on(dc.user(&u.guid_string())).unwrap();
        assert!(
            now.dn
                .to_ascii_lowercase()
                .ends_with(&ous.unsynced.to_ascii_lowercase()),
            "{} is at {}",
            u.upn,
            now.dn
        );
        assert!(
            journal.iter().any(|e| e["action"] == "MoveAdObject"
                && e["phase"] == "Applied"
                && e["prior"]["distinguishedName"]
                    .as_str()
                    .is_some_and(|d| d.eq_ignore_ascii_case(&u.dn))),
            "no journaled move of {} from {}",
            u.upn,
            u.dn
        );
    }
}
