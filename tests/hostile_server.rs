//! The Graph client against servers that misbehave on purpose: redirects, huge and endless
//! answers, foreign paging links, absurd durations, malformed JSON, slow trickles. Each case
//! must end in a clear error within bounded time and memory, with no panic, no credential or
//! token sent to another origin, and no foreign bytes or secret in the error's text.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use entra_cloud_operator::graph::{
    AuthError, Credential, DeltaFrom, GraphClient, GraphConfig, GraphError, Limits, ListQuery,
    RetryPolicy, SecretString,
};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

const TENANT: &str = "3f9a1c2e-5b7d-4e8f-9a0b-1c2d3e4f5a6b";
const CLIENT: &str = "0b5e7c1d-2f3a-4b6c-8d9e-0f1a2b3c4d5e";
/// Recognisable values, so the tests can look for leaks.
const SECRET: &str = "Hostile-Secret-Canary-41d7";
const TOKEN: &str = "Hostile-Token-Canary-9c2e";
const FOREIGN_BYTES: &str = "Foreign-Body-Canary-77aa";
/// Every case ends well within this, or the test fails (no case may hang the suite).
const CASE_BOUND: Duration = Duration::from_secs(30);
/// A lazily repeated chunk of the huge answers: nothing of their size is ever allocated.
static CHUNK: [u8; 64 * 1024] = [b' '; 64 * 1024];
const HUGE: u64 = 300 * 1024 * 1024;
/// Held by the tests that allocate much, so the one that measures peak memory does not
/// count another's.
static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// What a scripted server answers to a Graph request (`path`, `query`); token requests get
/// `token`.
type Script = Arc<dyn Fn(&str, &str) -> Response + Send + Sync>;

struct Server {
    url: String,
    token_requests: Arc<AtomicUsize>,
    graph_requests: Arc<AtomicUsize>,
}

/// An axum server on 127.0.0.1 answering token requests with `token` and the rest by
/// `graph`.
async fn serve(token: Script, graph: Script) -> Server {
    let token_requests = Arc::new(AtomicUsize::new(0));
    let graph_requests = Arc::new(AtomicUsize::new(0));
    let (t, g) = (token_requests.clone(), graph_requests.clone());
    let app = Router::new().fallback(move |req: Request| {
        let path = req.uri().path().to_string();
        let query = req.uri().query().unwrap_or_default().to_string();
        let answer = if path.ends_with("/oauth2/v2.0/token") {
            t.fetch_add(1, Ordering::SeqCst);
            token(&path, &query)
        } else {
            g.fetch_add(1, Ordering::SeqCst);
            graph(&path, &query)
        };
        async move { answer }
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Server {
        url,
        token_requests,
        graph_requests,
    }
}

/// A server that must never be reached: it counts every connection it accepts (a request
/// needs one) and answers each with a bare 200.
struct Foreign {
    url: String,
    connections: Arc<AtomicUsize>,
}

async fn foreign() -> Foreign {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let connections = Arc::new(AtomicUsize::new(0));
    let seen = connections.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            seen.fetch_add(1, Ordering::SeqCst);
            let _ = socket
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
                .await;
        }
    });
    Foreign { url, connections }
}

fn json_answer(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

fn token_ok() -> Script {
    Arc::new(|_, _| {
        json_answer(
            StatusCode::OK,
            json!({"token_type": "Bearer", "expires_in": 3599, "access_token": TOKEN}),
        )
    })
}

fn organization() -> Value {
    json!({"value": [{"id": TENANT, "displayName": "Contoso"}]})
}

/// Quick retries: a hostile server must not make the suite slow.
fn retry(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        max_retry_after: Duration::from_secs(5),
    }
}

fn limits() -> Limits {
    Limits {
        deadline: Duration::from_secs(10),
        max_pages: Some(5),
        ..Limits::default()
    }
}

fn client(server: &Server, retry: RetryPolicy, timeout: Duration, limits: Limits) -> GraphClient {
    GraphClient::builder(
        GraphConfig {
            graph_root: server.url.clone(),
            login_root: server.url.clone(),
            scope: "https://graph.microsoft.com/.default".into(),
            tenant_id: TENANT.into(),
            retry,
            timeout,
            observer: None,
            pacing: None,
            ca_bundle: None,
        },
        Credential::ClientSecret {
            client_id: CLIENT.into(),
            secret: SecretString::new(SECRET),
        },
    )
    .limits(limits)
    .build()
    .unwrap()
}

