//! Types shared by several resources.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Regular expression for a GUID as Entra writes tenant and application ids.
pub const UUID_PATTERN: &str =
    "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";

/// Whether `s` is a GUID in Entra's hyphenated form.
pub fn is_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let lens = [8, 4, 4, 4, 12];
    parts.len() == 5
        && parts
            .iter()
            .zip(lens)
            .all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Whether `s` is a user principal name the operator accepts: `name@domain`, the name in ASCII
/// letters, digits and `. _ ! ^ ~ -` (Entra's set less `'` and `#`, which OData literals and
/// URLs would have to escape), the domain in letters, digits, `.` and `-`. The CRD's UPN
/// patterns say the same. No wildcard, quote, `$`, `&`, `%`, `/` or control character gets
/// through to a Graph URL or filter.
pub fn is_upn(s: &str) -> bool {
    s.split_once('@').is_some_and(|(name, domain)| {
        !name.is_empty()
            && !domain.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._!^~-".contains(&b))
            && domain
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-".contains(&b))
    })
}

/// A key of a Kubernetes Secret in the resource's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// Name of the Secret, in the namespace of the resource that refers to it.
    #[schemars(
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"),
        length(min = 1, max = 253)
    )]
    pub name: String,
    /// Key within the Secret's data.
    #[schemars(regex(pattern = r"^[-._a-zA-Z0-9]+$"), length(min = 1, max = 253))]
    pub key: String,
}

/// A certificate and its private key held in a Kubernetes Secret (for example one of type
/// `kubernetes.io/tls`), in PEM form.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CertificateSecretRef {
    /// Name of the Secret, in the namespace of the resource that refers to it.
    #[schemars(
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"),
        length(min = 1, max = 253)
    )]
    pub name: String,
    /// Key holding the PEM certificate registered on the application.
    #[serde(default = "default_cert_key")]
    #[schemars(regex(pattern = r"^[-._a-zA-Z0-9]+$"))]
    pub certificate_key: String,
    /// Key holding the PEM private key of that certificate.
    #[serde(default = "default_key_key")]
    #[schemars(regex(pattern = r"^[-._a-zA-Z0-9]+$"))]
    pub private_key_key: String,
}

fn default_cert_key() -> String {
    "tls.crt".into()
}
fn default_key_key() -> String {
    "tls.key".into()
}

/// A reference from a conversion resource to the `TenantSyncPolicy` it acts for.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantRef {
    /// Name of a `TenantSyncPolicy` in the same namespace; its tenant, cloud and credentials
    /// are used.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// The shape of a conversion's `spec.approvedPlan`.
pub const CONVERSION_PLAN_PATTERN: &str = r"^convert:(users|groups)=[0-9]{1,9}:[0-9a-f]{16}$";

/// The plan of a conversion's selection (`status.plan`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConversionPlan {
    /// What to write into `spec.approvedPlan` to approve it.
    pub digest: String,
    /// Objects selected (exclusions left out).
    pub objects: i64,
}

/// Plan or Apply.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ConversionMode {
    /// Compute and report what would change; write nothing.
    Plan,
    /// Make the changes.
    Apply,
}

/// What to do when the resource is deleted.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum OnDelete {
    /// Leave the converted objects as they are.
    #[default]
    Keep,
    /// Switch the objects back and restore their prior values from the journal.
    Revert,
}

/// A group whose members are selected (or excluded): by object id, or by display name (which
/// must name exactly one group).
#[derive(kube::KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.id) != has(self.displayName)").message("give a group's id or its displayName, not both"))]
pub struct GroupRef {
    /// The group's object id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(
        pattern = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    ))]
    pub id: Option<String>,
    /// The group's display name; it must match exactly one group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub display_name: Option<String>,
    /// Include members of nested groups too (`transitiveMembers`).
    #[serde(default)]
    pub transitive: bool,
}

impl GroupRef {
    /// How the group is named, for messages.
    pub fn shown(&self) -> String {
        match (&self.id, &self.display_name) {
            (Some(id), _) => id.clone(),
            (None, Some(name)) => format!("{name:?}"),
            (None, None) => "(no id or displayName)".into(),
        }
    }
}

/// Blast-radius and wave settings.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Rollout {
    /// More matching objects than this: `Stalled` (reason `BlastRadiusExceeded`), nothing
    /// written. Raise it deliberately.
    #[serde(default = "default_max_objects")]
    #[schemars(range(min = 1, max = 1_000_000))]
    pub max_objects: i64,
    /// Objects converted per wave.
    #[serde(default = "default_wave_size")]
    #[schemars(range(min = 1, max = 100_000))]
    pub wave_size: i64,
    /// Objects converted and verified first, as a wave of their own (0: no canary).
    #[serde(default)]
    #[schemars(range(min = 0, max = 10_000))]
    pub canary: i64,
    /// Wait between waves, e.g. `10m`, `1h30m` (`0s`: none); units `ms`, `s`, `m`, `h`.
    #[serde(default = "default_pause")]
    #[schemars(regex(pattern = crate::duration::PATTERN))]
    pub pause_between_waves: String,
    /// Failures tolerated in one wave; one more halts the rollout (`Stalled`, reason
    /// `AutoHalted`) until the spec changes.
    #[serde(default)]
    #[schemars(range(min = 0, max = 100_000))]
    pub max_failures_per_wave: i64,
}

fn default_max_objects() -> i64 {
    1000
}
fn default_wave_size() -> i64 {
    100
}
fn default_pause() -> String {
    "0s".into()
}

impl Default for Rollout {
    fn default() -> Self {
        Rollout {
            max_objects: default_max_objects(),
            wave_size: default_wave_size(),
            canary: 0,
            pause_between_waves: default_pause(),
            max_failures_per_wave: 0,
        }
    }
}

