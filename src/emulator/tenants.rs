//! Many tenants from one process (`emulator --tenants N`, [`Emulator::start_tenants`]): each
//! tenant is a whole emulated tenant of its own (directory, organization, application
//! registrations, quotas, faults, clock), behind one listener. A front router sends each
//! request to its tenant:
//!
//! - the token endpoint and the discovery documents by the tenant in their path
//!   (`/{tenant}/oauth2/v2.0/token`);
//! - Graph by the `tid` claim of the bearer token (the tenant then verifies the token itself);
//! - the control endpoints of tenant `T` under `/_emulator/tenants/T/…` (the same endpoints as
//!   `/_emulator/…`, which stay the first tenant's); `GET /_emulator/tenants` lists the ids.
//!
//! Requests naming no known tenant go to the first one, which answers as a one-tenant emulator
//! would (an unknown tenant's token request, a missing token). With one tenant there is no
//! front: the emulator serves exactly as before.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use tokio::sync::oneshot;
use tower::ServiceExt as _;

use super::{Emulator, EmulatorConfig, MAX_GROUPS, MAX_USERS};
use super::{active_directory, apps, server, shared, tls};

/// The most tenants one emulator serves (`--tenants`).
pub const MAX_TENANTS: usize = 10_000;

/// The id of tenant `n` (1-based) of a many-tenant emulator: the configured id for the first,
/// then ids of the form `0000000n-e1a7-4c0d-9e00-00000000000n` (hexadecimal), distinct and the
/// same on every run.
pub fn tenant_id(first: &str, n: usize) -> String {
    if n <= 1 {
        first.to_string()
    } else {
        format!("{n:08x}-e1a7-4c0d-9e00-{n:012x}")
    }
}

/// The configurations of `count` tenants made from `base`: the first is `base` itself; each
/// other has its own id ([`tenant_id`]), name (`Contoso 2`), domain (`t2.contoso.com`) and
/// seed, and no linked Active Directory (one directory syncs into one tenant).
pub fn configs(base: EmulatorConfig, count: usize) -> Vec<EmulatorConfig> {
    let mut all = Vec::with_capacity(count.max(1));
    for n in 2..=count {
        all.push(EmulatorConfig {
            tenant_id: tenant_id(&base.tenant_id, n),
            tenant_name: format!("{} {n}", base.tenant_name),
            domain: format!("t{n}.{}", base.domain),
            seed: base.seed.wrapping_add(n as u64),
            active_directory: None,
            ..base.clone()
        });
    }
    all.insert(0, base);
    all
}

fn check(config: &EmulatorConfig) -> anyhow::Result<()> {
    anyhow::ensure!(
        config.time_scale.is_finite() && config.time_scale > 0.0,
        "time scale must be a positive number, got {}",
        config.time_scale
    );
    anyhow::ensure!(
        config.users <= MAX_USERS && config.groups <= MAX_GROUPS,
        "an emulated tenant holds at most {MAX_USERS} synchronised users and {MAX_GROUPS} groups, got {} and {}",
        config.users,
        config.groups
    );
    Ok(())
}

impl Emulator {
    /// Seeds every tenant of `configs` (at least one), binds `listen` (port 0 picks a free
    /// port) and serves them all there (see the module documentation); HTTPS when the first
    /// configuration sets [`EmulatorConfig::tls`].
    pub async fn start_tenants(
        configs: Vec<EmulatorConfig>,
        listen: SocketAddr,
    ) -> anyhow::Result<Emulator> {
        anyhow::ensure!(
            (1..=MAX_TENANTS).contains(&configs.len()),
            "an emulator serves 1 to {MAX_TENANTS} tenants, got {}",
            configs.len()
        );
        for config in &configs {
            check(config)?;
        }
        let tls_on = configs.first().is_some_and(|c| c.tls);
        let identity = if tls_on {
            let extra: Vec<IpAddr> = Some(listen.ip())
                .filter(|ip| !ip.is_unspecified() && !ip.is_loopback())
                .into_iter()
                .collect();
            Some(tls::TlsIdentity::generate(&extra)?)
        } else {
            None
        };
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("binding the emulator to {listen}"))?;
        let bound = listener
            .local_addr()
            .context("reading the emulator's address")?;
        let addr = if bound.ip().is_unspecified() {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), bound.port())
        } else {
            bound
        };
        let scheme = if identity.is_some() { "https" } else { "http" };
        let mut routers = Vec::with_capacity(configs.len());
        for config in configs {
            let id = config.tenant_id.to_ascii_lowercase();
            let apps = apps::Apps::from_config(&config)
                .map_err(|e| anyhow::anyhow!("registering the applications of tenant {id}: {e}"))?;
            let shared = tokio::task::spawn_blocking(move || {
                shared::Shared::new(config, apps, addr, scheme)
            })
            .await
            .with_context(|| format!("seeding tenant {id}"))??;
            let shared = Arc::new(shared);
            if let Some(source) = &shared.directory {
                active_directory::gate::initial_import(&shared, source).await;
            }
            routers.push((id, server::router(shared)));
        }
        let app = if routers.len() == 1 {
            routers.remove(0).1
        } else {
            front(routers)?
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let (task, ca_pem) = match identity {
            Some(identity) => {
                let tls = identity
                    .listener(listener)
                    .context("starting the TLS listener")?;
                (
                    super::serve(tls, app, stopped),
                    Some(identity.ca_pem().to_string()),
                )
            }
            None => (super::serve(listener, app, stopped), None),
        };
        Ok(Emulator {
            addr,
            scheme,
            ca_pem,
            stop,
            task,
        })
    }
}

