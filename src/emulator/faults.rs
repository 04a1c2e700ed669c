//! Injected faults, changeable at run time (`/_emulator/faults`): matching requests fail
//! before they touch any state, with an HTTP status (429 with `Retry-After`, 5xx) or a
//! dropped connection.
//!
//! A rule fails either the next `count` matching requests, or a `rate` share (0 to 1) of them
//! for as long as it stays (optionally only `durationSecs` of real time: an outage, a storm).
//! A connection reset (`"reset": "before"|"after"`) closes the connection without an answer:
//! `before` the request reaches the tenant (nothing happened), or `after` it was applied (the
//! client cannot tell whether its write landed, as when a connection breaks on the way back).

use std::time::{Duration, Instant};

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

/// When a reset drops the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResetPhase {
    /// Before the request is applied.
    Before,
    /// After the request was applied, instead of its answer.
    After,
}

/// A fault as the control endpoint takes and shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultSpec {
    /// 429, 500, 502, 503 or 504 (or `reset` instead).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Drop the connection instead of answering (Graph only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset: Option<ResetPhase>,
    /// How many requests fail (left to fail, when shown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    /// Share of matching requests that fail, 0 to 1 (instead of `count`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    /// Real seconds the rule lasts (default: until used up or cleared).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_secs: Option<f64>,
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

impl FaultSpec {
    /// The next `count` requests fail with `status`.
    pub fn status(status: u16, count: u32) -> Self {
        Self {
            status: Some(status),
            reset: None,
            count: Some(count),
            rate: None,
            duration_secs: None,
            retry_after: None,
            path: None,
            method: None,
            target: Target::Graph,
        }
    }
}

/// A fault to answer with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// HTTP status (for a reset: what the request is counted as).
    pub status: StatusCode,
    /// `Retry-After` value, if any.
    pub retry_after: Option<String>,
    /// Drop the connection instead of answering.
    pub reset: Option<ResetPhase>,
}

#[derive(Debug)]
struct Rule {
    spec: FaultSpec,
    until: Option<Instant>,
}

/// The pending faults, first added first used.
#[derive(Debug, Default)]
pub struct Faults {
    rules: Vec<Rule>,
    /// Faults injected so far, by kind (`429`, `503`, `reset-before`, …).
    injected: std::collections::BTreeMap<String, u64>,
}

impl Faults {
    /// Adds a fault rule after validating it.
    pub fn add(&mut self, spec: FaultSpec) -> Result<(), String> {
        match (spec.status, spec.reset) {
            (Some(status), None) => {
                if ![429, 500, 502, 503, 504].contains(&status) {
                    return Err(format!(
                        "status {status} is not one of 429, 500, 502, 503, 504"
                    ));
                }
            }
            (None, Some(_)) => {
                if spec.target == Target::Token {
                    return Err(
                        "reset applies to Graph requests only; fail the token endpoint with a status"
                            .to_string(),
                    );
                }
            }
            _ => return Err("set exactly one of status and reset".to_string()),
        }
        match (spec.count, spec.rate) {
            (Some(0), None) => return Err("count must be at least 1".to_string()),
            (Some(_), None) => {}
            (None, Some(rate)) => {
                if !(rate > 0.0 && rate <= 1.0) {
                    return Err("rate must be above 0 and at most 1".to_string());
                }
            }
            _ => return Err("set exactly one of count and rate".to_string()),
        }
        if spec.retry_after.is_some_and(|r| !r.is_finite() || r < 0.0) {
            return Err("retryAfter must be a non-negative number of seconds".to_string());
        }
        let until = match spec.duration_secs {
            None => None,
            Some(secs) => {
                let d = Duration::try_from_secs_f64(secs)
                    .ok()
                    .filter(|d| !d.is_zero())
                    .ok_or("durationSecs must be a positive number of seconds")?;
                Instant::now().checked_add(d)
            }
        };
        self.rules.push(Rule { spec, until });
        Ok(())
    }

    /// Removes every rule.
    pub fn clear(&mut self) {
        self.rules.clear();
    }

    /// The rules still pending (expired ones dropped).
    pub fn pending(&mut self) -> Vec<FaultSpec> {
        self.expire(Instant::now());
        self.rules.iter().map(|r| r.spec.clone()).collect()
    }

    /// Faults injected so far, by kind.
    pub fn injected(&self) -> &std::collections::BTreeMap<String, u64> {
        &self.injected
    }

    fn expire(&mut self, now: Instant) {
        self.rules.retain(|r| r.until.is_none_or(|u| u > now));
    }

    /// Consumes one use of the first rule matching the request and firing, if any.
    pub fn take(&mut self, target: Target, method: &str, path: &str) -> Option<Fault> {
        if self.rules.is_empty() {
            return None;
        }
        self.expire(Instant::now());
        let index = self.rules.iter().position(|r| {
            let s = &r.spec;
            s.target == target
                && s.method
                    .as_deref()
                    .is_none_or(|m| m.eq_ignore_ascii_case(method))
                && s.path.as_deref().is_none_or(|p| path.contains(p))
                && s.rate.is_none_or(|rate| fastrand::f64() < rate)
        })?;
        let rule = &mut self.rules.get_mut(index)?.spec;
        let status = rule
            .status
            .and_then(|s| StatusCode::from_u16(s).ok())
            .unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        let retry_after = match rule.retry_after {
            Some(secs) => Some(format!("{secs}")),
            None if rule.status == Some(429) => Some("1".to_string()),
            None => None,
        };
        let reset = rule.reset;
        let kind = match reset {
            Some(ResetPhase::Before) => "reset-before".to_string(),
            Some(ResetPhase::After) => "reset-after".to_string(),
            None => status.as_u16().to_string(),
        };
        *self.injected.entry(kind).or_insert(0) += 1;
        if let Some(count) = rule.count.as_mut() {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.rules.remove(index);
            }
        }
        Some(Fault {
            status,
            retry_after,
            reset,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(status: u16, count: u32) -> FaultSpec {
        FaultSpec::status(status, count)
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
