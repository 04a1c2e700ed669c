//! The fake API server against the real clients: kube's `Api`, kube-runtime's watcher,
//! reflector, `Controller`, finalizer helper and events `Recorder`, and kube-lease-manager.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fake_apiserver;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use fake_apiserver::FakeApiServer;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::api::events::v1::Event as K8sEvent;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch,
    PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::{reflector, watcher};
use kube::{Resource, ResourceExt};
use serde_json::{Value, json};
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);

fn tsp_resource() -> ApiResource {
    let gvk = GroupVersionKind::gvk("cloudidentity.dev", "v1alpha1", "TenantSyncPolicy");
    ApiResource::from_gvk_with_plural(&gvk, "tenantsyncpolicies")
}

fn tsp_api(server: &FakeApiServer) -> Api<DynamicObject> {
    Api::namespaced_with(server.client(), "default", &tsp_resource())
}

fn tsp(name: &str, spec: Value) -> DynamicObject {
    DynamicObject::new(name, &tsp_resource()).data(json!({ "spec": spec }))
}

async fn create_tsp(api: &Api<DynamicObject>, name: &str, spec: Value) -> DynamicObject {
    api.create(&PostParams::default(), &tsp(name, spec))
        .await
        .unwrap()
}

/// The HTTP code and reason of a failed call.
fn api_error<T: std::fmt::Debug>(result: kube::Result<T>) -> (u16, String) {
    match result {
        Err(kube::Error::Api(status)) => (status.code, status.reason.clone()),
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// A JSON patch (kube takes `json_patch::Patch`, which this crate does not name).
fn json_patch(ops: &Value) -> Patch<()> {
    Patch::Json(serde_json::from_value(ops.clone()).unwrap())
}

fn generation(obj: &DynamicObject) -> i64 {
    obj.metadata.generation.unwrap()
}

#[tokio::test]
async fn create_get_list_replace_with_conflict_and_delete() {
    let server = FakeApiServer::start().await;
    let api: Api<ConfigMap> = Api::default_namespaced(server.client());
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some("settings".into());
    cm.metadata.labels = Some([("app".to_string(), "op".to_string())].into());
    cm.data = Some([("k".to_string(), "v1".to_string())].into());

    let created = api.create(&PostParams::default(), &cm).await.unwrap();
    assert!(created.metadata.uid.is_some() && created.metadata.creation_timestamp.is_some());
    assert_eq!(created.metadata.namespace.as_deref(), Some("default"));
    assert_eq!(
        api_error(api.create(&PostParams::default(), &cm).await),
        (409, "AlreadyExists".into())
    );

    let got = api.get("settings").await.unwrap();
    assert_eq!(got.data, cm.data);
    let listed = api
        .list(&ListParams::default().labels("app=op"))
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);
    assert!(listed.metadata.resource_version.is_some());
    assert!(
        api.list(&ListParams::default().labels("app!=op"))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let by_name = ListParams::default().fields("metadata.name=settings");
    assert_eq!(api.list(&by_name).await.unwrap().items.len(), 1);

    let mut stale = got.clone();
    let mut fresh = got.clone();
    fresh.data = Some([("k".to_string(), "v2".to_string())].into());
    let replaced = api
        .replace("settings", &PostParams::default(), &fresh)
        .await
        .unwrap();
    assert_ne!(
        replaced.metadata.resource_version,
        got.metadata.resource_version
    );
    stale.data = Some([("k".to_string(), "lost".to_string())].into());
    let conflict = api
        .replace("settings", &PostParams::default(), &stale)
        .await;
    assert_eq!(api_error(conflict), (409, "Conflict".into()));

    api.delete("settings", &DeleteParams::default())
        .await
        .unwrap();
    assert_eq!(
        api_error(api.get("settings").await),
        (404, "NotFound".into())
    );
    assert!(server.get("configmaps", "default", "settings").is_none());
}

#[tokio::test]
async fn generation_moves_with_the_spec_only() {
    let server = FakeApiServer::start().await;
    let api = tsp_api(&server);
    let mut obj = tsp("t1", json!({"tenantId": "a"}));
    obj.data["status"] = json!({"syncState": "ignored on create"});
    let created = api.create(&PostParams::default(), &obj).await.unwrap();
    assert_eq!(generation(&created), 1);
    assert!(
        created.data.get("status").is_none(),
        "status is dropped on create"
    );

    let mut changed = created.clone();
    changed.data["spec"]["tenantId"] = json!("b");
    let replaced = api
        .replace("t1", &PostParams::default(), &changed)
        .await
        .unwrap();
    assert_eq!(generation(&replaced), 2);

    let status =
        Patch::Merge(json!({"status": {"syncState": "Enabled"}, "spec": {"tenantId": "x"}}));
    let patched = api
        .patch_status("t1", &PatchParams::default(), &status)
        .await
        .unwrap();
    assert_eq!(
        generation(&patched),
        2,
        "status writes never bump generation"
    );
    assert_eq!(patched.data["status"]["syncState"], "Enabled");
    assert_eq!(
        patched.data["spec"]["tenantId"], "b",
        "status writes ignore the spec"
    );

    let labels = Patch::Merge(json!({"metadata": {"labels": {"team": "id"}}}));
    let labelled = api
        .patch("t1", &PatchParams::default(), &labels)
        .await
        .unwrap();
    assert_eq!(
        generation(&labelled),
        2,
        "metadata changes don't bump generation"
    );

    let main_status = Patch::Merge(json!({"status": {"syncState": "Nope"}}));
    let unchanged = api
        .patch("t1", &PatchParams::default(), &main_status)
        .await
        .unwrap();
    assert_eq!(
        unchanged.data["status"]["syncState"], "Enabled",
        "main resource keeps status"
    );
    assert_eq!(
        unchanged.metadata.resource_version, labelled.metadata.resource_version,
        "no-op"
    );

    let spec = Patch::Merge(json!({"spec": {"directorySync": "Disabled"}}));
    let bumped = api
        .patch("t1", &PatchParams::default(), &spec)
        .await
        .unwrap();
    assert_eq!(generation(&bumped), 3);
    assert_eq!(bumped.data["spec"]["tenantId"], "b");

    let mut unconditional = bumped.clone();
    unconditional.metadata.resource_version = None;
    let refused = api
        .replace("t1", &PostParams::default(), &unconditional)
        .await;
    assert_eq!(
        api_error(refused),
        (422, "Invalid".into()),
        "custom resources need a resourceVersion"
    );
}

#[tokio::test]
async fn json_patch_test_guards_finalizer_changes() {
    let server = FakeApiServer::start().await;
    let api = tsp_api(&server);
    create_tsp(&api, "t1", json!({})).await;

    // kube's finalizer helper: test that finalizers are absent (null), then add them.
    let add = json!([
        {"op": "test", "path": "/metadata/finalizers", "value": null},
        {"op": "add", "path": "/metadata/finalizers", "value": ["a/x"]},
    ]);
    let added = api
        .patch("t1", &PatchParams::default(), &json_patch(&add))
        .await
        .unwrap();
    assert_eq!(added.finalizers(), ["a/x"]);
    assert_eq!(generation(&added), 1);

    let again = api
        .patch("t1", &PatchParams::default(), &json_patch(&add))
        .await;
    assert_eq!(
        api_error(again),
        (422, "Invalid".into()),
        "failing test rejects the whole patch"
    );
    assert_eq!(
        server.get("tenantsyncpolicies", "default", "t1").unwrap()["metadata"]["finalizers"],
        json!(["a/x"])
    );
}

#[tokio::test]
async fn server_side_apply_creates_updates_and_detects_conflicts() {
    let server = FakeApiServer::start().await;
    let api = tsp_api(&server);
    let mgr = PatchParams::apply("mgr").force();
    let body = json!({
        "apiVersion": "cloudidentity.dev/v1alpha1", "kind": "TenantSyncPolicy",
        "metadata": {"name": "t1"}, "spec": {"tenantId": "a", "extra": "x"},
    });
    let created = api.patch("t1", &mgr, &Patch::Apply(&body)).await.unwrap();
    assert_eq!(
        (generation(&created), created.data["spec"]["extra"].clone()),
        (1, json!("x"))
    );
    assert_eq!(
        created.metadata.managed_fields.as_ref().unwrap()[0]
            .manager
            .as_deref(),
        Some("mgr")
    );

    // Omitting a field the manager applied before removes it.
    let mut without_extra = body.clone();
    without_extra["spec"] = json!({"tenantId": "a"});
    let updated = api
        .patch("t1", &mgr, &Patch::Apply(&without_extra))
        .await
        .unwrap();
    assert!(updated.data["spec"].get("extra").is_none());
    assert_eq!(generation(&updated), 2);

    let status = json!({
        "apiVersion": "cloudidentity.dev/v1alpha1", "kind": "TenantSyncPolicy",
        "status": {"syncState": "Enabled", "conditions": [{"type": "Ready", "status": "True"}]},
    });
    let with_status = api
        .patch_status("t1", &mgr, &Patch::Apply(&status))
        .await
        .unwrap();
    assert_eq!(with_status.data["status"]["conditions"][0]["type"], "Ready");
    assert_eq!(generation(&with_status), 2);
    let again = api
        .patch_status("t1", &mgr, &Patch::Apply(&status))
        .await
        .unwrap();
    assert_eq!(
        again.metadata.resource_version, with_status.metadata.resource_version,
        "no-op"
    );
    // An object whose every member the manager stops applying goes, not left as `{}` (which
    // a schema with required members would refuse).
    let mut with_plan = status.clone();
    with_plan["status"]["plan"] = json!({"digest": "d", "users": 1});
    let planned = api
        .patch_status("t1", &mgr, &Patch::Apply(&with_plan))
        .await
        .unwrap();
    assert_eq!(planned.data["status"]["plan"]["users"], 1);
    let unplanned = api
        .patch_status("t1", &mgr, &Patch::Apply(&status))
        .await
        .unwrap();
    assert!(
        unplanned.data["status"].get("plan").is_none(),
        "{}",
        unplanned.data["status"]
    );
    assert_eq!(unplanned.data["status"]["syncState"], "Enabled");

    // Another manager changing an owned field: 409 without force, taken over with force.
    let mut other = without_extra.clone();
    other["spec"]["tenantId"] = json!("b");
    let refused = api
        .patch("t1", &PatchParams::apply("other"), &Patch::Apply(&other))
        .await;
    assert_eq!(api_error(refused), (409, "Conflict".into()));
    let forced = api
        .patch(
            "t1",
            &PatchParams::apply("other").force(),
            &Patch::Apply(&other),
        )
        .await
        .unwrap();
    assert_eq!(forced.data["spec"]["tenantId"], "b");

    let missing = api
        .patch_status("absent", &mgr, &Patch::Apply(&status))
        .await;
    assert_eq!(api_error(missing).0, 404, "apply to /status never creates");
}

#[tokio::test]
async fn finalizers_hold_deletion_until_removed() {
    let server = FakeApiServer::start().await;
    let api = tsp_api(&server);
    let mut obj = tsp("t1", json!({}));
    obj.metadata.finalizers = Some(vec!["a/x".into()]);
    let created = api.create(&PostParams::default(), &obj).await.unwrap();

    let deleting = api
        .delete("t1", &DeleteParams::default())
        .await
        .unwrap()
        .left()
        .unwrap();
    assert!(deleting.metadata.deletion_timestamp.is_some());
    assert_eq!(
        generation(&deleting),
        2,
        "deletion bumps generation like the API server"
    );
    assert_ne!(
        deleting.metadata.resource_version,
        created.metadata.resource_version
    );

    let add = Patch::Merge(json!({"metadata": {"finalizers": ["a/x", "b/y"]}}));
    let refused = api.patch("t1", &PatchParams::default(), &add).await;
    assert_eq!(
        api_error(refused).0,
        422,
        "no new finalizers while deleting"
    );

    let remove = Patch::Merge(json!({"metadata": {"finalizers": null}}));
    api.patch("t1", &PatchParams::default(), &remove)
        .await
        .unwrap();
    assert!(
        server
            .wait_for_absent("tenantsyncpolicies", "default", "t1", WAIT)
            .await
    );
}

#[tokio::test]
async fn watcher_sees_added_modified_deleted_in_order() {
    let server = FakeApiServer::start().await;
    let api = tsp_api(&server);
    create_tsp(&api, "before", json!({})).await;
    let mut events = watcher(api.clone(), watcher::Config::default()).boxed();
    let mut initial = Vec::new();
    loop {
        match timeout(WAIT, events.try_next())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
        {
            watcher::Event::InitApply(o) => initial.push(o.name_any()),
            watcher::Event::InitDone => break,
            _ => {}
        }
    }
    assert_eq!(initial, ["before"]);

    create_tsp(&api, "t1", json!({"a": 1})).await;
    let spec = Patch::Merge(json!({"spec": {"a": 2}}));
    api.patch("t1", &PatchParams::default(), &spec)
        .await
        .unwrap();
    api.delete("t1", &DeleteParams::default()).await.unwrap();

    let mut seen = Vec::new();
    while seen.len() < 3 {
        match timeout(WAIT, events.try_next())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
        {
            watcher::Event::Apply(o) => {
                seen.push(format!("apply {} gen {}", o.name_any(), generation(&o)))
            }
            watcher::Event::Delete(o) => seen.push(format!("delete {}", o.name_any())),
            _ => {}
        }
    }
    assert_eq!(seen, ["apply t1 gen 1", "apply t1 gen 2", "delete t1"]);

    // A dropped connection: the watcher resumes from its resourceVersion, no relist.
    server.close_watches();
    create_tsp(&api, "t2", json!({})).await;
    match timeout(WAIT, events.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap()
    {
        watcher::Event::Apply(o) => assert_eq!(o.name_any(), "t2"),
        other => panic!("unexpected {other:?}"),
    }
    let verbs: Vec<_> = server.requests().iter().filter_map(|r| r.verb()).collect();
    assert_eq!(verbs.iter().filter(|v| **v == "list").count(), 1);
    assert_eq!(verbs.iter().filter(|v| **v == "watch").count(), 2);
}

#[tokio::test]
async fn raw_watch_expires_bookmarks_and_ends_on_shutdown() {
    let options = fake_apiserver::Options {
        bookmark_interval: Duration::from_millis(200),
        ..Default::default()
    };
    let server = FakeApiServer::start_with(options).await;
    let api = tsp_api(&server);
    create_tsp(&api, "t1", json!({})).await;
    let old = server.resource_version().to_string();
    create_tsp(&api, "t2", json!({})).await;
    server.expire_watch_log();
    let mut stream = api
        .watch(&WatchParams::default(), &old)
        .await
        .unwrap()
        .boxed();
    match timeout(WAIT, stream.try_next()).await.unwrap().unwrap() {
        Some(WatchEvent::Error(status)) => {
            assert_eq!((status.code, status.reason.as_str()), (410, "Expired"))
        }
        other => panic!("expected 410, got {other:?}"),
    }

    let now = server.resource_version().to_string();
    let mut stream = api
        .watch(&WatchParams::default().labels("x=y"), &now)
        .await
        .unwrap()
        .boxed();
    let bookmark = timeout(WAIT, stream.try_next()).await.unwrap().unwrap();
    assert!(
        matches!(bookmark, Some(WatchEvent::Bookmark(_))),
        "{bookmark:?}"
    );
    server.shutdown().await;
    let rest: Vec<_> = timeout(WAIT, stream.collect::<Vec<_>>()).await.unwrap();
    assert!(
        rest.iter()
            .all(|e| matches!(e, Ok(WatchEvent::Bookmark(_))))
    );
}

#[tokio::test]
async fn reflector_store_converges_and_streaming_lists_work() {
    let server = FakeApiServer::start().await;
    let api = tsp_api(&server);
    create_tsp(&api, "a", json!({})).await;
    let writer = reflector::store::Writer::<DynamicObject>::new(tsp_resource());
    let reader = writer.as_reader();
    let config = watcher::Config::default().streaming_lists();
    let mut stream = reflector(writer, watcher(api.clone(), config)).boxed();
    for name in ["b", "c"] {
        create_tsp(&api, name, json!({})).await;
    }
    timeout(WAIT, async {
        while reader.state().len() < 3 {
            stream.try_next().await.unwrap();
        }
    })
    .await
    .unwrap();
    let streaming = server
        .requests()
        .into_iter()
        .any(|r| r.query_param("sendInitialEvents").as_deref() == Some("true"));
    assert!(streaming);
}

#[tokio::test]
async fn recorder_events_land_in_the_store() {
    let server = FakeApiServer::start().await;
    let api = tsp_api(&server);
    let obj = create_tsp(&api, "t1", json!({})).await;
    let reporter = Reporter {
        controller: "entra-cloud-operator".into(),
        instance: Some("pod-1".into()),
    };
    let recorder = Recorder::new(server.client(), reporter);
    let event = Event {
        type_: EventType::Normal,
        reason: "Synced".into(),
        note: Some("all good".into()),
        action: "Reconcile".into(),
        secondary: None,
    };
    let reference = obj.object_ref(&tsp_resource());
    recorder.publish(&event, &reference).await.unwrap();
    recorder.publish(&event, &reference).await.unwrap(); // a series: merge patch of the same event

    let events = server.objects("events.events.k8s.io");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["reason"], "Synced");
    assert_eq!(events[0]["series"]["count"], 2);
    let typed: Api<K8sEvent> = Api::default_namespaced(server.client());
    assert_eq!(
        typed.list(&ListParams::default()).await.unwrap().items[0]
            .regarding
            .as_ref()
            .unwrap()
            .name
            .as_deref(),
        Some("t1")
    );
    let calls: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("/events"))
        .collect();
    assert_eq!(
        calls[0].path,
        "/apis/events.k8s.io/v1/namespaces/default/events"
    );
    assert_eq!(
        (calls[0].verb(), calls[1].verb()),
        (Some("create"), Some("patch"))
    );
}

#[tokio::test]
async fn lease_manager_acquires_and_a_second_identity_waits() {
    let server = FakeApiServer::start().await;
    let build = |identity: &str| {
        kube_lease_manager::LeaseManagerBuilder::new(server.client(), "lease")
            .with_namespace("default")
            .with_identity(identity)
            .with_duration(15)
            .with_grace(5)
            .build()
    };
    let first = build("a").await.unwrap();
    assert!(timeout(WAIT, first.changed()).await.unwrap().unwrap());
    let second = build("b").await.unwrap();
    assert!(
        timeout(Duration::from_secs(2), second.changed())
            .await
            .is_err(),
        "b must not lead"
    );

    let leases: Api<Lease> = Api::default_namespaced(server.client());
    let lease = leases.get("lease").await.unwrap();
    assert_eq!(lease.spec.unwrap().holder_identity.as_deref(), Some("a"));
    let applied = server.requests().into_iter().any(|r| {
        r.content_type.as_deref() == Some("application/apply-patch+yaml")
            && r.path
                .ends_with("/coordination.k8s.io/v1/namespaces/default/leases/lease")
    });
    assert!(applied);

    first.release().await.unwrap();
    let released = server.wait_for(
        "leases",
        "default",
        "lease",
        |l| l["spec"].get("holderIdentity").is_none(),
        WAIT,
    );
    assert!(released.await.is_some());
}

#[tokio::test]
async fn secrets_and_configmaps_round_trip_and_requests_are_logged() {
    let server = FakeApiServer::start().await;
    let secrets: Api<Secret> = Api::default_namespaced(server.client());
    let mut secret = Secret::default();
    secret.metadata.name = Some("creds".into());
    secret.string_data = Some([("password".to_string(), "hunter2".to_string())].into());
    let created = secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    assert_eq!(created.data.unwrap()["password"].0, b"hunter2");
    assert!(created.string_data.is_none());

    let cms: Api<ConfigMap> = Api::default_namespaced(server.client());
    let apply = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {"a": "1"}});
    cms.patch("cm", &PatchParams::apply("op"), &Patch::Apply(&apply))
        .await
        .unwrap();
    assert_eq!(
        server.get("configmaps", "default", "cm").unwrap()["data"]["a"],
        "1"
    );

    let log = server.requests();
    let patch = log.iter().find(|r| r.method == "PATCH").unwrap();
    assert_eq!(patch.path, "/api/v1/namespaces/default/configmaps/cm");
    assert_eq!(
        patch.content_type.as_deref(),
        Some("application/apply-patch+yaml")
    );
    assert_eq!(patch.query_param("fieldManager").as_deref(), Some("op"));
    assert_eq!((patch.verb(), patch.status), (Some("patch"), 200));
    assert_eq!(log[0].verb(), Some("create"));
    assert_eq!(log[0].resource().unwrap().plural, "secrets");
    server.clear_requests();
    assert!(server.requests().is_empty());
}