fn quick_client(server: &Server) -> GraphClient {
    client(server, retry(3), Duration::from_secs(5), limits())
}

/// Runs a case within [`CASE_BOUND`].
async fn bounded<T>(case: impl Future<Output = T>) -> T {
    tokio::time::timeout(CASE_BOUND, case)
        .await
        .expect("the case ended within its bound")
}

/// The error's text carries neither a secret, nor the token, nor foreign bytes, nor any of
/// `also`.
fn assert_clean(err: &GraphError, also: &[&str]) {
    let text = format!("{err} {err:?}");
    for leak in [SECRET, TOKEN, FOREIGN_BYTES].iter().chain(also) {
        assert!(!text.contains(leak), "{leak:?} in {text}");
    }
}

/// The process's peak resident memory so far, in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test]
async fn a_redirect_from_the_token_endpoint_is_not_followed() {
    let elsewhere = foreign().await;
    for status in [307u16, 308, 302, 301] {
        let location = format!("{}/steal", elsewhere.url);
        let token: Script = Arc::new(move |_, _| {
            Response::builder()
                .status(status)
                .header(header::LOCATION, location.as_str())
                .body(Body::empty())
                .unwrap()
        });
        let server = serve(
            token,
            Arc::new(|_, _| json_answer(StatusCode::OK, organization())),
        )
        .await;
        let err = bounded(quick_client(&server).organization())
            .await
            .unwrap_err();
        assert!(
            matches!(&err, GraphError::Auth(AuthError::Redirect { status: s }) if *s == status),
            "{err:?}"
        );
        assert!(err.to_string().contains("redirects are refused"), "{err}");
        assert_clean(&err, &[&elsewhere.url["http://".len()..]]);
        // Refused for good: no second attempt, and no Graph request without a token.
        assert_eq!(server.token_requests.load(Ordering::SeqCst), 1);
        assert_eq!(server.graph_requests.load(Ordering::SeqCst), 0);
    }
    assert_eq!(elsewhere.connections.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_redirect_from_graph_is_not_followed() {
    let elsewhere = foreign().await;
    let location = format!("{}/v1.0/organization", elsewhere.url);
    let graph: Script = Arc::new(move |_, _| {
        Response::builder()
            .status(StatusCode::FOUND)
            .header(header::LOCATION, location.as_str())
            .body(Body::from(FOREIGN_BYTES))
            .unwrap()
    });
    let server = serve(token_ok(), graph).await;
    let graph = quick_client(&server);
    let err = bounded(graph.organization()).await.unwrap_err();
    assert!(
        matches!(&err, GraphError::Redirect { status: 302, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("HTTP 302"), "{err}");
    assert_clean(&err, &[&elsewhere.url["http://".len()..]]);
    // A paged read meets the same refusal.
    let err = bounded(graph.users(&ListQuery::default()).unwrap().next_page())
        .await
        .unwrap_err();
    assert!(matches!(err, GraphError::Redirect { .. }), "{err:?}");
    assert_eq!(server.graph_requests.load(Ordering::SeqCst), 2);
    assert_eq!(elsewhere.connections.load(Ordering::SeqCst), 0);
}

/// A 300 MiB answer, made of one static chunk repeated, with or without its length.
fn huge(announce: bool) -> Response {
    let chunks = HUGE / CHUNK.len() as u64;
    let body =
        futures::stream::iter((0..chunks).map(|_| Ok::<_, Infallible>(Bytes::from_static(&CHUNK))));
    let mut answer = Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json");
    if announce {
        answer = answer.header(header::CONTENT_LENGTH, HUGE);
    }
    answer.body(Body::from_stream(body)).unwrap()
}

#[tokio::test]
async fn a_huge_graph_answer_is_refused_within_bounded_memory() {
    let _alone = HEAVY.lock().await;
    let before = peak_rss_kib();
    for announce in [true, false] {
        let server = serve(token_ok(), Arc::new(move |_, _| huge(announce))).await;
        let graph = quick_client(&server);
        let err = bounded(graph.organization()).await.unwrap_err();
        let limit = Limits::default().max_body;
        assert!(
            matches!(&err, GraphError::TooLarge { limit: l, .. } if *l == limit),
            "{err:?}"
        );
        assert!(err.to_string().contains("not read"), "{err}");
        assert_clean(&err, &[]);
        // Not worth a retry: the answer would be as large again.
        assert_eq!(server.graph_requests.load(Ordering::SeqCst), 1);
    }
    // At most the limit (20 MiB) was held, with room for the buffer's growth and the
    // other tests of this process; the 300 MiB never were.
    let grown_mib = peak_rss_kib().saturating_sub(before) / 1024;
    assert!(grown_mib < 150, "peak memory grew by {grown_mib} MiB");
}

#[tokio::test]
async fn the_largest_legitimate_answer_fits_the_default_limit() {
    use entra_cloud_operator::graph::{BatchRequest, Operation};
    // A $batch of 20 list requests of 999 users with $select: the largest answer the
    // operator can ask for, read whole under the default limits.
    let _alone = HEAVY.lock().await;
    let emu = common::start(common::config(1000, 1)).await;
    let graph = common::client(&emu, common::SECRET);
    let select = "id,userPrincipalName,displayName,onPremisesSyncEnabled,onPremisesImmutableId,onPremisesLastSyncDateTime";
    let requests: Vec<_> = (0..20)
        .map(|_| {
            BatchRequest::get(
                Operation::ListUsers,
                format!("users?$top=999&$select={select}"),
            )
        })
        .collect();
    let answers = bounded(graph.batch(&requests)).await;
    let mut bytes = 0;
    for answer in answers {
        let body = answer.unwrap().body.unwrap();
        assert_eq!(body["value"].as_array().unwrap().len(), 999);
        bytes += body.to_string().len() as u64;
    }
    // Several MB, and still well under the limit.
    assert!(bytes > 2 * 1024 * 1024, "{bytes}");
    assert!(bytes * 3 < Limits::default().max_body, "{bytes}");
    emu.shutdown().await;
}

#[tokio::test]
async fn a_huge_token_answer_is_refused() {
    for announce in [true, false] {
        let server = serve(
            Arc::new(move |_, _| huge(announce)),
            Arc::new(|_, _| json_answer(StatusCode::OK, organization())),
        )
        .await;
        let err = bounded(quick_client(&server).organization())
            .await
            .unwrap_err();
        assert!(
            matches!(
                &err,
                GraphError::Auth(AuthError::TooLarge { limit: 65_536 })
            ),
            "{err:?}"
        );
        assert_clean(&err, &[]);
        assert_eq!(server.graph_requests.load(Ordering::SeqCst), 0);
    }
}

/// A server whose listings never end: each page links to one more.
fn endless(base: Arc<std::sync::OnceLock<String>>) -> Script {
    let pages = Arc::new(AtomicUsize::new(0));
    Arc::new(move |path, _| {
        let n = pages.fetch_add(1, Ordering::SeqCst);
        let root = base.get().cloned().unwrap_or_default();
        let link = format!("{root}{path}?$skiptoken=page-{n}");
        json_answer(
            StatusCode::OK,
            json!({"value": [{"id": format!("u{n}")}], "@odata.nextLink": link}),
        )
    })
}

#[tokio::test]
async fn endless_next_links_end_at_the_page_cap() {
    let base = Arc::new(std::sync::OnceLock::new());
    let server = serve(token_ok(), endless(base.clone())).await;
    base.set(server.url.clone()).unwrap();
    let graph = quick_client(&server);
    let mut pager = graph.users(&ListQuery::default()).unwrap();
    let (mut pages, mut end) = (0, None);
    for _ in 0..100 {
        match bounded(pager.next_page()).await {
            Ok(Some(_)) => pages += 1,
            Ok(None) => break,
            Err(e) => {
                end = Some(e);
                break;
            }
        }
    }
    let err = end.expect("the listing ended in an error");
    assert!(
        matches!(err, GraphError::TooManyPages { pages: 5, .. }),
        "{err:?}"
    );
    assert_eq!(pages, 5);
    assert_eq!(server.graph_requests.load(Ordering::SeqCst), 5);
    assert_clean(&err, &[]);

    // Delta rounds count against the same cap.
    let mut round = graph.users_delta(DeltaFrom::Full, &["id"]).unwrap();
    let mut end = None;
    for _ in 0..100 {
        match bounded(round.next_page()).await {
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(e) => {
                end = Some(e);
                break;
            }
        }
    }
    assert!(
        matches!(end, Some(GraphError::TooManyPages { pages: 5, .. })),
        "{end:?}"
    );
    assert_eq!(server.graph_requests.load(Ordering::SeqCst), 10);
}

#[tokio::test]
async fn the_default_page_cap_follows_the_largest_tenant() {
    use entra_cloud_operator::graph::limits::{MAX_LISTED_OBJECTS, page_cap};
    // 1,000,000 objects at 999 a page, pages half full.
    assert_eq!(page_cap(999), 2 * MAX_LISTED_OBJECTS / 999);
    assert_eq!(Limits::default().pages(999), page_cap(999));
}

#[tokio::test]
async fn a_foreign_paging_link_is_never_requested() {
    let elsewhere = foreign().await;
    let other = elsewhere.url.clone();
    let graph: Script = Arc::new(move |path, _| {
        let link = format!("{other}{path}?$skiptoken=x");
        if path.ends_with("/delta") {
            json_answer(
                StatusCode::OK,
                json!({"value": [], "@odata.deltaLink": link}),
            )
        } else {
            json_answer(
                StatusCode::OK,
                json!({"value": [{"id": "u1"}], "@odata.nextLink": link}),
            )
        }
    });
    let server = serve(token_ok(), graph).await;
    let graph = quick_client(&server);
    let foreign_origin = elsewhere.url.clone();

    let err = bounded(graph.users(&ListQuery::default()).unwrap().next_page())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, GraphError::ForeignLink { link, .. } if *link == foreign_origin),
        "{err:?}"
    );
    assert_clean(&err, &[]);

    let err = bounded(
        graph
            .users_delta(DeltaFrom::Full, &["id"])
            .unwrap()
            .next_page(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, GraphError::ForeignLink { .. }), "{err:?}");

    // A deltaLink kept from elsewhere is refused before any request.
    let stored = format!("{}/v1.0/users/delta?$deltatoken=t", elsewhere.url);
    assert!(matches!(
        graph.users_delta(DeltaFrom::Link(stored), &["id"]),
        Err(GraphError::ForeignLink { .. })
    ));
    // Same host, other scheme or port: another origin too.
    let https = server.url.replacen("http://", "https://", 1);
    assert!(matches!(
        graph.users_delta(
            DeltaFrom::Link(format!("{https}/v1.0/users/delta")),
            &["id"]
        ),
        Err(GraphError::ForeignLink { .. })
    ));
    // User info in a link is refused even on Graph's origin.
    let with_user = server.url.replacen("http://", "http://someone:pw@", 1);
    assert!(
        graph
            .users_delta(
                DeltaFrom::Link(format!("{with_user}/v1.0/users/delta")),
                &["id"]
            )
            .is_err()
    );
    assert_eq!(server.graph_requests.load(Ordering::SeqCst), 2);
    assert_eq!(elsewhere.connections.load(Ordering::SeqCst), 0);
}

/// A token endpoint answering `expires_in` as given (raw JSON text).
fn token_lasting(expires_in: &'static str) -> Script {
    Arc::new(move |_, _| {
        let body = format!(
            r#"{{"token_type": "Bearer", "expires_in": {expires_in}, "access_token": "{TOKEN}"}}"#
        );
        Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .unwrap()
    })
}

#[tokio::test]
async fn absurd_token_lifetimes_are_clamped_or_refused_without_panic() {
    // Numbers of any size or sign are clamped to 60 s .. 24 h: the token is used, and a
    // second request within the minute needs no second token.
    for expires_in in [
        "18446744073709551615",
        "1e308",
        "-1",
        "-18446744073709551615",
        "0",
        "0.001",
        "\"3599\"",
    ] {
        let server = serve(
            token_lasting(expires_in),
            Arc::new(|_, _| json_answer(StatusCode::OK, organization())),
        )
        .await;
        let graph = quick_client(&server);
        for _ in 0..2 {
            let org = bounded(graph.organization()).await;
            assert_eq!(org.unwrap().id, TENANT, "expires_in {expires_in}");
        }
        assert_eq!(
            server.token_requests.load(Ordering::SeqCst),
            1,
            "expires_in {expires_in}"
        );
    }
    // Anything else is a clear error, naming neither the value nor the token.
    for expires_in in ["\"soon\"", "\"NaN\"", "[1]", "{\"s\": 1}", "1e400", "true"] {
        let server = serve(
            token_lasting(expires_in),
            Arc::new(|_, _| json_answer(StatusCode::OK, organization())),
        )
        .await;
        let err = bounded(quick_client(&server).organization())
            .await
            .unwrap_err();
        assert!(
            matches!(
                &err,
                GraphError::Auth(AuthError::Decode { status: 200, .. })
            ),
            "expires_in {expires_in}: {err:?}"
        );
        assert_clean(&err, &["soon"]);
        assert_eq!(server.graph_requests.load(Ordering::SeqCst), 0);
    }
}

fn throttled_forever() -> Script {
    Arc::new(|_, _| {
        Response::builder()
            .status(StatusCode::TOO_MANY_REQUESTS)
            .header(header::RETRY_AFTER, "1000000000")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(
                json!({"error": {"code": "TooManyRequests", "message": "Please retry again later."}})
                    .to_string(),
            ))
            .unwrap()
    })
}

#[tokio::test]
async fn a_retry_after_of_a_billion_seconds_is_capped() {
    let ceiling = entra_cloud_operator::graph::retry::RETRY_AFTER_CEILING;
    // The capped wait (5 s by this policy) would pass the 2 s deadline: the 429 comes back
    // at once, carrying the ceiling (10 minutes) for the caller's requeue, not 31 years.
    let server = serve(token_ok(), throttled_forever()).await;
    let graph = client(
        &server,
        retry(8),
        Duration::from_secs(5),
        Limits {
            deadline: Duration::from_secs(2),
            ..limits()
        },
    );
    let err = bounded(graph.organization()).await.unwrap_err();
    match &err {
        GraphError::Api {
            status: 429,
            retry_after,
            ..
        } => assert_eq!(*retry_after, Some(ceiling)),
        other => panic!("{other:?}"),
    }
    assert_eq!(server.graph_requests.load(Ordering::SeqCst), 1);

    // With room in the deadline, the wait is the policy's cap (10 ms here), and the
    // attempts are counted.
    let server = serve(token_ok(), throttled_forever()).await;
    let graph = client(
        &server,
        RetryPolicy {
            max_retry_after: Duration::from_millis(10),
            ..retry(4)
        },
        Duration::from_secs(5),
        limits(),
    );
    let err = bounded(graph.organization()).await.unwrap_err();
    assert!(
        matches!(err, GraphError::Api { status: 429, retry_after: Some(d), .. } if d == ceiling),
        "{err:?}"
    );
    assert_eq!(server.graph_requests.load(Ordering::SeqCst), 4);

    // The token endpoint's Retry-After is bounded the same way.
    let server = serve(
        Arc::new(|_, _| {
            Response::builder()
                .status(StatusCode::SERVICE_UNAVAILABLE)
                .header(header::RETRY_AFTER, "1000000000")
                .body(Body::empty())
                .unwrap()
        }),
        Arc::new(|_, _| json_answer(StatusCode::OK, organization())),
    )
    .await;
    let graph = client(
        &server,
        retry(8),
        Duration::from_secs(5),
        Limits {
            deadline: Duration::from_secs(2),
            ..limits()
        },
    );
    let err = bounded(graph.organization()).await.unwrap_err();
    assert!(
        matches!(err, GraphError::Auth(AuthError::Unavailable { .. })),
        "{err:?}"
    );
    assert_eq!(server.token_requests.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn malformed_json_is_a_clear_error() {
    let cut = format!(r#"{{"value": [{{"id": "{FOREIGN_BYTES}", "displayName": "#);
    let wrong_type = format!(r#"{{"value": [{{"id": 42, "displayName": "{FOREIGN_BYTES}"}}]}}"#);
    let html = format!("<html><body>{FOREIGN_BYTES}</body></html>");
    for (body, expected) in [
        (cut, "cut short"),
        (wrong_type, "unexpected type"),
        (html, "malformed JSON"),
    ] {
        let server = serve(
            token_ok(),
            Arc::new(move |_, _| {
                Response::builder()
                    .status(StatusCode::OK)
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from(body.clone()))
                    .unwrap()
            }),
        )
        .await;
        let err = bounded(quick_client(&server).organization())
            .await
            .unwrap_err();
        assert!(matches!(err, GraphError::Decode { .. }), "{err:?}");
        assert!(err.to_string().contains(expected), "{err}");
        assert_clean(&err, &["<html>"]);
    }
    // A token answer that is not JSON.
    let server = serve(
        Arc::new(|_, _| {
            Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, "text/html")
                .body(Body::from(format!("<p>{FOREIGN_BYTES}</p>")))
                .unwrap()
        }),
        Arc::new(|_, _| json_answer(StatusCode::OK, organization())),
    )
    .await;
    let err = bounded(quick_client(&server).organization())
        .await
        .unwrap_err();
    assert!(
        matches!(err, GraphError::Auth(AuthError::Decode { .. })),
        "{err:?}"
    );
    assert!(err.to_string().contains("text/html"), "{err}");
    assert_clean(&err, &["<p>"]);
}

#[tokio::test]
async fn a_foreign_error_page_is_described_not_repeated() {
    let page = format!("<html>{FOREIGN_BYTES}{}</html>", "x".repeat(1234 - 37));
    assert_eq!(page.len(), 1234);
    let server = serve(
        token_ok(),
        Arc::new(move |_, _| {
            Response::builder()
                .status(StatusCode::BAD_GATEWAY)
                .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
                .body(Body::from(page.clone()))
                .unwrap()
        }),
    )
    .await;
    let err = bounded(quick_client(&server).organization())
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("HTTP 502 with a non-JSON body (1234 bytes, text/html)"),
        "{err}"
    );
    assert_clean(&err, &["<html>", "xxxx"]);
    // 502 is retried, within the policy's attempts.
    assert_eq!(server.graph_requests.load(Ordering::SeqCst), 3);

    // Graph's own error envelope is kept: code and message.
    let server = serve(
        token_ok(),
        Arc::new(|_, _| {
            json_answer(
                StatusCode::FORBIDDEN,
                json!({"error": {"code": "Authorization_RequestDenied",
                    "message": "Insufficient privileges to complete the operation."}}),
            )
        }),
    )
    .await;
    let err = bounded(quick_client(&server).organization())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("Authorization_RequestDenied"));
    assert!(err.to_string().contains("Insufficient privileges"), "{err}");
}

/// An answer whose body comes one byte every 50 ms, forever.
fn trickle() -> Script {
    Arc::new(|_, _| {
        let drip = futures::stream::unfold((), |_| async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            Some((Ok::<_, Infallible>(Bytes::from_static(b" ")), ()))
        });
        Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from_stream(drip))
            .unwrap()
    })
}

