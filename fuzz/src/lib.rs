//! The properties the fuzz targets check, one function per target, each taking the fuzzer's
//! bytes. A property that does not hold panics (that is what a fuzzer reports). The same
//! functions run over a fixed-seed corpus in `make test` (`tests/properties.rs` includes this
//! file), so the fuzzers and the suite check one set of properties.
//!
//! - `manifest`: the CLI's reading of `-f` files never panics, names the file in its errors,
//!   and what it accepts is validated without a panic and re-serialises to YAML that reads
//!   back to the same resources and Secrets.
//! - `odata_filter`: the `$filter`, UPN, GUID and group-name checks keep their promises (an
//!   accepted filter is one line of at most 2048 characters without control characters; an
//!   accepted UPN or GUID carries no OData or URL metacharacter); the emulator's `$filter`
//!   parser never panics and reads back any group name quoted as the operator quotes it.
//! - `graph_response`, `batch_response`, `token_response`: whatever a server answers ends in a
//!   value or a typed error, errors have one of the client's fixed shapes (a server's bytes
//!   are repeated only as Graph's own error code and message, bounded), a token is never
//!   repeated in an error, and durations from the network stay within the client's bounds.

use std::path::Path;

use entra_cloud_operator::api::common::{GroupRef, is_upn, is_uuid};
use entra_cloud_operator::emulator::odata::{Resource, parse_filter};
use entra_cloud_operator::graph::decoding::{
    batch_answer, delta_page, error_answer, list_page, token_answer,
};
use entra_cloud_operator::graph::limits::{MAX_TOKEN_LIFETIME, MIN_TOKEN_LIFETIME};
use entra_cloud_operator::graph::models::{Group, User};
use entra_cloud_operator::graph::retry::RETRY_AFTER_CEILING;
use entra_cloud_operator::graph::{AuthError, GraphError, Operation};
use entra_cloud_operator::local::manifests::{self, Manifests};
use entra_cloud_operator::reconcile::validate as check;
use entra_cloud_operator::reconcile::{group, tenant, user};
use serde_json::{Map, Value, json};

/// Longest Graph `error.code` / `error.message` or Entra `error` / description an error keeps:
/// 1024 characters and the `…` that marks a cut.
const MAX_KEPT_CHARS: usize = 1025;

/// The shapes a decoding error's detail may take: the client's own words, with at most a
/// line and column, a byte count, a media type or one of its field names.
const DETAIL_SHAPES: [&str; 12] = [
    "malformed JSON at line ",
    "JSON cut short at line ",
    "unreadable JSON",
    "missing field `",
    "a value of an unexpected type or range at line ",
    "a removed object without an id",
    "batch answer with status ",
    "an answer with status ",
    "not JSON (",
    "not Entra's error JSON (",
    "expires_in is not a number of seconds",
    "an empty access_token",
];

/// A decoding error's detail: one of [`DETAIL_SHAPES`], short whatever the input's length.
fn assert_detail_shape(detail: &str) {
    assert!(
        detail.chars().count() <= 160 && DETAIL_SHAPES.iter().any(|s| detail.starts_with(s)),
        "a decoding error of an unexpected shape or length: {detail:?}"
    );
}

fn assert_bounded(what: &str, text: &str) {
    assert!(
        text.chars().count() <= MAX_KEPT_CHARS,
        "{what} longer than {MAX_KEPT_CHARS} characters: {} characters",
        text.chars().count()
    );
}

