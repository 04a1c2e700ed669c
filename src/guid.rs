//! GUIDs as Microsoft writes them: lowercase, hyphenated, version 4.

/// The version 4 GUID of 16 random bytes.
pub fn from_bytes(mut b: [u8; 16]) -> String {
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// A fresh GUID from the thread's fast (not cryptographic) generator: request and trace ids.
pub fn random() -> String {
    from_bytes(fastrand::u128(..).to_be_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn has_the_version_and_variant_bits() {
        let g = from_bytes([0xff; 16]);
        assert_eq!(g, "ffffffff-ffff-4fff-bfff-ffffffffffff");
        let r = random();
        assert_eq!(r.len(), 36);
        assert_eq!(&r[14..15], "4");
        assert_ne!(random(), r);
    }
}
