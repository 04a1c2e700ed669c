#![allow(clippy::unwrap_used)]

use super::*;
use crate::ad::anchor::immutable_id;

fn ad(n: u8, upn: &str, consistency: Option<[u8; 16]>) -> DirectoryUser {
    DirectoryUser {
        dn: format!("CN=User {n},OU=Synced,DC=corp,DC=example"),
        object_guid: [n; 16],
        consistency_guid: consistency,
        sid: Some(format!("S-1-5-21-1-2-3-{}", 1000 + u32::from(n))),
        upn: Some(upn.into()),
        sam_account_name: None,
        user_account_control: 512,
        admin_count: false,
        mailbox_on_premises: false,
    }
}

fn cloud(id: &str, upn: &str, immutable: Option<String>, sid: Option<String>) -> CloudLink {
    CloudLink {
        id: id.into(),
        user_principal_name: Some(upn.into()),
        on_premises_immutable_id: immutable,
        on_premises_security_identifier: sid,
        on_premises_distinguished_name: None,
    }
}

#[test]
fn finds_mismatches_orphans_on_both_sides() {
    let directory = vec![
        // linked by the consistency GUID
        ad(1, "a@corp.example", Some([0xa1; 16])),
        // linked by objectGUID (no consistency GUID)
        ad(2, "b@corp.example", None),
        // the cloud twin carries another ImmutableID
        ad(3, "c@corp.example", Some([0xc3; 16])),
        // no cloud twin
        ad(4, "d@corp.example", None),
    ];
    let cloud_users = vec![
        cloud("1", "a@corp.example", Some(immutable_id(&[0xa1; 16])), None),
        cloud(
            "2",
            "b@corp.example",
            Some(immutable_id(&[2; 16])),
            Some("S-1-5-21-1-2-3-1002".into()),
        ),
        cloud(
            "3",
            "c@corp.example",
            Some(immutable_id(&[3; 16])),
            Some("s-1-5-21-1-2-3-1003".into()),
        ),
        cloud("5", "e@corp.example", Some(immutable_id(&[5; 16])), None),
    ];
    let r = audit(&cloud_users, None, &directory);
    let s = &r.summary;
    assert_eq!((s.checked, s.linked, s.mismatched), (4, 2, 1));
    assert_eq!((s.ad_only, s.cloud_only), (1, 1));
    let kinds: Vec<(&str, Option<&str>)> = r
        .findings
        .iter()
        .map(|f| (f.kind.as_str(), f.user_principal_name.as_deref()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("Mismatch", Some("c@corp.example")),
            ("CloudOnly", Some("e@corp.example")),
            ("AdOnly", Some("d@corp.example")),
        ]
    );
    let m = &r.findings[0];
    assert_eq!(
        m.expected.as_deref(),
        Some(immutable_id(&[0xc3; 16]).as_str())
    );
    assert_eq!(
        m.immutable_id.as_deref(),
        Some(immutable_id(&[3; 16]).as_str())
    );
    assert_eq!(r.joined["3"].object_guid, [3; 16]);
}

#[test]
fn a_scope_limits_the_cloud_side_not_the_twins() {
    let directory = vec![ad(1, "a@corp.example", None), ad(2, "b@corp.example", None)];
    let cloud_users = vec![
        cloud("1", "a@corp.example", Some(immutable_id(&[1; 16])), None),
        cloud("2", "b@corp.example", Some("bogus".into()), None),
    ];
    let scope: BTreeSet<String> = ["1".to_string()].into();
    let r = audit(&cloud_users, Some(&scope), &directory);
    assert_eq!((r.summary.checked, r.summary.linked), (1, 1));
    // user 2 is out of scope, and its AD object has a twin (joined by UPN)
    assert_eq!((r.summary.mismatched, r.summary.ad_only), (0, 0));
}

#[test]
fn the_status_keeps_a_bounded_list() {
    let directory: Vec<DirectoryUser> = (0..50)
        .map(|n| ad(n, &format!("u{n}@corp.example"), None))
        .collect();
    let r = audit(&[], None, &directory);
    assert_eq!(r.summary.ad_only, 50);
    assert_eq!(r.findings.len(), 50);
    assert_eq!(r.summary.findings.len(), MAX_FINDINGS);
    assert!(
        r.summary
            .describe()
            .contains("50 AD users without a cloud twin")
    );
}

#[test]
fn joins_by_distinguished_name_ignoring_case() {
    let directory = vec![ad(7, "x@corp.example", None)];
    let mut c = cloud("7", "other@corp.example", Some("nope".into()), None);
    c.on_premises_distinguished_name = Some("cn=user 7, ou=synced, dc=corp, dc=example".into());
    let r = audit(&[c], None, &directory);
    assert_eq!(r.summary.mismatched, 1);
    assert_eq!(r.summary.ad_only, 0);
}
