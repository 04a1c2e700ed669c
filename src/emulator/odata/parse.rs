//! The `$filter` parser: tokens to an expression tree, with the OData layer's type binding.

use std::fmt::Display;

use super::error::ODataError;
use super::lex::{Tok, describe, lex, norm_dt, syntax_error};
use super::props::{Kind, PropSpec, Resource};

/// A literal of a filter.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Lit {
    Null,
    Bool(bool),
    Int(i64),
    Str(String),
    DateTime(String),
}

/// A filter expression, its properties resolved.
#[derive(Debug, Clone)]
pub(super) enum Expr {
    // n-ary, so long `or`/`and` chains don't make the tree (and its recursive walks) deep.
    Or(Vec<Expr>),
    And(Vec<Expr>),
    Not(Box<Expr>),
    /// Operator is one of [`CMP_OPS`], lower-case.
    Cmp(&'static PropSpec, &'static str, Lit),
    In(&'static PropSpec, Vec<Lit>),
    /// `startsWith` (true) or `endsWith` (false).
    Affix(bool, &'static PropSpec, String),
}

/// The expression `raw` spells, its properties looked up on `resource` and its literals bound
/// to their types; a syntax error names the position.
pub(super) fn parse(resource: Resource, raw: &str) -> Result<Expr, ODataError> {
    let toks = lex(raw)?;
    if toks.is_empty() {
        let msg = "Invalid filter clause: the filter expression is empty.";
        return Err(ODataError::bad_request(msg));
    }
    let end = raw.chars().count();
    let mut parser = Parser {
        toks,
        pos: 0,
        raw,
        end,
        resource,
        depth: 0,
    };
    let expr = parser.or_expr()?;
    if let Some(t) = parser.peek() {
        let what = format!("unexpected {} after the end of the expression", describe(t));
        return Err(parser.syntax(what));
    }
    Ok(expr)
}
#[rustfmt::skip]
const RESERVED: &[&str] =
    &["and", "or", "not", "eq", "ne", "gt", "lt", "ge", "le", "in", "true", "false", "null"];

const CMP_OPS: [&str; 6] = ["eq", "ne", "ge", "le", "gt", "lt"];

// Standard OData functions: valid syntax that Graph rejects on directory objects.
#[rustfmt::skip]
const ODATA_FUNCTIONS: &[&str] = &[
    "contains", "substring", "tolower", "toupper", "trim", "length", "indexof", "concat", "year",
    "month", "day", "hour", "minute", "second", "date", "time", "now", "round", "floor",
    "ceiling", "cast", "isof", "matchespattern", "hassubset", "hassubsequence",
];

// Bounds recursion so hostile input cannot overflow the stack.
const MAX_DEPTH: usize = 64;

struct Parser<'a> {
    toks: Vec<(Tok, usize)>,
    pos: usize,
    raw: &'a str,
    end: usize,
    resource: Resource,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.peek_at(0)
    }

    fn peek_at(&self, ahead: usize) -> Option<&Tok> {
        self.toks.get(self.pos + ahead).map(|(t, _)| t)
    }

    /// Syntax error located at the current (not yet consumed) token.
    fn syntax(&self, what: impl Display) -> ODataError {
        let at = self.toks.get(self.pos).map_or(self.end, |(_, p)| *p);
        syntax_error(self.raw, at, what)
    }

    fn unexpected(&self, expected: impl Display) -> ODataError {
        let found = self.peek().map_or_else(|| "end of input".into(), describe);
        self.syntax(format!("expected {expected} but found {found}"))
    }