/// One of Microsoft's documented prerequisites, as far as the operator could check it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Prerequisite {
    /// What is required, e.g. `ExchangeOnlineMailboxes`.
    pub name: String,
    /// `Met`, `Unverified` (the operator cannot see it with its permissions) or `Warning`
    /// (the operator found something to act on).
    pub state: String,
    /// Microsoft's requirement, and what the operator found or why it could not look.
    pub message: String,
}

impl Prerequisite {
    /// Checked and as Microsoft requires (or the objects that are not were excluded).
    pub const MET: &'static str = "Met";
    /// Not visible with the operator's permissions: the message says what to check.
    pub const UNVERIFIED: &'static str = "Unverified";
    /// Found among the selection and worth acting on: the message says what and how.
    pub const WARNING: &'static str = "Warning";

    /// A prerequisite `name` in `state`, with Microsoft's requirement and what was found.
    pub fn new(name: &str, state: &str, message: String) -> Self {
        Prerequisite {
            name: name.into(),
            state: state.into(),
            message,
        }
    }
}

/// One per-object failure.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObjectFailure {
    /// Entra object id.
    pub object_id: String,
    /// User principal name (users) or display name (groups), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The action that failed, e.g. `ClearImmutableId`.
    pub action: String,
    /// Graph's error code, e.g. `Request_BadRequest`.
    pub code: String,
    /// Graph's error message.
    pub message: String,
    /// When it failed.
    pub time: Time,
}

/// Parse a duration such as `90s`, `10m`, `1h30m`, `250ms` ([`crate::duration`]'s grammar).
pub fn parse_duration(s: &str) -> Option<std::time::Duration> {
    crate::duration::parse(s).ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    #[test]
    fn durations() {
        use std::time::Duration;
        assert_eq!(parse_duration("0s"), Some(Duration::ZERO));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("10"), None);
        assert_eq!(parse_duration("m"), None);
        assert_eq!(parse_duration(""), None);
        assert_eq!(parse_duration("1d"), None);
        assert_eq!(parse_duration(" 1h"), None);
    }

    use super::*;

    #[test]
    fn every_duration_field_of_the_crds_has_the_grammar_pattern() {
        use kube::CustomResourceExt;
        let spec = |crd: serde_json::Value| {
            crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
                ["properties"]
                .clone()
        };
        let user = spec(serde_json::to_value(crate::api::CloudUserConversion::crd()).unwrap());
        let group = spec(serde_json::to_value(crate::api::CloudGroupConversion::crd()).unwrap());
        let tenant = spec(serde_json::to_value(crate::api::TenantSyncPolicy::crd()).unwrap());
        for field in [
            &user["rollout"]["properties"]["pauseBetweenWaves"],
            &group["rollout"]["properties"]["pauseBetweenWaves"],
            &tenant["quota"]["properties"]["writeWindow"],
            &tenant["quota"]["properties"]["resourceUnitWindow"],
        ] {
            assert_eq!(field["pattern"], crate::duration::PATTERN, "{field}");
        }
    }

    #[test]
    fn upn_check_matches_the_crd_pattern() {
        use kube::CustomResourceExt;
        // Every UPN pattern of the CRDs, so the reconciler's check cannot drift from them.
        let user = serde_json::to_value(crate::api::CloudUserConversion::crd()).unwrap();
        let spec = &user["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
        let patterns = [
            &spec["properties"]["selector"]["properties"]["userPrincipalNames"],
            &spec["properties"]["exclude"]["properties"]["userPrincipalNames"],
        ]
        .map(|list| list["items"]["pattern"].as_str().unwrap().to_string());
        assert_eq!(patterns[0], patterns[1]);
        let re = regex::Regex::new(&patterns[0]).unwrap();
        let group = serde_json::to_value(crate::api::CloudGroupConversion::crd()).unwrap();
        let owners = group["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]
            ["spec"]["properties"]["owners"]["items"]["pattern"]
            .as_str()
            .unwrap()
            .to_string();
        let name_part = patterns[0].trim_start_matches('^').trim_end_matches('$');
        assert!(owners.contains(name_part), "{owners} / {name_part}");
        for upn in [
            "adele.vance@contoso.com",
            "Sync_DC01_1a2b@contoso.onmicrosoft.com",
            "a!b^c~d-e@x-y.com",
            "*@contoso.com",
            "x'or'1'eq'1@contoso.com",
            "adele&$filter=true@contoso.com",
            "../../directory/deletedItems/x@contoso.com",
            "adele%00@contoso.com",
            "adele\0@contoso.com",
            "a@b@contoso.com",
            "@contoso.com",
            "adele@",
            "adele vance@contoso.com",
        ] {
            assert_eq!(is_upn(upn), re.is_match(upn), "{upn:?}");
        }
        assert!(is_upn("adele.vance@contoso.com"));
        assert!(!is_upn("*@contoso.com"));
    }

    #[test]
    fn uuid_check_matches_pattern_semantics() {
        assert!(is_uuid("3f9a1c2e-5b7d-4e8f-9a0b-1c2d3e4f5a6b"));
        assert!(is_uuid("3F9A1C2E-5B7D-4E8F-9A0B-1C2D3E4F5A6B"));
        assert!(!is_uuid("3f9a1c2e5b7d4e8f9a0b1c2d3e4f5a6b"));
        assert!(!is_uuid("3f9a1c2e-5b7d-4e8f-9a0b-1c2d3e4f5a6"));
        assert!(!is_uuid("zf9a1c2e-5b7d-4e8f-9a0b-1c2d3e4f5a6b"));
        assert!(!is_uuid(""));
    }
}
