//! OData query options (`$select`, `$filter`, `$top`) as Microsoft Graph applies them to directory object
//! collections (`/users`, `/groups`, `/contacts`): parsing, Graph's filter support matrix and "advanced query" rules, and
//! evaluation of a filter against an object held as a JSON map (camelCase keys; absent key = null).
//!
//! A `$filter` goes `lex.rs` → `parse.rs` → `validate.rs` (the matrix of `props.rs`) → `eval.rs`;
//! `$select` and `$top` are read in `select.rs`.

mod error;
mod eval;
mod lex;
mod parse;
mod props;
mod select;
mod validate;

use serde_json::{Map, Value};

pub use error::ODataError;
pub use props::Resource;
pub use select::{default_properties, parse_select, parse_top, project};

use parse::Expr;

/// A parsed and validated `$filter` expression.
#[derive(Debug, Clone)]
pub struct Filter {
    expr: Expr,
}

/// Parse `$filter` and apply Graph's support matrix.
///
/// `advanced` = the request carried `ConsistencyLevel: eventual` AND `$count=true` (Graph's "advanced query parameters").
pub fn parse_filter(resource: Resource, raw: &str, advanced: bool) -> Result<Filter, ODataError> {
    let expr = parse::parse(resource, raw)?;
    validate::validate(resource, &expr, false, advanced)?;
    Ok(Filter { expr })
}

impl Filter {
    /// Whether `obj` satisfies the filter (directory semantics: case-insensitive strings, absent = null).
    pub fn matches(&self, obj: &Map<String, Value>) -> bool {
        eval::eval(&self.expr, obj)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