/// The tenants' routers, by lowercase id, and the order they were given in.
struct Front {
    ids: Vec<String>,
    by_id: HashMap<String, Router>,
}

fn front(routers: Vec<(String, Router)>) -> anyhow::Result<Router> {
    let ids: Vec<String> = routers.iter().map(|(id, _)| id.clone()).collect();
    let by_id: HashMap<String, Router> = routers.into_iter().collect();
    anyhow::ensure!(
        by_id.len() == ids.len(),
        "every tenant needs its own id: some are given twice"
    );
    Ok(Router::new()
        .fallback(dispatch)
        .with_state(Arc::new(Front { ids, by_id })))
}

/// Where a request goes: the tenant, and the request as that tenant's router expects it.
enum Route {
    Tenant(String, Box<Request>),
    List,
}

async fn dispatch(State(front): State<Arc<Front>>, req: Request) -> Response {
    let route = route(&front, req);
    let (id, req) = match route {
        Route::List => {
            return axum::Json(serde_json::json!({ "tenants": front.ids })).into_response();
        }
        Route::Tenant(id, req) => (id, *req),
    };
    let router = match front.by_id.get(&id) {
        Some(r) => r.clone(),
        // `route` only names known tenants; the first always exists.
        None => match front.ids.first().and_then(|id| front.by_id.get(id)) {
            Some(r) => r.clone(),
            None => return axum::http::StatusCode::NOT_FOUND.into_response(),
        },
    };
    match router.oneshot(req).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

fn route(front: &Front, mut req: Request) -> Route {
    let first = front.ids.first().cloned().unwrap_or_default();
    let path = req.uri().path().to_string();
    if path == "/_emulator/tenants" || path == "/_emulator/tenants/" {
        return Route::List;
    }
    if let Some(rest) = path.strip_prefix("/_emulator/tenants/") {
        let (id, tail) = rest.split_once('/').unwrap_or((rest, ""));
        let id = id.to_ascii_lowercase();
        if front.by_id.contains_key(&id) {
            let query = req
                .uri()
                .query()
                .map(|q| format!("?{q}"))
                .unwrap_or_default();
            if let Ok(uri) = format!("/_emulator/{tail}{query}").parse::<Uri>() {
                *req.uri_mut() = uri;
            }
            return Route::Tenant(id, Box::new(req));
        }
        return Route::Tenant(first, Box::new(req));
    }
    // `/{tenant}/oauth2/v2.0/token`, `/{tenant}/v2.0/.well-known/…`
    let segment = path
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    if front.by_id.contains_key(&segment) {
        return Route::Tenant(segment, Box::new(req));
    }
    match token_tenant(&req).filter(|t| front.by_id.contains_key(t)) {
        Some(t) => Route::Tenant(t, Box::new(req)),
        None => Route::Tenant(first, Box::new(req)),
    }
}

/// The `tid` claim of the request's bearer token, unverified: it only picks the tenant, which
/// verifies the token before anything is served.
fn token_tenant(req: &Request<Body>) -> Option<String> {
    let auth = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let token = auth
        .strip_prefix("Bearer ")
        .or_else(|| auth.strip_prefix("bearer "))?;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    Some(claims.get("tid")?.as_str()?.to_ascii_lowercase())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids_are_distinct_guids_and_the_first_is_the_configured_one() {
        let ids: Vec<String> = (1..=300).map(|n| tenant_id("first", n)).collect();
        assert_eq!(ids[0], "first");
        assert_eq!(ids[1], "00000002-e1a7-4c0d-9e00-000000000002");
        let distinct: std::collections::HashSet<&String> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len());
        let configs = configs(EmulatorConfig::default(), 3);
        assert_eq!(configs.len(), 3);
        assert_eq!(configs[0].tenant_id, EmulatorConfig::default().tenant_id);
        assert_eq!(configs[2].domain, "t3.contoso.com");
        assert_ne!(configs[1].seed, configs[2].seed);
    }

    fn request(uri: &str, auth: Option<&str>) -> Request {
        let mut b = axum::http::Request::builder().uri(uri);
        if let Some(a) = auth {
            b = b.header(header::AUTHORIZATION, a);
        }
        b.body(Body::empty()).unwrap()
    }

    #[test]
    fn requests_go_to_the_tenant_they_name() {
        let front = Front {
            ids: vec!["a".into(), "b".into()],
            by_id: [("a".into(), Router::new()), ("b".into(), Router::new())].into(),
        };
        let to = |req| match route(&front, req) {
            Route::Tenant(id, req) => (id, req.uri().to_string()),
            Route::List => ("list".into(), String::new()),
        };
        assert_eq!(to(request("/B/oauth2/v2.0/token", None)).0, "b");
        assert_eq!(
            to(request("/_emulator/tenants/b/state?x=1", None)),
            ("b".into(), "/_emulator/state?x=1".into())
        );
        assert_eq!(to(request("/_emulator/state", None)).0, "a");
        assert_eq!(to(request("/_emulator/tenants", None)).0, "list");
        let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"tid":"B"}"#);
        let bearer = format!("Bearer h.{claims}.s");
        assert_eq!(to(request("/v1.0/users", Some(&bearer))).0, "b");
        // No token, an unknown tenant or a token that is not a JWT: the first tenant answers.
        assert_eq!(to(request("/v1.0/users", None)).0, "a");
        assert_eq!(to(request("/v1.0/users", Some("Bearer opaque"))).0, "a");
        assert_eq!(to(request("/c/oauth2/v2.0/token", None)).0, "a");
    }
}
