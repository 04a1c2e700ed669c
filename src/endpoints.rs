//! Which hosts the operator sends credentials and tokens to.
//!
//! By default only Microsoft's own, per cloud, over https: the token endpoint receives the
//! client secret, the client assertion or the federated token, and Graph the bearer token it
//! buys. A `TenantSyncPolicy`'s `spec.endpoints` naming anything else (the emulator, a proxy)
//! is an *override*, honoured only when the operator was started with the opt-in
//! (`controller --allow-endpoint-override`, the chart's `allowEndpointOverride`;
//! `--allow-endpoint-override` on the command line) and, with the operator's own identity,
//! only where an administrator's grant allows it (`controller::grants`).

use url::Url;

use crate::api::tenant::{Cloud, TenantSyncPolicySpec};

/// Microsoft Graph's host in each cloud.
pub fn graph_host(cloud: Cloud) -> &'static str {
    match cloud {
        Cloud::Global => "graph.microsoft.com",
        Cloud::USGov => "graph.microsoft.us",
        Cloud::USGovDoD => "dod-graph.microsoft.us",
        Cloud::China => "microsoftgraph.chinacloudapi.cn",
    }
}

/// Microsoft Entra's token authority host in each cloud.
pub fn login_host(cloud: Cloud) -> &'static str {
    match cloud {
        Cloud::Global => "login.microsoftonline.com",
        Cloud::USGov | Cloud::USGovDoD => "login.microsoftonline.us",
        Cloud::China => "login.chinacloudapi.cn",
    }
}

/// One `spec.endpoints` field that leaves Microsoft's hosts of the policy's cloud.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Override {
    /// `spec.endpoints.graph` or `spec.endpoints.login`.
    pub field: &'static str,
    /// The value given.
    pub value: String,
    /// What the cloud's own endpoint is.
    pub expected: String,
}

impl std::fmt::Display for Override {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} is not the policy's cloud's own ({})",
            self.field, self.value, self.expected
        )
    }
}

/// Whether `value` is `https://{host}` (no port other than 443, no user, path empty or `/`).
fn is_microsoft(value: &str, host: &str) -> bool {
    let Ok(u) = Url::parse(value) else {
        return false;
    };
    u.scheme() == "https"
        && u.host_str().is_some_and(|h| h.eq_ignore_ascii_case(host))
        && u.port().is_none_or(|p| p == 443)
        && u.username().is_empty()
        && u.password().is_none()
        && matches!(u.path(), "" | "/")
        && u.query().is_none()
        && u.fragment().is_none()
}

/// The fields of `spec.endpoints` that override Microsoft's hosts of `spec.cloud`
/// (a field naming the cloud's own endpoint is no override).
pub fn overrides(spec: &TenantSyncPolicySpec) -> Vec<Override> {
    let Some(ep) = &spec.endpoints else {
        return Vec::new();
    };
    let fields = [
        ("spec.endpoints.graph", &ep.graph, graph_host(spec.cloud)),
        ("spec.endpoints.login", &ep.login, login_host(spec.cloud)),
    ];
    fields
        .into_iter()
        .filter_map(|(field, value, host)| {
            let value = value.as_deref()?;
            (!is_microsoft(value, host)).then(|| Override {
                field,
                value: value.to_string(),
                expected: format!("https://{host}"),
            })
        })
        .collect()
}

/// The refusal when `spec` overrides endpoints and the program was not given the opt-in;
/// `opt_in` says how to give it (a flag, a chart value).
pub fn refusal(spec: &TenantSyncPolicySpec, opt_in: &str) -> Option<String> {
    let found = overrides(spec);
    let first = found.first()?;
    let more = match found.len() {
        1 => String::new(),
        n => format!(" (and {} more)", n - 1),
    };
    Some(format!(
        "{first}{more}: credentials and tokens go only to Microsoft's endpoints; remove spec.endpoints for a real tenant, or, for the emulator or a proxy, {opt_in}"
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::api::tenant::Endpoints;

    fn spec(cloud: Cloud, graph: Option<&str>, login: Option<&str>) -> TenantSyncPolicySpec {
        TenantSyncPolicySpec {
            cloud,
            endpoints: Some(Endpoints {
                graph: graph.map(str::to_string),
                login: login.map(str::to_string),
                ..Endpoints::default()
            }),
            ..TenantSyncPolicySpec::default()
        }
    }

    #[test]
    fn microsofts_own_endpoints_of_the_cloud_are_no_override() {
        for cloud in [Cloud::Global, Cloud::USGov, Cloud::USGovDoD, Cloud::China] {
            let s = spec(
                cloud,
                Some(cloud.graph_root()),
                Some(&format!("{}/", cloud.login_root())),
            );
            assert_eq!(overrides(&s), vec![], "{cloud:?}");
            assert_eq!(refusal(&s, "--x"), None);
        }
        assert_eq!(overrides(&TenantSyncPolicySpec::default()), vec![]);
    }

    #[test]
    fn anything_else_is_an_override() {
        let cases = [
            "http://graph.microsoft.com",
            "https://graph.microsoft.com:8443",
            "https://graph.microsoft.com.evil.example",
            "https://user@graph.microsoft.com",
            "https://graph.microsoft.com/v1.0/",
            "https://graph.microsoft.us",
            "http://127.0.0.1:8080",
            "https://10.0.0.1",
            "not a url",
        ];
        for c in cases {
            let s = spec(Cloud::Global, Some(c), None);
            let o = overrides(&s);
            assert_eq!(o.len(), 1, "{c}");
            assert_eq!(o[0].field, "spec.endpoints.graph");
            let m = refusal(&s, "pass --allow-endpoint-override").unwrap();
            assert!(
                m.contains(c)
                    && m.contains("https://graph.microsoft.com")
                    && m.contains("--allow-endpoint-override"),
                "{m}"
            );
        }
        // The DoD cloud's login host is the US Government one; its Graph host is its own.
        let s = spec(
            Cloud::USGovDoD,
            Some("https://graph.microsoft.us"),
            Some("https://login.microsoftonline.us"),
        );
        let o = overrides(&s);
        assert_eq!(o.len(), 1);
        assert_eq!(o[0].expected, "https://dod-graph.microsoft.us");
        let both = spec(Cloud::China, Some("http://a"), Some("http://b"));
        assert!(refusal(&both, "f").unwrap().contains("(and 1 more)"));
    }
}
