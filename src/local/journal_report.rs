//! `journal report`: one self-contained HTML page on a journal for an auditor, rendered
//! offline. Nothing in it is fetched or run: no scripts, no external resources, inline CSS
//! admitted by its hash in the page's Content-Security-Policy, the timeline as inline SVG.
//! Every string taken from the journal (names, reasons, resources) is escaped
//! ([`html::Html::text`]): a display name is text, never markup.

mod html;
mod sections;
mod svg;

use std::io::Write as _;
use std::path::Path;

use anyhow::Context as _;
use base64::Engine as _;

use crate::journal::{Entry, VerifyReport};
use crate::local::journal_view::{self, head_advice};
use html::Html;

/// What checking the chain found.
#[derive(Debug, Clone)]
pub enum Verification {
    /// The chain (and the head kept outside the journal) verifies.
    Intact(VerifyReport),
    /// It does not, first at entry `seq`.
    Broken {
        /// The first entry that does not verify.
        seq: u64,
        /// What `journal verify` says.
        message: String,
        /// The last entry read (sequence, link), if any: a head that proves nothing.
        last: Option<(u64, String)>,
    },
}

/// What the page shows.
pub struct Report<'a> {
    /// Where the journal was read: its file, or the cluster resource and namespace.
    pub origin: &'a str,
    /// When the page was rendered.
    pub generated: jiff::Timestamp,
    /// The chain's verification (over the whole journal, before any filter).
    pub verification: &'a Verification,
    /// The filters given, as flags; `None`: every entry.
    pub filter: Option<String>,
    /// The entries the filters kept, in journal order.
    pub entries: &'a [Entry],
    /// At most this many rows per table.
    pub max_rows: usize,
}

