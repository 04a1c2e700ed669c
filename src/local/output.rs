//! Printing results: resources as kubectl prints them (`-o yaml|json`), plans as text.

use std::fmt::Write as _;

use serde_json::json;

use super::runner::{PlanReport, RunResult};

/// Output format of `apply`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
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
}

/// The resources with their status, as a `v1 List` (what `kubectl get -o yaml` prints).
pub fn resources(result: &RunResult, format: Format) -> anyhow::Result<String> {
    let items: Vec<_> = result.resources.iter().map(|r| &r.object).collect();
    let list = json!({"apiVersion": "v1", "kind": "List", "items": items});
    Ok(match format {
        Format::Json => serde_json::to_string_pretty(&list)? + "\n",
        Format::Yaml => serde_saphyr::to_string(&list)?,
    })
}

/// The plans, as text or JSON.
pub fn plans(reports: &[PlanReport], format: PlanFormat) -> anyhow::Result<String> {
    if format == PlanFormat::Json {
        return Ok(serde_json::to_string_pretty(reports)? + "\n");
    }
    let mut s = String::new();
    for r in reports {
        let _ = writeln!(
            s,
            "TenantSyncPolicy {} (tenant {})",
            r.resource, r.tenant_id
        );
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
                "  observed: sync {:?}; users {} synchronised, {} converted, {} cloud-only; groups {} synchronised, {} converted; ImmutableIDs {} set on converted users",
                o.sync_state,
                u.synced,
                u.converted,
                u.cloud_only,
                g.synced,
                g.converted,
                ids.remaining
            );
        }
        let _ = writeln!(s, "  next step: {}", r.next_step);
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
