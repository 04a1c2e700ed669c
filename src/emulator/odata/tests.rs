//! `$filter`, `$select` and `$top` against Graph's recorded answers.

use super::*;
use serde_json::json;

fn user() -> Map<String, Value> {
    let v = json!({
        "id": "11111111-1111-1111-1111-111111111111",
        "userPrincipalName": "Alice.O'Neil@Contoso.com",
        "displayName": "Alice O'Neil",
        "mail": "alice@contoso.com",
        "accountEnabled": true,
        "onPremisesSyncEnabled": true,
        "onPremisesImmutableId": "nofCJe0gZk6D8J4gRgrt+A==",
        "onPremisesSamAccountName": "alice",
        "createdDateTime": "2026-05-01T09:41:12Z",
        "onPremisesLastSyncDateTime": "2026-05-02T00:00:00Z",
        "userType": null
    });
    v.as_object().cloned().unwrap()
}

/// `"true"`/`"false"`: parses and does (not) match `user()`. Otherwise `"<Code>: <text>"`: fails with
/// `Request_<Code>` and a message containing `<text>`.
fn check(res: Resource, raw: &str, advanced: bool, expect: &str) {
    match parse_filter(res, raw, advanced) {
        Ok(f) => assert_eq!(
            f.matches(&user()).to_string(),
            expect,
            "{raw} (adv={advanced})"
        ),
        Err(e) => {
            let (code, needle) = expect.split_once(": ").unwrap_or((expect, "\u{0}"));
            assert_eq!(
                e.code,
                format!("Request_{code}"),
                "{raw} (adv={advanced}): {e}"
            );
            assert!(e.message.contains(needle), "{raw}: {e}");
            assert_eq!(e.status, 400);
        }
    }
}

const UNSUP: &str =
    "UnsupportedQuery: Unsupported or invalid query filter clause specified for property";

