//! Parsing of delta requests: options, `$select`, the id filter, tokens and `Prefer`.
#![allow(clippy::expect_used)]

use axum::http::HeaderValue;

use super::*;
use crate::emulator::routes::query::encode;

fn parse(kind: ObjectKind, query: &str) -> Result<DeltaQuery, GraphError> {
    let params = Params::parse(Some(query))?;
    DeltaQuery::parse(kind, &params, &HeaderMap::new(), 7)
}

fn code(r: Result<DeltaQuery, GraphError>) -> Option<(u16, &'static str)> {
    r.err().map(|e| (e.status.as_u16(), e.code))
}

fn state(scope: &str, pos: Option<Pos>) -> State {
    State {
        scope: scope.into(),
        epoch: 1,
        select: Some("displayName,members".into()),
        filter: None,
        since: Some(4),
        upto: pos.as_ref().map(|_| 9),
        at: 1_800_000_000,
        pos,
    }
}

#[test]
fn the_id_filter_takes_only_ored_id_equalities() {
    let ids = parse_id_filter(
        ObjectKind::User,
        "id eq 'B' or ID EQ 'a'  or id eq 'b' or id eq 'it''s'",
    );
    assert_eq!(
        ids,
        Ok(vec!["a".to_string(), "b".to_string(), "it's".to_string()])
    );
    for bad in [
        "",
        "id eq 'a' or",
        "id eq 'a' and id eq 'b'",
        "id ne 'a'",
        "id eq a",
        "id eq 'a",
        "startsWith(id,'a')",
        "id in ('a','b')",
    ] {
        let e = parse_id_filter(ObjectKind::User, bad).err();
        assert_eq!(
            e.map(|e| (e.status.as_u16(), e.code)),
            Some((400, "Request_UnsupportedQuery")),
            "{bad}"
        );
    }
    let on_name = parse_id_filter(ObjectKind::Group, "displayName eq 'x'").err();
    assert_eq!(
        on_name.map(|e| e.message),
        Some(
            "Unsupported or invalid query filter clause specified for property 'displayName' of resource 'Group'."
                .to_string()
        )
    );
    let fifty: Vec<String> = (0..50).map(|n| format!("id eq '{n}'")).collect();
    assert_eq!(
        parse_id_filter(ObjectKind::User, &fifty.join(" or ")).map(|v| v.len()),
        Ok(50)
    );
    let more = format!("{} or id eq 'x'", fifty.join(" or "));
    assert!(parse_id_filter(ObjectKind::User, &more).is_err());
}

#[test]
fn select_splits_off_members_for_groups_only() {
    let group = parse(ObjectKind::Group, "$select=displayName,Members");
    let group = group.expect("parses");
    assert_eq!(group.select, Some(vec!["displayName".to_string()]));
    assert!(group.members && group.has_select());
    let only = parse(ObjectKind::Group, "$select=members").expect("parses");
    assert_eq!((only.select, only.members), (Some(Vec::new()), true));
    let default = parse(ObjectKind::Group, "").expect("parses");
    assert!(!default.has_select());
    assert_eq!((default.select, default.members), (None, true));
    let users = parse(ObjectKind::User, "").expect("parses");
    assert!(!users.members);
    assert_eq!(
        code(parse(ObjectKind::User, "$select=displayName,members")),
        Some((400, "Request_BadRequest"))
    );
    assert_eq!(
        code(parse(ObjectKind::User, "$select=id,,mail")),
        Some((400, "Request_BadRequest"))
    );
}

#[test]
fn top_count_and_the_other_options_are_refused() {
    for option in ["$top=5", "$count=true"] {
        assert_eq!(
            code(parse(ObjectKind::User, option)),
            Some((400, "Request_UnsupportedQuery")),
            "{option}"
        );
    }
    for refused in ["$orderby=displayName", "$expand=members", "$search=\"a\""] {
        assert!(Params::parse(Some(refused)).is_err(), "{refused}");
    }
}

#[test]
fn tokens_carry_the_query_and_are_refused_when_edited_or_misplaced() {
    let raw = encode(&state("groups", None), 7);
    let q = parse(
        ObjectKind::Group,
        &format!("$deltatoken={raw}&$select=mail"),
    );
    let q = q.expect("a deltatoken of this collection");
    assert_eq!(
        q.select,
        Some(vec!["displayName".to_string()]),
        "the token's query wins"
    );
    assert!(q.members);
    assert!(matches!(&q.start, Start::Resume(s) if s.since == Some(4)));
    let invalid = Some((400, "Request_BadRequest"));
    assert_eq!(
        code(parse(ObjectKind::User, &format!("$deltatoken={raw}"))),
        invalid
    );
    assert_eq!(
        code(parse(ObjectKind::Group, &format!("$skiptoken={raw}"))),
        invalid
    );
    let page = encode(&state("groups", Some(Pos::Seq(5))), 7);
    assert!(parse(ObjectKind::Group, &format!("$skiptoken={page}")).is_ok());
    assert_eq!(
        code(parse(ObjectKind::Group, &format!("$deltatoken={page}"))),
        invalid
    );
    let other_key = encode(&state("groups", None), 8);
    assert_eq!(
        code(parse(
            ObjectKind::Group,
            &format!("$deltatoken={other_key}")
        )),
        invalid
    );
    assert_eq!(
        code(parse(ObjectKind::Group, "$deltatoken=garbage")),
        invalid
    );
    let latest = parse(ObjectKind::User, "$deltatoken=LATEST&$select=mail").expect("latest");
    assert_eq!(
        (latest.start, latest.select),
        (Start::Latest, Some(vec!["mail".to_string()]))
    );
    let empty = parse(ObjectKind::User, "$deltatoken=&$filter=id eq 'x'").expect("empty");
    assert_eq!(
        (empty.start, empty.ids),
        (Start::Fresh, Some(vec!["x".to_string()]))
    );
}

#[test]
fn prefer_return_minimal_is_found_among_other_preferences() {
    let mut headers = HeaderMap::new();
    assert!(!prefers_minimal(&headers));
    headers.append("prefer", HeaderValue::from_static("odata.maxpagesize=10"));
    assert!(!prefers_minimal(&headers));
    headers.append(
        "prefer",
        HeaderValue::from_static("odata.track-changes, Return=Minimal"),
    );
    assert!(prefers_minimal(&headers));
}
