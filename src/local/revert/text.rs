//! Printing what `revert` plans and does: text for people, JSON for pipelines.

use std::fmt::Write as _;

use super::RevertReport;

/// Output format of `revert`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Human-readable text: the plan, then (without `--plan`) what was done.
    Text,
    /// JSON, one object per resource, with its plan and (without `--plan`) its result.
    Json,
}

/// The reports in `format`: with `results`, what each revert did (text), or everything (JSON);
/// without, the plan.
pub fn render(reports: &[RevertReport], format: Format, results: bool) -> anyhow::Result<String> {
    Ok(match (format, results) {
        (Format::Json, _) => serde_json::to_string_pretty(reports)? + "\n",
        (Format::Text, false) => plan_text(reports),
        (Format::Text, true) => results_text(reports),
    })
}

/// Per resource, each change to undo and each object kept; a summary line last.
fn plan_text(reports: &[RevertReport]) -> String {
    let mut s = String::new();
    for r in reports {
        let _ = write!(s, "{} {}", r.kind, r.resource);
        if !r.tenant_id.is_empty() {
            let _ = write!(s, " (tenant {})", r.tenant_id);
        }
        s.push('\n');
        if let Some(p) = &r.problem {
            let _ = writeln!(s, "  error: {p}");
            continue;
        }
        for u in &r.undo {
            let _ = writeln!(s, "  undo  {}: {}", u.name, u.action);
        }
        for k in &r.kept {
            let _ = writeln!(s, "  keep  {}: {}", k.name, k.why);
        }
        if !r.pending() {
            s.push_str("  nothing to revert\n");
        }
    }
    let undo: usize = reports.iter().map(|r| r.undo.len()).sum();
    let kept: usize = reports.iter().map(|r| r.kept.len()).sum();
    let errors = reports.iter().filter(|r| r.problem.is_some()).count();
    let _ = write!(
        s,
        "\nRevert plan: {undo} change(s) to undo, {kept} object(s) kept, in {} resource(s)",
        reports.len()
    );
    if errors > 0 {
        let _ = write!(s, "; {errors} could not be planned");
    }
    s.push_str(".\n");
    s
}

/// Per resource, what its revert did or why it did not finish.
fn results_text(reports: &[RevertReport]) -> String {
    let mut s = String::from("\n");
    for r in reports {
        let said = match (&r.problem, &r.result) {
            (Some(p), _) => format!("not reverted: {p}"),
            (None, Some(x)) if x.done => format!("reverted: {}", x.message),
            (None, Some(x)) => format!("not finished: {}", x.message),
            (None, None) => "not reverted".to_string(),
        };
        let _ = writeln!(s, "{} {}: {said}", r.kind, r.resource);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local::revert::{Kept, Reverted};
    use crate::reconcile::revert_trust::UndoStep;

    fn report() -> RevertReport {
        RevertReport {
            kind: "CloudUserConversion".into(),
            resource: "identity/wave-1".into(),
            tenant_id: "t".into(),
            undo: vec![UndoStep {
                id: "1".into(),
                name: "alice@contoso.com".into(),
                action: "switch back to AD (isCloudManaged=false)".into(),
            }],
            kept: vec![Kept {
                id: "2".into(),
                name: "bob@contoso.com".into(),
                why: "journal entry 7 does not verify (edited)".into(),
            }],
            ..RevertReport::default()
        }
    }

    #[test]
    fn the_plan_names_each_change_and_each_object_kept() {
        let text = render(&[report()], Format::Text, false).unwrap_or_default();
        assert!(
            text.starts_with("CloudUserConversion identity/wave-1 (tenant t)\n"),
            "{text}"
        );
        assert!(
            text.contains("  undo  alice@contoso.com: switch back to AD (isCloudManaged=false)\n"),
            "{text}"
        );
        assert!(
            text.contains("  keep  bob@contoso.com: journal entry 7 does not verify (edited)\n"),
            "{text}"
        );
        assert!(
            text.contains("1 change(s) to undo, 1 object(s) kept, in 1 resource(s)."),
            "{text}"
        );
        let empty = RevertReport {
            undo: Vec::new(),
            kept: Vec::new(),
            ..report()
        };
        let text = render(&[empty], Format::Text, false).unwrap_or_default();
        assert!(text.contains("  nothing to revert\n"), "{text}");
    }

    #[test]
    fn the_results_say_what_was_done_and_what_was_not() {
        let mut done = report();
        done.result = Some(Reverted {
            done: true,
            message: "1 users switched back".into(),
        });
        let mut failed = report();
        failed.resource = "identity/wave-2".into();
        failed.result = Some(Reverted {
            done: false,
            message: "1 objects refused".into(),
        });
        let text = render(&[done, failed], Format::Text, true).unwrap_or_default();
        assert!(
            text.contains("identity/wave-1: reverted: 1 users switched back\n"),
            "{text}"
        );
        assert!(
            text.contains("identity/wave-2: not finished: 1 objects refused\n"),
            "{text}"
        );
        let json = render(&[report()], Format::Json, true).unwrap_or_default();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap_or_default();
        assert_eq!(v[0]["undo"][0]["name"], "alice@contoso.com", "{json}");
        assert_eq!(
            v[0]["kept"][0]["why"],
            "journal entry 7 does not verify (edited)"
        );
    }
}
