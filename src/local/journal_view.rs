//! What an auditor asks of a journal: the entries of one resource, one object or one period
//! (`journal export` and `journal summary` filters), and a summary per resource: objects
//! changed, failed and reverted, and when.

use std::collections::{BTreeMap, BTreeSet};

use crate::journal::{Action, Entry, Phase, VerifyReport};

/// Which entries to keep.
#[derive(clap::Args, Debug, Default, Clone)]
pub struct Filter {
    /// Only the entries of this resource: `Kind/namespace/name` (in a file journal holding
    /// several), e.g. `CloudUserConversion/identity/finance-wave`.
    #[arg(long, value_name = "KIND/NAMESPACE/NAME")]
    pub of_resource: Option<String>,
    /// Only the entries of this object: its id, or its UPN or display name (any case).
    #[arg(long, value_name = "ID|NAME")]
    pub object: Option<String>,
    /// Only entries written at or after this time (RFC 3339, e.g. 2026-12-06T09:00:00Z).
    #[arg(long, value_parser = parse_time)]
    pub since: Option<jiff::Timestamp>,
    /// Only entries written before this time (RFC 3339).
    #[arg(long, value_parser = parse_time)]
    pub until: Option<jiff::Timestamp>,
}

fn parse_time(text: &str) -> Result<jiff::Timestamp, String> {
    text.trim().parse().map_err(|_| {
        format!("{text:?} is not a time: RFC 3339 with a zone, e.g. 2026-12-06T09:00:00Z")
    })
}

impl Filter {
    /// Checks the flags: a resource of the form `Kind/namespace/name`.
    pub fn validate(&self) -> anyhow::Result<()> {
        if let Some(r) = &self.of_resource {
            anyhow::ensure!(
                r.split('/').count() == 3 && r.split('/').all(|p| !p.is_empty()),
                "--of-resource must be Kind/namespace/name, e.g. CloudUserConversion/identity/finance-wave"
            );
        }
        Ok(())
    }

    /// Whether `e` is kept.
    pub fn keeps(&self, e: &Entry) -> bool {
        let r = &e.record;
        let resource = format!(
            "{}/{}/{}",
            r.resource.kind, r.resource.namespace, r.resource.name
        );
        let object = |o: &str| {
            r.object_id.eq_ignore_ascii_case(o)
                || r.object_name
                    .as_deref()
                    .is_some_and(|n| n.eq_ignore_ascii_case(o))
        };
        let time = e.time.parse::<jiff::Timestamp>().ok();
        self.of_resource.as_deref().is_none_or(|f| f == resource)
            && self.object.as_deref().is_none_or(object)
            && self.since.is_none_or(|s| time.is_some_and(|t| t >= s))
            && self.until.is_none_or(|u| time.is_some_and(|t| t < u))
    }

    /// The filters given, as flags (`--object ada@contoso.com --since …`); `None`: none.
    pub fn describe(&self) -> Option<String> {
        let flags: Vec<String> = [
            self.of_resource
                .as_ref()
                .map(|r| format!("--of-resource {r}")),
            self.object.as_ref().map(|o| format!("--object {o}")),
            self.since.map(|t| format!("--since {t}")),
            self.until.map(|t| format!("--until {t}")),
        ]
        .into_iter()
        .flatten()
        .collect();
        (!flags.is_empty()).then(|| flags.join(" "))
    }
}

/// Undoing actions (`onDelete: Revert`, `revert -f`).
pub fn reverts(a: Action) -> bool {
    matches!(
        a,
        Action::SwitchToAd
            | Action::RestoreImmutableId
            | Action::RemoveOwner
            | Action::MoveAdObjectBack
            | Action::EnableAdAccount
    )
}

/// Entries of one phase, one count each.
#[derive(Default, Clone, Copy, Debug, PartialEq, Eq)]
pub struct PhaseCounts {
    /// `Intent` entries.
    pub intent: usize,
    /// `Applied` entries.
    pub applied: usize,
    /// `Failed` entries.
    pub failed: usize,
}