/// A `request-id` repeated in an error: Graph's shape (a GUID-like token) or the batch's.
fn assert_request_id(id: Option<&str>, batch_id: Option<&str>) {
    if let Some(id) = id {
        assert!(
            Some(id) == batch_id
                || (!id.is_empty()
                    && id.len() <= 64
                    && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')),
            "a request-id of an unexpected shape: {id:?}"
        );
    }
}

/// The properties of any [`GraphError`] the decoders return.
fn assert_graph_error(e: &GraphError, batch_id: Option<&str>) {
    match e {
        GraphError::Decode { detail, .. } => assert_detail_shape(detail),
        GraphError::Api {
            code,
            message,
            request_id,
            retry_after,
            ..
        } => {
            assert_bounded("error.code", code);
            assert_bounded("error.message", message);
            assert_request_id(request_id.as_deref(), batch_id);
            assert!(
                retry_after.is_none_or(|d| d <= RETRY_AFTER_CEILING),
                "a Retry-After above the ceiling: {retry_after:?}"
            );
        }
        other => panic!("a decoder returned a non-decoding error: {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// manifest

/// The CLI's reading of a manifest file holding `data` (written to `scratch`); whether it
/// was accepted.
pub fn manifest(data: &[u8], scratch: &Path) -> bool {
    if std::fs::write(scratch, data).is_err() {
        return false;
    }
    let shown = scratch.display().to_string();
    let m = match manifests::load(&[scratch.to_path_buf()]) {
        Ok(m) => m,
        Err(e) => {
            let text = e.to_string();
            assert!(
                text.contains(&shown),
                "an error not naming the file: {text}"
            );
            return false;
        }
    };
    validate_all(&m);
    let again = reserialised(&m, scratch);
    assert_eq!(
        resources(&m),
        resources(&again),
        "the re-serialised manifests read back different"
    );
    assert_eq!(
        secrets(&m),
        secrets(&again),
        "the re-serialised Secrets read back different"
    );
    true
}

/// Each loaded resource through its reconciler's checks: no panic, and what passes keeps the
/// checks' promises.
fn validate_all(m: &Manifests) {
    for t in &m.tenants {
        let _ = tenant::validate::validate(&t.resource.spec);
    }
    for u in &m.users {
        if let Ok(v) = user::validate::validate(&u.resource.spec) {
            let s = &v.spec.selector;
            s.filter.iter().for_each(|f| assert_filter_accepted(f));
            for upn in &s.user_principal_names {
                assert_upn_accepted(upn);
            }
            assert!(v.rollout.wave_size >= 1 && v.rollout.max_objects >= 1);
        }
    }
    for g in &m.groups {
        if let Ok(v) = group::validate::validate(&g.resource.spec) {
            v.spec
                .selector
                .filter
                .iter()
                .for_each(|f| assert_filter_accepted(f));
            v.spec.selector.group_ids.iter().for_each(|id| {
                assert_uuid_accepted(id);
            });
            assert!(v.rollout.wave_size >= 1 && v.rollout.max_objects >= 1);
        }
    }
}

/// Every resource of `m` as JSON, in input order.
fn resources(m: &Manifests) -> Vec<Value> {
    let json = |r: Result<Value, serde_json::Error>| r.unwrap_or(Value::Null);
    m.tenants
        .iter()
        .map(|t| json(serde_json::to_value(&t.resource)))
        .chain(
            m.users
                .iter()
                .map(|u| json(serde_json::to_value(&u.resource))),
        )
        .chain(
            m.groups
                .iter()
                .map(|g| json(serde_json::to_value(&g.resource))),
        )
        .collect()
}

fn secrets(m: &Manifests) -> Vec<(String, String, String, String)> {
    m.secrets
        .iter()
        .flat_map(|((ns, name), data)| {
            data.iter()
                .map(|(k, v)| (ns.clone(), name.clone(), k.clone(), v.expose().to_string()))
        })
        .collect()
}

/// `m` written back as one YAML stream (resources, then Secrets as `stringData`) and read.
fn reserialised(m: &Manifests, scratch: &Path) -> Manifests {
    let mut docs: Vec<Value> = resources(m);
    for ((ns, name), data) in &m.secrets {
        let string_data: Map<String, Value> = data
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.expose().to_string())))
            .collect();
        docs.push(json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": ns},
            "stringData": string_data,
        }));
    }
    let text: Vec<String> = docs
        .iter()
        .map(|d| match serde_saphyr::to_string(d) {
            Ok(t) => t,
            Err(e) => panic!("an accepted resource does not serialise to YAML: {e}"),
        })
        .collect();
    if let Err(e) = std::fs::write(scratch, text.join("---\n")) {
        panic!("cannot write {}: {e}", scratch.display());
    }
    match manifests::load(&[scratch.to_path_buf()]) {
        Ok(again) => again,
        Err(e) => panic!("accepted manifests, re-serialised, are refused: {e}"),
    }
}

// ---------------------------------------------------------------------------------------
// odata_filter

fn assert_filter_accepted(f: &str) {
    assert!(
        f.len() <= 2048 && !f.chars().any(char::is_control),
        "an accepted $filter with a control character or over 2048 bytes: {f:?}"
    );
}

fn assert_upn_accepted(upn: &str) {
    let (name, domain) = upn.split_once('@').unwrap_or_default();
    assert!(
        !name.is_empty()
            && !domain.is_empty()
            && upn.is_ascii()
            && !upn.contains([
                '\'', '"', '$', '&', '%', '/', '\\', '?', '#', '*', ' ', '(', ')', ',', '+', '='
            ])
            && !upn.chars().any(|c| c.is_control() || c.is_whitespace())
            && !domain.contains('@'),
        "an accepted UPN with an OData or URL metacharacter: {upn:?}"
    );
}

