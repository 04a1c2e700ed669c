//! The emulator and the operator as their own processes, and the emulator's control API.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The binary under test; `ECO_TEST_BIN` names a copy of it instead (when the target directory
/// is shared with other checkouts that may rebuild it while the suite runs).
pub fn bin() -> String {
    std::env::var("ECO_TEST_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_entra-cloud-operator").to_string())
}

/// The emulator process (killed on drop) and a client of its control API.
pub struct Emulator {
    _process: crate::common::process::EmulatorProcess,
    pub url: String,
    http: reqwest::Client,
}

impl Emulator {
    pub fn start(args: &[&str]) -> Emulator {
        let process = crate::common::process::EmulatorProcess::start(&bin(), args);
        Emulator {
            url: process.url.clone(),
            _process: process,
            http: reqwest::Client::new(),
        }
    }

    pub async fn get(&self, path: &str) -> Value {
        let resp = self
            .http
            .get(format!("{}/_emulator/{path}", self.url))
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "GET {path}: {}", resp.status());
        resp.json().await.unwrap()
    }

    pub async fn post(&self, path: &str, body: Value) -> Value {
        let resp = self
            .http
            .post(format!("{}/_emulator/{path}", self.url))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        assert!(status.is_success(), "POST {path} {body}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    pub async fn put(&self, path: &str, body: Value) {
        let resp = self
            .http
            .put(format!("{}/_emulator/{path}", self.url))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "PUT {path}: {}", resp.status());
    }

    pub async fn clear_faults(&self) {
        let resp = self
            .http
            .delete(format!("{}/_emulator/faults", self.url))
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success());
    }

    /// Every user with the emulator's annotations (`kind`, `isCloudManaged`, `writeCounts`).
    pub async fn users(&self) -> Vec<Value> {
        self.get("users").await["value"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

/// One `apply` process over `manifests` with `journal`, its output in `dir/run-N.*`.
pub struct Operator {
    child: Child,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Operator {
    pub fn apply(
        emu: &Emulator,
        manifests: &Path,
        journal: &Path,
        dir: &Path,
        run: usize,
        extra: &[&str],
    ) -> Operator {
        let stdout = dir.join(format!("run-{run}.out"));
        let stderr = dir.join(format!("run-{run}.err"));
        let child = Command::new(bin())
            .args(["apply", "-f"])
            .arg(manifests)
            .args(["--graph-url", &emu.url, "--login-url", &emu.url])
            .arg("--journal")
            .arg(journal)
            .args(["--progress", "plain", "-o", "json", "--timeout", "30m"])
            .args(extra)
            .env_remove("AZURE_CLIENT_SECRET")
            .env_remove("AZURE_CLIENT_ID")
            .env_remove("AZURE_TENANT_ID")
            .env("RUST_LOG", "warn")
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        Operator {
            child,
            stdout,
            stderr,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().unwrap()
    }

    /// SIGKILL (`Child::kill` on Unix), then reap.
    pub fn kill9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM through `kill -TERM`.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits (polling, bounded) for the process to exit.
    pub async fn wait(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(s) = self.exited() {
                return Some(s);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }

    pub fn logs(&self) -> String {
        let tail = |p: &Path| {
            let s = std::fs::read_to_string(p).unwrap_or_default();
            let start = s.len().saturating_sub(4000);
            let start = (start..s.len())
                .find(|&i| s.is_char_boundary(i))
                .unwrap_or(s.len());
            s[start..].to_string()
        };
        format!(
            "--- stderr (tail) ---\n{}\n--- stdout (tail) ---\n{}",
            tail(&self.stderr),
            tail(&self.stdout)
        )
    }
}

/// Counts the lines of a growing file without reading it again from the start.
pub struct LineCounter {
    path: PathBuf,
    offset: u64,
    pub lines: u64,
}

impl LineCounter {
    pub fn new(path: &Path) -> Self {
        LineCounter {
            path: path.to_path_buf(),
            offset: 0,
            lines: 0,
        }
    }

    pub fn update(&mut self) -> u64 {
        let Ok(mut f) = std::fs::File::open(&self.path) else {
            return self.lines;
        };
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        if len < self.offset {
            // A torn tail was dropped on open: count again.
            self.offset = 0;
            self.lines = 0;
        }
        if f.seek(SeekFrom::Start(self.offset)).is_err() {
            return self.lines;
        }
        let mut buf = Vec::new();
        if f.read_to_end(&mut buf).is_ok() {
            self.offset += buf.len() as u64;
            self.lines += buf.iter().filter(|&&b| b == b'\n').count() as u64;
        }
        self.lines
    }
}

pub fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "eco-fault-{name}-{}-{}",
        std::process::id(),
        fastrand::u64(..)
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs a command of the binary to completion: exit code, stdout, stderr.
pub fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(bin()).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