/// As the API server: a ConfigMap holds 1 MiB of data at most, whichever verb writes it.
#[tokio::test]
async fn configmaps_over_one_mebibyte_are_refused() {
    let server = FakeApiServer::start().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(server.client());
    let sized = |name: &str, bytes: usize| {
        let mut cm = ConfigMap::default();
        cm.metadata.name = Some(name.into());
        // The key counts too (harsher than the API server, which counts values).
        cm.data = Some([("k".to_string(), "x".repeat(bytes - 1))].into());
        cm
    };
    let limit = 1024 * 1024;
    let refused = cms
        .create(&PostParams::default(), &sized("big", limit + 1))
        .await;
    let Err(kube::Error::Api(status)) = refused else {
        panic!("expected 422, got {refused:?}");
    };
    assert_eq!((status.code, status.reason.as_str()), (422, "Invalid"));
    assert!(
        status.message.contains("ConfigMap \"big\" is invalid")
            && status.message.contains("1048576 bytes"),
        "{}",
        status.message
    );
    assert!(server.get("configmaps", "default", "big").is_none());

    let full = cms
        .create(&PostParams::default(), &sized("full", limit))
        .await
        .unwrap();
    let mut more = full.clone();
    more.data = Some([("k".to_string(), "x".repeat(limit))].into());
    let (code, _) = api_error(cms.replace("full", &PostParams::default(), &more).await);
    assert_eq!(code, 422);
    let patch = json!({"data": {"extra": "y"}});
    let (code, _) = api_error(
        cms.patch("full", &PatchParams::default(), &Patch::Merge(&patch))
            .await,
    );
    assert_eq!(code, 422);
    let stored = server.get("configmaps", "default", "full").unwrap();
    assert_eq!(stored["data"]["k"].as_str().map(str::len), Some(limit - 1));
    assert!(stored["data"].get("extra").is_none());
}

