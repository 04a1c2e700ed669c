//! The one axum handler: records the request, then routes it by URL and method to the store,
//! a watch stream or a small discovery document.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::error::{ApiError, ApiResult, json_response};
use super::resource::{ResourcePath, partial_metadata, split_api_version, traits};
use super::select::Selectors;
use super::shared::{RecordedRequest, Shared};
use super::store::WriteOpts;
use super::watch::{self, Start, WatchRequest};
use super::write::PatchKind;

/// What a handler needs from the request besides the path.
struct Request {
    method: Method,
    params: BTreeMap<String, String>,
    content_type: Option<String>,
    accept: String,
    body: Result<Option<Value>, String>,
}

impl Request {
    fn param(&self, key: &str) -> Option<&str> {
        self.params.get(key).map(String::as_str)
    }

    fn flag(&self, key: &str) -> bool {
        self.param(key) == Some("true")
    }

    fn body(&self) -> ApiResult<Option<Value>> {
        self.body.clone().map_err(ApiError::bad_request)
    }

    fn write_opts(&self) -> WriteOpts {
        WriteOpts {
            dry_run: self.param("dryRun") == Some("All"),
            field_manager: self.param("fieldManager").map(str::to_string),
            force: self.flag("force"),
        }
    }

    /// The label and field selectors. Custom resources (without `selectableFields`) only
    /// support `metadata.name` and `metadata.namespace` in field selectors, as on a cluster.
    fn selectors(&self, rp: &ResourcePath) -> ApiResult<Selectors> {
        let selectors = Selectors::parse(self.param("labelSelector"), self.param("fieldSelector"))?;
        if traits(&rp.group, &rp.plural).custom
            && let Some(path) = selectors
                .fields
                .paths()
                .find(|p| p != "metadata.name" && p != "metadata.namespace")
        {
            return Err(ApiError::bad_request(format!(
                "field label not supported: {path}"
            )));
        }
        Ok(selectors)
    }

    fn metadata_only(&self) -> bool {
        self.accept.contains("as=PartialObjectMetadata")
    }
}

/// JSON, or YAML for an apply patch (kube sends JSON, kubectl may send YAML).
fn parse_body(bytes: &[u8], content_type: Option<&str>) -> Result<Option<Value>, String> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    match serde_json::from_slice(bytes) {
        Ok(v) => Ok(Some(v)),
        Err(json_err) => {
            let apply = content_type.is_some_and(|c| c.starts_with("application/apply-patch"));
            let text = std::str::from_utf8(bytes).map_err(|e| e.to_string())?;
            if apply {
                serde_saphyr::from_str::<Value>(text)
                    .map(Some)
                    .map_err(|e| format!("invalid YAML body: {e}"))
            } else {
                Err(format!("invalid JSON body: {json_err}"))
            }
        }
    }
}

pub(crate) async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header_str = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let content_type = header_str(header::CONTENT_TYPE);
    let query = uri.query().unwrap_or_default().to_string();
    let req = Request {
        method: method.clone(),
        params: url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect(),
        accept: header_str(header::ACCEPT).unwrap_or_default(),
        body: parse_body(&body, content_type.as_deref()),
        content_type: content_type.clone(),
    };
    let path = uri.path().to_string();
    let response = match shared.take_failure(method.as_str(), &path) {
        Some(err) => err.into_response(),
        None => route(&shared, &path, &req).unwrap_or_else(IntoResponse::into_response),
    };
    let response = count_body(&shared, &path, response);
    shared.record(RecordedRequest {
        method: method.as_str().to_string(),
        path,
        query,
        content_type,
        body: req.body.ok().flatten(),
        status: response.status().as_u16(),
    });
    response
}

/// Counts the response's body as served on `path`: at once when its length is known, chunk
/// by chunk as it goes out for a stream (a watch).
fn count_body(shared: &Arc<Shared>, path: &str, response: Response) -> Response {
    use axum::body::HttpBody as _;
    use futures::StreamExt as _;
    if let Some(n) = response.body().size_hint().exact() {
        shared.count_served(path, true, n);
        return response;
    }
    shared.count_served(path, true, 0);
    let (parts, body) = response.into_parts();
    let (shared, path) = (Arc::clone(shared), path.to_string());
    let counted = body.into_data_stream().map(move |chunk| {
        if let Ok(c) = &chunk {
            shared.count_served(&path, false, c.len() as u64);
        }
        chunk
    });
    Response::from_parts(parts, axum::body::Body::from_stream(counted))
}

