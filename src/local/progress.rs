//! What `apply` shows while it works: a progress bar per resource on a terminal, plain lines
//! otherwise (CI logs, pipes), each stamped with the time, or JSON lines beside JSON logs
//! (`--log-format json`), never both. A status that only repeats the Event just shown is not
//! shown again.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::api::conditions as cond;
use crate::reconcile::{EventType, ReconcileEvent};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

/// How to show progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ProgressMode {
    /// Bars on a terminal, lines otherwise.
    Auto,
    /// Plain lines.
    Plain,
    /// One JSON object a line (what `--log-format json` implies).
    Json,
    /// Nothing but warnings.
    Quiet,
}

/// Shows progress for several resources at once.
pub struct Progress {
    multi: Option<MultiProgress>,
    bars: Mutex<HashMap<String, ProgressBar>>,
    last: Mutex<HashMap<String, String>>,
    /// The last Event shown per resource (reason and note), not repeated by its status.
    last_event: Mutex<HashMap<String, (String, String)>>,
    quiet: bool,
    json: bool,
}

impl Progress {
    /// A display for `mode`, on stderr.
    pub fn new(mode: ProgressMode) -> Self {
        let bars = mode == ProgressMode::Auto && std::io::stderr().is_terminal();
        Progress {
            multi: bars.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
            bars: Mutex::new(HashMap::new()),
            last: Mutex::new(HashMap::new()),
            last_event: Mutex::new(HashMap::new()),
            quiet: mode == ProgressMode::Quiet,
            json: mode == ProgressMode::Json,
        }
    }

    /// One line: above the bars, or on stderr stamped with the time (plain), or as a JSON
    /// object with the same fields.
    fn emit(&self, key: &str, what: &str, reason: &str, progress: &str, message: &str) {
        let now = jiff::Timestamp::now()
            .round(jiff::Unit::Second)
            .unwrap_or_default();
        if self.json {
            let line = serde_json::json!({
                "timestamp": now.to_string(), "resource": key, "line": what,
                "reason": reason, "progress": progress, "message": message,
            });
            eprintln!("{line}");
            return;
        }
        let mut line = format!("{key}: ");
        match what {
            "event" => line.push_str(&format!("event {reason}: {message}")),
            "warning" => line.push_str(&format!("warning: {message}")),
            _ if progress.is_empty() => line.push_str(&format!("{reason}: {message}")),
            _ => line.push_str(&format!("{reason} [{progress}] {message}")),
        }
        match &self.multi {
            Some(m) => {
                let _ = m.println(line);
            }
            None => eprintln!("{now} {line}"),
        }
    }

    /// The resource's status changed.
    pub fn status(&self, key: &str, conditions: &[Condition], progress: Option<String>) {
        let ready = cond::get(conditions, cond::READY);
        let reason = ready.map(|c| c.reason.as_str()).unwrap_or("Pending");
        let message = ready.map(|c| c.message.as_str()).unwrap_or("");
        let progress = progress.unwrap_or_default();
        if let Some(m) = &self.multi {
            let mut bars = self.bars.lock().unwrap_or_else(|p| p.into_inner());
            let bar = bars.entry(key.to_string()).or_insert_with(|| {
                // No length until the status gives one: an empty bar, not a full one at 0/0.
                let b = m.add(ProgressBar::no_length());
                b.set_style(
                    ProgressStyle::with_template(
                        "{prefix:.bold} [{bar:30}] {pos}/{len} {wide_msg}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
                );
                b.set_prefix(key.to_string());
                b.enable_steady_tick(Duration::from_millis(200));
                b
            });
            if let Some((done, total)) = progress.split_once('/')
                && let (Ok(done), Ok(total)) = (done.parse::<u64>(), total.parse::<u64>())
                && total > 0
            {
                bar.set_length(total);
                bar.set_position(done);
            }
            bar.set_message(format!("{reason}: {message}"));
            return;
        }
        if self.quiet {
            return;
        }
        let said = self
            .last_event
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            == Some(&(reason.to_string(), message.to_string()));
        let line = format!("{reason} [{progress}] {message}");
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if last.get(key) != Some(&line) {
            last.insert(key.to_string(), line);
            if !said {
                self.emit(key, "status", reason, &progress, message);
            }
        }
    }

    /// An Event was emitted.
    pub fn event(&self, key: &str, e: &ReconcileEvent) {
        if self.quiet && e.type_ == EventType::Normal {
            return;
        }
        let t = match e.type_ {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        };
        self.last_event
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.to_string(), (e.reason.clone(), e.note.clone()));
        self.emit(key, "event", &format!("{t} {}", e.reason), "", &e.note);
    }

    /// A transient failure the runner will retry.
    pub fn warn(&self, key: &str, msg: &str) {
        self.emit(key, "warning", "", "", msg);
    }

    /// The resource is done; leave its bar as it is.
    pub fn finish(&self, key: &str) {
        let bars = self.bars.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(b) = bars.get(key) {
            b.abandon();
        }
    }
}
