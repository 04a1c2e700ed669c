//! The `$filter` lexer: tokens with their positions, and the canonical form of a DateTime
//! literal.

use std::fmt::Display;

use super::error::ODataError;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
    /// One of `(`, `)`, `,`, `/`, `:`.
    Punct(char),
    Ident(String),
    Str(String),
    Int(i64),
    DateTime(String),
}

pub(super) fn describe(t: &Tok) -> String {
    match t {
        Tok::Punct(c) => format!("'{c}'"),
        Tok::Ident(s) | Tok::DateTime(s) => format!("'{s}'"),
        Tok::Str(s) => format!("string literal '{s}'"),
        Tok::Int(i) => format!("'{i}'"),
    }
}

pub(super) fn syntax_error(raw: &str, pos: usize, what: impl Display) -> ODataError {
    ODataError::bad_request(format!(
        "Invalid filter clause: {what} at position {pos} in '{raw}'."
    ))
}

/// Tokens with their (0-based, character) start positions, for error messages.
pub(super) fn lex(raw: &str) -> Result<Vec<(Tok, usize)>, ODataError> {
    let cs: Vec<char> = raw.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&c) = cs.get(i) {
        let start = i;
        let err = |what: String| Err(syntax_error(raw, start, what));
        let word = |i: &mut usize, extra: &str| {
            let ok = |c: &char| c.is_ascii_alphanumeric() || extra.contains(*c);
            while cs.get(*i).is_some_and(ok) {
                *i += 1;
            }
            let chars = cs.get(start..*i).unwrap_or_default();
            chars.iter().collect::<String>()
        };
        i += 1;
        let tok = match c {
            c if c.is_whitespace() => continue,
            '(' | ')' | ',' | '/' | ':' => Tok::Punct(c),
            '\'' => {
                let mut s = String::new();
                loop {
                    match (cs.get(i), cs.get(i + 1)) {
                        (None, _) => return err("unterminated string literal".into()),
                        (Some('\''), Some('\'')) => i += 1, // `''` is an escaped quote
                        (Some('\''), _) => break,
                        _ => {}
                    }
                    s.extend(cs.get(i));
                    i += 1;
                }
                i += 1;
                Tok::Str(s)
            }
            c if c.is_ascii_digit()
                || (c == '-' && cs.get(i).is_some_and(char::is_ascii_digit)) =>
            {
                let text = word(&mut i, ":.+-");
                let digits = text.strip_prefix('-').unwrap_or(&text);
                if digits.bytes().all(|b| b.is_ascii_digit()) {
                    match text.parse::<i64>() {
                        Ok(n) => Tok::Int(n),
                        Err(_) => return err(format!("integer literal '{text}' is out of range")),
                    }
                } else if norm_dt(&text).is_some() {
                    Tok::DateTime(text)
                } else {
                    return err(format!("invalid literal '{text}'"));
                }
            }
            c if c.is_ascii_alphabetic() || c == '_' => Tok::Ident(word(&mut i, "_")),
            c => return err(format!("unexpected character '{c}'")),
        };
        out.push((tok, start));
    }
    Ok(out)
}

/// Canonical, lexically comparable form of a UTC ISO-8601 timestamp (`None` if `s` is not one), so that
/// `…:12Z`, `…:12.000Z` and `…:12+00:00` compare equal. Accepted: `YYYY-MM-DD[THH:MM[:SS[.f+]]]` with
/// an optional `Z`/`±00:00`; other offsets are not converted, hence rejected.
pub(super) fn norm_dt(s: &str) -> Option<String> {
    let s = ["Z", "z", "+00:00", "-00:00"]
        .iter()
        .find_map(|z| s.strip_suffix(z))
        .unwrap_or(s);
    let (main, frac) = s.split_once('.').unwrap_or((s, ""));
    // '#' = any digit; other shape bytes must match (case-insensitively, for the `T`).
    let fits = |(c, p): (u8, u8)| {
        if p == b'#' {
            c.is_ascii_digit()
        } else {
            c.eq_ignore_ascii_case(&p)
        }
    };
    let ok = matches!(main.len(), 10 | 16 | 19)
        && main.bytes().zip(*b"####-##-##T##:##:##").all(fits)
        && frac.bytes().all(|c| c.is_ascii_digit())
        && (s.contains('.') != frac.is_empty())
        && (frac.is_empty() || main.len() == 19);
    if !ok {
        return None;
    }
    let pad = "T00:00:00".get(main.len() - 10..)?;
    Some(format!("{}{pad}.{frac:0<7.7}", main.to_ascii_uppercase()))
}
