//! The shape of the access tokens the token endpoint issues.
//!
//! Entra's app-only tokens for Microsoft Graph are, in practice, JWTs (`ver` 1.0) whose
//! `roles` claim lists the application permissions granted when the token was issued, and
//! that carry no `roles` claim at all when none is. Microsoft also warns that tokens for its
//! own APIs "might be encrypted tokens, JWTs, or special JWT-like" tokens that "might not
//! always be a JWT that can be decoded" (`access-tokens.md`), so clients must not depend on
//! reading them: [`AccessTokenFormat::Opaque`] issues random strings to rehearse that.
//!
//! The JWTs carry Entra's claims for an app-only Graph token (`aud`, `iss`, `iat`, `nbf`,
//! `exp`, `tid`, `appid`, `azp`, `app_displayname`, `idtyp: app`, `oid`, `sub`, `roles`,
//! `uti`, `ver`) and are not signed: the signature segment is random bytes. Only Graph
//! validates its tokens (clients never do), and the emulator's Graph looks each token up in
//! the store of the tokens it issued (`store.rs`), never trusting its claims.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// What the token endpoint issues as `access_token`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AccessTokenFormat {
    /// A JWT whose claims name the application and the permissions granted (`roles`), as
    /// Entra issues for Graph (default).
    #[default]
    Jwt,
    /// An opaque random string, as a token that cannot be decoded (encrypted, or of another
    /// shape) looks to a client.
    Opaque,
}

/// Whom a token is issued to, and for what.
pub struct Subject<'a> {
    /// The tenant id.
    pub tenant_id: &'a str,
    /// The application (client) id.
    pub client_id: &'a str,
    /// The application's display name.
    pub app_name: &'a str,
    /// The application permissions granted now.
    pub roles: &'a [String],
    /// The requested scope, e.g. `https://graph.microsoft.com/.default`.
    pub scope: &'a str,
}

fn random(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    fastrand::Rng::new().fill(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn encode(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// A new access token of `format` for `subject`, valid for `lifetime` from `now` (seconds
/// since the epoch, real time). Every token is unique (`uti`, and the random signature).
pub fn mint(
    format: AccessTokenFormat,
    subject: &Subject<'_>,
    now: i64,
    lifetime: Duration,
) -> String {
    if format == AccessTokenFormat::Opaque {
        return random(32);
    }
    let issuer = format!("https://sts.windows.net/{}/", subject.tenant_id);
    let audience = subject.scope.trim_end_matches("/.default");
    let exp = now.saturating_add(i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX));
    // The service principal's object id: stable per application, as in a tenant.
    let digest =
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, subject.client_id.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest.as_ref()[..16]);
    let principal = crate::guid::from_bytes(bytes);
    let mut claims: Map<String, Value> = serde_json::from_value(json!({
        "aud": audience,
        "iss": issuer,
        "iat": now,
        "nbf": now,
        "exp": exp,
        "app_displayname": subject.app_name,
        "appid": subject.client_id,
        "appidacr": "1",
        "azp": subject.client_id,
        "idp": issuer,
        "idtyp": "app",
        "oid": principal,
        "sub": principal,
        "tid": subject.tenant_id,
        "uti": random(16),
        "ver": "1.0",
    }))
    .unwrap_or_default();
    let mut roles = subject.roles.to_vec();
    roles.sort_unstable();
    roles.dedup();
    if !roles.is_empty() {
        claims.insert("roles".into(), json!(roles));
    }
    let header = json!({"typ": "JWT", "alg": "RS256", "kid": "emulator-unsigned"});
    format!(
        "{}.{}.{}",
        encode(&header),
        encode(&Value::Object(claims)),
        random(64)
    )
}

#[cfg(test)]
mod tests {
    use super::super::jwt::Jwt;
    use super::*;

    fn subject(roles: &[String]) -> Subject<'_> {
        Subject {
            tenant_id: "t-1",
            client_id: "c-1",
            app_name: "Operator",
            roles,
            scope: "https://graph.microsoft.us/.default",
        }
    }

    #[test]
    fn a_jwt_names_the_app_its_roles_sorted_and_the_clouds_graph() {
        let roles = vec![
            "User.Read.All".to_string(),
            "Group.ReadWrite.All".to_string(),
        ];
        let token = mint(
            AccessTokenFormat::Jwt,
            &subject(&roles),
            1_700_000_000,
            Duration::from_secs(3599),
        );
        let Some(jwt) = Jwt::parse(&token) else {
            panic!("a JWT: {token}");
        };
        assert_eq!(jwt.audiences(), ["https://graph.microsoft.us"]);
        assert_eq!(jwt.claim("idtyp"), Some("app"));
        assert_eq!(jwt.claim("appid"), Some("c-1"));
        assert_eq!(jwt.claim("tid"), Some("t-1"));
        assert_eq!(jwt.time("exp"), Some(1_700_003_599));
        assert_eq!(
            crate::graph::Grants::of_token(&token),
            crate::graph::Grants::Known(vec!["Group.ReadWrite.All".into(), "User.Read.All".into()])
        );
        // Nothing granted: no roles claim at all, as Entra does.
        let none = mint(AccessTokenFormat::Jwt, &subject(&[]), 0, Duration::ZERO);
        assert_eq!(
            crate::graph::Grants::of_token(&none),
            crate::graph::Grants::Known(Vec::new())
        );
        assert_ne!(
            token,
            mint(
                AccessTokenFormat::Jwt,
                &subject(&roles),
                1_700_000_000,
                Duration::from_secs(3599)
            )
        );
    }

    #[test]
    fn an_opaque_token_cannot_be_read() {
        let token = mint(AccessTokenFormat::Opaque, &subject(&[]), 0, Duration::ZERO);
        assert!(Jwt::parse(&token).is_none());
        assert_eq!(
            crate::graph::Grants::of_token(&token),
            crate::graph::Grants::Unreadable
        );
    }
}
