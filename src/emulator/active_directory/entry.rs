//! An AD user entry as the sync client sees it: binary GUIDs and SIDs decoded, the anchor
//! computed, the DNS domain taken from the DN.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ldap3::SearchEntry;

use super::AdSourceError;
use crate::emulator::state::AdUser;

/// The attributes read for every user.
pub const ATTRIBUTES: &[&str] = &[
    "objectGUID",
    "mS-DS-ConsistencyGuid",
    "objectSid",
    "sAMAccountName",
    "userPrincipalName",
    "displayName",
    "givenName",
    "sn",
    "mail",
    "userAccountControl",
];

/// userAccountControl ACCOUNTDISABLE.
const ACCOUNT_DISABLE: u32 = 0x2;

// GUIDs, SIDs and DNs are read the way the operator's own LDAP side reads them.
pub use crate::ad::anchor::{guid_string, sid_string};
use crate::ad::dn::rdns;

/// The DNS domain of a DN's `DC=` components (`corp.example.test`); None without any.
pub fn domain_of(dn: &str) -> Option<String> {
    let labels: Vec<&str> = rdns(dn)
        .into_iter()
        .filter_map(|rdn| {
            let (k, v) = rdn.split_once('=')?;
            k.trim().eq_ignore_ascii_case("dc").then_some(v.trim())
        })
        .collect();
    (!labels.is_empty()).then(|| labels.join(".").to_lowercase())
}

use crate::ad::entry::{value_bytes as bytes, value_guid as guid};

fn text(e: &SearchEntry, name: &str) -> Option<String> {
    crate::ad::entry::value_text(e, name).filter(|s| !s.is_empty())
}

/// The sync client's view of one user entry: the anchor is base64 of
/// `mS-DS-ConsistencyGuid`, or of `objectGUID` where the consistency GUID is empty (AD byte
/// order, as stored).
pub fn to_ad_user(e: &SearchEntry) -> Result<AdUser, AdSourceError> {
    let object_guid = guid(e, "objectGUID").ok_or_else(|| AdSourceError::Entry {
        dn: e.dn.clone(),
        reason: "no 16-byte objectGUID".into(),
    })?;
    let anchor_bytes = guid(e, "mS-DS-ConsistencyGuid").unwrap_or(object_guid);
    let uac = text(e, "userAccountControl")
        .and_then(|s| s.trim().parse::<i64>().ok())
        .map_or(0, |v| v as u32);
    Ok(AdUser {
        object_guid: guid_string(&object_guid),
        anchor: STANDARD.encode(anchor_bytes),
        distinguished_name: e.dn.clone(),
        sam_account_name: text(e, "sAMAccountName"),
        user_principal_name: text(e, "userPrincipalName"),
        security_identifier: bytes(e, "objectSid").and_then(|b| sid_string(&b)),
        domain_name: domain_of(&e.dn),
        display_name: text(e, "displayName"),
        given_name: text(e, "givenName"),
        surname: text(e, "sn"),
        mail: text(e, "mail"),
        account_enabled: uac & ACCOUNT_DISABLE == 0,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn entry(attrs: &[(&str, &str)], bin: &[(&str, Vec<u8>)]) -> SearchEntry {
        SearchEntry {
            dn: "CN=Ann Lee,OU=Synced,DC=corp,DC=example,DC=test".into(),
            attrs: attrs
                .iter()
                .map(|(k, v)| ((*k).to_string(), vec![(*v).to_string()]))
                .collect(),
            bin_attrs: bin
                .iter()
                .map(|(k, v)| ((*k).to_string(), vec![v.clone()]))
                .collect::<HashMap<_, _>>(),
        }
    }

    const GUID: [u8; 16] = [
        0x3c, 0x2d, 0x1e, 0x0f, 0x5a, 0x4b, 0x78, 0x69, 0x87, 0x96, 0xa5, 0xb4, 0xc3, 0xd2, 0xe1,
        0xf0,
    ];

    #[test]
    fn guids_use_ad_byte_order() {
        // The recipe's example: uuid 0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0 stored bytes_le.
        assert_eq!(guid_string(&GUID), "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
        assert_eq!(STANDARD.encode(GUID), "PC0eD1pLeGmHlqW0w9Lh8A==");
    }

    #[test]
    fn sids_read_as_strings_and_malformed_ones_are_refused() {
        let mut sid = vec![1u8, 5, 0, 0, 0, 0, 0, 5];
        for sub in [21u32, 1_004_336_348, 1_177_238_915, 682_003_330, 1_105] {
            sid.extend_from_slice(&sub.to_le_bytes());
        }
        assert_eq!(
            sid_string(&sid).as_deref(),
            Some("S-1-5-21-1004336348-1177238915-682003330-1105")
        );
        assert_eq!(sid_string(&sid[..sid.len() - 1]), None);
        assert_eq!(sid_string(&[1]), None);
        assert_eq!(sid_string(&[]), None);
    }

    #[test]
    fn domains_and_rdns_respect_escapes() {
        assert_eq!(
            domain_of("CN=a\\,b,OU=x, DC=Corp ,DC=example,dc=test").as_deref(),
            Some("corp.example.test")
        );
        assert_eq!(domain_of("CN=a,OU=x"), None);
        assert_eq!(rdns("CN=a\\,b,OU=x"), vec!["CN=a\\,b", "OU=x"]);
    }

    #[test]
    fn the_anchor_is_the_consistency_guid_else_the_object_guid() {
        let other = [7u8; 16];
        let with = entry(
            &[("sAMAccountName", "ann"), ("userAccountControl", "512")],
            &[
                ("objectGUID", GUID.to_vec()),
                ("mS-DS-ConsistencyGuid", other.to_vec()),
            ],
        );
        let u = to_ad_user(&with).unwrap_or_default();
        assert_eq!(u.anchor, STANDARD.encode(other));
        assert_eq!(u.object_guid, "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
        assert!(u.account_enabled);
        assert_eq!(u.domain_name.as_deref(), Some("corp.example.test"));
        assert_eq!(u.sam_account_name.as_deref(), Some("ann"));

        // A GUID that happens to be valid UTF-8 lands in `attrs`: still read as bytes.
        let ascii = *b"0123456789abcdef";
        let without = entry(
            &[
                ("objectGUID", "0123456789abcdef"),
                ("userAccountControl", "514"),
            ],
            &[],
        );
        let u = to_ad_user(&without).unwrap_or_default();
        assert_eq!(u.anchor, STANDARD.encode(ascii));
        assert!(!u.account_enabled, "bit 2 set: disabled");

        let broken = entry(&[], &[("objectGUID", vec![1, 2, 3])]);
        assert!(matches!(
            to_ad_user(&broken),
            Err(AdSourceError::Entry { .. })
        ));
    }
}
