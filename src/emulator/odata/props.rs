//! The directory resources and Graph's filter support matrix: each property's type and the
//! operators it supports.

use super::error::ODataError;

/// Directory resource type a query targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// `microsoft.graph.user`
    User,
    /// `microsoft.graph.group`
    Group,
    /// `microsoft.graph.orgContact`
    Contact,
}

impl Resource {
    /// Name used in Graph error messages ("... of resource 'User'").
    pub fn type_name(self) -> &'static str {
        match self {
            Resource::User => "User",
            Resource::Group => "Group",
            Resource::Contact => "OrgContact",
        }
    }

    /// Qualified OData type name (without the leading `#`).
    pub fn odata_type(self) -> &'static str {
        match self {
            Resource::User => "microsoft.graph.user",
            Resource::Group => "microsoft.graph.group",
            Resource::Contact => "microsoft.graph.orgContact",
        }
    }

    /// Graph property names are case-insensitive; this returns the canonical entry.
    pub(super) fn lookup(self, name: &str) -> Result<&'static PropSpec, ODataError> {
        let table = match self {
            Resource::User => USER_PROPS,
            Resource::Group => GROUP_PROPS,
            Resource::Contact => CONTACT_PROPS,
        };
        let found = table.iter().find(|p| p.name.eq_ignore_ascii_case(name));
        found.ok_or_else(|| {
            let ty = self.odata_type();
            ODataError::bad_request(format!(
                "Could not find a property named '{name}' on type '{ty}'."
            ))
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Str,
    Bool,
    DateTime,
    /// Multi-valued; only filterable through lambdas, which are unsupported here.
    Coll,
}

// Support-matrix bits. `in` follows `eq`; `gt`/`lt` (GTLT) are granted to no directory property.
pub(super) const EQ: u16 = 1;
pub(super) const NE: u16 = 1 << 1;
pub(super) const NOT: u16 = 1 << 2;
pub(super) const GE: u16 = 1 << 3;
pub(super) const LE: u16 = 1 << 4;
pub(super) const SW: u16 = 1 << 5;
pub(super) const EW: u16 = 1 << 6;
pub(super) const NULL: u16 = 1 << 7;
pub(super) const GTLT: u16 = 1 << 8;
/// Every operator on the property needs advanced query parameters (onPremisesSamAccountName).
pub(super) const ADV: u16 = 1 << 9;
const CMP: u16 = EQ | NE | NOT;
const ORD: u16 = CMP | GE | LE;
const TEXT: u16 = ORD | SW | NULL;
/// Operators that need advanced query parameters on every property (Graph's general rule).
pub(super) const ALWAYS_ADVANCED: u16 = NE | EW | NULL;

#[derive(Debug)]
pub(super) struct PropSpec {
    /// Canonical (camelCase) name.
    pub(super) name: &'static str,
    pub(super) kind: Kind,
    /// Operators it supports (the bits above).
    pub(super) ops: u16,
}

const fn p(name: &'static str, kind: Kind, ops: u16) -> PropSpec {
    PropSpec { name, kind, ops }
}

use Kind::{Bool, Coll, DateTime, Str};

const USER_PROPS: &[PropSpec] = &[
    p("id", Str, CMP),
    p("userPrincipalName", Str, ORD | SW | EW),
    p("displayName", Str, TEXT),
    p("givenName", Str, TEXT),
    p("surname", Str, TEXT),
    p("mail", Str, TEXT | EW),
    p("mailNickname", Str, TEXT),
    p("jobTitle", Str, TEXT),
    p("department", Str, TEXT),
    p("officeLocation", Str, TEXT),
    p("mobilePhone", Str, TEXT),
    p("businessPhones", Coll, 0),
    p("preferredLanguage", Str, TEXT),
    p("accountEnabled", Bool, CMP),
    p("userType", Str, CMP | NULL),
    p("createdDateTime", DateTime, ORD | NULL),
    p("proxyAddresses", Coll, 0),
    p("otherMails", Coll, 0),
    p("onPremisesSyncEnabled", Bool, CMP | NULL),
    p("onPremisesImmutableId", Str, ORD),
    p("onPremisesLastSyncDateTime", DateTime, ORD),
    p("onPremisesDistinguishedName", Str, 0),
    p("onPremisesSamAccountName", Str, ORD | SW | ADV),
    p("onPremisesUserPrincipalName", Str, ORD | SW),
    p("onPremisesDomainName", Str, 0),
    p("onPremisesSecurityIdentifier", Str, EQ | NULL),
    p("onPremisesObjectIdentifier", Str, 0),
    // A directoryObject property: null on live objects, set on deleted items (not filterable).
    p("deletedDateTime", DateTime, 0),
];

const GROUP_PROPS: &[PropSpec] = &[
    p("id", Str, CMP),
    p("displayName", Str, TEXT),
    p("description", Str, ORD | SW),
    p("mail", Str, TEXT | EW),
    p("mailEnabled", Bool, CMP),
    p("mailNickname", Str, TEXT),
    p("securityEnabled", Bool, CMP),
    p("groupTypes", Coll, 0),
    p("createdDateTime", DateTime, ORD | NULL),
    p("proxyAddresses", Coll, 0),
    p("onPremisesSyncEnabled", Bool, CMP | NULL),
    p("onPremisesLastSyncDateTime", DateTime, ORD),
    p("onPremisesSecurityIdentifier", Str, EQ | NULL),
    p("onPremisesSamAccountName", Str, ORD | SW | ADV),
    p("onPremisesDomainName", Str, 0),
    p("onPremisesNetBiosName", Str, 0),
    p("onPremisesProvisioningErrors", Coll, 0),
    p("deletedDateTime", DateTime, 0),
];

// orgContact (v1.0 resource page): text properties take eq, ne, not, ge, le, in, startsWith
// and eq null; proxyAddresses only through lambdas.
const CONTACT_PROPS: &[PropSpec] = &[
    p("id", Str, CMP),
    p("displayName", Str, TEXT),
    p("givenName", Str, TEXT),
    p("surname", Str, TEXT),
    p("mail", Str, TEXT),
    p("mailNickname", Str, TEXT),
    p("companyName", Str, TEXT),
    p("department", Str, TEXT),
    p("jobTitle", Str, TEXT),
    p("addresses", Coll, 0),
    p("phones", Coll, 0),
    p("proxyAddresses", Coll, 0),
    p("onPremisesSyncEnabled", Bool, CMP | NULL),
    p("onPremisesLastSyncDateTime", DateTime, ORD),
    p("onPremisesProvisioningErrors", Coll, 0),
    p("serviceProvisioningErrors", Coll, 0),
    p("deletedDateTime", DateTime, 0),
];
