//! Printing results: resources as kubectl prints them (`-o yaml|json`), plans as text.

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::conflicts;
use super::plan::PlanReport;
use super::runner::RunResult;

/// Output format of `apply`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A table, one row per resource, as `kubectl get` prints it.
    Table,
    /// A `v1 List` in YAML.
    Yaml,
    /// A `v1 List` in JSON.
    Json,
}

/// Output format of `plan`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PlanFormat {
    /// Human-readable text.
    Text,
    /// JSON, one object per resource.
    Json,
    /// Markdown, e.g. for a pull-request comment.
    Markdown,
}

/// The resources with their status: a table, or a `v1 List` (what `kubectl get -o yaml`
/// prints).
pub fn resources(result: &RunResult, format: Format) -> anyhow::Result<String> {
    if format == Format::Table {
        return Ok(table(result));
    }
    let items: Vec<_> = result.resources.iter().map(|r| &r.object).collect();
    let list = json!({"apiVersion": "v1", "kind": "List", "items": items});
    Ok(match format {
        Format::Json => serde_json::to_string_pretty(&list)? + "\n",
        Format::Yaml => serde_saphyr::to_string(&list)?,
        Format::Table => String::new(),
    })
}

/// One row per resource: kind/namespace/name, Ready, its reason, the progress (a tenant's
/// converted/synchronised objects, a conversion's converted/matched), the message.
pub fn table(result: &RunResult) -> String {
    let text = |v: &Value| v.as_str().unwrap_or("-").to_string();
    let rows: Vec<[String; 5]> = result
        .resources
        .iter()
        .map(|r| {
            let o = &r.object;
            let ready = o["status"]["conditions"]
                .as_array()
                .and_then(|c| {
                    c.iter()
                        .find(|c| c["type"] == crate::api::conditions::READY)
                })
                .cloned()
                .unwrap_or_default();
            let progress = match (&o["status"]["progress"], &o["status"]["matched"]) {
                (Value::String(p), _) => p.clone(),
                (_, Value::Number(m)) => {
                    format!("{}/{m}", o["status"]["converted"].as_i64().unwrap_or(0))
                }
                _ => "-".into(),
            };
            [
                format!("{}/{}", text(&o["kind"]), r.name),
                text(&ready["status"]),
                text(&ready["reason"]),
                progress,
                text(&ready["message"]),
            ]
        })
        .collect();
    let header = ["NAME", "READY", "REASON", "PROGRESS", "MESSAGE"];
    let mut width = header.map(str::len);
    for row in &rows {
        for (w, cell) in width.iter_mut().zip(row.iter()) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; 5]| {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i == 4 {
                l.push_str(c);
            } else {
                l.push_str(&format!("{c:<w$}   ", w = width[i]));
            }
        }
        l.trim_end().to_string() + "\n"
    };
    let mut out = line(header);
    for row in &rows {
        out.push_str(&line([&row[0], &row[1], &row[2], &row[3], &row[4]]));
    }
    out
}

