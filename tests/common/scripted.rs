//! A scripted Kubernetes API at the HTTP level (kube-rs's ApiServerVerifier pattern with
//! tower-test): each helper expects the controller's next request and answers it.

use std::sync::Arc;
use std::time::Duration;

use entra_cloud_operator::api::TenantSyncPolicy;
use entra_cloud_operator::controller::{self, ControllerOptions, JournalStore, Metrics};
use entra_cloud_operator::journal::FileJournal;
use http::{Request, Response};
use kube::client::Body;
use serde_json::{Value, json};

/// The test's end of the scripted API.
pub type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

/// A controller context on a scripted API, with `security`.
pub fn scripted_context(
    security: controller::Security,
    wi: controller::credentials::WorkloadIdentityEnv,
) -> (Arc<controller::Context>, Handle) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(service, "default");
    let path = super::temp_dir("ctl").join("journal.jsonl");
    let key = entra_cloud_operator::journal::default_key(&path).unwrap();
    let journal = FileJournal::open(&path, key).unwrap();
    let options = ControllerOptions {
        namespaces: vec![],
        journal: JournalStore::Shared(Arc::new(journal)),
        journal_key_secret: "entra-cloud-operator-journal-key".into(),
        concurrency: 4,
        workers: 1,
        time_scale: 1.0,
        lease: None,
        instance: Some("test-pod".into()),
        security,
    };
    let ctx = controller::Context::new(client, options, Arc::new(Metrics::default()))
        .with_workload_identity(wi);
    (Arc::new(ctx), handle)
}

pub async fn next(
    handle: &mut Handle,
) -> (
    Request<Body>,
    tower_test::mock::SendResponse<Response<Body>>,
) {
    tokio::time::timeout(Duration::from_secs(10), handle.next_request())
        .await
        .expect("the controller made the expected request in time")
        .expect("a request")
}

pub fn respond(send: tower_test::mock::SendResponse<Response<Body>>, status: u16, body: &Value) {
    send.send_response(
        Response::builder()
            .status(status)
            .body(Body::from(serde_json::to_vec(body).unwrap()))
            .unwrap(),
    );
}

pub async fn body(req: Request<Body>) -> Value {
    let bytes = req.into_body().collect_bytes().await.unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

pub async fn expect_secret_get(handle: &mut Handle, secret: Option<&str>) {
    let (req, send) = next(handle).await;
    assert_eq!(req.method(), "GET");
    assert_eq!(
        req.uri().path(),
        "/api/v1/namespaces/identity/secrets/graph-credentials"
    );
    match secret {
        Some(s) => respond(
            send,
            200,
            &json!({"apiVersion": "v1", "kind": "Secret",
                    "metadata": {"name": "graph-credentials", "namespace": "identity", "resourceVersion": "7"},
                    "data": {"clientSecret": base64(s)}}),
        ),
        None => respond(
            send,
            404,
            &json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound",
                    "code": 404, "message": "secrets \"graph-credentials\" not found"}),
        ),
    }
}

/// The one-owner-per-tenant check of a policy that sets `directorySync`: a list of every
/// TenantSyncPolicy, answered with `others`.
pub async fn expect_policy_list(handle: &mut Handle, others: &[Value]) {
    let (req, send) = next(handle).await;
    assert_eq!(req.method(), "GET");
    assert_eq!(
        req.uri().path(),
        "/apis/cloudidentity.dev/v1alpha1/tenantsyncpolicies"
    );
    respond(
        send,
        200,
        &json!({"apiVersion": "cloudidentity.dev/v1alpha1", "kind": "TenantSyncPolicyList",
                "metadata": {"resourceVersion": "9"}, "items": others}),
    );
}

pub fn base64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

pub async fn expect_event(handle: &mut Handle, type_: &str, reason: &str) {
    let (req, send) = next(handle).await;
    assert_eq!(req.method(), "POST");
    assert_eq!(
        req.uri().path(),
        "/apis/events.k8s.io/v1/namespaces/identity/events"
    );
    let ev = body(req).await;
    assert_eq!(ev["type"], type_, "{ev}");
    assert_eq!(ev["reason"], reason, "{ev}");
    assert_eq!(ev["regarding"]["kind"], "TenantSyncPolicy");
    assert_eq!(ev["regarding"]["name"], "contoso");
    assert_eq!(ev["reportingController"], "entra-cloud-operator");
    assert_eq!(ev["reportingInstance"], "test-pod");
    respond(send, 201, &ev);
}

pub async fn expect_status_patch(handle: &mut Handle, tsp: &TenantSyncPolicy) -> Value {
    let (req, send) = next(handle).await;
    assert_eq!(req.method(), "PATCH");
    assert_eq!(
        req.uri().to_string(),
        "/apis/cloudidentity.dev/v1alpha1/namespaces/identity/tenantsyncpolicies/contoso/status?&force=true&fieldManager=entra-cloud-operator"
    );
    assert_eq!(
        req.headers()["content-type"],
        "application/apply-patch+yaml"
    );
    let patch = body(req).await;
    assert_eq!(patch["apiVersion"], "cloudidentity.dev/v1alpha1");
    assert_eq!(patch["kind"], "TenantSyncPolicy");
    assert!(
        patch.get("spec").is_none(),
        "a status patch carries no spec"
    );
    let mut answer = serde_json::to_value(tsp).unwrap();
    answer["status"] = patch["status"].clone();
    respond(send, 200, &answer);
    patch
}

pub fn condition<'a>(status: &'a Value, t: &str) -> &'a Value {
    status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == t)
        .unwrap_or(&Value::Null)
}