#[tokio::test]
async fn controller_reconciles_to_a_steady_state() {
    let server = FakeApiServer::start().await;
    let api = tsp_api(&server);
    let calls = Arc::new(AtomicUsize::new(0));
    let reconcile = |obj: Arc<DynamicObject>, ctx: Arc<(Api<DynamicObject>, Arc<AtomicUsize>)>| async move {
        ctx.1.fetch_add(1, Ordering::SeqCst);
        let status = json!({
            "apiVersion": "cloudidentity.dev/v1alpha1", "kind": "TenantSyncPolicy",
            "status": {"observedGeneration": obj.meta().generation},
        });
        let params = PatchParams::apply("operator").force();
        ctx.0
            .patch_status(&obj.name_any(), &params, &Patch::Apply(&status))
            .await?;
        Ok::<_, kube::Error>(Action::await_change())
    };
    let error_policy =
        |_: Arc<DynamicObject>, _: &kube::Error, _: Arc<_>| Action::requeue(Duration::from_secs(1));
    let controller = Controller::new_with(api.clone(), watcher::Config::default(), tsp_resource())
        .run(
            reconcile,
            error_policy,
            Arc::new((api.clone(), Arc::clone(&calls))),
        )
        .for_each(|_| async {});
    let running = tokio::spawn(controller);

    create_tsp(&api, "t1", json!({"a": 1})).await;
    let done = server.wait_for(
        "tenantsyncpolicies",
        "default",
        "t1",
        |o| o["status"]["observedGeneration"] == 1,
        WAIT,
    );
    assert!(done.await.is_some());
    api.patch(
        "t1",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"a": 2}})),
    )
    .await
    .unwrap();
    let done = server.wait_for(
        "tenantsyncpolicies",
        "default",
        "t1",
        |o| o["status"]["observedGeneration"] == 2,
        WAIT,
    );
    assert!(done.await.is_some());
    running.abort();
    assert!(calls.load(Ordering::SeqCst) >= 2);
}

