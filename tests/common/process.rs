//! The emulator as its own process (the command line and crash tests need one).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// An `entra-cloud-operator emulator` process on a free port of 127.0.0.1; killed on drop.
pub struct EmulatorProcess {
    child: Child,
    /// `http://127.0.0.1:PORT`, from the line it prints first.
    pub url: String,
}

impl Drop for EmulatorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl EmulatorProcess {
    /// Starts `bin emulator --listen 127.0.0.1:0 ARGS…` and waits for its address.
    pub fn start(bin: &str, args: &[&str]) -> EmulatorProcess {
        let mut child = Command::new(bin)
            .args(["emulator", "--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        // Keep draining: a closed pipe would end the emulator at its next line.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        let url = first
            .trim()
            .strip_prefix("emulator listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .to_string();
        EmulatorProcess { child, url }
    }
}

/// A copy of the shipped examples in `dir`, less those that need a domain controller
/// (`*-from-ad.yaml`: applied by tests/ad_cli.rs against the Samba DC).
pub fn examples_in(dir: &std::path::Path) -> std::path::PathBuf {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    for e in std::fs::read_dir(&src).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with("-from-ad.yaml") {
            std::fs::copy(&p, dir.join(&name)).unwrap();
        }
    }
    dir.to_path_buf()
}

/// `GET /_emulator/state` of the emulator at `url`, from synchronous test code.
pub fn state(url: &str) -> serde_json::Value {
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

/// The emulator's default tenant and application, as the examples name them: a policy that
/// observes (`directorySync: Unmanaged`) and its credentials Secret, for `-f`.
pub const CONTOSO: &str = "apiVersion: cloudidentity.dev/v1alpha1
kind: TenantSyncPolicy
metadata: {name: contoso, namespace: identity}
spec:
  tenantId: 3f9a1c2e-5b7d-4e8f-9a0b-1c2d3e4f5a6b
  credentials:
    clientSecret:
      clientId: 0b5e7c1d-2f3a-4b6c-8d9e-0f1a2b3c4d5e
      secretRef: {name: graph-credentials, key: clientSecret}
  directorySync: Unmanaged
---
apiVersion: v1
kind: Secret
metadata: {name: graph-credentials, namespace: identity}
stringData: {clientSecret: emulator-client-secret}
";

/// A new directory of its own for test `name` of `suite`, under the system's temp dir.
pub fn temp_dir(suite: &str, name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!(
        "eco-{suite}-{name}-{}-{}",
        std::process::id(),
        fastrand::u64(..)
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}
