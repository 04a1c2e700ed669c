use super::*;

const USERS: &str = "CloudUserConversion";
const GROUPS: &str = "CloudGroupConversion";

fn key(kind: &str, name: &str) -> ResourceKey {
    ResourceKey {
        kind: kind.into(),
        namespace: "identity".into(),
        name: name.into(),
    }
}

fn ids(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn set(v: &[&str]) -> IdSet {
    v.iter().collect()
}

/// Members listed in this order, each with its tenant.
fn roster(members: &[(&str, &str, Option<&str>)]) -> Arc<dyn Roster> {
    Arc::new(Listed(
        members
            .iter()
            .enumerate()
            .map(|(i, (kind, name, tenant))| {
                let key = key(kind, name);
                Member {
                    rank: Rank::listed(i, &key),
                    key,
                    tenant_id: tenant.map(str::to_string),
                }
            })
            .collect(),
    ))
}

#[test]
fn the_later_of_two_overlapping_resources_is_refused_and_the_earlier_goes_on() {
    let s = Selections::new(roster(&[
        (USERS, "wave-1", Some("t")),
        (USERS, "finance", Some("t")),
    ]));
    let (first, later) = (key(USERS, "wave-1"), key(USERS, "finance"));
    s.register(&first, "t", set(&["u3", "u1", "u2"]));
    s.register(&later, "T", set(&["u9", "u2", "u3", "u3"]));
    assert_eq!(s.verdict(&first, "t"), Verdict::Clear);
    assert_eq!(
        s.verdict(&later, "t"),
        Verdict::Overlap {
            other: first.clone(),
            shared: 2,
            examples: ids(&["u2", "u3"]),
        }
    );
    // The earlier narrows its selection: the later goes on.
    s.register(&first, "t", set(&["u1"]));
    assert_eq!(s.verdict(&later, "t"), Verdict::Clear);
}

#[test]
fn other_tenants_and_other_kinds_do_not_compare() {
    let s = Selections::new(roster(&[
        (USERS, "a", Some("t2")),
        (GROUPS, "g", Some("t")),
        (USERS, "b", Some("t")),
    ]));
    s.register(&key(USERS, "a"), "t2", set(&["x"]));
    s.register(&key(GROUPS, "g"), "t", set(&["x"]));
    s.register(&key(USERS, "b"), "t", set(&["x"]));
    assert_eq!(s.verdict(&key(USERS, "b"), "t"), Verdict::Clear);
}

#[test]
fn after_a_start_the_later_waits_for_each_earlier_resource_of_its_tenant() {
    let s = Selections::new(roster(&[
        (USERS, "a", Some("t")),
        (USERS, "elsewhere", Some("t2")),
        (USERS, "no-policy", None),
        (USERS, "b", Some("t")),
    ]));
    let (a, b) = (key(USERS, "a"), key(USERS, "b"));
    s.register(&b, "t", set(&["x"]));
    assert_eq!(s.verdict(&b, "t"), Verdict::Wait(vec![a.clone()]));
    // A pass that ended before selecting (a stall, say) selects nothing so far.
    s.passed(&a);
    assert_eq!(s.verdict(&b, "t"), Verdict::Clear);
    // Its next selection counts; a later pass without one keeps it.
    s.register(&a, "t", set(&["x"]));
    s.passed(&a);
    assert!(matches!(s.verdict(&b, "t"), Verdict::Overlap { .. }));
}

#[test]
fn a_deleted_resource_no_longer_holds_the_later_back() {
    let s = Selections::new(roster(&[(USERS, "a", Some("t")), (USERS, "b", Some("t"))]));
    let (a, b) = (key(USERS, "a"), key(USERS, "b"));
    s.register(&a, "t", set(&["x"]));
    s.register(&b, "t", set(&["x"]));
    assert!(matches!(s.verdict(&b, "t"), Verdict::Overlap { .. }));
    // Gone from the roster (deleted without a finalizer): forgotten.
    s.restart(roster(&[(USERS, "b", Some("t"))]));
    s.register(&b, "t", set(&["x"]));
    s.register(&a, "t", set(&["x"]));
    assert_eq!(s.verdict(&b, "t"), Verdict::Clear);
    assert!(!s.lock().shown.contains_key(&a));
    // Removed when its deletion is seen.
    s.remove(&b);
    assert!(s.lock().shown.is_empty());
}

#[test]
fn without_a_roster_or_outside_it_a_resource_waits() {
    let s = Selections::default();
    assert_eq!(s.verdict(&key(USERS, "a"), "t"), Verdict::Wait(vec![]));
    s.restart(roster(&[(USERS, "a", Some("t"))]));
    assert_eq!(s.verdict(&key(USERS, "new"), "t"), Verdict::Wait(vec![]));
    assert_eq!(s.verdict(&key(USERS, "a"), "t"), Verdict::Clear);
}

#[test]
fn ranks_order_by_creation_then_name() {
    let t = |s: i64| jiff::Timestamp::from_second(s).ok();
    let (a, b) = (key(USERS, "a"), key(USERS, "b"));
    assert!(Rank::created(t(10), &b) < Rank::created(t(11), &a));
    assert!(Rank::created(t(10), &a) < Rank::created(t(10), &b));
    assert!(Rank::created(t(10), &b) < Rank::created(None, &a));
    assert!(Rank::listed(0, &b) < Rank::listed(1, &a));
}

#[test]
fn shared_counts_every_common_id_and_names_a_few() {
    let a = set(&["a", "b", "c", "d", "e", "f"]);
    let b = set(&["b", "c", "d", "e", "x"]);
    assert_eq!(a.shared(&b, 3), (4, ids(&["b", "c", "d"])));
    assert_eq!(a.shared(&IdSet::default(), 3), (0, vec![]));
}