    fn keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(s)) if s.eq_ignore_ascii_case(word))
    }

    fn expect(&mut self, tok: Tok) -> Result<(), ODataError> {
        if self.peek() != Some(&tok) {
            return Err(self.unexpected(describe(&tok)));
        }
        self.pos += 1;
        Ok(())
    }

    /// `item (sep item)*`, wrapped only when there is more than one item.
    fn chain(
        &mut self,
        sep: &str,
        item: fn(&mut Self) -> Result<Expr, ODataError>,
        wrap: fn(Vec<Expr>) -> Expr,
    ) -> Result<Expr, ODataError> {
        let mut items = vec![item(self)?];
        while self.keyword(sep) {
            self.pos += 1;
            items.push(item(self)?);
        }
        Ok(if items.len() == 1 {
            items.swap_remove(0)
        } else {
            wrap(items)
        })
    }

    fn or_expr(&mut self) -> Result<Expr, ODataError> {
        self.chain("or", Self::and_expr, Expr::Or)
    }

    fn and_expr(&mut self) -> Result<Expr, ODataError> {
        self.chain("and", Self::unary, Expr::And)
    }

    fn unary(&mut self) -> Result<Expr, ODataError> {
        if self.depth >= MAX_DEPTH {
            return Err(self.syntax("expression nested too deeply"));
        }
        self.depth += 1;
        let e = if self.keyword("not") {
            self.pos += 1;
            self.unary().map(|e| Expr::Not(Box::new(e)))
        } else {
            self.primary()
        };
        self.depth -= 1;
        e
    }

    fn primary(&mut self) -> Result<Expr, ODataError> {
        match self.peek() {
            Some(Tok::Punct('(')) => {
                self.pos += 1;
                let e = self.or_expr()?;
                self.expect(Tok::Punct(')'))?;
                Ok(e)
            }
            Some(Tok::Ident(name)) if !RESERVED.iter().any(|r| name.eq_ignore_ascii_case(r)) => {
                let name = name.clone();
                if self.peek_at(1) == Some(&Tok::Punct('(')) {
                    return self.function(&name);
                }
                self.pos += 1;
                let prop = self.resource.lookup(&name)?;
                self.comparison(prop)
            }
            _ => Err(self.unexpected("a property, function or '('")),
        }
    }

    fn function(&mut self, name: &str) -> Result<Expr, ODataError> {
        let lower = name.to_ascii_lowercase();
        if lower != "startswith" && lower != "endswith" {
            if ODATA_FUNCTIONS.contains(&lower.as_str()) {
                return Err(ODataError::unsupported(format!(
                    "Unsupported query: function '{name}' is not supported on resource '{}'.",
                    self.resource.type_name()
                )));
            }
            return Err(self.syntax(format!("unknown function '{name}'")));
        }
        self.pos += 2; // name and '('
        let Some(Tok::Ident(arg0)) = self.peek().cloned() else {
            return Err(self.unexpected(format!("a property name as first argument of '{name}'")));
        };
        self.pos += 1;
        let prop = self.resource.lookup(&arg0)?;
        self.expect(Tok::Punct(','))?;
        let lit = self.literal()?;
        self.expect(Tok::Punct(')'))?;
        match lit {
            Lit::Str(s) if matches!(prop.kind, Kind::Str | Kind::Coll) => {
                Ok(Expr::Affix(lower == "startswith", prop, s))
            }
            other => Err(type_error(prop, &other)),
        }
    }

    fn comparison(&mut self, prop: &'static PropSpec) -> Result<Expr, ODataError> {
        let op = CMP_OPS.into_iter().find(|op| self.keyword(op));
        if let Some(op) = op {
            self.pos += 1;
            let lit = self.literal()?;
            check_type(prop, &lit)?;
            return Ok(Expr::Cmp(prop, op, lit));
        }
        if self.keyword("in") {
            self.pos += 1;
            self.expect(Tok::Punct('('))?;
            let mut items = Vec::new();
            loop {
                let lit = self.literal()?;
                if lit == Lit::Null {
                    return Err(type_error(prop, &lit));
                }
                check_type(prop, &lit)?;
                items.push(lit);
                if self.peek() != Some(&Tok::Punct(',')) {
                    break;
                }
                self.pos += 1;
            }
            self.expect(Tok::Punct(')'))?;
            return Ok(Expr::In(prop, items));
        }
        if self.peek() == Some(&Tok::Punct('/'))
            && let Some(Tok::Ident(l)) = self.peek_at(1)
            && (l.eq_ignore_ascii_case("any") || l.eq_ignore_ascii_case("all"))
        {
            return Err(ODataError::unsupported(format!(
                "Unsupported query: lambda operator '{l}' on property '{}' is not supported.",
                prop.name
            )));
        }
        let what = format!("a comparison operator after property '{}'", prop.name);
        Err(self.unexpected(what))
    }

    fn literal(&mut self) -> Result<Lit, ODataError> {
        let lit = match self.peek() {
            Some(Tok::Str(s)) => Lit::Str(s.clone()),
            Some(Tok::Int(n)) => Lit::Int(*n),
            Some(Tok::DateTime(s)) => Lit::DateTime(s.clone()),
            Some(Tok::Ident(s)) if s.eq_ignore_ascii_case("true") => Lit::Bool(true),
            Some(Tok::Ident(s)) if s.eq_ignore_ascii_case("false") => Lit::Bool(false),
            Some(Tok::Ident(s)) if s.eq_ignore_ascii_case("null") => Lit::Null,
            _ => return Err(self.unexpected("a literal value")),
        };
        self.pos += 1;
        Ok(lit)
    }
}

fn type_error(prop: &PropSpec, lit: &Lit) -> ODataError {
    let (ty, text) = match lit {
        Lit::Null => ("null", "null".to_string()),
        Lit::Bool(b) => ("Edm.Boolean", b.to_string()),
        Lit::Int(i) => ("Edm.Int64", i.to_string()),
        Lit::Str(s) => ("Edm.String", format!("'{s}'")),
        Lit::DateTime(s) => ("Edm.DateTimeOffset", s.clone()),
    };
    let edm = match prop.kind {
        Kind::Str => "Edm.String",
        Kind::Bool => "Edm.Boolean",
        Kind::DateTime => "Edm.DateTimeOffset",
        Kind::Coll => "Collection(Edm.String)",
    };
    ODataError::bad_request(format!(
        "Invalid filter clause: incompatible types: property '{}' is {edm} but the literal {text} is {ty}.",
        prop.name
    ))
}

/// Type binding, done by the OData layer before Graph's support checks. Null and collections pass;
/// the support matrix decides about them.
fn check_type(prop: &PropSpec, lit: &Lit) -> Result<(), ODataError> {
    let ok = match (prop.kind, lit) {
        (Kind::Coll, _) | (_, Lit::Null) => true,
        (Kind::Str, Lit::Str(_)) | (Kind::Bool, Lit::Bool(_)) => true,
        (Kind::DateTime, Lit::DateTime(_)) => true,
        // Tolerated: a quoted timestamp.
        (Kind::DateTime, Lit::Str(s)) => norm_dt(s).is_some(),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(type_error(prop, lit))
    }
}