/// The plans, as text or JSON.
pub fn plans(reports: &[PlanReport], format: PlanFormat) -> anyhow::Result<String> {
    match format {
        PlanFormat::Json => return Ok(serde_json::to_string_pretty(reports)? + "\n"),
        PlanFormat::Markdown => return Ok(markdown(reports)),
        PlanFormat::Text => {}
    }
    let mut s = String::new();
    for r in reports {
        let _ = writeln!(s, "{} {} (tenant {})", r.kind, r.resource, r.tenant_id);
        for c in &r.conflicts {
            let _ = writeln!(s, "  conflict: {}", conflicts::line(c));
        }
        if let Some(p) = &r.problem {
            let _ = writeln!(s, "  cannot plan: {p}");
            continue;
        }
        if let Some(o) = &r.observed {
            let (u, g, ids) = (
                o.users.unwrap_or_default(),
                o.groups.unwrap_or_default(),
                o.immutable_ids.unwrap_or_default(),
            );
            let _ = writeln!(
                s,
                "  observed: sync {}; users {} synchronised, {} converted, {} cloud-only; groups {} synchronised, {} converted; ImmutableIDs {} set on converted users",
                state_word(o),
                u.synced,
                u.converted,
                u.cloud_only,
                g.synced,
                g.converted,
                ids.remaining
            );
        }
        if let Some(a) = &r.link_audit {
            let _ = writeln!(s, "  {}", a.describe());
            for f in a
                .findings
                .iter()
                .take(crate::reconcile::link_audit::MAX_FINDINGS)
            {
                let _ = writeln!(s, "    {}", finding_line(f));
            }
            if a.findings.len() > crate::reconcile::link_audit::MAX_FINDINGS {
                let _ = writeln!(
                    s,
                    "    … {} more (plan --format markdown lists every one)",
                    a.findings.len() - crate::reconcile::link_audit::MAX_FINDINGS
                );
            }
        }
        let _ = writeln!(s, "  next step: {}", r.next_step);
        if let Some(a) = &r.approval_status {
            let _ = writeln!(s, "  approval: {a}");
        }
        if let Some(line) = r.permissions.as_ref().and_then(permissions_line) {
            let _ = writeln!(s, "  {line}");
        }
        if r.changes.is_empty() {
            let _ = writeln!(s, "  no changes");
        }
        for (i, c) in r.changes.iter().enumerate() {
            let _ = writeln!(
                s,
                "  {}. {} ({} objects)\n     {}",
                i + 1,
                c.request,
                c.objects,
                c.detail
            );
        }
    }
    Ok(s)
}

/// Markdown table cells must not break the table.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The plans as Markdown: a summary table, then one section per resource.
fn markdown(reports: &[PlanReport]) -> String {
    let mut s = String::from(
        "## entra-cloud-operator plan\n\n| resource | kind | next step | objects to change | conflicts |\n|---|---|---|---|---|\n",
    );
    for r in reports {
        let objects: i64 = r.changes.iter().map(|c| c.objects).sum();
        let step = r
            .problem
            .as_deref()
            .map(|p| format!("cannot plan: {p}"))
            .unwrap_or_else(|| r.next_step.clone());
        let _ = writeln!(
            s,
            "| `{}` | {} | {} | {objects} | {} |",
            r.resource,
            r.kind,
            cell(&step),
            r.conflicts.len()
        );
    }
    for r in reports {
        let _ = writeln!(
            s,
            "\n### `{}` ({}, tenant `{}`)\n",
            r.resource, r.kind, r.tenant_id
        );
        for c in &r.conflicts {
            let _ = writeln!(s, "- **Conflict:** {}", cell(&conflicts::line(c)));
        }
        if !r.conflicts.is_empty() {
            s.push('\n');
        }
        if let Some(p) = &r.problem {
            let _ = writeln!(s, "**Cannot plan:** {}", cell(p));
            continue;
        }
        if let Some(o) = &r.observed {
            let (u, g) = (o.users.unwrap_or_default(), o.groups.unwrap_or_default());
            let _ = writeln!(
                s,
                "Observed: sync `{}`; users {} synchronised, {} converted, {} cloud-only; groups {} synchronised, {} converted.\n",
                state_word(o),
                u.synced,
                u.converted,
                u.cloud_only,
                g.synced,
                g.converted
            );
        }
        if let Some(a) = &r.link_audit {
            audit_markdown(&mut s, a);
        }
        let _ = writeln!(s, "Next step: {}\n", cell(&r.next_step));
        if let Some(line) = r.permissions.as_ref().and_then(permissions_line) {
            let _ = writeln!(s, "**{}**\n", cell(&line));
        }
        if r.changes.is_empty() {
            let _ = writeln!(s, "No changes.");
            continue;
        }
        let _ = writeln!(s, "| # | request | objects | detail |\n|---|---|---|---|");
        for (i, c) in r.changes.iter().enumerate() {
            let _ = writeln!(
                s,
                "| {} | `{}` | {} | {} |",
                i + 1,
                cell(&c.request),
                c.objects,
                cell(&c.detail)
            );
        }
    }
    s
}