const CSS: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:80em;padding:0 1em;color:#1b1b1b}\
h1{font-size:1.6em;margin-bottom:.2em}\
h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.8em}\
.meta{color:#555}\
.ok,.warn,.bad{padding:.6em .8em;border-left:4px solid}\
.ok{border-color:#2e7d32;background:#edf7ee}\
.warn{border-color:#b26a00;background:#fff5e0}\
.bad{border-color:#c62828;background:#fdecea}\
table{border-collapse:collapse;margin:.6em 0;font-size:.92em}\
th,td{border:1px solid #ddd;padding:.25em .5em;text-align:left;vertical-align:top}\
th{background:#f3f3f3}\
td.n{text-align:right;font-variant-numeric:tabular-nums}\
tr.failed td{background:#fdf3f2}\
tr.broken td{background:#f9d6d2}\
code,.mono{font-family:ui-monospace,monospace;font-size:.92em;word-break:break-all}\
td.prior{min-width:16em}\
.cut{font-style:italic}\
figure{margin:0}\
svg.timeline{width:100%;max-width:960px;height:auto}\
.b-applied{fill:#2e7d32;background:#2e7d32}\
.b-failed{fill:#c62828;background:#c62828}\
.b-intent{fill:#9e9e9e;background:#9e9e9e}\
.axis{stroke:#888}\
svg text{font-size:11px;fill:#444}\
span.k{display:inline-block;width:.8em;height:.8em;margin:0 .3em 0 .8em}";

/// The page's Content-Security-Policy: nothing may load or run; the one `<style>` element is
/// admitted by its SHA-256.
fn csp() -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, CSS.as_bytes());
    let hash = base64::engine::general_purpose::STANDARD.encode(digest.as_ref());
    format!("default-src 'none'; style-src 'sha256-{hash}'; base-uri 'none'; form-action 'none'")
}

/// The page.
pub fn render(r: &Report<'_>) -> String {
    let mut h = Html::default();
    h.tag("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">")
        .tag("<meta http-equiv=\"Content-Security-Policy\" content=\"")
        .text(&csp())
        .tag("\"><meta name=\"referrer\" content=\"no-referrer\">")
        .tag("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
        .tag("<title>")
        .text(&format!("Journal report: {}", r.origin))
        .tag("</title><style>")
        .tag(CSS)
        .tag("</style></head><body>\n<h1>Journal report: ")
        .text(r.origin)
        .tag("</h1><p class=\"meta\">");
    h.text(&format!(
        "Generated {} by entra-cloud-operator {} from the journal {}. {}",
        r.generated,
        env!("CARGO_PKG_VERSION"),
        r.origin,
        match &r.filter {
            Some(f) => format!(
                "Entries kept by the filters {f}: {} (the verification covers the whole journal).",
                r.entries.len()
            ),
            None => format!("Every entry: {}.", r.entries.len()),
        }
    ));
    h.tag("</p>\n<h2 id=\"verification\">Verification</h2>");
    verification(&mut h, r.verification);
    h.tag("\n<h2 id=\"timeline\">Timeline</h2>");
    svg::timeline(&mut h, r.entries);
    h.tag("\n<h2 id=\"resources\">Per resource</h2>");
    let tallies = journal_view::tally(r.entries);
    if tallies.is_empty() {
        h.para("No entries, so no resource.");
    } else {
        sections::resources(&mut h, &tallies);
    }
    h.tag("\n<h2 id=\"failures\">Failures</h2>");
    sections::failures(&mut h, r.entries, r.max_rows);
    h.tag("\n<h2 id=\"exclusions\">Exclusions and unfinished changes</h2>");
    sections::exclusions(&mut h, r.entries, r.max_rows);
    h.tag("\n<h2 id=\"entries\">Entries</h2>");
    sections::chronology(&mut h, r.entries, r.max_rows);
    h.tag("\n</body></html>\n");
    h.finish()
}

/// The verdict on the chain, what `journal verify` says, and the head to keep elsewhere.
fn verification(h: &mut Html, v: &Verification) {
    match v {
        Verification::Intact(report) => {
            let (class, verdict) = if report.entries == 0 {
                ("<p class=\"ok\">", "Empty journal")
            } else if report.legacy == report.entries {
                ("<p class=\"warn\">", "Unkeyed")
            } else if report.head_kept.is_none() {
                (
                    "<p class=\"warn\">",
                    "Verified with the journal key, no head kept",
                )
            } else {
                ("<p class=\"ok\">", "Verified with the journal key")
            };
            h.tag(class).tag("<strong>").tag(verdict).tag("</strong>: ");
            h.text(&journal_view::verify_text(report)).tag("</p>");
            if report.entries == 0 {
                h.para("No entries yet: no head to keep.");
            } else {
                h.tag("<p>Chain head: ").text(&format!(
                    "{} entries; {}.",
                    report.entries,
                    head_advice(report.entries, &report.head)
                ));
                h.tag("</p>");
            }
        }
        Verification::Broken { seq, message, last } => {
            h.tag("<p class=\"bad\"><strong>Broken at entry ")
                .num(*seq)
                .tag("</strong>: ")
                .text(message)
                .tag("</p>");
            h.para("The entries below are shown as read; those that do not verify are marked BROKEN in the Chain column. Nothing here is proof of what the operator did.");
            if let Some((seq, hash)) = last {
                h.para(&format!(
                    "The last entry read, {seq}, has hash {hash}: it is no head to keep, since the chain does not verify."
                ));
            }
        }
    }
}

/// Writes `page` to `out` (`-`: standard output). An existing file is refused unless `force`.
pub fn write(out: &Path, force: bool, page: &str) -> anyhow::Result<()> {
    if out == Path::new("-") {
        let mut stdout = std::io::stdout().lock();
        return match stdout
            .write_all(page.as_bytes())
            .and_then(|()| stdout.flush())
        {
            // The reader stopped early (`journal report --out - | head`): not an error.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            other => other.context("writing the report to standard output"),
        };
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let mut file = match options.open(out) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => anyhow::bail!(
            "--out {}: the file exists; pass --force to replace it, or name another file",
            out.display()
        ),
        other => other.with_context(|| format!("--out {}: cannot create it", out.display()))?,
    };
    file.write_all(page.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("--out {}: writing the report", out.display()))
}

#[cfg(test)]
mod tests;
