//! Graph's support matrix and "advanced query" rules, applied to a parsed `$filter`.

use super::error::ODataError;
use super::parse::{Expr, Lit};
use super::props::{
    ADV, ALWAYS_ADVANCED, EQ, EW, GE, GTLT, LE, NE, NOT, NULL, PropSpec, Resource, SW,
};

/// Support-matrix check; pre-order, so the outermost problem is reported first.
pub(super) fn validate(
    res: Resource,
    e: &Expr,
    negated: bool,
    advanced: bool,
) -> Result<(), ODataError> {
    let (prop, need, op) = match e {
        Expr::Or(items) | Expr::And(items) => {
            let mut each = items.iter();
            return each.try_for_each(|x| validate(res, x, negated, advanced));
        }
        Expr::Not(_) if !advanced => return Err(ODataError::needs_advanced("not")),
        Expr::Not(x) => return validate(res, x, true, advanced),
        Expr::Cmp(p, op, lit) => {
            let null = if *lit == Lit::Null { NULL } else { 0 };
            let bits = match *op {
                "eq" if null != 0 => NULL,
                "eq" => EQ,
                "ne" => NE | null,
                "ge" => GE,
                "le" => LE,
                _ => GTLT,
            };
            (p, bits, *op)
        }
        Expr::In(p, _) => (p, EQ, "in"),
        Expr::Affix(true, p, _) => (p, SW, "startsWith"),
        Expr::Affix(false, p, _) => (p, EW, "endsWith"),
    };
    // A comparison under `not` also needs the property to support `not`.
    let need = if negated { need | NOT } else { need };
    if prop.ops & need != need {
        Err(unsupported_prop(res, prop))
    } else if advanced {
        Ok(())
    } else if prop.ops & ADV != 0 {
        // Matches the community-reported answer for onPremisesSamAccountName without advanced params.
        Err(unsupported_prop(res, prop))
    } else if need & ALWAYS_ADVANCED != 0 {
        Err(ODataError::needs_advanced(op))
    } else {
        Ok(())
    }
}

fn unsupported_prop(res: Resource, p: &PropSpec) -> ODataError {
    ODataError::unsupported(format!(
        "Unsupported or invalid query filter clause specified for property '{}' of resource '{}'.",
        p.name,
        res.type_name()
    ))
}
