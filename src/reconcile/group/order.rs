//! Bottom-up order of nested groups: Microsoft converts only the group it is asked to, so
//! nested groups go first, one level at a time (graph-api.md §3). Pure functions over ids.

use std::collections::{BTreeMap, BTreeSet};

/// Which groups each group contains (direct nesting), by id.
pub type Nesting = BTreeMap<String, BTreeSet<String>>;

fn children_in<'a>(
    nesting: &'a Nesting,
    id: &str,
    set: &'a BTreeMap<&str, usize>,
) -> impl Iterator<Item = &'a str> + 'a {
    let own = id.to_string();
    nesting
        .get(id)
        .into_iter()
        .flatten()
        .map(String::as_str)
        .filter(move |c| set.contains_key(c) && *c != own)
}

/// `nodes` ordered children first: every group after all the groups nested in it. Nesting
/// through groups outside `nodes` is ignored; among groups free to go, `nodes`' own order is
/// kept (deterministic). `Err` with the groups on (or between) nesting cycles, in `nodes` order.
pub fn bottom_up(nodes: &[String], nesting: &Nesting) -> Result<Vec<String>, Vec<String>> {
    let index: BTreeMap<&str, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let mut waiting: Vec<usize> = vec![0; nodes.len()];
    let mut parents: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    for (i, n) in nodes.iter().enumerate() {
        let kids: BTreeSet<&str> = children_in(nesting, n, &index).collect();
        waiting[i] = kids.len();
        for c in kids {
            parents[index[c]].push(i);
        }
    }
    let mut ready: BTreeSet<usize> = (0..nodes.len()).filter(|i| waiting[*i] == 0).collect();
    let mut out = Vec::with_capacity(nodes.len());
    let mut done = vec![false; nodes.len()];
    while let Some(i) = ready.pop_first() {
        done[i] = true;
        out.push(nodes[i].clone());
        for &p in &parents[i] {
            waiting[p] -= 1;
            if waiting[p] == 0 {
                ready.insert(p);
            }
        }
    }
    if out.len() == nodes.len() {
        return Ok(out);
    }
    // What is left waits on a cycle; drop the groups merely containing one (no parent left).
    let mut left: BTreeSet<usize> = (0..nodes.len()).filter(|i| !done[*i]).collect();
    loop {
        let tops: Vec<usize> = left
            .iter()
            .copied()
            .filter(|i| !left.iter().any(|p| parents[*i].contains(p)))
            .collect();
        if tops.is_empty() {
            break;
        }
        for t in tops {
            left.remove(&t);
        }
    }
    Err(left.into_iter().map(|i| nodes[i].clone()).collect())
}

/// The height of each group of `order` (bottom-up, from [`bottom_up`]): 0 for a group
/// containing none of the others, else one more than the highest group it contains. Groups of
/// the same height never contain one another, even through groups in between, so they can be
/// converted at the same time; a wave goes height by height.
pub fn heights(order: &[String], nesting: &Nesting) -> BTreeMap<String, usize> {
    let index: BTreeMap<&str, usize> = order
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let mut height: BTreeMap<String, usize> = BTreeMap::new();
    for n in order {
        // Children come first in `order`; one that does not (a caller's mistake) counts as 0.
        let h = children_in(nesting, n, &index)
            .map(|c| height.get(c).map_or(0, |h| h + 1))
            .max()
            .unwrap_or(0);
        height.insert(n.clone(), h);
    }
    height
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ids(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    fn nesting(edges: &[(&str, &str)]) -> Nesting {
        let mut n = Nesting::new();
        for (p, c) in edges {
            n.entry(p.to_string()).or_default().insert(c.to_string());
        }
        n
    }

    #[test]
    fn children_come_first_and_order_is_otherwise_kept() {
        // a ⊃ b, c; b ⊃ d (the emulator's seeded shape); e alone; x outside the set.
        let n = nesting(&[("a", "b"), ("a", "c"), ("b", "d"), ("e", "x")]);
        let order = bottom_up(&ids(&["a", "b", "c", "d", "e"]), &n).unwrap();
        assert_eq!(order, ids(&["c", "d", "b", "a", "e"]));
        let pos = |x: &str| order.iter().position(|o| o == x).unwrap();
        assert!(pos("b") < pos("a") && pos("c") < pos("a") && pos("d") < pos("b"));
        let h = heights(&order, &n);
        let at = |x: &str| h[x];
        assert_eq!(
            (at("c"), at("d"), at("e"), at("b"), at("a")),
            (0, 0, 0, 1, 2)
        );
        assert!(bottom_up(&[], &n).unwrap().is_empty());
    }

    #[test]
    fn cycles_are_named_without_their_containers() {
        // top ⊃ p; p ⊃ q; q ⊃ r; r ⊃ p (cycle p q r); s alone; self-nesting ignored.
        let n = nesting(&[("top", "p"), ("p", "q"), ("q", "r"), ("r", "p"), ("s", "s")]);
        let e = bottom_up(&ids(&["top", "p", "q", "r", "s"]), &n).unwrap_err();
        assert_eq!(e, ids(&["p", "q", "r"]));
        let two = nesting(&[("a", "b"), ("b", "a")]);
        assert_eq!(
            bottom_up(&ids(&["a", "b"]), &two).unwrap_err(),
            ids(&["a", "b"])
        );
    }
}