/// The permission preflight in one line, when it has something to say: what is missing (apply
/// stalls before any write), else what could not be checked.
fn permissions_line(p: &crate::reconcile::preflight::Report) -> Option<String> {
    if !p.missing.is_empty() {
        Some(format!(
            "permissions: missing {} (apply stalls MissingPermission before any write)",
            p.missing.join(", ")
        ))
    } else if !p.unverified.is_empty() {
        Some(format!(
            "permissions: unverified {} (the access token cannot be read; reads checked, writes not)",
            p.unverified.join(", ")
        ))
    } else {
        None
    }
}

fn state_word(o: &crate::api::TenantSyncPolicyStatus) -> String {
    o.sync_state
        .map(|s| format!("{s:?}"))
        .unwrap_or_else(|| "-".into())
}

/// One finding in words.
fn finding_line(f: &crate::api::active_directory::LinkFinding) -> String {
    let who = f
        .user_principal_name
        .clone()
        .or_else(|| f.distinguished_name.clone())
        .unwrap_or_default();
    match f.kind.as_str() {
        "Mismatch" => format!(
            "Mismatch {who}: Entra ImmutableID {} but AD anchor {}",
            f.immutable_id.as_deref().unwrap_or("(none)"),
            f.expected.as_deref().unwrap_or("-")
        ),
        "AdOnly" => format!(
            "AdOnly {who}: {} has no cloud twin",
            f.distinguished_name.as_deref().unwrap_or("-")
        ),
        _ => format!("CloudOnly {who}: no AD object in the synchronised OUs"),
    }
}

