//! Deterministic tenant seeding: the same seed gives the same tenant (ids, names, anchors,
//! memberships); only timestamps follow the emulator's start time.

use std::collections::{HashMap, HashSet};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use fastrand::Rng;
use jiff::Timestamp;

use super::clock::add_secs;
use super::model::{Group, Kind, OnPremIdentity, SyncInfo, User, VerifiedDomain, Writes};
use super::state::{Behaviour, Organization, Tenant};

pub mod contacts;

/// What to seed.
#[derive(Debug, Clone)]
pub struct SeedSpec<'a> {
    /// Tenant id (the organization's id).
    pub tenant_id: &'a str,
    /// Organization display name; also gives the initial domain.
    pub tenant_name: &'a str,
    /// The verified custom domain synced users live in.
    pub domain: &'a str,
    /// Synced users.
    pub users: usize,
    /// Synced groups.
    pub groups: usize,
    /// RNG seed.
    pub seed: u64,
}

#[rustfmt::skip]
const FIRST: &[&str] = &[
    "James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda", "David",
    "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas",
    "Sarah", "Charles", "Karen", "Daniel", "Nancy", "Matthew", "Lisa", "Anthony", "Betty",
    "Mark", "Sandra", "Paul", "Ashley", "Steven", "Emily", "Andrew", "Olivia", "Kevin",
    "Sophie", "Brian", "Amelia", "Lukas", "Ingrid", "Mateo", "Aiko", "Ravi", "Fatima", "Chen",
    "Nadia",
];

#[rustfmt::skip]
const LAST: &[&str] = &[
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore",
    "Jackson", "Martin", "Lee", "Thompson", "White", "Harris", "Clark", "Lewis", "Walker",
    "Young", "Allen", "King", "Wright", "Scott", "Green", "Baker", "Adams", "Nelson", "Hill",
    "Campbell", "Mitchell", "Nakamura", "Okafor", "Schmidt", "Kowalski", "Patel", "Haddad",
    "Larsen", "Novak",
];

#[rustfmt::skip]
const TITLES: &[&str] = &[
    "Accountant", "Analyst", "Engineer", "Senior Engineer", "Consultant", "Manager", "Director",
    "Sales Representative", "Support Specialist", "Administrator", "Designer", "Recruiter",
];

#[rustfmt::skip]
const DEPARTMENTS: &[&str] = &[
    "Finance", "Sales", "Marketing", "Engineering", "Operations", "Human Resources", "Legal",
    "Support", "IT", "Research",
];

#[rustfmt::skip]
const OFFICES: &[&str] = &[
    "Seattle", "London", "Berlin", "Singapore", "Toronto", "Sydney",
];

/// A random GUID (lowercase, hyphenated, version 4) from `rng`.
pub fn guid(rng: &mut Rng) -> String {
    crate::guid::from_bytes(rng.u128(..).to_be_bytes())
}

/// The `*.onmicrosoft.com` domain of a tenant called `tenant_name`.
pub fn initial_domain(tenant_name: &str) -> String {
    let label: String = tenant_name
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let label = if label.is_empty() {
        "tenant".to_string()
    } else {
        label
    };
    format!("{label}.onmicrosoft.com")
}

struct Seeder<'a> {
    rng: Rng,
    spec: &'a SeedSpec<'a>,
    start: Timestamp,
    initial: String,
    netbios: String,
    sid_prefix: String,
    next_rid: u32,
    upn_bases: HashMap<String, u32>,
    sam_bases: HashMap<String, u32>,
    sams: HashSet<String>,
}