#[tokio::test]
async fn a_trickling_server_is_cut_off() {
    // The per-request timeout ends each attempt; the attempts are counted.
    let server = serve(token_ok(), trickle()).await;
    let graph = client(&server, retry(2), Duration::from_millis(300), limits());
    let err = bounded(graph.organization()).await.unwrap_err();
    assert!(matches!(err, GraphError::Transport { .. }), "{err:?}");
    assert_clean(&err, &[]);
    assert_eq!(server.graph_requests.load(Ordering::SeqCst), 2);

    // The deadline ends the request with its retries, whatever the per-request timeout.
    let server = serve(token_ok(), trickle()).await;
    let graph = client(
        &server,
        retry(8),
        Duration::from_secs(60),
        Limits {
            deadline: Duration::from_millis(500),
            ..limits()
        },
    );
    let err = bounded(graph.organization()).await.unwrap_err();
    assert!(matches!(err, GraphError::Deadline { .. }), "{err:?}");
    assert_eq!(server.graph_requests.load(Ordering::SeqCst), 1);

    // A token endpoint that trickles is cut off the same way.
    let server = serve(
        trickle(),
        Arc::new(|_, _| json_answer(StatusCode::OK, organization())),
    )
    .await;
    let graph = client(&server, retry(2), Duration::from_millis(300), limits());
    let err = bounded(graph.organization()).await.unwrap_err();
    assert!(
        matches!(err, GraphError::Auth(AuthError::Unavailable { .. })),
        "{err:?}"
    );
    assert_eq!(server.token_requests.load(Ordering::SeqCst), 2);
    assert_eq!(server.graph_requests.load(Ordering::SeqCst), 0);
}
