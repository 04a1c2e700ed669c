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
