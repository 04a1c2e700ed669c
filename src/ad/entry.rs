//! Reading attribute values out of an LDAP search entry. ldap3 files an attribute under
//! `attrs` when all its values happen to be valid UTF-8 and under `bin_attrs` otherwise, so a
//! binary value (a GUID, a SID) can be in either map: about one random GUID in 50,000 is
//! valid UTF-8. Names compare case-insensitively (AD answers in its own spelling).

use ldap3::SearchEntry;

/// The first value of `name` as bytes, from whichever map holds it.
pub fn value_bytes(e: &SearchEntry, name: &str) -> Option<Vec<u8>> {
    let text = e
        .attrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| v.first())
        .map(|s| s.as_bytes().to_vec());
    text.or_else(|| {
        e.bin_attrs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.first().cloned())
    })
}

/// The first value of `name` as text (lossy for a binary value).
pub fn value_text(e: &SearchEntry, name: &str) -> Option<String> {
    value_bytes(e, name).map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// The first value of `name` as a 16-byte GUID (AD byte order, as stored).
pub fn value_guid(e: &SearchEntry, name: &str) -> Option<[u8; 16]> {
    value_bytes(e, name).and_then(|b| <[u8; 16]>::try_from(b.as_slice()).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn a_guid_that_is_valid_utf8_is_read_from_the_text_map() {
        let e = SearchEntry {
            dn: "CN=a,DC=x".into(),
            attrs: HashMap::from([(
                "objectguid".to_string(),
                vec!["0123456789abcdef".to_string()],
            )]),
            bin_attrs: HashMap::from([(
                "objectSid".to_string(),
                vec![vec![1, 0, 0, 0, 0, 0, 0, 5]],
            )]),
        };
        assert_eq!(value_guid(&e, "objectGUID"), Some(*b"0123456789abcdef"));
        assert_eq!(
            value_bytes(&e, "OBJECTSID"),
            Some(vec![1, 0, 0, 0, 0, 0, 0, 5])
        );
        assert_eq!(value_guid(&e, "objectSid"), None, "not 16 bytes");
        assert_eq!(value_text(&e, "mail"), None);
    }
}
