//! Client assertions (`client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`,
//! graph-api.md §10), verified against the application's registration.
//!
//! An assertion whose header names a certificate (`x5t`, `x5t#S256`) or whose `iss` is the
//! client id is a *certificate* assertion: `alg` accepted (see [`AssertionAlgorithms`]),
//! `iss` = `sub` = client id (else 700021), `aud` = this tenant's v2.0 (or v1) token URL on a
//! national-cloud login host or on the emulator as addressed (else 700023), `exp` and `jti`
//! present (else 90014), the certificate registered (else 700027 "The key was not found."),
//! the signature valid (else 700027), and real time within `nbf`…`exp` give or take
//! [`SKEW_SECS`] (else 700024).
//!
//! Any other assertion is an external token for *workload identity federation*: its `iss`,
//! `sub` and one of its `aud` must match a federated identity credential of the application
//! exactly (else 70021). The emulator cannot fetch the issuer's signing keys (no network): when
//! the credential was registered with a signing key the RS256/PS256 signature must verify with
//! it (else 700027, UNCONFIRMED code), otherwise only the claims are checked. Its lifetime is
//! checked like a certificate assertion's.
//!
//! Nothing here logs or returns the assertion.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use super::aad::AadError;
use super::jwt::{Jwt, entra_time};
use crate::emulator::apps::{App, SignatureAlg, hex_upper};

/// The only `client_assertion_type` Entra accepts.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Clock skew tolerated on `nbf` and `exp` (Entra's documented tolerance is minutes).
pub const SKEW_SECS: i64 = 300;
/// Login hosts of the national clouds (graph-api.md §11) a certificate assertion's `aud` may
/// name.
pub const LOGIN_HOSTS: &[&str] = &[
    "login.microsoftonline.com",
    "login.microsoftonline.us",
    "login.chinacloudapi.cn",
    "login.partner.microsoftonline.cn",
];

/// Which `alg` Entra accepts for a certificate assertion: UNCONFIRMED. The certificate
/// credentials page documents PS256, recorded answers list RS256 (`'RS256,RS384,RS512'`), and
/// MSAL libraries send either.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AssertionAlgorithms {
    /// RS256 and PS256 (default).
    #[default]
    Rs256AndPs256,
    /// RS256 only: PS256 answers 5002738.
    Rs256,
    /// PS256 only: RS256 answers 5002738.
    Ps256,
}

impl AssertionAlgorithms {
    fn accepts(self, alg: SignatureAlg) -> bool {
        match self {
            AssertionAlgorithms::Rs256AndPs256 => true,
            AssertionAlgorithms::Rs256 => alg == SignatureAlg::Rs256,
            AssertionAlgorithms::Ps256 => alg == SignatureAlg::Ps256,
        }
    }

    fn supported(self) -> &'static str {
        match self {
            AssertionAlgorithms::Rs256AndPs256 => "RS256,PS256",
            AssertionAlgorithms::Rs256 => "RS256",
            AssertionAlgorithms::Ps256 => "PS256",
        }
    }
}

/// How an assertion authenticated the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Signed by a registered certificate.
    Certificate,
    /// An external token matching a federated identity credential.
    Federated,
}

impl Method {
    /// Name for logs.
    pub fn name(self) -> &'static str {
        match self {
            Method::Certificate => "certificate",
            Method::Federated => "federated",
        }
    }
}

/// What an assertion is checked against besides the application.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    /// Identifiers of the tenant (id and domain names) a token URL may carry.
    pub tenants: &'a [String],
    /// The `Host` the client addressed the emulator with, if any.
    pub host: Option<&'a str>,
    /// Accepted certificate-assertion algorithms.
    pub algorithms: AssertionAlgorithms,
    /// Real time now, seconds since the epoch.
    pub now: i64,
}

