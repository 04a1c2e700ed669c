#![allow(clippy::unwrap_used)]

use super::*;
use crate::journal::{Action, Phase, Record, ResourceKey, Trust};

const HOSTILE: &str = "<script>alert(1)</script><img src=x onerror=alert(1)>";

/// An entry of `CloudGroupConversion identity/wave` about object `id` (named `<id>-name`).
pub(crate) fn entry(seq: u64, time: &str, id: &str, action: Action, phase: Phase) -> Entry {
    Entry {
        seq,
        time: time.into(),
        record: Record {
            resource: ResourceKey {
                kind: "CloudGroupConversion".into(),
                namespace: "identity".into(),
                name: "wave".into(),
            },
            tenant_id: "t".into(),
            object_type: "group".into(),
            object_id: id.into(),
            object_name: Some(format!("{id}-name")),
            action,
            phase,
            prior: serde_json::Value::Null,
            request_id: None,
            error: None,
            note: None,
        },
        prev_hash: String::new(),
        hash: format!("h{seq}"),
        key_id: Some("k".into()),
        trust: Trust::Proven,
    }
}

fn intact(entries: u64) -> Verification {
    Verification::Intact(VerifyReport {
        entries,
        head: format!("h{entries}"),
        torn_tail: None,
        unterminated: None,
        legacy: 0,
        head_kept: Some(entries),
    })
}

fn page(v: &Verification, entries: &[Entry], max_rows: usize) -> String {
    render(&Report {
        origin: "journal.jsonl",
        generated: "2026-12-06T12:00:00Z".parse().unwrap(),
        verification: v,
        filter: None,
        entries,
        max_rows,
    })
}

/// The hostile group, switched after a failure, plus an unfinished change of another.
fn hostile() -> Vec<Entry> {
    let mut failed = entry(
        2,
        "2026-12-06T09:00:01Z",
        "g1",
        Action::SwitchToCloud,
        Phase::Failed,
    );
    failed.record.error = Some(format!("refused: {HOSTILE}"));
    let mut named = [
        entry(
            1,
            "2026-12-06T09:00:00Z",
            "g1",
            Action::SwitchToCloud,
            Phase::Intent,
        ),
        failed,
        entry(
            3,
            "2026-12-06T09:05:00Z",
            "g1",
            Action::SwitchToCloud,
            Phase::Applied,
        ),
        entry(
            4,
            "2026-12-06T09:06:00Z",
            "g2",
            Action::SwitchToCloud,
            Phase::Intent,
        ),
    ];
    for e in named.iter_mut().take(3) {
        e.record.object_name = Some(HOSTILE.into());
    }
    named[2].record.note = Some("accepted, not confirmed \"quoted\"".into());
    named.into()
}

#[test]
fn a_hostile_display_name_is_text_and_adds_no_element() {
    let html = page(&intact(4), &hostile(), 1000);
    assert!(!html.contains("<script"), "{html}");
    assert!(!html.contains("<img"), "{html}");
    assert!(!html.contains("onerror=alert(1)>"), "{html}");
    let escaped = "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;";
    // The failure, the entries (three rows), the reason.
    assert!(html.matches(escaped).count() >= 5, "{html}");
    assert!(html.contains("&quot;quoted&quot;"), "{html}");
    // Only the page's own markup: the tags it writes, counted.
    assert_eq!(html.matches("<style>").count(), 1);
    assert_eq!(html.matches("<svg").count(), 1);
}

