//! The emulator as its own process.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};

/// A running emulator process, killed on drop.
pub struct EmulatorProcess {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl Drop for EmulatorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl EmulatorProcess {
    /// Starts `entra-cloud-operator emulator` on a free port with these extra flags.
    pub fn start(args: &[&str]) -> EmulatorProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_entra-cloud-operator"))
            .args(["emulator", "--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the emulator starts");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut first = String::new();
        stdout
            .read_line(&mut first)
            .expect("the emulator's first line");
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        let url = first
            .trim()
            .strip_prefix("emulator listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .to_string();
        EmulatorProcess { child, url }
    }

    /// The process id (for its RSS and CPU time).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A token for the emulator's default application.
    pub async fn token(&self, http: &reqwest::Client) -> String {
        let tenant = entra_cloud_operator::emulator::DEFAULT_TENANT_ID;
        let form = [
            ("grant_type", "client_credentials"),
            (
                "client_id",
                entra_cloud_operator::emulator::DEFAULT_CLIENT_ID,
            ),
            (
                "client_secret",
                entra_cloud_operator::emulator::DEFAULT_CLIENT_SECRET,
            ),
            ("scope", "https://graph.microsoft.com/.default"),
        ];
        let answer: serde_json::Value = http
            .post(format!("{}/{tenant}/oauth2/v2.0/token", self.url))
            .form(&form)
            .send()
            .await
            .expect("token request")
            .json()
            .await
            .expect("token answer");
        answer["access_token"]
            .as_str()
            .expect("a token")
            .to_string()
    }
}

/// CPU seconds (user + system) a process has used, from `/proc` (Linux).
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// Peak resident memory (`VmHWM`, KiB) of a process, from `/proc` (Linux).
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
