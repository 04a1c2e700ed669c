//! A `$filter` evaluated against an object held as a JSON map, with directory semantics
//! (case-insensitive strings, absent = null).

use std::cmp::Ordering;

use serde_json::{Map, Value};

use super::lex::norm_dt;
use super::parse::{Expr, Lit};
use super::props::Kind;

pub(super) fn eval(e: &Expr, obj: &Map<String, Value>) -> bool {
    match e {
        Expr::Or(items) => items.iter().any(|x| eval(x, obj)),
        Expr::And(items) => items.iter().all(|x| eval(x, obj)),
        Expr::Not(x) => !eval(x, obj),
        Expr::Cmp(p, op, lit) => {
            let ord = compare(p.kind, obj.get(p.name), lit);
            match *op {
                "eq" => ord == Some(Ordering::Equal),
                "ne" => ord != Some(Ordering::Equal),
                "ge" => matches!(ord, Some(Ordering::Greater | Ordering::Equal)),
                "le" => matches!(ord, Some(Ordering::Less | Ordering::Equal)),
                "gt" => ord == Some(Ordering::Greater),
                _ => ord == Some(Ordering::Less),
            }
        }
        Expr::In(p, lits) => {
            let v = obj.get(p.name);
            lits.iter()
                .any(|l| compare(p.kind, v, l) == Some(Ordering::Equal))
        }
        Expr::Affix(starts, p, s) => {
            let Some(v) = obj.get(p.name).and_then(Value::as_str) else {
                return false;
            };
            let (v, s) = (v.to_lowercase(), s.to_lowercase());
            if *starts {
                v.starts_with(&s)
            } else {
                v.ends_with(&s)
            }
        }
    }
}

/// `None` = not comparable (null against a value, or mismatched JSON types): every operator but `ne` is false.
fn compare(kind: Kind, v: Option<&Value>, lit: &Lit) -> Option<Ordering> {
    match (v, lit) {
        (None | Some(Value::Null), Lit::Null) => Some(Ordering::Equal),
        (None | Some(Value::Null), _) | (_, Lit::Null) => None,
        (Some(Value::Bool(a)), Lit::Bool(b)) => Some(a.cmp(b)),
        (Some(Value::Number(n)), Lit::Int(i)) => n.as_f64()?.partial_cmp(&(*i as f64)),
        (Some(Value::String(s)), Lit::Str(l) | Lit::DateTime(l)) => {
            if (kind == Kind::DateTime || matches!(lit, Lit::DateTime(_)))
                && let (Some(a), Some(b)) = (norm_dt(s), norm_dt(l))
            {
                return Some(a.cmp(&b));
            }
            Some(s.to_lowercase().cmp(&l.to_lowercase()))
        }
        _ => None,
    }
}
