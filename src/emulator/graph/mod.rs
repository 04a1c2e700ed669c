//! The Graph request pipeline: version → faults → authentication (the token names the calling
//! application) → due flips, sync cycles and purges → route → permission (that application's
//! grants) → query → quota (that application's buckets) → the route itself; then Graph's
//! headers and error envelope (`answer.rs`). `POST /{version}/$batch` leaves after the due
//! flips for `batch/`, which sends each of its items through this same pipeline ([`run`],
//! handed to it).
//!
//! Everything happens in one short critical section on the tenancy (see `shared.rs` for the
//! other locks it takes inside), never held across an `.await`.

pub(super) mod answer;
pub(super) mod path;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::Response;

use super::batch;
use super::faults::{ResetPhase, Target};
use super::latency::Operation;
use super::quota::Throttled;
use super::routes::query::Params;
use super::routes::{GraphError, Request, Route, resolve};
use super::shared::{Shared, Tenancy};
use super::token::store::{TokenProblem, TokenStore};
use answer::{Ids, OutBody, Outcome, fault_outcome, render};
use path::split_path;

/// The client id of the application the bearer token was issued to.
fn authenticate(tokens: &TokenStore, headers: &HeaderMap) -> Result<String, GraphError> {
    let unauthorized =
        |m: &str| GraphError::new(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken", m);
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim();
    if value.is_empty() {
        return Err(unauthorized("Access token is empty."));
    }
    let token = match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
        _ => return Err(unauthorized("Invalid token.")),
    };
    if token.is_empty() {
        return Err(unauthorized("Access token is empty."));
    }
    match tokens.check(token) {
        Ok(app) => Ok(app.to_string()),
        Err(TokenProblem::Expired) => Err(unauthorized(
            "Lifetime validation failed, the token is expired.",
        )),
        Err(TokenProblem::Unknown) => Err(unauthorized("Invalid token.")),
    }
}

/// Whether the calling application's current grants allow `route`.
fn permitted(shared: &Shared, t: &Tenancy, app: &str, route: &Route) -> bool {
    route
        .access(&t.tenant)
        .allowed(shared.apps().permissions(app))
}

fn throttled(shared: &Shared, t: &Tenancy, app: &str, throttle: Throttled) -> Outcome {
    Outcome {
        status: StatusCode::TOO_MANY_REQUESTS,
        body: OutBody::Throttled,
        ru: 0,
        headers: vec![
            ("retry-after", t.clock.retry_after(throttle.wait)),
            (
                "x-ms-throttle-scope",
                throttle.limit.scope(app, &shared.config.tenant_id),
            ),
            (
                "x-ms-throttle-information",
                throttle.limit.information().to_string(),
            ),
            (
                "x-ms-throttle-limit-percentage",
                format!("{:.2}", throttle.usage),
            ),
        ],
        reset: false,
    }
}

