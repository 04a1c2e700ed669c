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

/// A set of object ids, compact for GUIDs (16 bytes each instead of a 36-character string, and
/// no tree nodes around them): the ids of the users a resource converted, at 100,000 users
/// 1.6 MB. GUIDs are kept in a sorted vector, the latest additions in a short sorted one merged
/// into it every [`MERGE_AT`] additions, so that adding stays cheap.
#[derive(Debug, Default, Clone)]
pub struct IdSet {
    /// Sorted, each once.
    guids: Vec<u128>,
    /// Added since the last merge: sorted, each once, none of them in `guids`.
    recent: Vec<u128>,
    other: std::collections::BTreeSet<String>,
}

/// How many GUIDs an [`IdSet`] takes in before it merges them into its sorted vector.
const MERGE_AT: usize = 1024;

impl IdSet {
    /// Adds `id`; whether it was not there yet.
    pub fn insert(&mut self, id: &str) -> bool {
        let Some(g) = parse(id) else {
            return self.other.insert(id.to_string());
        };
        if self.guids.binary_search(&g).is_ok() {
            return false;
        }
        let Err(at) = self.recent.binary_search(&g) else {
            return false;
        };
        self.recent.insert(at, g);
        if self.recent.len() >= MERGE_AT {
            self.merge();
        }
        true
    }

    /// Moves the recent additions into the sorted vector.
    fn merge(&mut self) {
        self.guids = merged(&self.guids, &self.recent);
        self.recent.clear();
    }

    /// Whether `id` is in the set (GUIDs compare whatever their case).
    pub fn contains(&self, id: &str) -> bool {
        match parse(id) {
            Some(g) => {
                self.guids.binary_search(&g).is_ok() || self.recent.binary_search(&g).is_ok()
            }
            None => self.other.contains(id),
        }
    }

    /// How many ids.
    pub fn len(&self) -> usize {
        self.guids.len() + self.recent.len() + self.other.len()
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The GUIDs, sorted (borrowed when nothing waits to be merged).
    fn sorted_guids(&self) -> std::borrow::Cow<'_, [u128]> {
        if self.recent.is_empty() {
            return std::borrow::Cow::Borrowed(&self.guids);
        }
        std::borrow::Cow::Owned(merged(&self.guids, &self.recent))
    }

    /// The ids in order: GUIDs first (in lowercase), then the others.
    pub fn iter(&self) -> impl Iterator<Item = String> + '_ {
        let guids: Box<dyn Iterator<Item = u128> + '_> = match self.sorted_guids() {
            std::borrow::Cow::Borrowed(g) => Box::new(g.iter().copied()),
            std::borrow::Cow::Owned(g) => Box::new(g.into_iter()),
        };
        guids.map(format).chain(self.other.iter().cloned())
    }

    /// The ids both hold: how many, and the first `limit` of them in order (what two
    /// conversions both select).
    pub fn shared(&self, other: &IdSet, limit: usize) -> (i64, Vec<String>) {
        let (mine, theirs) = (self.sorted_guids(), other.sorted_guids());
        let (n, mut examples) = common(mine.iter(), theirs.iter(), limit, |g| format(**g));
        let left = limit - examples.len().min(limit);
        let (m, more) = common(&self.other, &other.other, left, |s| s.to_string());
        examples.extend(more);
        (n + m, examples)
    }
}

impl PartialEq for IdSet {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len()
            && self.other == other.other
            && self.sorted_guids() == other.sorted_guids()
    }
}

impl Eq for IdSet {}

impl<S: AsRef<str>> FromIterator<S> for IdSet {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        let mut set = IdSet::default();
        for id in iter {
            set.insert(id.as_ref());
        }
        // Collected sets are kept (a conversion's selection): merged, nothing spare.
        set.merge();
        set.recent = Vec::new();
        set
    }
}

/// `v` as a lowercase hyphenated GUID (what [`parse`] read).
pub fn format(v: u128) -> String {
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        v >> 96,
        (v >> 80) & 0xffff,
        (v >> 64) & 0xffff,
        (v >> 48) & 0xffff,
        v & 0xffff_ffff_ffff
    )
}

/// Values by object id, compact for GUIDs (16 bytes a key instead of a 36-character string):
/// what a pass keeps per user of a large conversion. GUIDs come first, in the order of their
/// lowercase text, then other ids, sorted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdMap<V> {
    guids: std::collections::BTreeMap<u128, V>,
    other: std::collections::BTreeMap<String, V>,
}

impl<V> Default for IdMap<V> {
    fn default() -> Self {
        IdMap {
            guids: Default::default(),
            other: Default::default(),
        }
    }
}

impl<V: Default> IdMap<V> {
    /// The value of `id`, a default one put in first when there is none.
    pub fn entry(&mut self, id: &str) -> &mut V {
        match parse(id) {
            Some(g) => self.guids.entry(g).or_default(),
            None => self.other.entry(id.to_string()).or_default(),
        }
    }
}

