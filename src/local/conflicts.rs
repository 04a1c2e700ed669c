//! Conflicts `plan` finds before anything is written: an object two conversions select (each
//! would switch it, and each would revert it on `onDelete: Revert`), and a per-object
//! conversion acting for a tenant whose policy turns directory synchronisation off (the
//! tenant-wide disable converts every object anyway, so the two strategies overlap), and two
//! policies that both set one tenant's directory synchronisation (the controller lets only the
//! first act, `TenantClaimed`).

use serde::Serialize;

use crate::api::TenantSyncPolicy;
use crate::api::tenant::DirectorySyncMode;

/// How many of the objects in a conflict are named.
pub const EXAMPLES: usize = 3;

/// `kind` of an object selected by two resources.
pub const SELECTED_TWICE: &str = "SelectedTwice";
/// `kind` of a per-object conversion under a tenant-wide disable.
pub const TENANT_DISABLES_SYNC: &str = "TenantDisablesSync";
/// `kind` of two policies setting one tenant's `directorySync`.
pub const TENANT_SET_TWICE: &str = "TenantSetTwice";

/// A conflict between two resources, found from reads only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Conflict {
    /// [`SELECTED_TWICE`], [`TENANT_DISABLES_SYNC`] or [`TENANT_SET_TWICE`].
    pub kind: String,
    /// The other resource: `Kind namespace/name`.
    pub with: String,
    /// How many objects both touch (0 when it is the whole tenant).
    pub objects: i64,
    /// A few of them, by object id.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<String>,
    /// What it means, in words.
    pub detail: String,
}

/// What a conversion's plan selected: its kind, `namespace/name`, tenant and the sorted ids.
#[derive(Clone, Copy, Debug)]
pub struct Selected<'a> {
    /// `CloudUserConversion` or `CloudGroupConversion`.
    pub kind: &'a str,
    /// `namespace/name`.
    pub resource: &'a str,
    /// Tenant id.
    pub tenant_id: &'a str,
    /// The objects it selected, sorted ids.
    pub ids: &'a crate::guid::IdSet,
}

/// A [`SELECTED_TWICE`] conflict for both of every pair of conversions of the same kind and
/// tenant that selected a common object (compared by object id): each as (index in
/// `selections`, the conflict).
pub fn selected_twice(selections: &[Selected<'_>]) -> Vec<(usize, Conflict)> {
    let mut out = Vec::new();
    for (i, a) in selections.iter().enumerate() {
        for (j, b) in selections.iter().enumerate().skip(i + 1) {
            if a.kind != b.kind || a.tenant_id != b.tenant_id {
                continue;
            }
            let (n, examples) = a.ids.shared(b.ids, EXAMPLES);
            if n == 0 {
                continue;
            }
            let objects = objects_word(a.kind);
            let name = |r: &Selected<'_>| format!("{} {}", r.kind, r.resource);
            let conflict = |with: String, other: &str| Conflict {
                kind: SELECTED_TWICE.into(),
                with,
                objects: n,
                examples: examples.clone(),
                detail: format!(
                    "{n} {objects} are selected by {other} too: both would switch them, and either may revert them; select each object in one resource only, excluding it from the other"
                ),
            };
            let (na, nb) = (name(a), name(b));
            out.push((i, conflict(nb.clone(), &nb)));
            out.push((j, conflict(na.clone(), &na)));
        }
    }
    out
}

fn objects_word(kind: &str) -> &'static str {
    if kind == "CloudGroupConversion" {
        "groups"
    } else {
        "users"
    }
}

/// A [`TENANT_DISABLES_SYNC`] conflict when `tenant`, the policy a per-object conversion
/// names, turns directory synchronisation off for the whole tenant.
pub fn tenant_disables(kind: &str, tenant: &TenantSyncPolicy) -> Option<Conflict> {
    if tenant.spec.directory_sync != DirectorySyncMode::Disabled {
        return None;
    }
    let policy = format!(
        "TenantSyncPolicy {}/{}",
        tenant.metadata.namespace.as_deref().unwrap_or("default"),
        tenant.metadata.name.as_deref().unwrap_or_default()
    );
    let detail = format!(
        "{policy} has directorySync: Disabled, which converts every synchronised object of the tenant anyway: choose one strategy (remove this resource, or set the policy's directorySync to Enabled or Unmanaged) — the per-object waves, canary and exclusions do not hold {} once synchronisation is off",
        objects_word(kind)
    );
    Some(Conflict {
        kind: TENANT_DISABLES_SYNC.into(),
        with: policy,
        objects: 0,
        examples: Vec::new(),
        detail,
    })
}

/// A [`TENANT_SET_TWICE`] conflict for both of every pair of `tenants` that set the same
/// tenant's `directorySync` (`Enabled` or `Disabled`; `Unmanaged` only observes): each as
/// (index in `tenants`, the conflict).
pub fn tenant_set_twice(tenants: &[&TenantSyncPolicy]) -> Vec<(usize, Conflict)> {
    let sets = |t: &TenantSyncPolicy| t.spec.directory_sync != DirectorySyncMode::Unmanaged;
    let name = |t: &TenantSyncPolicy| {
        format!(
            "TenantSyncPolicy {}/{}",
            t.metadata.namespace.as_deref().unwrap_or("default"),
            t.metadata.name.as_deref().unwrap_or_default()
        )
    };
    let mut out = Vec::new();
    for (i, a) in tenants.iter().enumerate() {
        for (j, b) in tenants.iter().enumerate().skip(i + 1) {
            let same = a.spec.tenant_id.eq_ignore_ascii_case(&b.spec.tenant_id);
            if !same || !sets(a) || !sets(b) {
                continue;
            }
            let conflict = |other: &TenantSyncPolicy, mode: DirectorySyncMode| Conflict {
                kind: TENANT_SET_TWICE.into(),
                with: name(other),
                objects: 0,
                examples: Vec::new(),
                detail: format!(
                    "{} sets this tenant's directorySync too ({mode:?}): the operator lets one policy act per tenant and stalls the other (TenantClaimed); keep directorySync on one policy, set the other to Unmanaged",
                    name(other)
                ),
            };
            out.push((i, conflict(b, b.spec.directory_sync)));
            out.push((j, conflict(a, a.spec.directory_sync)));
        }
    }
    out
}

