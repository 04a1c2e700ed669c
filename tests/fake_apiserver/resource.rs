//! What a URL names (group, version, plural, namespace, name, subresource) and what the API
//! server knows about a resource without being told: its kind, whether it has a status
//! subresource and whether it counts generations.

use serde_json::Value;

/// The resource a request addresses, parsed from its URL path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourcePath {
    /// API group; empty for the core group (`/api/v1`).
    pub group: String,
    /// API version, e.g. `v1` or `v1alpha1`.
    pub version: String,
    /// Resource plural, e.g. `tenantsyncpolicies`.
    pub plural: String,
    /// Namespace from the URL; `None` for cluster-wide collections and cluster-scoped objects.
    pub namespace: Option<String>,
    /// Object name; `None` for the collection.
    pub name: Option<String>,
    /// Subresource, e.g. `status`.
    pub subresource: Option<String>,
}

impl ResourcePath {
    /// Parses `/api/v1/...` and `/apis/{group}/{version}/...`; `None` for anything else
    /// (discovery documents included).
    pub fn parse(path: &str) -> Option<Self> {
        let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        if segs.iter().any(|s| s.is_empty()) {
            return None;
        }
        let (group, version, rest) = match segs.as_slice() {
            ["api", version, rest @ ..] => ("", *version, rest),
            ["apis", group, version, rest @ ..] => (*group, *version, rest),
            _ => return None,
        };
        let (plural, namespace, name, subresource) = match rest {
            [] => return None,
            // The namespace objects themselves (cluster-scoped), and their subresources.
            ["namespaces"] => ("namespaces", None, None, None),
            ["namespaces", name] => ("namespaces", None, Some(*name), None),
            ["namespaces", name, sub @ ("status" | "finalize")] => {
                ("namespaces", None, Some(*name), Some(*sub))
            }
            ["namespaces", ns, plural] => (*plural, Some(*ns), None, None),
            ["namespaces", ns, plural, name] => (*plural, Some(*ns), Some(*name), None),
            ["namespaces", ns, plural, name, sub] => (*plural, Some(*ns), Some(*name), Some(*sub)),
            [plural] => (*plural, None, None, None),
            [plural, name] => (*plural, None, Some(*name), None),
            [plural, name, sub] => (*plural, None, Some(*name), Some(*sub)),
            _ => return None,
        };
        Some(Self {
            group: group.to_string(),
            version: version.to_string(),
            plural: plural.to_string(),
            namespace: namespace.map(str::to_string),
            name: name.map(str::to_string),
            subresource: subresource.map(str::to_string),
        })
    }

    /// `v1` for the core group, `group/version` otherwise.
    pub fn api_version(&self) -> String {
        api_version(&self.group, &self.version)
    }

    /// `plural.group` (or just `plural` for core), as the API server names it in messages.
    pub fn qualified(&self) -> String {
        qualified(&self.group, &self.plural)
    }

    /// The storage key of the resource.
    pub(crate) fn key(&self) -> ResKey {
        ResKey {
            group: self.group.clone(),
            plural: self.plural.clone(),
        }
    }
}

/// Where a resource's objects are stored: the version is not part of it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct ResKey {
    pub group: String,
    pub plural: String,
}

pub(crate) fn api_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}

pub(crate) fn qualified(group: &str, plural: &str) -> String {
    if group.is_empty() {
        plural.to_string()
    } else {
        format!("{plural}.{group}")
    }
}

/// Splits an `apiVersion` into group and version.
pub(crate) fn split_api_version(api_version: &str) -> (String, String) {
    match api_version.split_once('/') {
        Some((g, v)) => (g.to_string(), v.to_string()),
        None => (String::new(), api_version.to_string()),
    }
}

/// Behaviour that depends on the resource, as the real API server has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Traits {
    /// A custom resource (any group that is not a Kubernetes one).
    pub custom: bool,
    /// `metadata.generation` is maintained.
    pub generation: bool,
    /// A `status` subresource exists: main-resource writes keep the stored status and
    /// status writes change nothing else.
    pub status: bool,
}