#[tokio::test]
async fn controller_with_the_finalizer_helper_cleans_up_on_delete() {
    use kube::runtime::finalizer::{Event as Finalizer, finalizer};
    type Ctx = (Api<DynamicObject>, Arc<AtomicUsize>);
    let server = FakeApiServer::start().await;
    let api = tsp_api(&server);
    let cleanups = Arc::new(AtomicUsize::new(0));
    let reconcile = |obj: Arc<DynamicObject>, ctx: Arc<Ctx>| async move {
        let cleanups = Arc::clone(&ctx.1);
        finalizer(
            &ctx.0,
            "cloudidentity.dev/cleanup",
            obj,
            |event| async move {
                if let Finalizer::Cleanup(_) = event {
                    cleanups.fetch_add(1, Ordering::SeqCst);
                }
                Ok::<_, kube::Error>(Action::await_change())
            },
        )
        .await
    };
    let error_policy =
        |_: Arc<DynamicObject>, _: &_, _: Arc<Ctx>| Action::requeue(Duration::from_millis(200));
    let ctx = Arc::new((api.clone(), Arc::clone(&cleanups)));
    let controller = Controller::new_with(api.clone(), watcher::Config::default(), tsp_resource())
        .run(reconcile, error_policy, ctx)
        .for_each(|_| async {});
    let running = tokio::spawn(controller);

    create_tsp(&api, "t1", json!({})).await;
    let has_finalizer =
        |o: &Value| o["metadata"]["finalizers"] == json!(["cloudidentity.dev/cleanup"]);
    assert!(
        server
            .wait_for("tenantsyncpolicies", "default", "t1", has_finalizer, WAIT)
            .await
            .is_some()
    );
    api.delete("t1", &DeleteParams::default()).await.unwrap();
    assert!(
        server
            .wait_for_absent("tenantsyncpolicies", "default", "t1", WAIT)
            .await
    );
    running.abort();
    assert_eq!(cleanups.load(Ordering::SeqCst), 1);
    let patches: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.verb() == Some("patch"))
        .collect();
    assert!(
        patches
            .iter()
            .all(|r| r.content_type.as_deref() == Some("application/json-patch+json"))
    );
}