#[rustfmt::skip]
const USER_CASES: &[(&str, bool, &str)] = &[
    // operators and evaluation
    ("displayName eq 'alice o''neil'", false, "true"),
    ("displayName eq 'bob'", false, "false"),
    ("displayName ne 'bob'", true, "true"),
    ("displayName ge 'ALICE'", false, "true"),
    ("displayName le 'b'", false, "true"),
    ("displayName ge 'b'", false, "false"),
    ("displayName le 'a'", false, "false"),
    ("accountEnabled eq true", false, "true"),
    ("accountEnabled eq false", false, "false"),
    ("createdDateTime ge 2026-05-01T09:41:12.000Z", false, "true"),
    ("createdDateTime le 2026-05-01T09:41:12+00:00", false, "true"),
    ("createdDateTime ge 2026-05-01T09:41:12.5Z", false, "false"),
    ("createdDateTime ge '2026-05-01'", false, "true"),
    ("onPremisesLastSyncDateTime eq 2026-05-02T00:00:00Z", false, "true"),
    ("id in ('x', '11111111-1111-1111-1111-111111111111')", false, "true"),
    ("id in ('x','y')", false, "false"),
    ("startsWith(displayName,'ALI')", false, "true"),
    ("startsWith(displayName,'bob')", false, "false"),
    ("endsWith(mail,'@CONTOSO.com')", true, "true"),
    ("endsWith(mail,'.org')", true, "false"),
    ("userPrincipalName eq 'alice.o''neil@contoso.com'", false, "true"),
    // null semantics (absent key = null)
    ("userType eq null", true, "true"),
    ("givenName eq null", true, "true"),
    ("displayName eq null", true, "false"),
    ("displayName ne null", true, "true"),
    ("givenName ne 'x'", true, "true"),
    ("givenName ge 'a'", true, "false"),
    ("givenName le 'z'", true, "false"),
    ("startsWith(givenName,'a')", true, "false"),
    ("givenName in ('a')", true, "false"),
    // precedence: not > and > or
    ("displayName eq 'x' and mail eq 'y' or accountEnabled eq true", false, "true"),
    ("displayName eq 'x' and (mail eq 'y' or accountEnabled eq true)", false, "false"),
    ("accountEnabled eq true or displayName eq 'x' and mail eq 'y'", false, "true"),
    ("not displayName eq 'x' and mail eq 'y'", true, "false"),
    ("not(accountEnabled eq false)", true, "true"),
    ("not (displayName eq 'x' or mail eq 'y')", true, "true"),
    ("not not accountEnabled eq true", true, "true"),
    ("((accountEnabled eq true))", false, "true"),
    // case-insensitive keywords, properties, function names and values
    ("DISPLAYNAME EQ 'ALICE O''NEIL' AND AccountEnabled Eq TRUE", false, "true"),
    ("STARTSWITH(userprincipalname,'alice.')", false, "true"),
    ("NOT(accountenabled eq False) Or id eq 'x'", true, "true"),
    ("mail IN ('ALICE@contoso.COM')", false, "true"),
    // advanced query parameters
    ("displayName ne 'x'", false, "UnsupportedQuery: Operator 'ne' is not supported because the required parameters might be missing. Try adding $count=true"),
    ("not(displayName eq 'x')", false, "UnsupportedQuery: Operator 'not' is not supported"),
    ("endsWith(mail,'x')", false, "UnsupportedQuery: Operator 'endsWith' is not supported"),
    ("displayName eq null", false, "UnsupportedQuery: Operator 'eq' is not supported"),
    ("userType eq null", false, "UnsupportedQuery: Operator 'eq' is not supported"),
    ("onPremisesSyncEnabled ne true", false, "UnsupportedQuery: Operator 'ne' is not supported"),
    ("onPremisesSyncEnabled ne true", true, "false"),
    ("onPremisesSyncEnabled eq true", false, "true"),
    ("onPremisesImmutableId eq 'nofCJe0gZk6D8J4gRgrt+A=='", false, "true"),
    ("onPremisesImmutableId eq 'nofCJe0gZk6D8J4gRgrt+A=='", true, "true"),
    ("onPremisesImmutableId eq null", false, UNSUP),
    ("onPremisesImmutableId eq null", true, "UnsupportedQuery: 'onPremisesImmutableId' of resource 'User'."),
    ("onPremisesLastSyncDateTime ge 2026-01-01T00:00:00Z", false, "true"),
    ("onPremisesSamAccountName eq 'alice'", false, "UnsupportedQuery: Unsupported or invalid query filter clause specified for property 'onPremisesSamAccountName' of resource 'User'."),
    ("onPremisesSamAccountName eq 'ALICE'", true, "true"),
    ("startsWith(onPremisesSamAccountName,'al')", false, UNSUP),
    ("userPrincipalName in ('a','b')", false, "false"),
    // unsupported: operator not in the matrix, not filterable, lambdas, other functions
    ("not(onPremisesSecurityIdentifier eq 'S-1')", true, "UnsupportedQuery: 'onPremisesSecurityIdentifier'"),
    ("displayName gt 'a'", true, "UnsupportedQuery: 'displayName' of resource 'User'"),
    ("accountEnabled ge true", true, UNSUP),
    ("endsWith(displayName,'x')", true, UNSUP),
    ("onPremisesDistinguishedName eq 'CN=x'", true, "UnsupportedQuery: 'onPremisesDistinguishedName'"),
    ("onPremisesDomainName eq 'x'", true, UNSUP),
    ("proxyAddresses eq 'smtp:x'", true, "UnsupportedQuery: 'proxyAddresses'"),
    ("proxyAddresses/any(p:p eq 'smtp:x')", true, "UnsupportedQuery: lambda operator 'any'"),
    ("contains(displayName,'x')", true, "UnsupportedQuery: function 'contains'"),
    // unknown properties
    ("foo eq 'x'", true, "BadRequest: Could not find a property named 'foo' on type 'microsoft.graph.user'."),
    ("startsWith(Foo,'x')", true, "BadRequest: Could not find a property named 'Foo'"),
    // syntax errors
    ("(displayName eq 'x'", true, "BadRequest: Invalid filter clause: expected ')' but found end of input at position 19"),
    ("displayName eq 'x')", true, "BadRequest: Invalid filter clause: unexpected ')' after the end"),
    ("displayName eq 'abc", true, "BadRequest: Invalid filter clause: unterminated string literal at position 15"),
    ("displayName eq 'x' foo", true, "BadRequest: unexpected 'foo' after the end of the expression"),
    ("displayName eq", true, "BadRequest: expected a literal value but found end of input"),
    ("displayName 'x'", true, "BadRequest: expected a comparison operator after property 'displayName'"),
    ("displayName eq 'x' and", true, "BadRequest: expected a property, function or '('"),
    ("", true, "BadRequest: Invalid filter clause: the filter expression is empty."),
    ("displayName eq #", true, "BadRequest: unexpected character '#'"),
    ("frobnicate(displayName,'x')", true, "BadRequest: unknown function 'frobnicate'"),
    ("id in ()", true, "BadRequest: expected a literal value but found ')'"),
    ("createdDateTime ge 2026-13", true, "BadRequest: invalid literal '2026-13'"),
    ("displayName eq 99999999999999999999", true, "BadRequest: out of range"),
    // type errors
    ("accountEnabled eq 'yes'", true, "BadRequest: Invalid filter clause: incompatible types: property 'accountEnabled'"),
    ("userPrincipalName eq true", true, "BadRequest: Invalid filter clause: incompatible types: property 'userPrincipalName'"),
    ("displayName eq 5", true, "BadRequest: incompatible types"),
    ("createdDateTime ge 'yesterday'", true, "BadRequest: incompatible types"),
    ("startsWith(accountEnabled,'t')", true, "BadRequest: incompatible types"),
    ("startsWith(displayName,1)", true, "BadRequest: incompatible types"),
    ("id in ('a', null)", true, "BadRequest: incompatible types"),
];

