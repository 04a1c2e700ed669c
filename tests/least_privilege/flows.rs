//! The flows, one per row of the README's permission table: the resource each runs, what the
//! tenant must look like first, and the permissions and Graph operations the code derives
//! for it (`reconcile::permissions`).

use entra_cloud_operator::api::{
    CloudGroupConversionSpec, CloudUserConversionSpec, TenantSyncPolicySpec,
};
use entra_cloud_operator::graph::Operation;
use entra_cloud_operator::reconcile::permissions as perms;
use serde_json::{Value, json};

use crate::common::TENANT;

/// The kind of resource a flow runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Tenant,
    Users,
    Groups,
    /// Undo (`onDelete: Revert`) of the user conversion `spec` describes.
    UserRevert,
    /// Undo of the group conversion `spec` describes.
    GroupRevert,
}

/// What the tenant must look like before the flow runs (made with every permission).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Setup {
    /// As seeded.
    Seeded,
    /// After a tenant-wide disable: every user cloud-managed, ImmutableIDs kept.
    SyncDisabled,
    /// A few users' AD objects moved out of sync scope, soft-deleted by a sync cycle.
    OutOfScope,
    /// The conversion `spec` describes, done (for the undo flows).
    Converted,
}

/// Values of the seeded tenant the specs name.
#[derive(Clone, Debug, Default)]
pub struct Fixture {
    /// A synchronised group's display name.
    pub group: String,
    /// UPNs of the users moved out of scope ([`Setup::OutOfScope`]).
    pub out_of_scope: Vec<String>,
}

pub struct Flow {
    /// The README row's first column, exactly.
    pub row: &'static str,
    pub kind: Kind,
    pub setup: Setup,
    /// The spec of the resource (for the undo flows: of the conversion undone).
    pub spec: fn(&Fixture) -> Value,
}

pub const ADMIN: &str = "admin@contoso.onmicrosoft.com";

fn tenant(sync: &str, clear: bool) -> Value {
    json!({"tenantId": TENANT, "directorySync": sync, "clearImmutableIds": clear,
           "credentials": {"clientSecret": {"clientId": crate::common::CLIENT,
               "secretRef": {"name": "graph-credentials", "key": "clientSecret"}}}})
}

fn users(extra: Value) -> Value {
    let mut spec = json!({"tenantRef": {"name": "contoso"}, "mode": "Apply",
                          "selector": {"domains": ["contoso.com"]},
                          "rollout": {"maxObjects": 1000}});
    merge(&mut spec, extra);
    spec
}

fn groups(extra: Value) -> Value {
    let mut spec = json!({"tenantRef": {"name": "contoso"}, "mode": "Apply",
                          "selector": {"filter": "startswith(displayName,'SG ')"},
                          "rollout": {"maxObjects": 1000}});
    merge(&mut spec, extra);
    spec
}

fn merge(into: &mut Value, extra: Value) {
    if let (Some(a), Value::Object(b)) = (into.as_object_mut(), extra) {
        a.extend(b);
    }
}