#[tokio::test]
async fn metadata_only_requests_get_partial_objects() {
    let server = FakeApiServer::start().await;
    let api = tsp_api(&server);
    for name in ["a", "b"] {
        create_tsp(&api, name, json!({"secret": "x"})).await;
    }
    let listed = api.list_metadata(&ListParams::default()).await.unwrap();
    assert_eq!(
        listed
            .items
            .iter()
            .map(|m| m.name_any())
            .collect::<Vec<_>>(),
        ["a", "b"]
    );
    assert_eq!(
        api.get_metadata("a").await.unwrap().metadata.generation,
        Some(1)
    );

    let meta_api: Api<kube::core::PartialObjectMeta<DynamicObject>> =
        Api::namespaced_with(server.client(), "default", &tsp_resource());
    let mut events = watcher(meta_api, watcher::Config::default()).boxed();
    let mut names = Vec::new();
    loop {
        match timeout(WAIT, events.try_next())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
        {
            watcher::Event::InitApply(m) => names.push(m.name_any()),
            watcher::Event::InitDone => break,
            _ => {}
        }
    }
    assert_eq!(names, ["a", "b"]);
}

#[tokio::test]
async fn collections_selectors_hooks_and_discovery() {
    let server = FakeApiServer::start().await;
    let client = server.client();
    for (ns, env) in [("team-a", "prod"), ("team-b", "dev"), ("team-b", "test")] {
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &tsp_resource());
        let mut obj = tsp(&format!("t-{env}"), json!({}));
        obj.metadata.labels = Some([("env".to_string(), env.to_string())].into());
        api.create(&PostParams::default(), &obj).await.unwrap();
    }
    let all: Api<DynamicObject> = Api::all_with(client.clone(), &tsp_resource());
    assert_eq!(
        all.list(&ListParams::default()).await.unwrap().items.len(),
        3
    );
    let some = all
        .list(&ListParams::default().labels("env in (prod,dev)"))
        .await
        .unwrap();
    assert_eq!(some.items.len(), 2);
    let bad = all.list(&ListParams::default().labels("env in prod")).await;
    assert_eq!(api_error(bad).0, 400);
    let unsupported = all
        .list(&ListParams::default().fields("spec.tenantId=x"))
        .await;
    assert_eq!(
        api_error(unsupported).0,
        400,
        "custom resources select on name and namespace only"
    );

    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), "team-b", &tsp_resource());
    let mut generated = tsp("", json!({}));
    generated.metadata.name = None;
    generated.metadata.generate_name = Some("gen-".into());
    let created = api
        .create(&PostParams::default(), &generated)
        .await
        .unwrap();
    assert!(created.name_any().starts_with("gen-") && created.name_any().len() == 9);
    let dry = PostParams {
        dry_run: true,
        ..Default::default()
    };
    api.create(&dry, &tsp("dry", json!({}))).await.unwrap();
    assert!(server.get("tenantsyncpolicies", "team-b", "dry").is_none());
    let bad_name = api
        .create(&PostParams::default(), &tsp("Not_A_Name", json!({})))
        .await;
    assert_eq!(api_error(bad_name).0, 422);

    server.fail_next("GET", "/tenantsyncpolicies/t-dev", 500, 1);
    assert_eq!(
        api_error(api.get("t-dev").await),
        (500, "InternalError".into())
    );
    api.get("t-dev").await.unwrap();

    let seeded = server.put_object(
        "tenantsyncpolicies",
        json!({"apiVersion": "cloudidentity.dev/v1alpha1", "kind": "TenantSyncPolicy",
               "metadata": {"name": "seeded", "namespace": "team-b"}, "status": {"syncState": "Seeded"}}),
    );
    assert_eq!(seeded["metadata"]["generation"], 1);
    assert_eq!(
        api.get("seeded").await.unwrap().data["status"]["syncState"],
        "Seeded"
    );

    let deleted = api
        .delete_collection(
            &DeleteParams::default(),
            &ListParams::default().labels("env"),
        )
        .await
        .unwrap();
    assert_eq!(deleted.left().unwrap().items.len(), 2);
    assert_eq!(
        server.objects("tenantsyncpolicies").len(),
        3,
        "team-a's and the unlabelled ones stay"
    );

    let version = client.apiserver_version().await.unwrap();
    assert_eq!(version.git_version, "v1.37.0");
    let unknown = api
        .patch_subresource(
            "scale",
            "seeded",
            &PatchParams::default(),
            &Patch::Merge(json!({})),
        )
        .await;
    assert_eq!(api_error(unknown).0, 404);
}

