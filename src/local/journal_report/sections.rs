//! The report's tables: per resource, failures, what the journal says instead of exclusions,
//! and the entries in order.

use std::collections::BTreeMap;

use super::html::Html;
use crate::journal::{Action, Entry, Phase, Trust};
use crate::local::journal_view::{Tally, resource_label};

/// An object as a person reads it: its name and id (or the id alone).
fn object(e: &Entry) -> String {
    let r = &e.record;
    match &r.object_name {
        Some(name) if name != &r.object_id => format!("{name} ({})", r.object_id),
        _ => r.object_id.clone(),
    }
}

/// At most `max` characters of `s`, with `…` when cut.
fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_string(),
    }
}

/// The line under a table cut at `max` rows of `total`: how many were left out and how to see
/// them. Nothing when none was.
fn left_out(h: &mut Html, what: &str, max: usize, total: usize) {
    if total > max {
        h.tag("<p class=\"cut\">").text(&format!(
            "Showing the first {max} of {total} {what}; {} left out. Narrow the report with --of-resource, --object, --since and --until, raise --max-rows, or list them all with `journal export` (CSV or JSON Lines).",
            total - max
        ));
        h.tag("</p>");
    }
}

/// Per resource: objects changed, failed and reverted, entries, first and last time; then per
/// resource the entries by action and phase.
pub fn resources(h: &mut Html, tallies: &BTreeMap<String, Tally>) {
    h.tag("<table id=\"resource-counts\">").header_row(&[
        "Resource",
        "Objects changed",
        "Objects failed",
        "Objects reverted",
        "Entries",
        "First",
        "Last",
    ]);
    h.tag("<tbody>");
    for (resource, t) in tallies {
        let entries: usize = t
            .phases
            .values()
            .map(|c| c.intent + c.applied + c.failed)
            .sum();
        h.tag("<tr>").cell(resource);
        h.count(t.changed.len())
            .count(t.failed.len())
            .count(t.reverted.len())
            .count(entries);
        h.cell(t.first.as_deref().unwrap_or("-"))
            .cell(t.last.as_deref().unwrap_or("-"))
            .tag("</tr>");
    }
    h.tag("</tbody></table>");
    h.para("Objects are counted once per column: changed (an applied change), failed (a change Graph or the directory refused, or that could not be sent), reverted (an applied undo). Entries count every journal line: intents (written before each request), applied and failed outcomes.");
    for (resource, t) in tallies {
        h.tag("<h3>").text(resource).tag("</h3>");
        h.tag("<table class=\"by-action\">")
            .header_row(&["Action", "Intents", "Applied", "Failed"]);
        h.tag("<tbody>");
        for (action, c) in &t.phases {
            h.tag("<tr>").cell(&format!("{action:?}"));
            h.count(c.intent)
                .count(c.applied)
                .count(c.failed)
                .tag("</tr>");
        }
        h.tag("</tbody></table>");
    }
}

type ChangeKey = (String, String, Action);

/// Resource, object and action of `e`.
fn change(e: &Entry) -> ChangeKey {
    (
        resource_label(e),
        e.record.object_id.clone(),
        e.record.action,
    )
}

/// Every `Failed` entry with its reason, and whether the change was applied later.
pub fn failures(h: &mut Html, entries: &[Entry], max: usize) {
    let failed: Vec<&Entry> = entries
        .iter()
        .filter(|e| e.record.phase == Phase::Failed)
        .collect();
    if failed.is_empty() {
        h.para("No failures recorded.");
        return;
    }
    h.tag("<table id=\"failure-list\">").header_row(&[
        "Entry", "Time", "Resource", "Object", "Action", "Reason", "Since",
    ]);
    // The applied entries of each change, in journal order: a failure followed by one was
    // retried with success.
    let mut applied: BTreeMap<ChangeKey, Vec<&Entry>> = BTreeMap::new();
    for e in entries.iter().filter(|e| e.record.phase == Phase::Applied) {
        applied.entry(change(e)).or_default().push(e);
    }
    h.tag("<tbody>");
    for e in failed.iter().take(max) {
        let r = &e.record;
        let reason = match (&r.error, &r.note) {
            (Some(error), Some(note)) => format!("{error} ({note})"),
            (Some(error), None) => error.clone(),
            (None, Some(note)) => note.clone(),
            (None, None) => "(no reason recorded)".into(),
        };
        let later = applied
            .get(&change(e))
            .and_then(|list| list.get(list.partition_point(|a| a.seq <= e.seq)));
        let since = match later {
            Some(later) => format!("applied later (entry {}, {})", later.seq, later.time),
            None => "not applied since".into(),
        };
        h.tag("<tr>").count(e.seq);
        h.cell(&e.time)
            .cell(&resource_label(e))
            .cell(&object(e))
            .cell(&format!("{:?}", r.action))
            .cell(&reason)
            .cell(&since)
            .tag("</tr>");
    }
    h.tag("</tbody></table>");
    left_out(h, "failures", max, failed.len());
}