/// What one resource's entries say.
#[derive(Default, Debug)]
pub struct Tally {
    /// Objects changed (an `Applied` entry of a forward action), by id.
    pub changed: BTreeSet<String>,
    /// Objects with a `Failed` entry, by id.
    pub failed: BTreeSet<String>,
    /// Objects reverted (an `Applied` entry of an undoing action), by id.
    pub reverted: BTreeSet<String>,
    /// `Applied` entries of forward changes, by action.
    pub actions: BTreeMap<String, usize>,
    /// Entries by action and phase.
    pub phases: BTreeMap<Action, PhaseCounts>,
    /// The first entry's time.
    pub first: Option<String>,
    /// The last entry's time.
    pub last: Option<String>,
}

/// A resource as the summary and the report name it: `Kind namespace/name`.
pub fn resource_label(e: &Entry) -> String {
    let r = &e.record.resource;
    format!("{} {}/{}", r.kind, r.namespace, r.name)
}

/// The entries tallied per resource ([`resource_label`]).
pub fn tally(entries: &[Entry]) -> BTreeMap<String, Tally> {
    let mut by: BTreeMap<String, Tally> = BTreeMap::new();
    for e in entries {
        let r = &e.record;
        let t = by.entry(resource_label(e)).or_default();
        t.first.get_or_insert_with(|| e.time.clone());
        t.last = Some(e.time.clone());
        let counts = t.phases.entry(r.action).or_default();
        match r.phase {
            Phase::Intent => counts.intent += 1,
            Phase::Applied => counts.applied += 1,
            Phase::Failed => counts.failed += 1,
        }
        let object = r.object_id.clone();
        match r.phase {
            Phase::Failed => {
                t.failed.insert(object);
            }
            Phase::Applied if reverts(r.action) => {
                t.reverted.insert(object);
            }
            Phase::Applied if r.action != Action::RecordMemberships => {
                t.changed.insert(object);
                *t.actions.entry(format!("{:?}", r.action)).or_default() += 1;
            }
            _ => {}
        }
    }
    by
}

/// The advice on the chain's head: entry `seq`'s link `hash` is what to keep elsewhere.
pub fn head_advice(seq: u64, hash: &str) -> String {
    format!(
        "last entry {seq} has hash {hash}: keep it elsewhere (the change ticket, another system) to prove later that nothing was cut off after it"
    )
}

/// What `journal verify` says of an intact chain: entries, kind of chain, head, head kept
/// outside the journal, an interrupted or unterminated last line.
pub fn verify_text(report: &VerifyReport) -> String {
    let kind = if report.legacy == report.entries && report.entries > 0 {
        "unkeyed (legacy) chain intact: consistent, but proof of nothing (written before journals were keyed)".to_string()
    } else if report.legacy > 0 {
        format!(
            "keyed chain intact ({} legacy unkeyed entries first: consistent, but no proof for reverts)",
            report.legacy
        )
    } else {
        "keyed chain intact".to_string()
    };
    let head = match report.head_kept {
        Some(n) => format!("; head kept outside the journal at entry {n} matches"),
        None => "; no head kept outside the journal yet: a cut-off end cannot be ruled out".into(),
    };
    let torn = report.torn_tail.map(|line| format!("; line {line} is an append a crash interrupted before it was acknowledged (no change was made for it), dropped on the next apply")).unwrap_or_default();
    let unterminated = report
        .unterminated
        .map(|line| {
            format!(
                "; line {line} (the last entry) lacks its newline: kept, added on the next apply"
            )
        })
        .unwrap_or_default();
    format!(
        "{} entries, {kind}, head {}{head}{torn}{unterminated}",
        report.entries, report.head
    )
}