fn route(shared: &Arc<Shared>, path: &str, req: &Request) -> ApiResult<Response> {
    let Some(rp) = ResourcePath::parse(path) else {
        return discovery(shared, path).ok_or_else(ApiError::no_such_resource);
    };
    let t = traits(&rp.group, &rp.plural);
    match rp.subresource.as_deref() {
        None => {}
        Some("status") if t.status => {}
        Some(_) => return Err(ApiError::no_such_resource()),
    }
    let opts = req.write_opts();
    let answer = |result: ApiResult<Value>, code: u16| {
        result.map(|obj| {
            let obj = if req.metadata_only() && obj.get("kind") != Some(&json!("Status")) {
                partial_metadata(&obj)
            } else {
                obj
            };
            json_response(code, &obj)
        })
    };
    let method = &req.method;
    match (method, rp.name.clone()) {
        (&Method::GET, None) if req.flag("watch") => watch(shared, &rp, req),
        (&Method::GET, None) => list(shared, &rp, req),
        (&Method::GET, Some(name)) => {
            let key = rp.key();
            let ns = rp.namespace.clone().unwrap_or_default();
            let found = shared
                .store()
                .lookup(&key, &ns, &name)
                .map(|s| s.obj.clone());
            answer(
                found.ok_or_else(|| ApiError::not_found(&rp.group, &rp.plural, &name)),
                200,
            )
        }
        (&Method::POST, None) => {
            let body = req.body()?;
            answer(shared.mutate(|s| s.create(&rp, body, &opts)), 201)
        }
        (&Method::PUT, Some(name)) => {
            let body = req.body()?;
            answer(shared.mutate(|s| s.replace(&rp, &name, body, &opts)), 200)
        }
        (&Method::PATCH, Some(name)) => {
            let content_type = req.content_type.as_deref().unwrap_or_default();
            let kind = PatchKind::from_content_type(content_type).ok_or_else(|| {
                ApiError::new(
                    415,
                    format!("unsupported patch content type {content_type:?}"),
                )
            })?;
            let body = req.body()?;
            answer(
                shared.mutate(|s| s.patch(&rp, &name, kind, body, &opts)),
                200,
            )
        }
        (&Method::DELETE, Some(name)) => {
            let body = req.body()?;
            answer(
                shared.mutate(|s| s.delete(&rp, &name, body.as_ref(), &opts)),
                200,
            )
        }
        (&Method::DELETE, None) => {
            let selectors = req.selectors(&rp)?;
            answer(
                shared.mutate(|s| s.delete_collection(&rp, &selectors, &opts)),
                200,
            )
        }
        _ => Err(ApiError::new(
            405,
            format!("the server does not allow method {method} on the requested resource"),
        )),
    }
}

fn list(shared: &Arc<Shared>, rp: &ResourcePath, req: &Request) -> ApiResult<Response> {
    let selectors = req.selectors(rp)?;
    let store = shared.store();
    let key = rp.key();
    let mut items = store.list(&key, rp.namespace.as_deref(), &selectors);
    let (api_version, kind) = if req.metadata_only() {
        items = items.iter().map(partial_metadata).collect();
        (
            "meta.k8s.io/v1".to_string(),
            "PartialObjectMetadataList".to_string(),
        )
    } else {
        (rp.api_version(), format!("{}List", store.kind_of(&key)))
    };
    let list = json!({
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"resourceVersion": store.rv.to_string()},
        "items": items,
    });
    Ok(json_response(200, &list))
}

fn watch(shared: &Arc<Shared>, rp: &ResourcePath, req: &Request) -> ApiResult<Response> {
    let selectors = req.selectors(rp)?;
    let start = match req.param("resourceVersion") {
        _ if req.flag("sendInitialEvents") => Start::Streaming,
        None | Some("" | "0") => Start::Current,
        Some(rv) => Start::After(rv.parse().map_err(|_| {
            ApiError::bad_request(format!("invalid resourceVersion {rv:?} for a watch"))
        })?),
    };
    let max = shared.options.max_watch_timeout;
    let timeout = req
        .param("timeoutSeconds")
        .and_then(|s| s.parse::<u64>().ok())
        .map_or(max, |s| Duration::from_secs(s).min(max));
    let kind = shared.store().kind_of(&rp.key());
    let request = WatchRequest {
        key: rp.key(),
        namespace: rp.namespace.clone(),
        selectors,
        start,
        bookmarks: req.flag("allowWatchBookmarks"),
        timeout,
        metadata_only: req.metadata_only(),
        api_version: rp.api_version(),
        kind,
    };
    Ok(watch::serve(Arc::clone(shared), request))
}

/// `/version`, `/api`, `/apis`, `/api/v1`, `/apis/{g}/{v}` and health endpoints, built from the
/// resources the store has seen.
fn discovery(shared: &Shared, path: &str) -> Option<Response> {
    let store = shared.store();
    let resources: Vec<(String, String, String)> = store
        .resources()
        .into_iter()
        .map(|key| {
            let kind = store.kind_of(&key);
            (key.group, key.plural, kind)
        })
        .collect();
    let versions = |group: &str| store.versions(group).into_iter().collect::<Vec<_>>();
    let body = match path.trim_end_matches('/') {
        "/healthz" | "/readyz" | "/livez" => {
            return Some((axum::http::StatusCode::OK, "ok").into_response());
        }
        "/version" => {
            json!({"major": "1", "minor": "37", "gitVersion": "v1.37.0", "platform": "linux/amd64"})
        }
        "/api" => {
            json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []})
        }
        "/apis" => {
            let mut groups: Vec<&str> = resources
                .iter()
                .map(|(g, _, _)| g.as_str())
                .filter(|g| !g.is_empty())
                .collect();
            groups.dedup();
            let groups: Vec<Value> = groups
                .into_iter()
                .map(|g| {
                    let vs: Vec<Value> = versions(g)
                        .iter()
                        .map(|v| json!({"groupVersion": format!("{g}/{v}"), "version": v}))
                        .collect();
                    json!({"name": g, "versions": vs, "preferredVersion": vs.first()})
                })
                .collect();
            json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
        }
        other => {
            let group_version = match other.strip_prefix("/api/") {
                Some(v) if !v.contains('/') => v,
                Some(_) => return None,
                None => other
                    .strip_prefix("/apis/")
                    .filter(|gv| gv.matches('/').count() == 1)?,
            };
            let (group, _) = split_api_version(group_version);
            let list: Vec<Value> = resources
                .iter()
                .filter(|(g, _, _)| *g == group)
                .map(|(_, plural, kind)| {
                    json!({
                        "name": plural, "singularName": kind.to_lowercase(), "namespaced": true,
                        "kind": kind,
                        "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
                    })
                })
                .collect();
            json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": list})
        }
    };
    Some(json_response(200, &body))
}