/// Verifies `assertion` for `app`.
pub fn verify(app: &App, assertion: &str, ctx: &Context<'_>) -> Result<Method, AadError> {
    let jwt = Jwt::parse(assertion).ok_or_else(AadError::malformed)?;
    let names_certificate = jwt.header("x5t").is_some() || jwt.header("x5t#S256").is_some();
    let self_issued = jwt
        .claim("iss")
        .is_some_and(|iss| iss.eq_ignore_ascii_case(&app.client_id));
    if names_certificate || self_issued {
        certificate(app, &jwt, ctx).map(|()| Method::Certificate)
    } else {
        federated(app, &jwt, ctx).map(|()| Method::Federated)
    }
}

fn require(jwt: &Jwt, claims: &[&str]) -> Result<(), AadError> {
    for claim in claims {
        let present = match *claim {
            "exp" | "nbf" => jwt.time(claim).is_some(),
            "aud" => !jwt.audiences().is_empty(),
            _ => jwt.claim(claim).is_some(),
        };
        if !present {
            return Err(AadError::missing_claim(claim));
        }
    }
    Ok(())
}

fn certificate(app: &App, jwt: &Jwt, ctx: &Context<'_>) -> Result<(), AadError> {
    let alg_name = jwt.header("alg").unwrap_or("none");
    let alg = SignatureAlg::parse(alg_name)
        .filter(|a| ctx.algorithms.accepts(*a))
        .ok_or_else(|| AadError::unsupported_alg(alg_name, ctx.algorithms.supported()))?;
    require(jwt, &["iss", "aud", "sub", "exp", "jti"])?;
    let is_client = |c: &str| {
        jwt.claim(c)
            .is_some_and(|v| v.eq_ignore_ascii_case(&app.client_id))
    };
    if !is_client("iss") || !is_client("sub") {
        return Err(AadError::client_mismatch());
    }
    if !jwt.audiences().iter().any(|a| token_url_audience(a, ctx)) {
        return Err(AadError::audience_mismatch());
    }
    let (s256, s1) = (jwt.header("x5t#S256"), jwt.header("x5t"));
    let presented = match (s256, s1) {
        (Some(t), _) | (None, Some(t)) => thumbprint_hex(t),
        (None, None) => return Err(AadError::no_thumbprint()),
    };
    let key = app
        .certificate(s256, s1)
        .ok_or_else(|| AadError::key_not_found(&presented, &app.client_id))?;
    if !key
        .certificate
        .verify(alg, jwt.signing_input(), jwt.signature())
    {
        return Err(AadError::bad_signature(Some(&presented)));
    }
    lifetime(jwt, ctx.now)
}

fn federated(app: &App, jwt: &Jwt, ctx: &Context<'_>) -> Result<(), AadError> {
    require(jwt, &["iss", "sub", "aud", "exp"])?;
    let (issuer, subject) = (
        jwt.claim("iss").unwrap_or_default(),
        jwt.claim("sub").unwrap_or_default(),
    );
    let audiences = jwt.audiences();
    let credential = app
        .federated_match(issuer, subject, &audiences)
        .ok_or_else(|| AadError::no_federated_match(issuer, subject, &audiences.join(",")))?;
    if let Some(key) = &credential.signing_key {
        let alg_name = jwt.header("alg").unwrap_or("none");
        let alg = SignatureAlg::parse(alg_name)
            .ok_or_else(|| AadError::unsupported_alg(alg_name, "RS256,PS256"))?;
        if !key.verify(alg, jwt.signing_input(), jwt.signature()) {
            return Err(AadError::bad_signature(None));
        }
    }
    lifetime(jwt, ctx.now)
}

/// `nbf` (when present) and `exp` against real time, with [`SKEW_SECS`] either way.
fn lifetime(jwt: &Jwt, now: i64) -> Result<(), AadError> {
    let exp = jwt.time("exp").unwrap_or(0);
    let nbf = jwt.time("nbf");
    let early = nbf.is_some_and(|nbf| now.saturating_add(SKEW_SECS) < nbf);
    let late = now.saturating_sub(SKEW_SECS) > exp;
    if early || late {
        let from = nbf.or_else(|| jwt.time("iat")).unwrap_or(0);
        return Err(AadError::time_range(
            &entra_time(now),
            &entra_time(from),
            &entra_time(exp),
        ));
    }
    Ok(())
}

