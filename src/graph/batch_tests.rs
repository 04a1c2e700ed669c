use super::*;

#[test]
fn statuses_are_judged_per_request() {
    assert_eq!(verdict(200), Verdict::Success);
    assert_eq!(verdict(204), Verdict::Success);
    assert_eq!(verdict(429), Verdict::Throttled);
    assert_eq!(verdict(424), Verdict::Transient);
    assert_eq!(verdict(503), Verdict::Transient);
    for refused in [400, 401, 403, 404, 409] {
        assert_eq!(verdict(refused), Verdict::Refused, "{refused}");
    }
}

#[test]
fn the_wait_is_the_longest_retry_after() {
    let p = RetryPolicy::default();
    let s = Duration::from_secs;
    assert_eq!(
        retry_wait(&[Some(s(2)), Some(s(7)), Some(s(3))], &p, 1),
        s(7)
    );
    assert_eq!(retry_wait(&[], &p, 1), Duration::ZERO);
    // Capped by the policy, like a single request's.
    assert_eq!(retry_wait(&[Some(s(3600))], &p, 1), p.max_retry_after);
    // Without Retry-After: backoff, still at least as long as the longest given.
    let w = retry_wait(&[None, Some(Duration::from_millis(10))], &p, 1);
    assert!(w >= Duration::from_millis(10) && w <= p.base_delay, "{w:?}");
}

#[test]
fn requests_are_independent_and_bodies_carry_their_content_type() {
    let get = BatchRequest::get(Operation::GetSyncBehavior, "users/a?$select=x".into());
    let v = wire(0, &get);
    assert_eq!(
        v,
        json!({"id": "1", "method": "GET", "url": "/users/a?$select=x"})
    );
    let patch = BatchRequest::patch(
        Operation::UpdateUser,
        "/users/b".into(),
        json!({"onPremisesImmutableId": null}),
    );
    let v = wire(19, &patch);
    assert_eq!(v["id"], "20");
    assert_eq!(v["url"], "/users/b");
    assert_eq!(v["headers"]["Content-Type"], "application/json");
    assert_eq!(v["body"], json!({"onPremisesImmutableId": null}));
    assert!(v.get("dependsOn").is_none());
}

#[test]
fn item_errors_are_typed_with_their_own_or_the_batch_request_id() {
    let item: ItemResponse = serde_json::from_value(json!({
        "id": "3", "status": 429,
        "headers": {"Retry-After": "7", "Content-Type": "application/json"},
        "body": {"error": {"code": "TooManyRequests", "message": "Please retry again later.",
                 "innerError": {"request-id": "inner-1"}}}
    }))
    .unwrap_or_else(|e| panic!("{e}"));
    match item_error(Operation::UpdateSyncBehavior, &item, Some("batch-1")) {
        GraphError::Api {
            operation,
            status,
            code,
            request_id,
            retry_after,
            ..
        } => {
            assert_eq!(operation, Operation::UpdateSyncBehavior);
            assert_eq!(status, 429);
            assert_eq!(code, "TooManyRequests");
            assert_eq!(request_id.as_deref(), Some("inner-1"));
            assert_eq!(retry_after, Some(Duration::from_secs(7)));
        }
        other => panic!("{other:?}"),
    }
    let bare: ItemResponse =
        serde_json::from_value(json!({"id": "1", "status": 404})).unwrap_or_else(|e| panic!("{e}"));
    let e = item_error(Operation::GetUser, &bare, Some("batch-1"));
    assert!(
        matches!(&e, GraphError::Api { status: 404, request_id: Some(r), .. } if r == "batch-1"),
        "{e:?}"
    );
    assert_eq!(bare.header("Retry-After"), None);
}