fn assert_uuid_accepted(id: &str) {
    assert!(
        id.len() == 36
            && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
            && id.bytes().filter(|b| *b == b'-').count() == 4,
        "an accepted GUID of another shape: {id:?}"
    );
}

/// The operator's checks of user-supplied `$filter`s, UPNs, GUIDs and group names, and the
/// emulator's `$filter` parser, on `data` as text.
pub fn odata_filter(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let s = text.as_ref();
    match check::filter("selector.filter", s) {
        Ok(()) => assert_filter_accepted(s),
        Err(e) => assert!(
            e.field == "selector.filter" && e.message.len() <= 200,
            "a filter refusal naming another field or repeating the input: {e}"
        ),
    }
    if is_upn(s) {
        assert_upn_accepted(s);
    }
    if is_uuid(s) {
        assert_uuid_accepted(s);
    }
    let by_name = GroupRef {
        display_name: Some(s.to_string()),
        ..GroupRef::default()
    };
    if check::group_ref("selector.groups", &by_name).is_ok() {
        assert!(!s.trim().is_empty() && s.len() <= 256);
    }
    for resource in [Resource::User, Resource::Group] {
        for advanced in [false, true] {
            if let Ok(f) = parse_filter(resource, s, advanced) {
                // Evaluation of an accepted filter never panics either.
                let _ = f.matches(&Map::new());
            }
        }
    }
    quoted_name_round_trips(s);
}

/// A group display name quoted as the operator quotes it (`displayName eq '…'`, a quote
/// doubled) is read back as exactly that name: no name can end the literal early and add
/// a clause of its own.
fn quoted_name_round_trips(name: &str) {
    if check::group_ref(
        "selector.groups",
        &GroupRef {
            display_name: Some(name.to_string()),
            ..GroupRef::default()
        },
    )
    .is_err()
    {
        return;
    }
    let filter = format!("displayName eq '{}'", name.replace('\'', "''"));
    let parsed = match parse_filter(Resource::Group, &filter, false) {
        Ok(f) => f,
        Err(e) => panic!("a quoted group name is not a valid filter: {filter:?}: {e}"),
    };
    let group = |n: String| {
        let mut m = Map::new();
        m.insert("displayName".into(), Value::String(n));
        m
    };
    assert!(
        parsed.matches(&group(name.to_string())),
        "{filter:?} does not match the group it names"
    );
    assert!(
        !parsed.matches(&group(format!("{name}x"))),
        "{filter:?} matches another name"
    );
}

// ---------------------------------------------------------------------------------------
// graph_response

const STATUSES: [u16; 8] = [400, 401, 403, 404, 409, 429, 502, 503];
const CONTENT_TYPES: [Option<&str>; 4] = [
    Some("application/json"),
    Some("text/html; charset=utf-8"),
    None,
    Some("application/json; odata.metadata=minimal"),
];

/// A Graph answer: `data[0]` picks the status and content type of the error reading, the
/// rest is the body, read as a page of users, of groups, a delta page and an error body.
pub fn graph_response(data: &[u8]) {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    check_page(list_page::<User>(Operation::ListUsers, body.to_vec()));
    check_page(list_page::<Group>(Operation::ListGroups, body.to_vec()));
    match delta_page::<Group>(Operation::GroupsDelta, body.to_vec()) {
        // A page holds at most as many items as the body has objects (`{`).
        Ok(page) => assert!(page.items.len() <= body.iter().filter(|b| **b == b'{').count()),
        Err(e) => assert_graph_error(&e, None),
    }
    let status = STATUSES[usize::from(sel) % STATUSES.len()];
    let content_type = CONTENT_TYPES[usize::from(sel / 8) % CONTENT_TYPES.len()];
    // The first line of the body doubles as a Retry-After header.
    let retry_after = String::from_utf8_lossy(body.split(|b| *b == b'\n').next().unwrap_or(b""))
        .chars()
        .take(64)
        .collect::<String>();
    let e = error_answer(
        Operation::ListUsers,
        status,
        Some(&retry_after),
        content_type,
        Some(body),
    );
    check_error_answer(&e, status, body);
    // An error body too long to read.
    let e = error_answer(Operation::ListUsers, status, None, content_type, None);
    check_error_answer(&e, status, b"");
}