#[test]
fn user_filters() {
    for (raw, adv, expect) in USER_CASES {
        check(Resource::User, raw, *adv, expect);
    }
    let deep = format!("{}id eq 'x'{}", "(".repeat(500), ")".repeat(500));
    check(Resource::User, &deep, true, "BadRequest: nested too deeply");
    let long = vec!["id eq 'x'"; 100_000].join(" or ");
    check(
        Resource::User,
        &format!("{long} or accountEnabled eq true"),
        false,
        "true",
    );
}

#[test]
fn group_filters() {
    let g = |raw, adv, expect| check(Resource::Group, raw, adv, expect);
    g(
        "createdDateTime eq null",
        false,
        "UnsupportedQuery: Operator 'eq'",
    );
    g(
        "onPremisesSamAccountName eq 'x'",
        false,
        "UnsupportedQuery: of resource 'Group'.",
    );
    g(
        "onPremisesSyncEnabled eq true and mailEnabled ne true",
        true,
        "true",
    );
    g(
        "onPremisesSyncEnabled eq true and securityEnabled eq true",
        false,
        "false",
    );
    g(
        "userPrincipalName eq 'x'",
        true,
        "BadRequest: on type 'microsoft.graph.group'.",
    );
    g(
        "groupTypes/any(t:t eq 'Unified')",
        true,
        "UnsupportedQuery: lambda",
    );
}

#[test]
fn select() {
    let s = parse_select(
        Resource::User,
        " ID , userprincipalname,id,OnPremisesImmutableId ",
    );
    assert_eq!(
        s.unwrap(),
        ["id", "userPrincipalName", "onPremisesImmutableId"]
    );
    let e = parse_select(Resource::Group, "id,userPrincipalName").unwrap_err();
    let msg =
        "Could not find a property named 'userPrincipalName' on type 'microsoft.graph.group'.";
    assert_eq!(
        (e.status, e.code, e.message.as_str()),
        (400, "Request_BadRequest", msg)
    );
    for bad in ["", " ", "id,,mail", "id,"] {
        let e = parse_select(Resource::User, bad).unwrap_err();
        assert!(e.message.contains("empty property name"), "{bad}: {e}");
    }
    for r in [Resource::User, Resource::Group] {
        for p in default_properties(r) {
            assert_eq!(parse_select(r, p).unwrap(), [*p]);
        }
    }
}

