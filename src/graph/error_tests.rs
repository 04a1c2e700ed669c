use super::*;
use crate::graph::pacing::Cost;

fn api(status: u16, code: &str) -> GraphError {
    GraphError::Api {
        operation: Operation::UpdateUser,
        status,
        code: code.into(),
        message: "m".into(),
        request_id: Some("r-1".into()),
        retry_after: None,
    }
}

#[test]
fn categories() {
    assert_eq!(
        api(429, "TooManyRequests").category(),
        ErrorCategory::Throttled
    );
    assert_eq!(
        api(403, "Authorization_RequestDenied").category(),
        ErrorCategory::MissingPermission
    );
    assert_eq!(
        api(503, "serviceNotAvailable").category(),
        ErrorCategory::Transient
    );
    assert_eq!(
        api(400, "Request_BadRequest").category(),
        ErrorCategory::Rejected
    );
    assert_eq!(
        api(404, "Request_ResourceNotFound").category(),
        ErrorCategory::NotFound
    );
    let e = AuthError::Rejected {
        status: 400,
        client_id: "c".into(),
        error: "invalid_request".into(),
        aadsts: Some(90002),
        description: "Tenant not found".into(),
    };
    assert_eq!(e.category(), ErrorCategory::TenantNotFound);
}

#[test]
fn delta_reads_cost_one_unit_and_need_read_permissions() {
    for (op, name, permission) in [
        (Operation::UsersDelta, "users.delta", "User.Read.All"),
        (
            Operation::GroupsDelta,
            "groups.delta",
            "GroupMember.Read.All",
        ),
    ] {
        assert_eq!(op.name(), name);
        assert_eq!(op.required_permission(), permission);
        assert_eq!(
            op.cost(),
            Cost {
                ru: 1,
                write: false
            }
        );
        assert!(!op.is_write());
    }
}

#[test]
fn the_least_privileged_permission_comes_first_among_those_that_grant() {
    for &op in Operation::ALL {
        if op == Operation::Batch {
            assert!(op.granted_by().is_empty());
            continue;
        }
        assert_eq!(
            op.granted_by().first().copied(),
            Some(op.required_permission()),
            "{op}"
        );
        // A write is never allowed by a read-only permission.
        if op.is_write() {
            assert!(
                op.granted_by()
                    .iter()
                    .all(|p| p.contains("ReadWrite") || p.contains("DeleteRestore")),
                "{op}"
            );
        }
    }
}

#[test]
fn messages_name_operation_code_and_request_id() {
    let m = api(400, "Request_BadRequest").to_string();
    assert!(m.contains("users.update") && m.contains("Request_BadRequest") && m.contains("r-1"));
}

#[test]
fn a_refusal_is_fatal_only_when_nothing_alike_was_accepted() {
    let refused = api(403, "Authorization_RequestDenied");
    assert_eq!(refused.category(), ErrorCategory::MissingPermission);
    // Refused for every object attempted: a missing permission.
    assert!(refused.is_fatal(false));
    // Refused after another object's same step was accepted: this object alone.
    assert!(!refused.is_fatal(true));
    // Credentials and tenant stop the pass whatever else succeeded; the rest never does.
    let creds = GraphError::Auth(AuthError::Credential {
        detail: "unreadable".into(),
    });
    assert!(creds.is_fatal(true));
    for other in [
        api(400, "Request_BadRequest"),
        api(404, "Request_ResourceNotFound"),
    ] {
        assert!(!other.is_fatal(false));
    }
}