/// The link audit in full, as a table.
fn audit_markdown(s: &mut String, a: &crate::api::active_directory::LinkAudit) {
    let _ = writeln!(s, "Link audit (AD ↔ Entra): {}.\n", cell(&a.describe()));
    if a.findings.is_empty() {
        let _ = writeln!(s, "Every checked link is intact.\n");
        return;
    }
    let _ = writeln!(
        s,
        "| finding | user | AD object | Entra ImmutableID | AD anchor (base64) |\n|---|---|---|---|---|"
    );
    for f in &a.findings {
        let _ = writeln!(
            s,
            "| {} | {} | {} | `{}` | `{}` |",
            f.kind,
            cell(f.user_principal_name.as_deref().unwrap_or("-")),
            cell(f.distinguished_name.as_deref().unwrap_or("-")),
            cell(f.immutable_id.as_deref().unwrap_or("-")),
            cell(f.expected.as_deref().unwrap_or("-"))
        );
    }
    s.push('\n');
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::api::active_directory::{LinkAudit, LinkFinding};

    fn report(findings: usize) -> PlanReport {
        PlanReport {
            kind: "CloudUserConversion".into(),
            resource: "identity/wave".into(),
            tenant_id: "t".into(),
            observed: None,
            next_step: "convert".into(),
            link_audit: Some(LinkAudit {
                checked: findings as i64,
                mismatched: findings as i64,
                findings: (0..findings)
                    .map(|i| LinkFinding {
                        kind: "Mismatch".into(),
                        user_principal_name: Some(format!("u{i}@corp.example")),
                        distinguished_name: Some(format!("CN=U|{i},OU=Synced,DC=corp")),
                        immutable_id: Some("AAAA".into()),
                        expected: Some("BBBB".into()),
                    })
                    .collect(),
                ..Default::default()
            }),
            ..PlanReport::default()
        }
    }

    #[test]
    fn markdown_lists_every_finding_text_the_first_twenty() {
        let md = plans(&[report(30)], PlanFormat::Markdown).unwrap();
        assert!(
            md.contains("Link audit (AD ↔ Entra): link audit: 30 checked"),
            "{md}"
        );
        assert_eq!(md.matches("| Mismatch |").count(), 30, "{md}");
        assert!(
            md.contains("CN=U\\|29,OU=Synced"),
            "cells are escaped: {md}"
        );
        let text = plans(&[report(30)], PlanFormat::Text).unwrap();
        assert_eq!(text.matches("Mismatch u").count(), 20, "{text}");
        assert!(text.contains("… 10 more (plan --format markdown lists every one)"));
        let json = plans(&[report(2)], PlanFormat::Json).unwrap();
        assert!(json.contains("\"linkAudit\""), "{json}");
    }

    #[test]
    fn conflicts_show_in_every_format_and_selected_ids_never() {
        let mut r = report(0);
        r.selected = ["hidden-id"].into_iter().collect();
        r.conflicts.push(conflicts::Conflict {
            kind: conflicts::SELECTED_TWICE.into(),
            with: "CloudUserConversion identity/other".into(),
            objects: 4,
            examples: vec!["id-1".into()],
            detail: "4 users are selected by CloudUserConversion identity/other too".into(),
        });
        let text = plans(std::slice::from_ref(&r), PlanFormat::Text).unwrap();
        assert!(
            text.contains(
                "  conflict: SelectedTwice with CloudUserConversion identity/other: 4 users"
            ) && text.contains("(object ids, e.g. id-1)"),
            "{text}"
        );
        let md = plans(std::slice::from_ref(&r), PlanFormat::Markdown).unwrap();
        assert!(md.contains("| convert | 0 | 1 |"), "{md}");
        assert!(md.contains("- **Conflict:** SelectedTwice with"), "{md}");
        let json = plans(std::slice::from_ref(&r), PlanFormat::Json).unwrap();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v[0]["conflicts"][0]["objects"], 4, "{json}");
        assert_eq!(
            v[0]["conflicts"][0]["with"],
            "CloudUserConversion identity/other"
        );
        for out in [&text, &md, &json] {
            assert!(!out.contains("hidden-id"), "{out}");
        }
    }
}

#[cfg(test)]
mod permission_tests {
    use super::*;
    use crate::reconcile::preflight::{Report, Source};

    #[test]
    fn missing_permissions_show_in_one_line_and_in_full_in_json() {
        let mut r = PlanReport {
            kind: "CloudGroupConversion".into(),
            resource: "identity/groups".into(),
            next_step: "convert".into(),
            permissions: Some(Report {
                source: Source::Token,
                needed: vec!["Group.ReadWrite.All", "User.Read.All"],
                granted: Some(vec!["User.Read.All".into()]),
                missing: vec!["Group.ReadWrite.All"],
                unverified: Vec::new(),
            }),
            ..PlanReport::default()
        };
        let text = plans(std::slice::from_ref(&r), PlanFormat::Text).unwrap_or_default();
        assert!(
            text.contains("  permissions: missing Group.ReadWrite.All (apply stalls MissingPermission before any write)"),
            "{text}"
        );
        let json = plans(std::slice::from_ref(&r), PlanFormat::Json).unwrap_or_default();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap_or_default();
        assert_eq!(v[0]["permissions"]["granted"][0], "User.Read.All", "{json}");
        assert_eq!(v[0]["permissions"]["source"], "token", "{json}");
        // Nothing to say: no line.
        if let Some(p) = r.permissions.as_mut() {
            p.missing.clear();
        }
        let text = plans(std::slice::from_ref(&r), PlanFormat::Text).unwrap_or_default();
        assert!(!text.contains("permissions:"), "{text}");
        let md = plans(&[r], PlanFormat::Markdown).unwrap_or_default();
        assert!(!md.contains("permissions:"), "{md}");
    }
}