#[test]
fn top_bounds() {
    assert_eq!((parse_top("1"), parse_top("999")), (Ok(1), Ok(999)));
    let e = parse_top("1000").unwrap_err();
    let msg = "Invalid page size specified: '1000'. Must be between 1 and 999 inclusive.";
    assert_eq!(
        (e.status, e.code, e.message.as_str()),
        (400, "Request_BadRequest", msg)
    );
    assert!(
        parse_top("0")
            .unwrap_err()
            .message
            .starts_with("Invalid page size")
    );
    for bad in ["abc", "-1", "", "1.5", "99999999999999999999999"] {
        assert_eq!(
            parse_top(bad).unwrap_err().code,
            "Request_BadRequest",
            "{bad}"
        );
    }
}

#[test]
fn projection() {
    let p = project(&user(), &["id", "jobTitle"]);
    let want = json!({"id": "11111111-1111-1111-1111-111111111111", "jobTitle": null});
    assert_eq!(Value::Object(p), want);
    let d = project(&user(), default_properties(Resource::User));
    assert_eq!((d.len(), d.get("businessPhones")), (11, Some(&Value::Null)));
    assert!(!d.contains_key("onPremisesImmutableId"));
    let g = default_properties(Resource::Group);
    assert!(g.contains(&"onPremisesSyncEnabled") && g.contains(&"onPremisesSamAccountName"));
    assert_eq!(Resource::Group.type_name(), "Group");
    assert_eq!(Resource::User.odata_type(), "microsoft.graph.user");
}

#[test]
fn fuzz_never_panics() {
    #[rustfmt::skip]
    const TOKENS: &[&str] = &[
        "displayName", "mail", "accountEnabled", "onPremisesSyncEnabled", "createdDateTime",
        "id", "bogus", "proxyAddresses", "eq", "EQ", "ne", "ge", "le", "gt", "lt", "in", "and",
        "or", "not", "Not", "(", ")", ",", "'", "''", "'a''b'", "'x'", "true", "null", "42",
        "-7", "-", "2026-05-01T09:41:12Z", "2026-05-01T", "startsWith", "endsWith", "contains",
        "/", "any", ":", "é", "ß", "\u{0}", "99999999999999999999", "((((", " ", "\t", "İ", "'ǅ",
    ];
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut rnd = move |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    // Mutate valid seeds (replace/insert/drop words) so that both accepted and rejected inputs occur.
    #[rustfmt::skip]
    const SEEDS: &[&str] = &[
        "displayName eq 'a' and ( mail ne null or not accountEnabled eq true )",
        "startsWith( displayName , 'x' ) or id in ( 'a' , 'b' ) and createdDateTime ge 2026-05-01T09:41:12Z",
    ];
    let sample = user();
    for _ in 0..200 {
        let mut words: Vec<&str> = SEEDS[rnd(SEEDS.len())].split(' ').collect();
        for _ in 0..rnd(4) {
            let at = rnd(words.len());
            match rnd(3) {
                0 => words[at] = TOKENS[rnd(TOKENS.len())],
                1 => words.insert(at, TOKENS[rnd(TOKENS.len())]),
                _ => {
                    words.remove(at);
                }
            }
        }
        let s = words.join([" ", ""][rnd(2)]);
        for (res, adv) in [
            (Resource::User, false),
            (Resource::User, true),
            (Resource::Group, true),
        ] {
            if let Ok(f) = parse_filter(res, &s, adv) {
                f.matches(&sample);
            }
        }
        let _ = (parse_select(Resource::User, &s), parse_top(&s));
    }
}