const BUILTIN_WITH_STATUS: &[&str] = &[
    "pods",
    "services",
    "nodes",
    "namespaces",
    "persistentvolumes",
    "persistentvolumeclaims",
    "deployments",
    "statefulsets",
    "replicasets",
    "daemonsets",
    "jobs",
    "cronjobs",
    "ingresses",
    "horizontalpodautoscalers",
    "poddisruptionbudgets",
    "certificatesigningrequests",
    "customresourcedefinitions",
];

const BUILTIN_WITH_GENERATION: &[&str] = &[
    "deployments",
    "statefulsets",
    "replicasets",
    "daemonsets",
    "jobs",
    "cronjobs",
    "ingresses",
    "horizontalpodautoscalers",
    "poddisruptionbudgets",
    "customresourcedefinitions",
];

pub(crate) fn traits(group: &str, plural: &str) -> Traits {
    let builtin = group.is_empty()
        || group.ends_with("k8s.io")
        || matches!(group, "apps" | "batch" | "policy" | "autoscaling");
    if builtin {
        Traits {
            custom: false,
            generation: BUILTIN_WITH_GENERATION.contains(&plural),
            status: BUILTIN_WITH_STATUS.contains(&plural),
        }
    } else {
        Traits {
            custom: true,
            generation: true,
            status: true,
        }
    }
}

const KINDS: &[(&str, &str)] = &[
    ("tenantsyncpolicies", "TenantSyncPolicy"),
    ("secrets", "Secret"),
    ("configmaps", "ConfigMap"),
    ("events", "Event"),
    ("leases", "Lease"),
    ("namespaces", "Namespace"),
    ("pods", "Pod"),
    ("services", "Service"),
    ("serviceaccounts", "ServiceAccount"),
    ("deployments", "Deployment"),
    ("roles", "Role"),
    ("rolebindings", "RoleBinding"),
    ("clusterroles", "ClusterRole"),
    ("clusterrolebindings", "ClusterRoleBinding"),
    ("customresourcedefinitions", "CustomResourceDefinition"),
    ("endpoints", "Endpoints"),
    ("ingresses", "Ingress"),
    ("networkpolicies", "NetworkPolicy"),
    ("statefulsets", "StatefulSet"),
    ("daemonsets", "DaemonSet"),
    ("replicasets", "ReplicaSet"),
    ("jobs", "Job"),
    ("cronjobs", "CronJob"),
];

/// The kind for a plural: the table, else the capitalised singular (`foobars` → `Foobar`).
pub(crate) fn kind_for(plural: &str) -> String {
    if let Some((_, kind)) = KINDS.iter().find(|(p, _)| *p == plural) {
        return (*kind).to_string();
    }
    let singular = if let Some(stem) = plural.strip_suffix("ies") {
        format!("{stem}y")
    } else if let Some(stem) = plural.strip_suffix("ses") {
        format!("{stem}s")
    } else {
        plural.strip_suffix('s').unwrap_or(plural).to_string()
    };
    let mut chars = singular.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Now, as the API server writes `metav1.Time` (seconds).
pub(crate) fn now_rfc3339() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// A random UUID-shaped uid.
pub(crate) fn new_uid() -> String {
    let h = format!("{:032x}", fastrand::u128(..));
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// The five random characters the API server appends to `generateName`.
pub(crate) fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..5)
        .map(|_| char::from(ALPHABET[fastrand::usize(..ALPHABET.len())]))
        .collect()
}

/// `metadata.<field>` as a string, if set.
pub(crate) fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    obj.get("metadata")?.get(field)?.as_str()
}

/// A mutable `metadata` object, created when missing (the object itself must be an object).
pub(crate) fn meta_mut(obj: &mut Value) -> Option<&mut serde_json::Map<String, Value>> {
    let map = obj.as_object_mut()?;
    let meta = map
        .entry("metadata")
        .or_insert_with(|| Value::Object(serde_json::Map::new()));
    if !meta.is_object() {
        *meta = Value::Object(serde_json::Map::new());
    }
    meta.as_object_mut()
}

/// The object as `PartialObjectMetadata` (what `Accept: ...;as=PartialObjectMetadata` asks for).
pub(crate) fn partial_metadata(obj: &Value) -> Value {
    serde_json::json!({
        "apiVersion": "meta.k8s.io/v1",
        "kind": "PartialObjectMetadata",
        "metadata": obj.get("metadata").cloned().unwrap_or(Value::Null),
    })
}
