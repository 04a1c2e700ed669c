//! The values that link an AD user to its Entra twin: the source anchor (ImmutableID =
//! base64 of `mS-DS-ConsistencyGuid`, or of `objectGUID`), GUIDs in AD's byte order, SIDs.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// Entra's `onPremisesImmutableId` for a 16-byte anchor: standard base64 of the bytes as AD
/// stores them (little-endian GUID layout).
pub fn immutable_id(anchor: &[u8; 16]) -> String {
    STANDARD.encode(anchor)
}

/// The 16 bytes behind an ImmutableID, if it is base64 of a GUID.
pub fn from_immutable_id(id: &str) -> Option<[u8; 16]> {
    STANDARD.decode(id.trim()).ok()?.try_into().ok()
}

/// A GUID as AD shows it (`0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0`) from `objectGUID` bytes,
/// whose first three fields are little-endian.
pub fn guid_string(b: &[u8; 16]) -> String {
    format!(
        "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{}",
        b[3],
        b[2],
        b[1],
        b[0],
        b[5],
        b[4],
        b[7],
        b[6],
        b[8],
        b[9],
        b[10..]
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect::<String>()
    )
}

/// The `objectGUID` bytes of a GUID written as AD shows it; `None` if it is not one.
pub fn guid_bytes(s: &str) -> Option<[u8; 16]> {
    let hex: String = s.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 || s.len() != 36 {
        return None;
    }
    let mut be = [0u8; 16];
    for (i, out) in be.iter_mut().enumerate() {
        *out = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    let mut b = be;
    b[..4].reverse();
    b[4..6].reverse();
    b[6..8].reverse();
    Some(b)
}

/// A binary value as an LDAP filter assertion (`\0f\1e…`, RFC 4515): every byte escaped.
pub fn filter_bytes(b: &[u8]) -> String {
    b.iter().map(|x| format!("\\{x:02x}")).collect()
}

/// A SID in its string form (`S-1-5-21-…`), as Entra's `onPremisesSecurityIdentifier`
/// shows it, from AD's binary `objectSid`; `None` if the bytes are not a SID.
pub fn sid_string(b: &[u8]) -> Option<String> {
    let revision = *b.first()?;
    let count = usize::from(*b.get(1)?);
    if b.len() != 8 + 4 * count {
        return None;
    }
    let authority = b[2..8]
        .iter()
        .fold(0u64, |acc, x| (acc << 8) | u64::from(*x));
    let mut s = format!("S-{revision}-{authority}");
    for chunk in b[8..].chunks_exact(4) {
        let sub = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        s.push_str(&format!("-{sub}"));
    }
    Some(s)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    // The recipe's fixture: uuid 0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0, bytes_le, and the value
    // ldapsearch printed for it.
    const LE: [u8; 16] = [
        0x3c, 0x2d, 0x1e, 0x0f, 0x5a, 0x4b, 0x78, 0x69, 0x87, 0x96, 0xa5, 0xb4, 0xc3, 0xd2, 0xe1,
        0xf0,
    ];

    #[test]
    fn the_immutable_id_is_base64_of_the_ad_bytes() {
        assert_eq!(immutable_id(&LE), "PC0eD1pLeGmHlqW0w9Lh8A==");
        assert_eq!(from_immutable_id("PC0eD1pLeGmHlqW0w9Lh8A=="), Some(LE));
        assert_eq!(from_immutable_id("bm90IGEgZ3VpZA=="), None);
        assert_eq!(from_immutable_id("%%%"), None);
    }

    #[test]
    fn guids_read_in_ad_byte_order_both_ways() {
        let s = guid_string(&LE);
        assert_eq!(s, "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
        assert_eq!(guid_bytes(&s), Some(LE));
        assert_eq!(guid_bytes("0f1e2d3c4b5a69788796a5b4c3d2e1f0"), None);
        assert_eq!(guid_bytes("zz1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"), None);
    }

    #[test]
    fn binary_filters_escape_every_byte() {
        assert_eq!(filter_bytes(&[0x3c, 0x2a, 0x00]), "\\3c\\2a\\00");
    }

    #[test]
    fn sids_format_like_windows() {
        // S-1-5-21-1004336348-1177238915-682003330-512
        let mut b = vec![1u8, 5, 0, 0, 0, 0, 0, 5];
        for sub in [21u32, 1_004_336_348, 1_177_238_915, 682_003_330, 512] {
            b.extend_from_slice(&sub.to_le_bytes());
        }
        assert_eq!(
            sid_string(&b).unwrap(),
            "S-1-5-21-1004336348-1177238915-682003330-512"
        );
        assert_eq!(sid_string(&b[..b.len() - 1]), None);
        assert_eq!(sid_string(&[]), None);
    }
}