/// One request through the pipeline, in the tenancy's critical section.
pub(super) fn run(
    shared: &Shared,
    t: &mut Tenancy,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    base: String,
) -> Outcome {
    let (version, segments) = match split_path(uri.path()) {
        Ok(v) => v,
        Err(e) => return Outcome::error(e),
    };
    let mut reset_after = false;
    let fault = shared
        .faults()
        .take(Target::Graph, method.as_str(), uri.path());
    if let Some(fault) = fault {
        shared.stats().faulted += 1;
        match fault.reset {
            Some(ResetPhase::Before) => {
                let mut outcome = fault_outcome(StatusCode::SERVICE_UNAVAILABLE);
                outcome.reset = true;
                return outcome;
            }
            Some(ResetPhase::After) => reset_after = true,
            None => {
                let mut outcome = fault_outcome(fault.status);
                outcome
                    .headers
                    .extend(fault.retry_after.map(|r| ("retry-after", r)));
                return outcome;
            }
        }
    }
    let authenticated = authenticate(&shared.tokens(), headers);
    let app = match authenticated {
        Ok(app) => app,
        Err(e) => {
            let mut outcome = Outcome::error(e);
            let challenge = "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", client_id=\"00000003-0000-0000-c000-000000000000\"";
            outcome
                .headers
                .push(("www-authenticate", challenge.to_string()));
            return outcome;
        }
    };
    let now = t.clock.now();
    t.tenant.apply_due(now);
    if batch::is_batch(method, &segments) {
        // A reset after applying drops the batch's answer too, once its requests ran.
        let mut outcome = batch::run(shared, t, version, headers, body, &base, run);
        outcome.reset |= reset_after;
        return outcome;
    }
    let route = match resolve(method, &segments) {
        Ok(r) => r,
        Err(e) => return Outcome::error(e),
    };
    if !permitted(shared, t, &app, &route) {
        return Outcome::error(GraphError::new(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        ));
    }
    let query = Params::parse(uri.query()).and_then(|p| route.query(&p, headers, shared.token_key));
    let charge = route.charge(query.as_ref().ok(), &t.tenant.behaviour);
    let mut usage = 0.0;
    if shared.config.quotas {
        let secs = t.clock.secs();
        match t.quotas.admit(&app, charge, t.tenant.users.len(), secs) {
            Ok(u) => usage = u,
            Err(throttle) => {
                let mut stats = shared.stats();
                stats.throttled += 1;
                if charge.writes > 0 {
                    stats.writes_throttled += 1;
                }
                drop(stats);
                return throttled(shared, t, &app, throttle);
            }
        }
    }
    let req = Request {
        version,
        base,
        body,
        now,
        token_key: shared.token_key,
        in_batch: headers.contains_key(super::routes::BATCH_ITEM_HEADER),
    };
    // Per-object refusals (privileged objects), after the permission and the quota.
    let refused = super::routes::refusal::check(&t.tenant, &route, shared.apps().permissions(&app));
    let result = query
        .and_then(|q| refused.map(|()| q))
        .and_then(|q| crate::emulator::lag::execute(&route, q, &mut t.tenant, &req));
    let mut outcome = match result {
        Ok(reply) => Outcome::reply(reply),
        Err(e) => Outcome::error(e),
    };
    outcome.ru = charge.ru;
    if usage > 0.8 {
        outcome
            .headers
            .push(("x-ms-throttle-limit-percentage", format!("{usage:.2}")));
    }
    record_write(shared, &route, outcome.status);
    outcome.reset = reset_after;
    outcome
}

fn record_write(shared: &Shared, route: &Route, status: StatusCode) {
    let Some(operation) = route.write_operation() else {
        return;
    };
    let mut stats = shared.stats();
    if status.is_success() {
        stats.writes_accepted += 1;
        *stats.writes_by_operation.entry(operation).or_insert(0) += 1;
    } else {
        stats.writes_refused += 1;
    }
}

/// The `http(s)://host` the client used, for absolute links (`https` under TLS).
pub(super) fn base_url(headers: &HeaderMap, shared: &Shared) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| !h.is_empty());
    match host {
        Some(host) => format!("{}://{host}", shared.scheme),
        None => format!("{}://{}", shared.scheme, shared.addr),
    }
}

/// The axum handler of every Graph request (mounted as the router's fallback).
pub async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let operation = if method == Method::GET || method == Method::HEAD {
        Operation::Read
    } else {
        Operation::Write
    };
    let delay = shared.delay(operation);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let ids = Ids::new(&headers);
    let base = base_url(&headers, &shared);
    let (outcome, date) = {
        let mut t = shared.tenancy();
        let date = t.clock.now().strftime("%Y-%m-%dT%H:%M:%S").to_string();
        let outcome = run(&shared, &mut t, &method, &uri, &headers, &body, base);
        // Counted inside the tenancy's critical section, so a reseed falls between requests.
        shared.stats().record(outcome.status);
        (outcome, date)
    };
    tracing::debug!(
        method = %method,
        path = uri.path(),
        status = outcome.status.as_u16(),
        ru = outcome.ru,
        request_id = %ids.request,
        "graph request"
    );
    render(outcome, &ids, &date)
}