/// Per resource: the objects changed, failed and reverted (each object once), the changes by
/// action, the first and last entry's time; then the entries counted and the chain head to
/// keep elsewhere: `head`, the whole journal's last entry, whatever a filter kept.
pub fn summary(entries: &[Entry], head: Option<&Entry>) -> String {
    let mut out = String::new();
    for (resource, t) in &tally(entries) {
        let actions: Vec<String> = t.actions.iter().map(|(a, n)| format!("{a} {n}")).collect();
        out.push_str(&format!(
            "{resource}: {} objects changed{}, {} failed, {} reverted; {} … {}\n",
            t.changed.len(),
            if actions.is_empty() {
                String::new()
            } else {
                format!(" ({})", actions.join(", "))
            },
            t.failed.len(),
            t.reverted.len(),
            t.first.as_deref().unwrap_or("-"),
            t.last.as_deref().unwrap_or("-"),
        ));
    }
    match (entries.len(), head) {
        (_, None) => out.push_str("no entries\n"),
        (n, Some(e)) if u64::try_from(n).is_ok_and(|n| n == e.seq) => {
            out.push_str(&format!("{n} entries; {}\n", head_advice(e.seq, &e.hash)))
        }
        (n, Some(e)) => out.push_str(&format!(
            "{n} entries shown of {} in the journal; {}\n",
            e.seq,
            head_advice(e.seq, &e.hash)
        )),
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::journal::{Record, ResourceKey};

    fn entry(seq: u64, time: &str, name: &str, id: &str, action: Action, phase: Phase) -> Entry {
        Entry {
            seq,
            time: time.into(),
            record: Record {
                resource: ResourceKey {
                    kind: "CloudUserConversion".into(),
                    namespace: "identity".into(),
                    name: name.into(),
                },
                tenant_id: "t".into(),
                object_type: "user".into(),
                object_id: id.into(),
                object_name: Some(format!("{id}@contoso.com")),
                action,
                phase,
                prior: serde_json::Value::Null,
                request_id: None,
                error: None,
                note: None,
            },
            prev_hash: String::new(),
            hash: format!("h{seq}"),
            key_id: None,
            trust: Default::default(),
        }
    }

    fn sample() -> Vec<Entry> {
        vec![
            entry(
                1,
                "2026-12-06T09:00:00Z",
                "wave",
                "u1",
                Action::SwitchToCloud,
                Phase::Intent,
            ),
            entry(
                2,
                "2026-12-06T09:00:01Z",
                "wave",
                "u1",
                Action::SwitchToCloud,
                Phase::Applied,
            ),
            entry(
                3,
                "2026-12-06T09:00:02Z",
                "wave",
                "u2",
                Action::SwitchToCloud,
                Phase::Failed,
            ),
            entry(
                4,
                "2026-12-06T10:00:00Z",
                "wave",
                "u1",
                Action::SwitchToAd,
                Phase::Applied,
            ),
            entry(
                5,
                "2026-12-06T11:00:00Z",
                "other",
                "u3",
                Action::ClearImmutableId,
                Phase::Applied,
            ),
        ]
    }

    #[test]
    fn a_summary_counts_each_object_once_per_outcome_and_names_the_head() {
        let all = sample();
        let s = summary(&all, all.last());
        assert!(
            s.contains("CloudUserConversion identity/wave: 1 objects changed (SwitchToCloud 1), 1 failed, 1 reverted; 2026-12-06T09:00:00Z … 2026-12-06T10:00:00Z"),
            "{s}"
        );
        assert!(
            s.contains(
                "identity/other: 1 objects changed (ClearImmutableId 1), 0 failed, 0 reverted"
            ),
            "{s}"
        );
        assert!(
            s.contains("5 entries; last entry 5 has hash h5: keep it elsewhere"),
            "{s}"
        );
        assert_eq!(summary(&[], None), "no entries\n");
        // Filtered: the head is still the journal's, not the last entry shown.
        let s = summary(&all[..2], all.last());
        assert!(
            s.contains("2 entries shown of 5 in the journal; last entry 5 has hash h5"),
            "{s}"
        );
    }

    #[test]
    fn filters_by_resource_object_and_time() {
        let all = sample();
        let kept = |f: &Filter| {
            all.iter()
                .filter(|e| f.keeps(e))
                .map(|e| e.seq)
                .collect::<Vec<_>>()
        };
        let by_resource = Filter {
            of_resource: Some("CloudUserConversion/identity/other".into()),
            ..Filter::default()
        };
        assert_eq!(kept(&by_resource), [5]);
        let by_object = Filter {
            object: Some("U1@CONTOSO.COM".into()),
            ..Filter::default()
        };
        assert_eq!(kept(&by_object), [1, 2, 4]);
        let by_time = Filter {
            since: Some(parse_time("2026-12-06T09:00:01Z").unwrap()),
            until: Some(parse_time("2026-12-06T11:00:00Z").unwrap()),
            ..Filter::default()
        };
        assert_eq!(kept(&by_time), [2, 3, 4]);
        assert!(parse_time("yesterday").unwrap_err().contains("RFC 3339"));
        let bad = Filter {
            of_resource: Some("wave".into()),
            ..Filter::default()
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("Kind/namespace/name")
        );
    }
}
