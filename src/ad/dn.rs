//! Distinguished names (RFC 4514) as far as the operator needs them: split into RDNs
//! (respecting `\,` escapes), compared case-insensitively, parent and first RDN.

/// The RDNs of `dn`, outermost last, each trimmed; escapes kept as written.
pub fn rdns(dn: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in dn.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            ',' => {
                out.push(dn[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(dn[start..].trim());
    out
}

/// Whether `dn` looks like a DN: non-empty `type=value` RDNs.
pub fn is_dn(dn: &str) -> bool {
    !dn.trim().is_empty()
        && !dn.contains(['\0', '\n', '\r'])
        && rdns(dn).iter().all(|r| {
            r.split_once('=').is_some_and(|(t, v)| {
                !t.trim().is_empty()
                    && t.trim()
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    && !v.trim().is_empty()
            })
        })
}

fn norm(rdn: &str) -> String {
    match rdn.split_once('=') {
        Some((t, v)) => format!("{}={}", t.trim(), v.trim()).to_ascii_lowercase(),
        None => rdn.to_ascii_lowercase(),
    }
}

/// Whether two DNs name the same object (case-insensitive, spaces around separators ignored).
pub fn same(a: &str, b: &str) -> bool {
    let (a, b) = (rdns(a), rdns(b));
    a.len() == b.len() && a.iter().zip(&b).all(|(x, y)| norm(x) == norm(y))
}

/// Whether `dn` is `container` or below it.
pub fn is_within(dn: &str, container: &str) -> bool {
    let (d, c) = (rdns(dn), rdns(container));
    d.len() >= c.len()
        && d[d.len() - c.len()..]
            .iter()
            .zip(&c)
            .all(|(x, y)| norm(x) == norm(y))
}

/// The first RDN (`CN=Alice Example`), as written.
pub fn first_rdn(dn: &str) -> &str {
    rdns(dn).first().copied().unwrap_or(dn)
}

/// The parent DN, as written; `None` for a single RDN.
pub fn parent(dn: &str) -> Option<String> {
    let r = rdns(dn);
    (r.len() > 1).then(|| r[1..].join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_commas_stay_in_their_rdn() {
        let dn = r"CN=Example\, Alice,OU=Synced,DC=corp,DC=example";
        assert_eq!(rdns(dn).len(), 4);
        assert_eq!(first_rdn(dn), r"CN=Example\, Alice");
        assert_eq!(parent(dn).as_deref(), Some("OU=Synced,DC=corp,DC=example"));
        assert_eq!(parent("DC=example"), None);
    }

    #[test]
    fn comparisons_ignore_case_and_spaces() {
        assert!(same("CN=A,OU=X,DC=corp", "cn=a, ou=x, dc=CORP"));
        assert!(!same("CN=A,OU=X,DC=corp", "CN=A,OU=Y,DC=corp"));
        assert!(is_within("CN=A,OU=X,DC=corp", "ou=x,dc=corp"));
        assert!(is_within("OU=X,DC=corp", "OU=X,DC=corp"));
        assert!(!is_within("CN=A,OU=XX,DC=corp", "OU=X,DC=corp"));
        assert!(!is_within("DC=corp", "OU=X,DC=corp"));
    }

    #[test]
    fn only_dns_pass() {
        assert!(is_dn("OU=Synced,DC=corp,DC=example"));
        assert!(!is_dn(""));
        assert!(!is_dn("corp.example"));
        assert!(!is_dn("OU=,DC=x"));
        assert!(!is_dn("OU=a\nDC=x"));
    }
}