pub const FLOWS: &[Flow] = &[
    Flow {
        row: "tenant-wide: observe (`directorySync: Unmanaged`), and the guard's delta queries",
        kind: Kind::Tenant,
        setup: Setup::Seeded,
        spec: |_| tenant("Unmanaged", false),
    },
    Flow {
        row: "tenant-wide: disable (or enable) directory synchronisation",
        kind: Kind::Tenant,
        setup: Setup::Seeded,
        spec: |_| tenant("Disabled", false),
    },
    Flow {
        row: "tenant-wide: disable, then clear ImmutableIDs (`clearImmutableIds: true`)",
        kind: Kind::Tenant,
        setup: Setup::Seeded,
        spec: |_| tenant("Disabled", true),
    },
    Flow {
        row: "users: plan (`mode: Plan`), selected by UPN, filter or domain",
        kind: Kind::Users,
        setup: Setup::Seeded,
        spec: |_| users(json!({"mode": "Plan"})),
    },
    Flow {
        row: "users: Source of Authority",
        kind: Kind::Users,
        setup: Setup::Seeded,
        spec: |_| users(json!({})),
    },
    Flow {
        row: "users: Source of Authority with `clearImmutableId: true`",
        kind: Kind::Users,
        setup: Setup::Seeded,
        spec: |_| users(json!({"clearImmutableId": true})),
    },
    Flow {
        row: "users: Source of Authority, selecting or excluding by group",
        kind: Kind::Users,
        setup: Setup::Seeded,
        spec: |f| users(json!({"exclude": {"groups": [{"displayName": f.group}]}})),
    },
    Flow {
        row: "users: `method: ClearImmutableId` (after a tenant-wide disable)",
        kind: Kind::Users,
        setup: Setup::SyncDisabled,
        spec: |_| users(json!({"method": "ClearImmutableId"})),
    },
    Flow {
        row: "users: `method: RestoreDeleted`",
        kind: Kind::Users,
        setup: Setup::OutOfScope,
        spec: |f| {
            users(json!({"method": "RestoreDeleted",
                         "selector": {"userPrincipalNames": f.out_of_scope}}))
        },
    },
    Flow {
        row: "users: undo (`onDelete: Revert`) of a Source of Authority switch",
        kind: Kind::UserRevert,
        setup: Setup::Converted,
        spec: |_| users(json!({})),
    },
    Flow {
        row: "users: undo (`onDelete: Revert`) of a switch with ImmutableIDs cleared",
        kind: Kind::UserRevert,
        setup: Setup::Converted,
        spec: |_| users(json!({"clearImmutableId": true})),
    },
    Flow {
        row: "groups: plan (`mode: Plan`)",
        kind: Kind::Groups,
        setup: Setup::Seeded,
        spec: |_| groups(json!({"mode": "Plan"})),
    },
    Flow {
        row: "groups: Source of Authority",
        kind: Kind::Groups,
        setup: Setup::Seeded,
        spec: |_| groups(json!({})),
    },
    Flow {
        row: "groups: Source of Authority with `owners`",
        kind: Kind::Groups,
        setup: Setup::Seeded,
        spec: |_| groups(json!({"owners": [ADMIN]})),
    },
    Flow {
        row: "groups: undo (`onDelete: Revert`)",
        kind: Kind::GroupRevert,
        setup: Setup::Converted,
        spec: |_| groups(json!({})),
    },
    Flow {
        row: "groups: undo (`onDelete: Revert`) with `owners` added",
        kind: Kind::GroupRevert,
        setup: Setup::Converted,
        spec: |_| groups(json!({"owners": [ADMIN]})),
    },
];

pub fn find(row: &str) -> &'static Flow {
    FLOWS
        .iter()
        .find(|f| f.row == row)
        .unwrap_or_else(|| panic!("no flow {row:?}"))
}

pub fn tenant_spec(v: &Value) -> TenantSyncPolicySpec {
    serde_json::from_value(v.clone()).unwrap()
}

pub fn user_spec(v: &Value) -> CloudUserConversionSpec {
    serde_json::from_value(v.clone()).unwrap()
}

pub fn group_spec(v: &Value) -> CloudGroupConversionSpec {
    serde_json::from_value(v.clone()).unwrap()
}

impl Flow {
    /// The Graph operations the code says the flow calls.
    pub fn operations(&self, spec: &Value) -> Vec<Operation> {
        match self.kind {
            Kind::Tenant => perms::tenant_operations(&tenant_spec(spec)),
            Kind::Users => perms::user_operations(&user_spec(spec)),
            Kind::Groups => perms::group_operations(&group_spec(spec)),
            Kind::UserRevert => perms::user_revert_operations(user_spec(spec).clear_immutable_id),
            Kind::GroupRevert => {
                perms::group_revert_operations(!group_spec(spec).owners.is_empty())
            }
        }
    }

    /// The permissions the code derives for it: what the README must list.
    pub fn permissions(&self, spec: &Value) -> Vec<&'static str> {
        match self.kind {
            Kind::Tenant => perms::tenant(&tenant_spec(spec)),
            Kind::Users => perms::users(&user_spec(spec)),
            Kind::Groups => perms::groups(&group_spec(spec)),
            Kind::UserRevert | Kind::GroupRevert => perms::needed(&self.operations(spec)),
        }
    }
}