#[tokio::test]
async fn malformed_requests_get_status_errors() {
    const TSPS: &str = "/apis/cloudidentity.dev/v1alpha1/namespaces/default/tenantsyncpolicies";
    const T1: &str = "/apis/cloudidentity.dev/v1alpha1/namespaces/default/tenantsyncpolicies/t1";
    const JSON: &str = "application/json";
    const JSON_PATCH: &str = "application/json-patch+json";
    const APPLY: &str = "application/apply-patch+yaml";
    const YAML: &str = "apiVersion: cloudidentity.dev/v1alpha1\nkind: TenantSyncPolicy\nspec:\n  tenantId: tenant-y\n";
    let cases: &[(&str, &str, &str, &str, &str, u16)] = &[
        ("POST", TSPS, "", JSON, "{not json", 400),
        ("POST", TSPS, "", JSON, "[1]", 400),
        ("POST", TSPS, "", JSON, r#"{"metadata":{}}"#, 422),
        ("POST", TSPS, "", JSON, r#"{"metadata":{"name":"t1"}}"#, 201),
        ("PATCH", T1, "", "text/plain", "{}", 415),
        (
            "PATCH",
            T1,
            "",
            "application/strategic-merge-patch+json",
            "{}",
            415,
        ),
        ("PATCH", T1, "", JSON_PATCH, "{}", 400),
        (
            "PATCH",
            T1,
            "",
            JSON_PATCH,
            r#"[{"op":"nope","path":"/a"}]"#,
            422,
        ),
        (
            "PATCH",
            T1,
            "",
            JSON_PATCH,
            r#"[{"op":"remove","path":"/spec/x/0"}]"#,
            422,
        ),
        ("PATCH", T1, "", APPLY, "spec: {}", 400),
        ("PATCH", T1, "?fieldManager=m", APPLY, "spec: {}", 400),
        ("PATCH", T1, "?fieldManager=m", APPLY, YAML, 200),
        ("PUT", TSPS, "", JSON, "{}", 405),
        (
            "GET",
            TSPS,
            "?watch=true&resourceVersion=abc",
            JSON,
            "",
            400,
        ),
        ("GET", T1, "/scale/extra", JSON, "", 404),
        ("GET", "/nothing/here", "", JSON, "", 404),
        (
            "PATCH",
            "/api/v1/namespaces/default/configmaps/Bad_Name",
            "?fieldManager=m",
            APPLY,
            r#"{"apiVersion":"v1","kind":"ConfigMap"}"#,
            422,
        ),
    ];
    let server = FakeApiServer::start().await;
    let http = reqwest::Client::new();
    for (method, path, suffix, content_type, body, expected) in cases {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let url = format!("{}{path}{suffix}", server.url());
        let request = http
            .request(method.clone(), url)
            .header("content-type", *content_type);
        let response = request.body(*body).send().await.unwrap();
        let code = response.status().as_u16();
        let answer: Value = response.json().await.unwrap();
        assert_eq!(code, *expected, "{method} {path}{suffix}: {answer}");
        if code >= 400 {
            let status = (answer["kind"].as_str(), answer["code"].as_u64());
            assert_eq!(status, (Some("Status"), Some(u64::from(code))), "{answer}");
        }
    }
    let applied = server.get("tenantsyncpolicies", "default", "t1").unwrap();
    assert_eq!(
        applied["spec"]["tenantId"], "tenant-y",
        "YAML apply bodies are read"
    );
}

#[tokio::test]
async fn selector_watches_see_objects_enter_and_leave() {
    let server = FakeApiServer::start().await;
    let api = tsp_api(&server);
    let now = server.resource_version().to_string();
    let selected = WatchParams::default().labels("team=id");
    let mut stream = api.watch(&selected, &now).await.unwrap().boxed();
    create_tsp(&api, "t1", json!({})).await;
    let label = |v: Value| Patch::Merge(json!({"metadata": {"labels": {"team": v}}}));
    api.patch("t1", &PatchParams::default(), &label(json!("id")))
        .await
        .unwrap();
    api.patch("t1", &PatchParams::default(), &label(json!("other")))
        .await
        .unwrap();
    let mut seen = Vec::new();
    while seen.len() < 2 {
        match timeout(WAIT, stream.try_next()).await.unwrap().unwrap() {
            Some(WatchEvent::Added(_)) => seen.push("added"),
            Some(WatchEvent::Deleted(_)) => seen.push("deleted"),
            Some(WatchEvent::Bookmark(_)) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(seen, ["added", "deleted"]);
}