/// Whether `aud` is this tenant's token endpoint: a national-cloud login host over HTTPS, or
/// the emulator itself as the client addressed it; the v2.0 or v1 token path.
fn token_url_audience(aud: &str, ctx: &Context<'_>) -> bool {
    let Ok(url) = url::Url::parse(aud) else {
        return false;
    };
    let host = url.host_str().unwrap_or_default();
    let authority = match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    };
    let cloud = url.scheme() == "https" && LOGIN_HOSTS.iter().any(|h| h.eq_ignore_ascii_case(host));
    let emulator = matches!(url.scheme(), "http" | "https")
        && ctx.host.is_some_and(|h| h.eq_ignore_ascii_case(&authority));
    if !(cloud || emulator) || url.query().is_some() {
        return false;
    }
    let segments: Vec<&str> = url.path().trim_start_matches('/').split('/').collect();
    let tenant_ok = |t: &str| ctx.tenants.iter().any(|k| k.eq_ignore_ascii_case(t));
    match segments.as_slice() {
        [tenant, "oauth2", "v2.0", "token"] | [tenant, "oauth2", "token"] => tenant_ok(tenant),
        _ => false,
    }
}

/// The thumbprint a header names, in upper-case hex as Entra's errors show it.
fn thumbprint_hex(value: &str) -> String {
    URL_SAFE_NO_PAD
        .decode(value.trim_end_matches('='))
        .map(|b| hex_upper(&b))
        .unwrap_or_else(|_| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(host: Option<&str>) -> (Vec<String>, Option<String>) {
        (
            vec![
                "3f9a1c2e-5b7d-4e8f-9a0b-1c2d3e4f5a6b".into(),
                "contoso.com".into(),
            ],
            host.map(str::to_string),
        )
    }

    #[test]
    fn audience_is_this_tenants_token_url() {
        let (tenants, host) = ctx(Some("127.0.0.1:8080"));
        let c = Context {
            tenants: &tenants,
            host: host.as_deref(),
            algorithms: AssertionAlgorithms::default(),
            now: 0,
        };
        for ok in [
            "https://login.microsoftonline.com/3f9a1c2e-5b7d-4e8f-9a0b-1c2d3e4f5a6b/oauth2/v2.0/token",
            "https://login.microsoftonline.us/contoso.com/oauth2/v2.0/token",
            "https://login.chinacloudapi.cn/CONTOSO.COM/oauth2/token",
            "http://127.0.0.1:8080/3f9a1c2e-5b7d-4e8f-9a0b-1c2d3e4f5a6b/oauth2/v2.0/token",
        ] {
            assert!(token_url_audience(ok, &c), "{ok}");
        }
        for bad in [
            "http://login.microsoftonline.com/contoso.com/oauth2/v2.0/token",
            "https://login.example.com/contoso.com/oauth2/v2.0/token",
            "https://login.microsoftonline.com/fabrikam.com/oauth2/v2.0/token",
            "https://login.microsoftonline.com/contoso.com/oauth2/v2.0/authorize",
            "https://login.microsoftonline.com/contoso.com/v2.0",
            "http://127.0.0.1:9090/contoso.com/oauth2/v2.0/token",
            "contoso.com",
        ] {
            assert!(!token_url_audience(bad, &c), "{bad}");
        }
    }

    #[test]
    fn the_algorithm_switch_has_both_answers() {
        let both = AssertionAlgorithms::default();
        assert!(both.accepts(SignatureAlg::Rs256) && both.accepts(SignatureAlg::Ps256));
        assert!(!AssertionAlgorithms::Rs256.accepts(SignatureAlg::Ps256));
        assert!(!AssertionAlgorithms::Ps256.accepts(SignatureAlg::Rs256));
        assert_eq!(AssertionAlgorithms::Rs256.supported(), "RS256");
    }

    #[test]
    fn thumbprints_show_as_hex() {
        assert_eq!(
            thumbprint_hex(&URL_SAFE_NO_PAD.encode([0xAB, 0x01])),
            "AB01"
        );
        assert_eq!(thumbprint_hex("not base64!"), "not base64!");
    }
}
