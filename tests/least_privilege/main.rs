//! Least privilege, proven against the emulator, which enforces application permissions on
//! every route. For each flow of the README's permission table: the table lists what the code
//! derives (`reconcile::permissions`); with exactly those permissions the flow ends Ready
//! (undo flows: reverted) and calls no Graph operation the derivation left out; with any one
//! of them removed it ends `Stalled` with reason `MissingPermission`, a message naming the
//! missing permission, and no write at all (the permission preflight, or the read that needs
//! it, stops the flow before its first write).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;

mod drive;
mod flows;

use std::collections::BTreeSet;

use entra_cloud_operator::api::conditions as cond;
use entra_cloud_operator::graph::Operation;
use entra_cloud_operator::reconcile::permissions::needed;

use flows::{FLOWS, Fixture, Flow};

/// The README's permission table: first column → the permissions of the second.
fn readme_table() -> Vec<(String, BTreeSet<String>)> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let section = readme
        .split("\n## Microsoft Graph permissions")
        .nth(1)
        .expect("README has a Microsoft Graph permissions section");
    let section = section.split("\n## ").next().unwrap_or_default();
    section
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| flow "))
        .map(|l| {
            let cells: Vec<&str> = l.split(" | ").collect();
            assert!(cells.len() >= 2, "README permission row: {l}");
            let flow = cells[0].trim_start_matches("| ").trim().to_string();
            let permissions = cells[1]
                .split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_string)
                .collect();
            (flow, permissions)
        })
        .collect()
}

/// A spec for the README check: any group name and UPN serve.
fn sample_fixture() -> Fixture {
    Fixture {
        group: "SG Sample".into(),
        out_of_scope: vec!["someone@contoso.com".into()],
    }
}

#[test]
fn the_readme_lists_each_flows_permissions() {
    let table = readme_table();
    let rows: BTreeSet<&str> = table.iter().map(|(f, _)| f.as_str()).collect();
    let flows: BTreeSet<&str> = FLOWS.iter().map(|f| f.row).collect();
    assert_eq!(rows, flows, "the README's rows and the tested flows differ");
    for (row, listed) in &table {
        let flow = flows::find(row);
        let derived: BTreeSet<String> = flow
            .permissions(&(flow.spec)(&sample_fixture()))
            .into_iter()
            .map(str::to_string)
            .collect();
        assert_eq!(listed, &derived, "README row {row:?}");
    }
}

/// Each flow's permissions are minimal: none is allowed by the others for what the flow calls.
#[test]
fn each_flows_permissions_are_each_needed() {
    for flow in FLOWS {
        let spec = (flow.spec)(&sample_fixture());
        let ops = flow.operations(&spec);
        let set = flow.permissions(&spec);
        assert!(!set.is_empty(), "{}", flow.row);
        assert_eq!(needed(&ops), set, "{}", flow.row);
        for p in &set {
            let others: Vec<&str> = set.iter().copied().filter(|q| q != p).collect();
            assert!(
                ops.iter()
                    .any(|op| !op.granted_by().iter().any(|g| others.contains(g))),
                "{}: {p} is not needed",
                flow.row
            );
        }
    }
}

async fn check(row: &str) {
    let flow: &Flow = flows::find(row);
    // The spec only names tenant values the permissions do not depend on.
    let spec = (flow.spec)(&sample_fixture());
    let set = flow.permissions(&spec);
    let declared = flow.operations(&spec);

    let exact = drive::run(flow, &set).await;
    let ok = if matches!(
        flow.kind,
        flows::Kind::UserRevert | flows::Kind::GroupRevert
    ) {
        "Reverted"
    } else {
        cond::READY
    };
    assert_eq!(
        exact.settled.0, ok,
        "{row} with {set:?}: {:?}",
        exact.settled
    );
    for (op, status) in &exact.calls {
        // Optional reads (looking for privileged users) may be refused: the flow does without.
        if entra_cloud_operator::reconcile::permissions::OPTIONAL.contains(op) {
            continue;
        }
        assert!(
            *op == Operation::Batch || declared.contains(op),
            "{row}: the code called {op}, which reconcile::permissions does not list"
        );
        assert_ne!(*status, Some(403), "{row}: {op} refused with {set:?}");
    }
    if spec["mode"] == "Apply" || matches!(flow.kind, flows::Kind::Tenant) {
        let wrote = !exact.writes.is_empty();
        let writes_expected =
            flow.kind != flows::Kind::Tenant || spec["directorySync"] != "Unmanaged";
        assert_eq!(wrote, writes_expected, "{row}: {:?}", exact.writes);
    }
    for route in exact.writes.keys() {
        let op = drive::write_operation(route);
        assert!(declared.contains(&op), "{row}: wrote {route}, not declared");
    }

    let runs = set.iter().map(|missing| {
        let fewer: Vec<&str> = set.iter().copied().filter(|p| p != missing).collect();
        async move { (*missing, drive::run(flow, &fewer).await) }
    });
    for (missing, run) in futures::future::join_all(runs).await {
        let (state, reason, message) = &run.settled;
        assert_eq!(
            (*state, reason.as_str()),
            (cond::STALLED, "MissingPermission"),
            "{row} without {missing}: {message}"
        );
        // The one to grant, not only the whole set the message lists after it.
        assert!(
            message.contains(&format!("grant the application permission {missing} ")),
            "{row} without {missing}: the message does not name it: {message}"
        );
        // The preflight (or the read that needs it) stops the flow before its first write:
        // nothing is left half done.
        assert!(
            run.writes.is_empty(),
            "{row} without {missing}: writes before the stall: {:?}",
            run.writes
        );
        assert_eq!(run.refused, 0, "{row} without {missing}: writes refused");
    }
}

macro_rules! flow_tests {
    ($($name:ident => $row:expr),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                check($row).await;
            }
        )*

        #[test]
        fn every_flow_has_a_test() {
            let tested: BTreeSet<&str> = [$($row),*].into_iter().collect();
            let flows: BTreeSet<&str> = FLOWS.iter().map(|f| f.row).collect();
            assert_eq!(tested, flows);
        }
    };
}

flow_tests! {
    tenant_observe => FLOWS[0].row,
    tenant_disable => FLOWS[1].row,
    tenant_disable_and_clear => FLOWS[2].row,
    users_plan => FLOWS[3].row,
    users_soa => FLOWS[4].row,
    users_soa_clear => FLOWS[5].row,
    users_soa_by_group => FLOWS[6].row,
    users_clear_immutable_id => FLOWS[7].row,
    users_restore_deleted => FLOWS[8].row,
    users_undo => FLOWS[9].row,
    users_undo_with_immutable_ids => FLOWS[10].row,
    groups_plan => FLOWS[11].row,
    groups_soa => FLOWS[12].row,
    groups_soa_owners => FLOWS[13].row,
    groups_undo => FLOWS[14].row,
    groups_undo_with_owners => FLOWS[15].row,
}