fn check_page<T>(page: Result<entra_cloud_operator::graph::decoding::ListPage<T>, GraphError>) {
    if let Err(e) = page {
        assert_graph_error(&e, None);
    }
}

/// What makes an answer Graph's error envelope: an `error.code` (other fields and unknown
/// ones are skipped, as the client's reading skips them).
#[derive(serde::Deserialize)]
struct Envelope {
    error: EnvelopeError,
}

#[derive(serde::Deserialize)]
struct EnvelopeError {
    #[serde(default)]
    code: String,
}

/// An error answer keeps Graph's envelope (bounded) or says what the answer was, in a fixed
/// shape that repeats none of its bytes.
fn check_error_answer(e: &GraphError, status: u16, body: &[u8]) {
    assert_graph_error(e, None);
    let GraphError::Api {
        status: kept,
        code,
        message,
        ..
    } = e
    else {
        panic!("an error answer decoded as something else: {e:?}");
    };
    assert_eq!(*kept, status);
    let envelope = serde_json::from_slice::<Envelope>(body).is_ok_and(|e| !e.error.code.is_empty());
    if !envelope {
        assert!(
            message.starts_with(&format!("HTTP {status} with "))
                && message.len() <= 120
                && code.bytes().all(|b| b.is_ascii_alphanumeric()),
            "an answer that is not Graph's envelope repeated as {code:?}: {message:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// batch_response

/// A `$batch` answer.
pub fn batch_response(data: &[u8]) {
    let batch_id = Some("0f1e2d3c-batch");
    let items = match batch_answer(Operation::GetUser, data.to_vec(), batch_id) {
        Ok(items) => items,
        Err(e) => return assert_graph_error(&e, None),
    };
    for (_, result) in &items {
        match result {
            Ok(answer) => {
                assert!((200..300).contains(&answer.status), "{answer:?}");
                assert_request_id(answer.request_id.as_deref(), batch_id);
            }
            Err(e) => {
                assert_graph_error(e, batch_id);
                if let GraphError::Api { status, .. } = e {
                    assert!(
                        !(200..300).contains(status),
                        "a 2xx answer taken for an error"
                    );
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// token_response

const TOKEN_STATUSES: [u16; 4] = [200, 400, 401, 203];

/// A token endpoint's answer: `data[0]` picks the status and content type, the rest is the
/// body.
pub fn token_response(data: &[u8]) {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    let status = TOKEN_STATUSES[usize::from(sel) % TOKEN_STATUSES.len()];
    let content_type = CONTENT_TYPES[usize::from(sel / 4) % CONTENT_TYPES.len()];
    match token_answer(status, content_type, "fuzz-client", body) {
        Ok((token, lifetime)) => {
            assert!(
                (200..300).contains(&status),
                "a token from an HTTP {status}"
            );
            assert!(!token.expose().is_empty());
            assert!(
                (MIN_TOKEN_LIFETIME..=MAX_TOKEN_LIFETIME).contains(&lifetime),
                "a token lifetime out of bounds: {lifetime:?}"
            );
        }
        Err(AuthError::Decode { status: s, detail }) => {
            assert_eq!(s, status);
            assert_detail_shape(&detail);
            assert_no_token(body, &format!("{}", AuthError::Decode { status, detail }));
        }
        Err(AuthError::Rejected {
            status: s,
            error,
            description,
            ..
        }) => {
            assert!(!(200..300).contains(&s), "a 2xx answer taken for a refusal");
            assert_bounded("error", &error);
            assert_bounded("error_description", &description);
            assert!(
                !description.contains(['\r', '\n']),
                "more than the first line of error_description: {description:?}"
            );
        }
        Err(other) => panic!("a token answer read as {other:?}"),
    }
}

/// A success answer's `access_token` is not repeated in an error. Checked for tokens holding
/// `SECRET` (the seeds' tokens do), which none of the client's own words contain, so a hit is
/// the token's bytes.
fn assert_no_token(body: &[u8], text: &str) {
    let token = serde_json::from_slice::<Value>(body).ok().and_then(|v| {
        v.get("access_token")
            .and_then(Value::as_str)
            .map(str::to_string)
    });
    if let Some(t) = token.filter(|t| t.contains("SECRET")) {
        assert!(!text.contains(&t), "the access token repeated in: {text}");
        assert!(
            !text.contains("SECRET"),
            "a part of the token repeated in: {text}"
        );
    }
}
