//! `journal report` end to end: a journal written by `apply` against the emulator as its own
//! process (a group whose display name is markup, a user whose ImmutableID clearing Graph
//! refuses, a user excluded), rendered to HTML and read back; then, where a Chromium is
//! installed, loaded in headless Chromium: its DOM holds the headings, the counts and the
//! hostile name as text, no element the name carried, no Content-Security-Policy violation,
//! and a screenshot is drawn. Without Chromium the browser part is skipped, unless
//! `CHROMIUM=required` (`make test` as root, after `make chromium-install`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;

use common::process::{CONTOSO, EmulatorProcess};

const BIN: &str = env!("CARGO_BIN_EXE_entra-cloud-operator");
const HOSTILE: &str = "<script>alert(1)</script><img src=x onerror=alert(1)>";
const HOSTILE_TEXT: &str =
    "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;";

fn temp(name: &str) -> PathBuf {
    common::process::temp_dir("journal-report", name)
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .env_remove("AZURE_CLIENT_SECRET")
        .env_remove("AZURE_CLIENT_ID")
        .env_remove("AZURE_TENANT_ID")
        .env_remove("ENTRA_JOURNAL_KEY_FILE")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A tenant of three synced users and one synced group named [`HOSTILE`].
fn tenant_file(dir: &Path) -> PathBuf {
    let path = dir.join("tenant.yaml");
    let text = format!(
        "users:
  - {{ userPrincipalName: ada@contoso.com, displayName: Ada Lovelace }}
  - {{ userPrincipalName: bob@contoso.com, displayName: Bob Marley }}
  - {{ userPrincipalName: admin@contoso.onmicrosoft.com, kind: cloudOnly }}
groups:
  - displayName: {}
    members: [ada@contoso.com]
",
        serde_json::to_string(HOSTILE).unwrap()
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// The tenant, a user conversion of ada (excluded) and bob clearing their ImmutableIDs, and a
/// group conversion of `group`.
fn manifests(dir: &Path, group: &str) {
    std::fs::write(dir.join("tenant.yaml"), CONTOSO).unwrap();
    std::fs::write(
        dir.join("users.yaml"),
        "apiVersion: cloudidentity.dev/v1alpha1
kind: CloudUserConversion
metadata: {name: wave-1, namespace: identity}
spec:
  tenantRef: {name: contoso}
  mode: Apply
  clearImmutableId: true
  selector: {userPrincipalNames: [ada@contoso.com, bob@contoso.com]}
  exclude: {userPrincipalNames: [ada@contoso.com]}
  rollout: {maxObjects: 10, canary: 1, waveSize: 10, pauseBetweenWaves: 0s}
",
    )
    .unwrap();
    std::fs::write(
        dir.join("groups.yaml"),
        format!(
            "apiVersion: cloudidentity.dev/v1alpha1
kind: CloudGroupConversion
metadata: {{name: groups-1, namespace: identity}}
spec:
  tenantRef: {{name: contoso}}
  mode: Apply
  selector: {{groupIds: [\"{group}\"]}}
  rollout: {{maxObjects: 10, canary: 1, waveSize: 10, pauseBetweenWaves: 0s}}
"
        ),
    )
    .unwrap();
}

/// A journal written by `apply`: the group switched, bob switched and his ImmutableID clearing
/// refused (`--immutable-id-after-soa refuse`), ada excluded.
fn journal_from_apply(dir: &Path) -> PathBuf {
    let emu = EmulatorProcess::start(
        BIN,
        &[
            "--latency",
            "0",
            "--time-scale",
            "3600",
            "--tenant-file",
            tenant_file(dir).to_str().unwrap(),
            "--immutable-id-after-soa",
            "refuse",
        ],
    );
    let url = emu.url.as_str();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let groups: Value = rt.block_on(async {
        reqwest::get(format!("{url}/_emulator/groups"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    let group = groups["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["displayName"] == HOSTILE)
        .unwrap_or_else(|| panic!("no hostile group: {groups}"));
    let manifests_dir = dir.join("manifests");
    std::fs::create_dir_all(&manifests_dir).unwrap();
    manifests(&manifests_dir, group["id"].as_str().unwrap());
    let journal = dir.join("journal.jsonl");
    let (code, out, err) = run(&[
        "apply",
        "-f",
        manifests_dir.to_str().unwrap(),
        "--graph-url",
        url,
        "--login-url",
        url,
        "--journal",
        journal.to_str().unwrap(),
        "--time-scale",
        "3600",
        "--progress",
        "plain",
        "--timeout",
        "120s",
    ]);
    // The user conversion halts on the refusal; the group conversion completes.
    assert_ne!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("AutoHalted"), "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("CloudGroupConversion/identity/groups-1")
                && l.contains(" Converted ")),
        "{out}"
    );
    journal
}

#[test]
fn a_report_of_an_applied_journal_shows_verification_counts_failures_and_escapes_names() {
    let dir = temp("apply");
    let journal = journal_from_apply(&dir);
    let journal = journal.to_str().unwrap();
    let report = dir.join("report.html");
    let report_arg = report.to_str().unwrap();
    let (code, out, err) = run(&[
        "journal",
        "report",
        "--journal",
        journal,
        "--out",
        report_arg,
    ]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.is_empty(), "{out}");
    let html = std::fs::read_to_string(&report).unwrap();

    // Verification and the head, as `journal summary` gives it.
    let (_, summary, _) = run(&["journal", "summary", "--journal", journal]);
    let head = summary
        .lines()
        .find_map(|l| l.split_once("; last entry "))
        .map(|(_, rest)| format!("last entry {rest}"))
        .unwrap_or_else(|| panic!("{summary}"));
    assert!(html.contains(&head), "{head}\n{html}");
    assert!(
        html.contains(
            "<strong>Verified with the journal key</strong>: 6 entries, keyed chain intact"
        ),
        "{html}"
    );
    // Per resource: the group changed; bob changed (switched) and failed (clearing refused).
    let row = |resource: &str, counts: [usize; 4]| {
        let cells: String = counts
            .iter()
            .map(|n| format!("<td class=\"n\">{n}</td>"))
            .collect();
        format!("<td>{resource}</td>{cells}")
    };
    assert!(
        html.contains(&row("CloudGroupConversion identity/groups-1", [1, 0, 0, 2])),
        "{html}"
    );
    assert!(
        html.contains(&row("CloudUserConversion identity/wave-1", [1, 1, 0, 4])),
        "{html}"
    );
    assert!(
        html.contains("<td>ClearImmutableId</td><td class=\"n\">1</td><td class=\"n\">0</td><td class=\"n\">1</td>"),
        "{html}"
    );
    // The failure with Graph's reason, per object.
    let failures = html.split("id=\"failure-list\"").nth(1).unwrap();
    let failures = failures.split("</table>").next().unwrap();
    assert_eq!(failures.matches("<tr>").count(), 2, "{failures}");
    assert!(failures.contains("bob@contoso.com ("), "{failures}");
    assert!(failures.contains("Request_BadRequest"), "{failures}");
    assert!(failures.contains("not applied since"), "{failures}");
    // Exclusions: the journal has none to give (ada never appears), and the page says where
    // they are.
    assert!(!html.contains("ada@contoso.com"), "{html}");
    assert!(html.contains("status.exclusions"), "{html}");
    // The hostile name: text in every place, no element.
    assert!(html.matches(HOSTILE_TEXT).count() >= 2, "{html}");
    assert!(
        !html.contains("<script") && !html.contains("<img"),
        "{html}"
    );

    // An existing file is kept without --force; `--out -` writes to standard output.
    let (code, _, err) = run(&[
        "journal",
        "report",
        "--journal",
        journal,
        "--out",
        report_arg,
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("--force"), "{err}");
    assert_eq!(std::fs::read_to_string(&report).unwrap(), html);
    let (code, _, err) = run(&[
        "journal",
        "report",
        "--journal",
        journal,
        "--out",
        report_arg,
        "--force",
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, stdout, err) = run(&[
        "journal",
        "report",
        "--journal",
        journal,
        "--out",
        "-",
        "--object",
        "bob@contoso.com",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.starts_with("<!DOCTYPE html>"), "{stdout}");
    assert!(stdout.contains("--object bob@contoso.com: 4"), "{stdout}");
    assert!(!stdout.contains(HOSTILE_TEXT), "{stdout}");

    // A mistyped journal path is no empty journal.
    let missing = dir.join("missing.jsonl");
    let (code, _, err) = run(&[
        "journal",
        "report",
        "--journal",
        missing.to_str().unwrap(),
        "--out",
        "-",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("no such file"), "{err}");

    browser(&dir, &report);
    tampered(&dir, Path::new(journal));
    let _ = std::fs::remove_dir_all(dir);
}

/// A copy of `journal` (with its key and head) whose second entry names another user: the
/// report is written, says where the chain breaks and marks the entry, and exits 1.
fn tampered(dir: &Path, journal: &Path) {
    let copy = dir.join("tampered");
    std::fs::create_dir_all(&copy).unwrap();
    let target = copy.join("journal.jsonl");
    for suffix in ["", ".key", ".head"] {
        let name = |p: &Path| format!("{}{suffix}", p.display());
        std::fs::copy(name(journal), name(&target)).unwrap();
    }
    let text = std::fs::read_to_string(&target).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    assert!(lines[1].contains("bob@contoso.com"), "{}", lines[1]);
    lines[1] = lines[1].replace("bob@contoso.com", "eve@contoso.com");
    std::fs::write(&target, lines.join("\n") + "\n").unwrap();
    let (code, html, err) = run(&[
        "journal",
        "report",
        "--journal",
        target.to_str().unwrap(),
        "--out",
        "-",
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("report written; the journal does not verify"),
        "{err}"
    );
    assert!(
        html.contains("<strong>Broken at entry 2</strong>"),
        "{html}"
    );
    assert!(html.contains("BROKEN: its link does not verify"), "{html}");
    assert!(!html.contains("keep it elsewhere"), "{html}");
}

/// The Chromium to use: `CHROMIUM` naming a binary, else `chromium-headless-shell` or
/// `chromium` on PATH. `Err`: why there is none.
fn chromium() -> Result<PathBuf, String> {
    let given = std::env::var("CHROMIUM").unwrap_or_default();
    if !matches!(given.as_str(), "" | "required" | "optional") {
        let p = PathBuf::from(&given);
        assert!(p.is_file(), "CHROMIUM={given}: no such file");
        return Ok(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    ["chromium-headless-shell", "chromium"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |d| d.join(name)))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            "neither chromium-headless-shell nor chromium is on PATH (make chromium-install)".into()
        })
}

/// Runs `cmd` to its end, within `limit` (then kills it and fails). The child leads a
/// process group of its own: Debian's `/usr/bin/chromium-headless-shell` is a shell script
/// that runs the browser as its child, which killing the script alone would leave running.
fn bounded(mut cmd: Command, limit: Duration) -> Output {
    use std::os::unix::process::CommandExt as _;
    let mut child: Child = cmd
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut b = Vec::new();
        stdout.read_to_end(&mut b).map(|_| b)
    });
    let err = std::thread::spawn(move || {
        let mut b = Vec::new();
        stderr.read_to_end(&mut b).map(|_| b)
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            // The group is the child's own (its id is the child's pid): the script and the
            // browser it started.
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {limit:?}: killed");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output {
        status,
        stdout: out.join().unwrap().unwrap(),
        stderr: err.join().unwrap().unwrap(),
    }
}

fn chromium_command(bin: &Path, dir: &Path) -> Command {
    let mut cmd = Command::new(bin);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--enable-logging=stderr",
        "--v=0",
        "--window-size=1280,2000",
    ])
    .arg(format!(
        "--user-data-dir={}",
        dir.join("chromium-profile").display()
    ))
    .env("HOME", dir);
    cmd
}

fn browser(dir: &Path, report: &Path) {
    let bin = match chromium() {
        Ok(bin) => bin,
        Err(why) if std::env::var("CHROMIUM").as_deref() == Ok("required") => {
            panic!("CHROMIUM=required: {why}")
        }
        Err(why) => {
            eprintln!("skipping the headless Chromium check: {why}");
            return;
        }
    };
    let url = format!("file://{}", report.canonicalize().unwrap().display());
    let mut cmd = chromium_command(&bin, dir);
    cmd.arg("--dump-dom").arg(&url);
    let out = bounded(cmd, Duration::from_secs(120));
    let dom = String::from_utf8_lossy(&out.stdout);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    for heading in [
        "<h2 id=\"verification\">Verification</h2>",
        "<h2 id=\"timeline\">Timeline</h2>",
        "<h2 id=\"resources\">Per resource</h2>",
        "<h2 id=\"failures\">Failures</h2>",
        "<h2 id=\"exclusions\">Exclusions and unfinished changes</h2>",
        "<h2 id=\"entries\">Entries</h2>",
    ] {
        assert!(dom.contains(heading), "{heading} missing:\n{dom}");
    }
    assert!(
        dom.contains("<strong>Verified with the journal key</strong>"),
        "{dom}"
    );
    assert!(
        dom.contains("<td>CloudUserConversion identity/wave-1</td><td class=\"n\">1</td><td class=\"n\">1</td><td class=\"n\">0</td><td class=\"n\">4</td>"),
        "{dom}"
    );
    // The name is a text node as the browser parsed it; it made no element.
    assert!(dom.contains(HOSTILE_TEXT), "{dom}");
    assert!(!dom.contains("<script") && !dom.contains("<img"), "{dom}");
    // The timeline's bars were parsed as SVG: six entries in all.
    assert!(dom.contains("<svg"), "{dom}");
    // The page's own policy refused nothing (its style is admitted by hash).
    assert!(!log.contains("Content Security Policy"), "{log}");

    let shot = dir.join("report.png");
    let mut cmd = chromium_command(&bin, dir);
    cmd.arg(format!("--screenshot={}", shot.display()))
        .arg(&url);
    let out = bounded(cmd, Duration::from_secs(120));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let png = std::fs::read(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(png.len() > 30_000, "a {} byte screenshot", png.len());
}