/// A conflict in one line of text.
pub fn line(c: &Conflict) -> String {
    if c.examples.is_empty() {
        format!("{} with {}: {}", c.kind, c.with, c.detail)
    } else {
        format!(
            "{} with {}: {} (object ids, e.g. {})",
            c.kind,
            c.with,
            c.detail,
            c.examples.join(", ")
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ids(v: &[&str]) -> crate::guid::IdSet {
        v.iter().collect()
    }

    /// A conversion's selection: (kind, `namespace/name`, tenant, ids).
    type Owned = (&'static str, String, &'static str, crate::guid::IdSet);

    fn report(kind: &'static str, name: &str, tenant: &'static str, selected: &[&str]) -> Owned {
        (kind, format!("identity/{name}"), tenant, ids(selected))
    }

    /// The conflicts of each selection, in order.
    fn run(owned: &[Owned]) -> Vec<Vec<Conflict>> {
        let views: Vec<Selected<'_>> = owned
            .iter()
            .map(|(kind, resource, tenant_id, ids)| Selected {
                kind,
                resource,
                tenant_id,
                ids,
            })
            .collect();
        let mut out = vec![Vec::new(); owned.len()];
        for (i, c) in selected_twice(&views) {
            out[i].push(c);
        }
        out
    }

    #[test]
    fn two_user_conversions_of_one_tenant_selecting_one_user_conflict_both_ways() {
        let r = run(&[
            report("CloudUserConversion", "wave-1", "t", &["u1", "u2", "u3"]),
            report("CloudUserConversion", "finance", "t", &["u2", "u9"]),
            // Other tenant, other kind: ids do not compare.
            report("CloudUserConversion", "elsewhere", "t2", &["u2"]),
            report("CloudGroupConversion", "groups", "t", &["u2"]),
        ]);
        assert_eq!(r[0].len(), 1);
        let c = &r[0][0];
        assert_eq!(c.kind, SELECTED_TWICE);
        assert_eq!(c.with, "CloudUserConversion identity/finance");
        assert_eq!((c.objects, c.examples.clone()), (1, vec!["u2".to_string()]));
        assert!(line(c).contains("1 users are selected by"), "{}", line(c));
        assert_eq!(r[1][0].with, "CloudUserConversion identity/wave-1");
        assert!(r[2].is_empty() && r[3].is_empty());
    }

    #[test]
    fn only_a_disabling_policy_conflicts_with_a_per_object_conversion() {
        let mut tsp: TenantSyncPolicy = serde_json::from_value(serde_json::json!({
            "apiVersion": "cloudidentity.dev/v1alpha1",
            "kind": "TenantSyncPolicy",
            "metadata": {"name": "contoso", "namespace": "identity"},
            "spec": {"tenantId": "t", "directorySync": "Disabled",
                     "credentials": {"clientSecret": {"clientId": "c",
                        "secretRef": {"name": "s", "key": "k"}}}}
        }))
        .unwrap();
        let c = tenant_disables("CloudUserConversion", &tsp).unwrap();
        assert_eq!(c.with, "TenantSyncPolicy identity/contoso");
        assert!(c.detail.contains("directorySync: Disabled"), "{}", c.detail);
        tsp.spec.directory_sync = DirectorySyncMode::Unmanaged;
        assert_eq!(tenant_disables("CloudUserConversion", &tsp), None);
        tsp.spec.directory_sync = DirectorySyncMode::Enabled;
        assert_eq!(tenant_disables("CloudGroupConversion", &tsp), None);
    }

    #[test]
    fn two_policies_setting_one_tenant_conflict_and_an_observer_does_not() {
        let policy = |name: &str, tenant: &str, sync: &str| -> TenantSyncPolicy {
            serde_json::from_value(serde_json::json!({
                "apiVersion": "cloudidentity.dev/v1alpha1",
                "kind": "TenantSyncPolicy",
                "metadata": {"name": name, "namespace": "identity"},
                "spec": {"tenantId": tenant, "directorySync": sync,
                         "credentials": {"clientSecret": {"clientId": "c",
                            "secretRef": {"name": "s", "key": "k"}}}}
            }))
            .unwrap()
        };
        let (a, b, observer, other) = (
            policy("a", "T", "Disabled"),
            policy("b", "t", "Enabled"),
            policy("watch", "t", "Unmanaged"),
            policy("other", "u", "Disabled"),
        );
        let found = tenant_set_twice(&[&a, &b, &observer, &other]);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[0].0, 0);
        assert_eq!(found[0].1.with, "TenantSyncPolicy identity/b");
        assert!(
            found[0].1.detail.contains("(Enabled)"),
            "{}",
            found[0].1.detail
        );
        assert_eq!(
            (found[1].0, found[1].1.with.as_str()),
            (1, "TenantSyncPolicy identity/a")
        );
    }
}
