//! Injected faults: the next `count` matching requests fail with a given status before they
//! touch any state.

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

/// Which endpoint a fault applies to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// Microsoft Graph routes.
    #[default]
    Graph,
    /// The token endpoint.
    Token,
}

/// A fault as the control endpoint takes and shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultSpec {
    /// 429, 500, 502, 503 or 504.
    pub status: u16,
    /// How many requests fail (left to fail, when shown).
    pub count: u32,
    /// `Retry-After` in real seconds (429 defaults to 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<f64>,
    /// Only requests whose path contains this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Only requests with this method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Graph (default) or the token endpoint.
    #[serde(default)]
    pub target: Target,
}

/// A fault to answer with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// HTTP status.
    pub status: StatusCode,
    /// `Retry-After` value, if any.
    pub retry_after: Option<String>,
}

/// The pending faults, first added first used.
#[derive(Debug, Default)]
pub struct Faults {
    rules: Vec<FaultSpec>,
}

impl Faults {
    /// Adds a fault rule after validating it.
    pub fn add(&mut self, spec: FaultSpec) -> Result<(), String> {
        if ![429, 500, 502, 503, 504].contains(&spec.status) {
            return Err(format!(
                "status {} is not one of 429, 500, 502, 503, 504",
                spec.status
            ));
        }
        if spec.count == 0 {
            return Err("count must be at least 1".to_string());
        }
        if spec.retry_after.is_some_and(|r| !r.is_finite() || r < 0.0) {
            return Err("retryAfter must be a non-negative number of seconds".to_string());
        }
        self.rules.push(spec);
        Ok(())
    }

    /// Removes every rule.
    pub fn clear(&mut self) {
        self.rules.clear();
    }

    /// The rules still pending.
    pub fn pending(&self) -> &[FaultSpec] {
        &self.rules
    }

    /// Consumes one use of the first rule matching the request, if any.
    pub fn take(&mut self, target: Target, method: &str, path: &str) -> Option<Fault> {
        let index = self.rules.iter().position(|r| {
            r.target == target
                && r.method
                    .as_deref()
                    .is_none_or(|m| m.eq_ignore_ascii_case(method))
                && r.path.as_deref().is_none_or(|p| path.contains(p))
        })?;
        let rule = self.rules.get_mut(index)?;
        rule.count -= 1;
        let status = StatusCode::from_u16(rule.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        let retry_after = match rule.retry_after {
            Some(secs) => Some(format!("{secs}")),
            None if rule.status == 429 => Some("1".to_string()),
            None => None,
        };
        if rule.count == 0 {
            self.rules.remove(index);
        }
        Some(Fault {
            status,
            retry_after,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(status: u16, count: u32) -> FaultSpec {
        FaultSpec {
            status,
            count,
            retry_after: None,
            path: None,
            method: None,
            target: Target::Graph,
        }
    }

    #[test]
    fn faults_are_used_up_in_order() {
        let mut f = Faults::default();
        assert!(f.add(spec(418, 1)).is_err());
        assert!(f.add(spec(503, 0)).is_err());
        let mut patch_only = spec(429, 1);
        patch_only.method = Some("patch".into());
        patch_only.path = Some("/users".into());
        assert!(f.add(patch_only).is_ok());
        assert!(f.add(spec(503, 2)).is_ok());
        assert_eq!(f.take(Target::Token, "POST", "/t/oauth2/v2.0/token"), None);
        let first = f.take(Target::Graph, "GET", "/v1.0/users");
        assert_eq!(
            first.map(|x| x.status),
            Some(StatusCode::SERVICE_UNAVAILABLE)
        );
        let throttled = f.take(Target::Graph, "PATCH", "/v1.0/users/1");
        assert_eq!(throttled.and_then(|x| x.retry_after).as_deref(), Some("1"));
        assert!(f.take(Target::Graph, "GET", "/v1.0/users").is_some());
        assert_eq!(f.take(Target::Graph, "GET", "/v1.0/users"), None);
        assert!(f.pending().is_empty());
    }
}
