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

/// The 128-bit value of a hyphenated GUID (either case), `None` for anything else.
pub fn parse(s: &str) -> Option<u128> {
    let b = s.as_bytes();
    if b.len() != 36 || [8, 13, 18, 23].iter().any(|&i| b[i] != b'-') {
        return None;
    }
    let mut v: u128 = 0;
    for (i, &c) in b.iter().enumerate() {
        if [8, 13, 18, 23].contains(&i) {
            continue;
        }
        v = (v << 4) | u128::from(char::from(c).to_digit(16)?);
    }
    Some(v)
}

/// A set of object ids, compact for GUIDs (16 bytes each instead of a 36-character string):
/// the ids of the users a resource converted, at 100,000 users.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct IdSet {
    guids: std::collections::BTreeSet<u128>,
    other: std::collections::BTreeSet<String>,
}

impl IdSet {
    /// Adds `id`.
    pub fn insert(&mut self, id: &str) {
        match parse(id) {
            Some(g) => {
                self.guids.insert(g);
            }
            None => {
                self.other.insert(id.to_string());
            }
        }
    }

    /// Whether `id` is in the set (GUIDs compare whatever their case).
    pub fn contains(&self, id: &str) -> bool {
        match parse(id) {
            Some(g) => self.guids.contains(&g),
            None => self.other.contains(id),
        }
    }

    /// How many ids.
    pub fn len(&self) -> usize {
        self.guids.len() + self.other.len()
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<S: AsRef<str>> FromIterator<S> for IdSet {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        let mut set = IdSet::default();
        for id in iter {
            set.insert(id.as_ref());
        }
        set
    }
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

    #[test]
    fn guids_parse_and_sets_hold_any_id() {
        let g = "0F1E2D3C-4b5a-4978-8796-a5b4c3d2e1f0";
        assert_eq!(parse(g), Some(0x0f1e2d3c_4b5a_4978_8796_a5b4c3d2e1f0));
        assert_eq!(parse("0f1e2d3c4b5a49788796a5b4c3d2e1f0"), None);
        assert_eq!(parse("0f1e2d3c-4b5a-4978-8796-a5b4c3d2e1fg"), None);
        assert_eq!(parse("0f1e2d3c-4b5a-4978-8796+a5b4c3d2e1f0"), None);
        let set: IdSet = [g, "user-1"].into_iter().collect();
        assert!(set.contains(&g.to_ascii_lowercase()));
        assert!(set.contains("user-1"));
        assert!(!set.contains("user-2"));
        assert!(!set.contains("0f1e2d3c-4b5a-4978-8796-a5b4c3d2e1f1"));
        assert_eq!(set.len(), 2);
    }
}