#[test]
fn the_page_counts_failures_unfinished_changes_and_notes() {
    let html = page(&intact(4), &hostile(), 1000);
    assert!(html.contains("<strong>Verified with the journal key</strong>: 4 entries, keyed chain intact, head h4; head kept outside the journal at entry 4 matches"), "{html}");
    assert!(
        html.contains("4 entries; last entry 4 has hash h4: keep it elsewhere"),
        "{html}"
    );
    // Resource: g1 changed and failed, g2 neither; 4 entries.
    assert!(html.contains("<td>CloudGroupConversion identity/wave</td><td class=\"n\">1</td><td class=\"n\">1</td><td class=\"n\">0</td><td class=\"n\">4</td>"), "{html}");
    assert!(html.contains("<td>SwitchToCloud</td><td class=\"n\">2</td><td class=\"n\">1</td><td class=\"n\">1</td>"), "{html}");
    assert!(
        html.contains("applied later (entry 3, 2026-12-06T09:05:00Z)"),
        "{html}"
    );
    let unfinished = html.split("id=\"unfinished\"").nth(1).unwrap();
    assert!(unfinished.contains("g2-name (g2)"), "{html}");
    assert!(
        !unfinished
            .split("</table>")
            .next()
            .unwrap()
            .contains("(g1)"),
        "{html}"
    );
    assert!(html.contains("accepted, not confirmed"), "{html}");
    assert!(html.contains("status.exclusions"), "{html}");
    assert!(!html.contains("left out"), "{html}");
}

#[test]
fn long_tables_are_cut_with_a_line_saying_how_to_see_the_rest() {
    let entries: Vec<Entry> = (1..=30)
        .map(|i| {
            entry(
                i,
                "2026-12-06T09:00:00Z",
                &format!("g{i}"),
                Action::SwitchToCloud,
                Phase::Applied,
            )
        })
        .collect();
    let html = page(&intact(30), &entries, 10);
    let table = html.split("id=\"entry-list\"").nth(1).unwrap();
    assert_eq!(table.matches("<tr>").count(), 11, "{table}");
    assert!(html.contains("Showing the first 10 of 30 entries; 20 left out. Narrow the report with --of-resource, --object, --since and --until, raise --max-rows"), "{html}");
}

#[test]
fn an_empty_journal_renders_a_whole_page_saying_so() {
    let html = page(&intact(0), &[], 1000);
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.ends_with("</body></html>\n"));
    assert!(html.contains("<strong>Empty journal</strong>"), "{html}");
    assert!(html.contains("No entries yet: no head to keep."), "{html}");
    assert!(html.contains("nothing to draw"), "{html}");
    assert!(html.contains("No entries, so no resource."), "{html}");
    assert!(html.contains("No failures recorded."), "{html}");
    assert!(
        html.contains("None: every intent has its outcome."),
        "{html}"
    );
    assert!(html.contains("Every entry: 0."), "{html}");
    assert!(!html.contains("<table"), "{html}");
}

#[test]
fn a_broken_chain_is_reported_with_its_entry_and_no_head_to_keep() {
    let mut entries = hostile();
    entries[1].trust = Trust::Broken("content does not match its hash".into());
    let v = Verification::Broken {
        seq: 2,
        message: format!("journal j line 2 (entry 2): hash chain broken ({HOSTILE})"),
        last: Some((4, "h4".into())),
    };
    let html = page(&v, &entries, 1000);
    assert!(
        html.contains("<strong>Broken at entry 2</strong>"),
        "{html}"
    );
    assert!(
        html.contains("BROKEN: content does not match its hash"),
        "{html}"
    );
    assert!(
        html.contains("The last entry read, 4, has hash h4: it is no head to keep"),
        "{html}"
    );
    assert!(!html.contains("keep it elsewhere"), "{html}");
    assert!(!html.contains("<script"), "{html}");
}

#[test]
fn the_style_element_is_the_one_the_policy_admits_and_nothing_loads() {
    let entries = [entry(
        1,
        "2026-12-06T09:00:00Z",
        "g1",
        Action::SwitchToCloud,
        Phase::Applied,
    )];
    let html = page(&intact(1), &entries, 1000);
    let style = html
        .split("<style>")
        .nth(1)
        .unwrap()
        .split("</style>")
        .next()
        .unwrap();
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, style.as_bytes());
    let hash = base64::engine::general_purpose::STANDARD.encode(digest.as_ref());
    assert!(
        html.contains(&format!(
            "content=\"default-src &#39;none&#39;; style-src &#39;sha256-{hash}&#39;;"
        )),
        "{html}"
    );
    for external in [
        "src=",
        "href=",
        "url(",
        "@import",
        "<link",
        "<script",
        " style=\"",
    ] {
        assert!(!html.contains(external), "{external} in {html}");
    }
}
