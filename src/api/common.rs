//! Types shared by several resources.

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

#[cfg(test)]
mod tests {
    use super::*;

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
