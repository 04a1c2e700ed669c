//! What `apply` shows while it works: a progress bar per resource on a terminal, plain lines
//! otherwise (CI logs, pipes).

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
    /// Nothing but warnings.
    Quiet,
}

/// Shows progress for several resources at once.
pub struct Progress {
    multi: Option<MultiProgress>,
    bars: Mutex<HashMap<String, ProgressBar>>,
    last: Mutex<HashMap<String, String>>,
    quiet: bool,
}

impl Progress {
    /// A display for `mode`, on stderr.
    pub fn new(mode: ProgressMode) -> Self {
        let bars = mode == ProgressMode::Auto && std::io::stderr().is_terminal();
        Progress {
            multi: bars.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
            bars: Mutex::new(HashMap::new()),
            last: Mutex::new(HashMap::new()),
            quiet: mode == ProgressMode::Quiet,
        }
    }

    fn println(&self, line: String) {
        match &self.multi {
            Some(m) => {
                let _ = m.println(line);
            }
            None => eprintln!("{line}"),
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
                let b = m.add(ProgressBar::new(0));
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
            if let Some((done, total)) = progress.split_once('/') {
                bar.set_length(total.parse().unwrap_or(0));
                bar.set_position(done.parse().unwrap_or(0));
            }
            bar.set_message(format!("{reason}: {message}"));
            return;
        }
        if self.quiet {
            return;
        }
        let line = if progress.is_empty() {
            format!("{key}: {reason}: {message}")
        } else {
            format!("{key}: {reason} [{progress}] {message}")
        };
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if last.get(key) != Some(&line) {
            last.insert(key.to_string(), line.clone());
            self.println(line);
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
        self.println(format!("{key}: event {t} {}: {}", e.reason, e.note));
    }

    /// A transient failure the runner will retry.
    pub fn warn(&self, key: &str, msg: &str) {
        self.println(format!("{key}: warning: {msg}"));
    }

    /// The resource is done; leave its bar as it is.
    pub fn finish(&self, key: &str) {
        let bars = self.bars.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(b) = bars.get(key) {
            b.abandon();
        }
    }
}