/// The journal records changes, not selections: what it says instead of exclusions (changes
/// begun without a recorded outcome, outcomes with a note), and where exclusions are.
pub fn exclusions(h: &mut Html, entries: &[Entry], max: usize) {
    h.para("The journal records changes and attempted changes, not selections: objects a resource excluded (spec.exclude, directory synchronisation service accounts, mail-enabled groups left synchronised) or had nothing to do for were never written to, so they are not in it. Each resource lists them in its status (status.excluded counts them, status.exclusions names up to 20 with the reason: kubectl get RESOURCE -o yaml), and plan -f shows them as `none (excluded)` before an apply.");
    h.para("What the journal tells instead: changes begun and never concluded, and outcomes that carry a note (a change accepted but not confirmed, an owner kept, memberships not restored).");
    // The last entry per resource, object and action: an intent there has no outcome yet.
    let mut last: BTreeMap<ChangeKey, &Entry> = BTreeMap::new();
    for e in entries {
        last.insert(change(e), e);
    }
    let mut open: Vec<&Entry> = last
        .into_values()
        .filter(|e| e.record.phase == Phase::Intent)
        .collect();
    open.sort_by_key(|e| e.seq);
    h.tag("<h3>Begun, no outcome recorded</h3>");
    if open.is_empty() {
        h.para("None: every intent has its outcome.");
    } else {
        h.para("The operator stopped (or is still running) between the request and its answer: the next pass reads each object back and records the outcome.");
        h.tag("<table id=\"unfinished\">")
            .header_row(&["Entry", "Time", "Resource", "Object", "Action"]);
        h.tag("<tbody>");
        for e in open.iter().take(max) {
            h.tag("<tr>").count(e.seq);
            h.cell(&e.time)
                .cell(&resource_label(e))
                .cell(&object(e))
                .cell(&format!("{:?}", e.record.action))
                .tag("</tr>");
        }
        h.tag("</tbody></table>");
        left_out(h, "changes without an outcome", max, open.len());
    }
    let noted: Vec<&Entry> = entries
        .iter()
        .filter(|e| e.record.phase != Phase::Intent && e.record.note.is_some())
        .collect();
    h.tag("<h3>Outcomes with a note</h3>");
    if noted.is_empty() {
        h.para("None.");
        return;
    }
    h.tag("<table id=\"noted\">").header_row(&[
        "Entry", "Time", "Resource", "Object", "Action", "Phase", "Note",
    ]);
    h.tag("<tbody>");
    for e in noted.iter().take(max) {
        let r = &e.record;
        h.tag("<tr>").count(e.seq);
        h.cell(&e.time)
            .cell(&resource_label(e))
            .cell(&object(e))
            .cell(&format!("{:?}", r.action))
            .cell(&format!("{:?}", r.phase))
            .cell(r.note.as_deref().unwrap_or_default())
            .tag("</tr>");
    }
    h.tag("</tbody></table>");
    left_out(h, "noted outcomes", max, noted.len());
}

/// What the chain says of one entry, in a word.
fn trust(t: &Trust) -> String {
    match t {
        Trust::Proven => "keyed".into(),
        Trust::Legacy => "legacy (unkeyed)".into(),
        Trust::Broken(detail) => format!("BROKEN: {detail}"),
        Trust::Unchecked => "not checked".into(),
    }
}

/// The entries in journal order, at most `max`.
pub fn chronology(h: &mut Html, entries: &[Entry], max: usize) {
    if entries.is_empty() {
        h.para("No entries.");
        return;
    }
    h.tag("<table id=\"entry-list\">").header_row(&[
        "Entry",
        "Time",
        "Resource",
        "Type",
        "Object",
        "Action",
        "Phase",
        "Error or note",
        "Prior values",
        "Request id",
        "Chain",
    ]);
    h.tag("<tbody>");
    for e in entries.iter().take(max) {
        let r = &e.record;
        let detail = [r.error.as_deref(), r.note.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("; ");
        let prior = if r.prior.is_null() {
            String::new()
        } else {
            clip(&r.prior.to_string(), 300)
        };
        h.tag(match (&e.trust, r.phase) {
            (Trust::Broken(_), _) => "<tr class=\"broken\">",
            (_, Phase::Failed) => "<tr class=\"failed\">",
            _ => "<tr>",
        });
        h.count(e.seq)
            .cell(&e.time)
            .cell(&resource_label(e))
            .cell(&r.object_type)
            .cell(&object(e))
            .cell(&format!("{:?}", r.action))
            .cell(&format!("{:?}", r.phase))
            .cell(&detail);
        h.tag("<td class=\"mono prior\">").text(&prior).tag("</td>");
        h.tag("<td class=\"mono\">")
            .text(r.request_id.as_deref().unwrap_or_default())
            .tag("</td>")
            .cell(&trust(&e.trust))
            .tag("</tr>");
    }
    h.tag("</tbody></table>");
    left_out(h, "entries", max, entries.len());
}