impl Seeder<'_> {
    fn pick<'s>(&mut self, list: &[&'s str]) -> &'s str {
        list[self.rng.usize(..list.len())]
    }

    fn ago(&mut self, min_secs: u64, max_secs: u64) -> Timestamp {
        let secs = self.rng.u64(min_secs..max_secs);
        add_secs(self.start, -(secs as f64))
    }

    fn sid(&mut self) -> String {
        self.next_rid += 1;
        format!("{}-{}", self.sid_prefix, self.next_rid)
    }

    /// A SAM account name (≤ 20 characters), unique in the tenant.
    fn sam(&mut self, base: &str) -> String {
        let base: String = base.chars().filter(char::is_ascii_alphanumeric).collect();
        loop {
            let n = self.sam_bases.entry(base.clone()).or_insert(0);
            *n += 1;
            let suffix = if *n == 1 {
                String::new()
            } else {
                n.to_string()
            };
            let keep = 20 - suffix.len();
            let candidate = format!("{}{suffix}", &base[..base.len().min(keep)]);
            if self.sams.insert(candidate.clone()) {
                return candidate;
            }
        }
    }

    fn synced_user(&mut self) -> User {
        let first = self.pick(FIRST);
        let last = self.pick(LAST);
        let base = format!("{}.{}", first.to_lowercase(), last.to_lowercase());
        let n = self.upn_bases.entry(base.clone()).or_insert(0);
        *n += 1;
        let suffix = if *n == 1 {
            String::new()
        } else {
            n.to_string()
        };
        let upn = format!("{base}{suffix}@{}", self.spec.domain);
        let display = format!("{first} {last}");
        let cn = if suffix.is_empty() {
            display.clone()
        } else {
            format!("{display} {suffix}")
        };
        let dcs: Vec<String> = self
            .spec
            .domain
            .split('.')
            .map(|p| format!("DC={p}"))
            .collect();
        let mut anchor = [0u8; 16];
        self.rng.fill(&mut anchor);
        let sam_base = format!("{}{}", &first[..1], last).to_lowercase();
        let values = OnPremIdentity {
            immutable_id: Some(STANDARD.encode(anchor)),
            sam_account_name: Some(self.sam(&sam_base)),
            distinguished_name: Some(format!("CN={cn},OU=Users,OU=Corp,{}", dcs.join(","))),
            user_principal_name: Some(upn.clone()),
            domain_name: Some(self.spec.domain.to_string()),
            net_bios_name: None,
            security_identifier: Some(self.sid()),
        };
        let mut user = self.person(first, last, upn, Kind::Synced);
        user.job_title = Some(self.pick(TITLES).to_string());
        user.department = Some(self.pick(DEPARTMENTS).to_string());
        user.office_location = Some(self.pick(OFFICES).to_string());
        user.business_phones = vec![format!("+1 425 555 {:04}", self.rng.u32(0..10_000))];
        user.account_enabled = self.rng.u32(0..100) >= 3;
        user.sync = SyncInfo {
            enabled: Some(true),
            last_sync: Some(self.ago(120, 1_800)),
            ad_twin: Some(Box::new(values.clone())),
            values,
            cloud_managed: false,
            in_scope: true,
            joined: true,
        };
        user
    }

    fn person(&mut self, first: &str, last: &str, upn: String, kind: Kind) -> User {
        let nickname = upn.split('@').next().unwrap_or_default().to_string();
        User {
            id: guid(&mut self.rng),
            display_name: format!("{first} {last}").trim().to_string(),
            given_name: Some(first.to_string()).filter(|s| !s.is_empty()),
            surname: Some(last.to_string()).filter(|s| !s.is_empty()),
            mail: Some(upn.clone()),
            mail_nickname: Some(nickname),
            user_principal_name: upn,
            job_title: None,
            department: None,
            office_location: None,
            mobile_phone: None,
            preferred_language: Some("en-US".to_string()),
            business_phones: Vec::new(),
            account_enabled: true,
            user_type: "Member".to_string(),
            created: self.ago(30 * 86_400, 2_000 * 86_400),
            sync: SyncInfo::default(),
            kind,
            writes: Writes::default(),
        }
    }

    fn cloud_users(&mut self) -> Vec<User> {
        let count = (self.spec.users * 2).div_ceil(100).max(2);
        let initial = self.initial.clone();
        let mut users = vec![self.person(
            "Tenant",
            "Admin",
            format!("admin@{initial}"),
            Kind::CloudOnly,
        )];
        for i in 1..count {
            let first = self.pick(FIRST);
            let last = self.pick(LAST);
            let upn = format!(
                "{}.{}.cloud{i}@{initial}",
                first.to_lowercase(),
                last.to_lowercase()
            );
            users.push(self.person(first, last, upn, Kind::CloudOnly));
        }
        let tag = format!("{:012x}", self.rng.u64(..) & 0xffff_ffff_ffff);
        let mut sync_account = self.person(
            "",
            "",
            format!("Sync_DC01_{tag}@{initial}"),
            Kind::SyncServiceAccount,
        );
        sync_account.display_name = "On-Premises Directory Synchronization Service Account".into();
        sync_account.mail = None;
        users.push(sync_account);
        for n in 1..=2 {
            let upn = format!("breakglass{n:02}@{initial}");
            let mut account = self.person("Break", &format!("Glass {n:02}"), upn, Kind::BreakGlass);
            account.mail = None;
            users.push(account);
        }
        users
    }

    fn synced_group(&mut self, index: usize, members: Vec<String>) -> Group {
        let department = self.pick(DEPARTMENTS);
        let security = self.rng.u32(0..100) < 60;
        let (prefix, suffix) = if security {
            ("SG", self.pick(&["Readers", "Editors", "Admins", "Users"]))
        } else {
            ("DL", self.pick(&["All", "Announcements", "Team"]))
        };
        let slug: String = department
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect();
        let nickname = format!("{prefix}-{slug}-{suffix}-{index:03}");
        let values = OnPremIdentity {
            sam_account_name: Some(self.sam(&nickname)),
            domain_name: Some(self.spec.domain.to_string()),
            net_bios_name: Some(self.netbios.clone()),
            security_identifier: Some(self.sid()),
            ..OnPremIdentity::default()
        };
        Group {
            id: guid(&mut self.rng),
            display_name: format!("{prefix} {department} {suffix} {index:03}"),
            description: Some(format!(
                "{department} {} (synced from AD)",
                suffix.to_lowercase()
            )),
            mail: (!security).then(|| format!("{}@{}", nickname.to_lowercase(), self.spec.domain)),
            mail_enabled: !security,
            mail_nickname: nickname,
            security_enabled: security,
            group_types: Vec::new(),
            created: self.ago(30 * 86_400, 2_000 * 86_400),
            sync: SyncInfo {
                enabled: Some(true),
                last_sync: Some(self.ago(120, 1_800)),
                ad_twin: Some(Box::new(values.clone())),
                values,
                cloud_managed: false,
                in_scope: true,
                joined: true,
            },
            members,
            owners: Vec::new(),
            kind: Kind::Synced,
            writes: Writes::default(),
        }
    }

    fn cloud_group(
        &mut self,
        name: &str,
        unified: bool,
        members: Vec<String>,
        owners: Vec<String>,
    ) -> Group {
        let nickname: String = name.chars().filter(char::is_ascii_alphanumeric).collect();
        Group {
            id: guid(&mut self.rng),
            display_name: name.to_string(),
            description: Some(format!("{name} (cloud-only)")),
            mail: unified.then(|| format!("{}@{}", nickname.to_lowercase(), self.initial)),
            mail_enabled: unified,
            mail_nickname: nickname,
            security_enabled: !unified,
            group_types: if unified {
                vec!["Unified".to_string()]
            } else {
                Vec::new()
            },
            created: self.ago(30 * 86_400, 2_000 * 86_400),
            sync: SyncInfo::default(),
            members,
            owners,
            kind: Kind::CloudOnly,
            writes: Writes::default(),
        }
    }
}

