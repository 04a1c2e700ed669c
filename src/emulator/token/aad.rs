//! Entra's token-endpoint errors (AADSTS codes, graph-api.md §10) and their body.
//!
//! Texts follow recorded Entra answers (MSAL test fixtures, public troubleshooting threads).
//! UNCONFIRMED, and marked so below: the HTTP status of `invalid_client` answers (401 here),
//! 90014 for a missing `jti`/`sub`/`exp`, 50027 for a wrong `client_assertion_type`, and the
//! code for a federated token whose signature does not verify.

use axum::http::StatusCode;
use serde_json::{Value, json};

/// Documentation link Entra appends to client-assertion errors.
const CERT_DOCS: &str = "Review the documentation at https://docs.microsoft.com/azure/active-directory/develop/active-directory-certificate-credentials .";

/// An Entra (AADSTS) error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AadError {
    /// HTTP status.
    pub status: StatusCode,
    /// OAuth `error`.
    pub error: &'static str,
    /// AADSTS number.
    pub code: u32,
    /// Text after `AADSTS{code}: `.
    pub message: String,
}

impl AadError {
    /// Any error.
    pub fn new(
        status: StatusCode,
        error: &'static str,
        code: u32,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            error,
            code,
            message: message.into(),
        }
    }

    /// `invalid_client` (401, UNCONFIRMED status).
    pub fn invalid_client(code: u32, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_client", code, message)
    }

    /// `invalid_request` (400).
    pub fn invalid_request(code: u32, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", code, message)
    }

    /// 900144: a required form parameter is missing.
    pub fn missing(parameter: &str) -> Self {
        Self::invalid_request(
            900_144,
            format!("The request body must contain the following parameter: '{parameter}'."),
        )
    }

    /// 50027: the assertion is not a JWT. Also (UNCONFIRMED) for a `client_assertion_type`
    /// other than jwt-bearer.
    pub fn malformed() -> Self {
        Self::invalid_request(50_027, "JWT token is invalid or malformed.")
    }

    /// 5002738: the assertion's `alg` is not accepted.
    pub fn unsupported_alg(alg: &str, supported: &str) -> Self {
        Self::invalid_client(
            5_002_738,
            format!(
                "Invalid JWT token. '{alg}' is not a supported signature algorithm. Supported signing algorithms are: '{supported}'"
            ),
        )
    }

    /// 90014: a required claim is missing (documented for `iss` and `aud`; UNCONFIRMED for
    /// the others).
    pub fn missing_claim(claim: &str) -> Self {
        Self::invalid_request(
            90_014,
            format!(
                "The required field '{claim}' is missing from the credential. Ensure that you have all the necessary parameters for the login request."
            ),
        )
    }

    /// 5002723: neither `x5t` nor `x5t#S256` in the header.
    pub fn no_thumbprint() -> Self {
        Self::invalid_client(
            5_002_723,
            "Invalid JWT token. No certificate SHA-1 thumbprint, certificate SHA-256 thumbprint, nor keyId specified in token header.",
        )
    }

    /// 700021: `iss`/`sub` is not the client id.
    pub fn client_mismatch() -> Self {
        Self::invalid_client(
            700_021,
            format!(
                "Client assertion application identifier doesn't match 'client_id' parameter. {CERT_DOCS}"
            ),
        )
    }

    /// 700023: `aud` is not this tenant's token endpoint.
    pub fn audience_mismatch() -> Self {
        Self::invalid_client(
            700_023,
            format!("Client assertion audience claim does not match Realm issuer. {CERT_DOCS}"),
        )
    }

    /// 700027: no certificate of the application has the thumbprint the header names.
    pub fn key_not_found(thumbprint: &str, client_id: &str) -> Self {
        Self::invalid_client(
            700_027,
            format!(
                "The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '{thumbprint}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '{client_id}'. Review the documentation at https://docs.microsoft.com/en-us/graph/deployments to determine the corresponding service endpoint and https://docs.microsoft.com/en-us/graph/api/application-get?view=graph-rest-1.0&tabs=http to build a query request URL, such as 'https://graph.microsoft.com/beta/applications/{client_id}']"
            ),
        )
    }

    /// 700027: the signature does not verify with the registered key (for a federated token:
    /// UNCONFIRMED code).
    pub fn bad_signature(thumbprint: Option<&str>) -> Self {
        let key = thumbprint
            .map(|t| format!(", Thumbprint of key used by client: '{t}'"))
            .unwrap_or_default();
        Self::invalid_client(
            700_027,
            format!(
                "Client assertion contains an invalid signature. [Reason - The provided signature value did not match the expected signature value.{key}]"
            ),
        )
    }

    /// 700024: outside `nbf`…`exp` (times as Entra prints them).
    pub fn time_range(now: &str, nbf: &str, exp: &str) -> Self {
        Self::invalid_client(
            700_024,
            format!(
                "Client assertion is not within its valid time range. Current time: {now}, assertion valid from {nbf}, expiry time of assertion {exp}. {CERT_DOCS}"
            ),
        )
    }

    /// 70021: no federated identity credential matches the external token.
    pub fn no_federated_match(issuer: &str, subject: &str, audience: &str) -> Self {
        Self::invalid_request(
            70_021,
            format!(
                "No matching federated identity record found for presented assertion. Assertion Issuer: '{issuer}'. Assertion Subject: '{subject}'. Assertion Audience: '{audience}'. https://learn.microsoft.com/entra/workload-id/workload-identity-federation"
            ),
        )
    }

    /// Entra's error body; `timestamp` as `YYYY-MM-DD HH:MM:SSZ`.
    pub fn body(&self, timestamp: &str) -> Value {
        let trace = crate::guid::random();
        let correlation = crate::guid::random();
        let description = format!(
            "AADSTS{}: {}\r\nTrace ID: {trace}\r\nCorrelation ID: {correlation}\r\nTimestamp: {timestamp}",
            self.code, self.message
        );
        json!({
            "error": self.error,
            "error_description": description,
            "error_codes": [self.code],
            "timestamp": timestamp,
            "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": format!("https://login.microsoftonline.com/error?code={}", self.code),
        })
    }

    /// The answer of an injected token-endpoint fault.
    pub fn fault(status: StatusCode) -> Self {
        match status.as_u16() {
            429 => Self::new(
                status,
                "temporarily_unavailable",
                90_055,
                "TenantThrottlingError - There are too many incoming requests. Please try again later.",
            ),
            500 => Self::new(
                status,
                "server_error",
                50_000,
                "There was an error issuing a token or an issue with our sign-in service.",
            ),
            _ => Self::new(
                status,
                "temporarily_unavailable",
                90_033,
                "A transient error has occurred. Please try again.",
            ),
        }
    }
}