impl<V> IdMap<V> {
    /// The value of `id` (GUIDs whatever their case).
    pub fn get(&self, id: &str) -> Option<&V> {
        match parse(id) {
            Some(g) => self.guids.get(&g),
            None => self.other.get(id),
        }
    }

    /// Every id (GUIDs in lowercase) with its value, in order.
    pub fn iter(&self) -> impl Iterator<Item = (String, &V)> + '_ {
        let guids = self.guids.iter().map(|(g, v)| (format(*g), v));
        guids.chain(self.other.iter().map(|(k, v)| (k.clone(), v)))
    }

    /// How many ids.
    pub fn len(&self) -> usize {
        self.guids.len() + self.other.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Two sorted vectors of GUIDs, none in both, as one sorted vector.
fn merged(a: &[u128], b: &[u128]) -> Vec<u128> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut a, mut b) = (a.iter().peekable(), b.iter().peekable());
    while let (Some(&&x), Some(&&y)) = (a.peek(), b.peek()) {
        if x < y {
            out.push(x);
            a.next();
        } else {
            out.push(y);
            b.next();
        }
    }
    out.extend(a);
    out.extend(b);
    out
}

/// The values both sorted sequences hold: how many, and the first `limit` as `show` writes
/// them.
fn common<T: Ord>(
    a: impl IntoIterator<Item = T>,
    b: impl IntoIterator<Item = T>,
    limit: usize,
    show: impl Fn(&T) -> String,
) -> (i64, Vec<String>) {
    let (mut a, mut b) = (a.into_iter().peekable(), b.into_iter().peekable());
    let (mut n, mut examples) = (0i64, Vec::new());
    while let (Some(x), Some(y)) = (a.peek(), b.peek()) {
        match x.cmp(y) {
            std::cmp::Ordering::Less => {
                a.next();
            }
            std::cmp::Ordering::Greater => {
                b.next();
            }
            std::cmp::Ordering::Equal => {
                n += 1;
                if examples.len() < limit {
                    examples.push(show(x));
                }
                a.next();
                b.next();
            }
        }
    }
    (n, examples)
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

    #[test]
    fn id_sets_list_in_order_and_compare() {
        let g1 = "0f1e2d3c-4b5a-4978-8796-a5b4c3d2e1f0";
        let g2 = "AF1E2D3C-4B5A-4978-8796-A5B4C3D2E1F0";
        assert_eq!(format(parse(g1).unwrap_or_default()), g1);
        let a: IdSet = ["u2", g2, "u1", g1, "u2"].into_iter().collect();
        assert_eq!(a.len(), 4);
        let listed: Vec<String> = a.iter().collect();
        assert_eq!(
            listed,
            [
                g1.to_string(),
                g2.to_ascii_lowercase(),
                "u1".into(),
                "u2".into()
            ]
        );
        let b: IdSet = [g2.to_ascii_lowercase().as_str(), "u2", "u3"]
            .into_iter()
            .collect();
        assert_eq!(
            a.shared(&b, 3),
            (2, vec![g2.to_ascii_lowercase(), "u2".into()])
        );
        assert_eq!(a.shared(&b, 1), (2, vec![g2.to_ascii_lowercase()]));
        assert_eq!(a.shared(&IdSet::default(), 3), (0, vec![]));
        assert!(IdSet::default().is_empty());
    }

    #[test]
    fn id_maps_key_guids_compactly_and_list_in_order() {
        let g = "AF1E2D3C-4B5A-4978-8796-A5B4C3D2E1F0";
        let mut m: IdMap<u32> = IdMap::default();
        *m.entry("user-1") += 1;
        *m.entry(g) += 2;
        *m.entry(&g.to_ascii_lowercase()) += 3;
        assert_eq!(m.get(g), Some(&5));
        assert_eq!(m.get("user-1"), Some(&1));
        assert_eq!(m.get("user-2"), None);
        let listed: Vec<(String, u32)> = m.iter().map(|(k, v)| (k, *v)).collect();
        assert_eq!(listed, [(g.to_ascii_lowercase(), 5), ("user-1".into(), 1)]);
        assert_eq!(m.len(), 2);
        assert!(!m.is_empty() && IdMap::<u8>::default().is_empty());
    }

    #[test]
    fn id_sets_stay_sets_across_merges() {
        let ids: Vec<String> = (0..3 * MERGE_AT as u128 + 7)
            .map(|i| format(i.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835)))
            .collect();
        let mut set = IdSet::default();
        for id in &ids {
            assert!(set.insert(id), "{id} is new");
        }
        for id in ids.iter().rev() {
            assert!(!set.insert(&id.to_ascii_uppercase()), "{id} again");
            assert!(set.contains(id));
        }
        assert_eq!(set.len(), ids.len());
        assert!(!set.contains(&format(12345)));
        // The same ids added in another order: the same set, whatever was merged.
        let reversed: IdSet = ids.iter().rev().collect();
        assert_eq!(set, reversed);
        let fewer: IdSet = ids.iter().skip(1).collect();
        assert_ne!(set, fewer);
    }
}