/// Nests synced groups as AD would have them, without touching the RNG (so ids and names stay
/// what they were): in every run of five groups `a b c d e`, `a` contains `b` and `c`, and `b`
/// contains `d` (three levels).
fn nest(groups: &mut [Group]) {
    for chunk in groups.chunks_mut(5) {
        let ids: Vec<String> = chunk.iter().map(|g| g.id.clone()).collect();
        let mut add = |parent: usize, child: usize| {
            if let (Some(p), Some(c)) = (chunk.get_mut(parent), ids.get(child)) {
                super::model::insert_sorted(&mut p.members, c);
            }
        };
        add(0, 1);
        add(0, 2);
        add(1, 3);
    }
}

/// Seeds a tenant: `spec.users` synced users plus cloud-only users (about 2 %, at least 2),
/// the sync service account and two break-glass accounts; `spec.groups` synced groups (users
/// and, three levels deep, other synced groups as members; no owners) plus three cloud-only
/// groups owned by the tenant admin; synced organizational contacts (about one per 50 users, at
/// least two; see `seed/contacts.rs`). Directory sync is enabled; every synced object is in the
/// sync client's scope.
pub fn seed_tenant(spec: &SeedSpec<'_>, start: Timestamp, behaviour: Behaviour) -> Tenant {
    let mut rng = Rng::with_seed(spec.seed);
    let sub: Vec<String> = (0..3)
        .map(|_| rng.u32(1_000_000_000..4_000_000_000).to_string())
        .collect();
    let label = spec.domain.split('.').next().unwrap_or("CORP");
    let mut seeder = Seeder {
        rng,
        spec,
        start,
        initial: initial_domain(spec.tenant_name),
        netbios: label.to_uppercase().chars().take(15).collect(),
        sid_prefix: format!("S-1-5-21-{}", sub.join("-")),
        next_rid: 1_103,
        upn_bases: HashMap::new(),
        sam_bases: HashMap::new(),
        sams: HashSet::new(),
    };
    let mut users: Vec<User> = (0..spec.users).map(|_| seeder.synced_user()).collect();
    let mut groups = Vec::with_capacity(spec.groups + 2);
    for index in 1..=spec.groups {
        let size = seeder.rng.usize(3..=50).min(users.len());
        let members = (0..size)
            .map(|_| users[seeder.rng.usize(..users.len())].id.clone())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect::<Vec<_>>();
        let mut members = members;
        members.sort();
        groups.push(seeder.synced_group(index, members));
    }
    nest(&mut groups);
    let cloud = seeder.cloud_users();
    let mut admins: Vec<String> = cloud
        .iter()
        .filter(|u| u.kind != Kind::SyncServiceAccount)
        .map(|u| u.id.clone())
        .collect();
    admins.sort();
    // The tenant admin (the first cloud user) owns the cloud-only groups.
    let owner: Vec<String> = cloud.first().map(|u| u.id.clone()).into_iter().collect();
    let all_company = seeder.cloud_group("All Company", true, admins.clone(), owner.clone());
    groups.push(all_company);
    groups.push(seeder.cloud_group("Cloud Admins", false, admins, owner.clone()));
    // What admins do to plan a wave: a cloud security group naming its members, here every
    // tenth synchronised user (`examples/user-wave-by-group.yaml` selects by it).
    let mut wave: Vec<String> = users
        .iter()
        .filter(|u| u.kind == Kind::Synced)
        .step_by(10)
        .map(|u| u.id.clone())
        .collect();
    wave.sort();
    groups.push(seeder.cloud_group("Migration Wave 1", false, wave, owner));
    users.extend(cloud);
    let org = Organization {
        id: spec.tenant_id.to_string(),
        display_name: spec.tenant_name.to_string(),
        created: add_secs(start, -3.0 * 365.0 * 86_400.0),
        domains: vec![
            VerifiedDomain {
                name: spec.domain.to_string(),
                is_default: true,
                is_initial: false,
                federated: false,
            },
            VerifiedDomain {
                name: seeder.initial.clone(),
                is_default: false,
                is_initial: true,
                federated: false,
            },
        ],
        last_sync: Some(add_secs(start, -120.0)),
    };
    let mut tenant = Tenant::new(org, users, groups, behaviour);
    tenant.contacts = contacts::seed(spec.seed, spec.users, spec.domain, start)
        .into_iter()
        .map(|c| (c.id.clone(), c))
        .collect();
    tenant
}

#[cfg(test)]
#[path = "seed_tests.rs"]
mod tests;
