//! SCIM filters (RFC 7644 §3.4.2.2): parsing, canonical printing and evaluation on a resource.
//!
//! Evaluation choices where the RFC is open:
//! * Attribute names are case-insensitive; strings compare case-insensitively unless the schema
//!   says `caseExact` (unknown attributes: case-insensitive). `gt`/`ge`/`lt`/`le` on strings are
//!   lexicographic; on `dateTime` attributes they compare instants.
//! * An operator matches if *any* value of the attribute satisfies it, except `ne`, which is
//!   `not eq`: true on an absent attribute and false if any value is equal (as in
//!   `store::filter_sql`, so SQL and in-memory evaluation agree).
//! * `eq null` means "not present" and `ne null` means "present" (present as for `pr`: not null,
//!   not an empty string, array or object).
//! * A complex attribute compared without a sub-attribute compares its `value` sub-attribute
//!   (`emails eq "x"`, `members eq "id"`, `manager eq "id"`).
//! * Booleans compare with `eq`/`ne` only and accept the strings "true"/"false" on either side,
//!   because Entra stores and queries `"True"`. Numbers compare numerically; a number against a
//!   string attribute compares its text (Microsoft's legacy unquoted `externalId eq 12345`).
//! * A name without URN that the core schema lacks is looked up in the resource type's
//!   extensions, so `manager eq "id"` finds the enterprise manager.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;
use std::ops::Range;

use chrono::DateTime;
use serde_json::{Map, Number, Value};

use crate::ResourceKind;
use crate::error::{Error, ScimType};
use crate::json::get_ci;
use crate::limits::Limits;
use crate::schema::{self, AttrType, AttributeDef};

/// An attribute reference: `name`, `name.sub`, `urn:…:name` or `urn:…:name.sub`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPath {
    pub urn: Option<String>,
    pub name: String,
    pub sub: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CompValue {
    Str(String),
    Num(Number),
    Bool(bool),
    Null,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Compare(AttrPath, CompareOp, CompValue),
    Present(AttrPath),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// `emails[type eq "work"]`: the inner filter applies to each value of the attribute.
    ValuePath(AttrPath, Box<Filter>),
}

/// Parses a filter (already URL-decoded) within `limits`. Every error is `400 invalidFilter`.
pub fn parse(input: &str, limits: &Limits) -> Result<Filter, Error> {
    if input.len() > limits.filter_bytes {
        return Err(Error::bad_request(
            ScimType::InvalidFilter,
            format!(
                "the filter is {} bytes long, longer than the limit of {} bytes",
                input.len(),
                limits.filter_bytes
            ),
        ));
    }
    let mut parser = Parser::new(input, 0..input.len(), ScimType::InvalidFilter, limits)?;
    let filter = parser.or_expr(0, false)?;
    parser.expect_end()?;
    Ok(filter)
}

/// Parses the filter between the brackets of a PATCH path (`span` of `input`, whose length the
/// caller has bounded), reporting errors with `scim_type` and columns of the whole path. The
/// brackets are one level of `limits.filter_depth`.
pub(crate) fn parse_value_filter(
    input: &str,
    span: Range<usize>,
    scim_type: ScimType,
    limits: &Limits,
) -> Result<Filter, Error> {
    let mut parser = Parser::new(input, span, scim_type, limits)?;
    let filter = parser.or_expr(1, true)?;
    parser.expect_end()?;
    Ok(filter)
}

/// Parses `name`, `name.sub`, `urn:…:name` or `urn:…:name.sub`. The URN is everything before
/// the last `:` (URNs contain dots, as in `2.0`, but attribute names contain no colon).
pub(crate) fn parse_attr_path(text: &str) -> Result<AttrPath, String> {
    let (urn, rest) = match text.rsplit_once(':') {
        Some((urn, rest)) => {
            let is_urn = urn.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:"))
                && !urn.contains(|c: char| c.is_whitespace() || "\"()[]".contains(c));
            if !is_urn {
                return Err(format!(
                    "`{text}` is not an attribute path (only a schema URN may prefix an attribute)"
                ));
            }
            (Some(urn.to_owned()), rest)
        }
        None => (None, text),
    };
    let (name, sub) = match rest.split_once('.') {
        Some((name, sub)) => (name, Some(sub)),
        None => (rest, None),
    };
    for part in std::iter::once(name).chain(sub) {
        if !is_attr_name(part) {
            return Err(format!(
                "`{part}` is not a valid attribute name in `{text}`"
            ));
        }
    }
    Ok(AttrPath {
        urn,
        name: name.to_owned(),
        sub: sub.map(str::to_owned),
    })
}

/// RFC 7644 ATTRNAME (`ALPHA *(ALPHA / DIGIT / "-" / "_")`), plus `$ref`.
pub(crate) fn is_attr_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.eq_ignore_ascii_case("$ref")
        || (chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
}

// ---------------------------------------------------------------------------------------------
// Lexer

#[derive(Debug, Clone, PartialEq)]
enum Tok<'a> {
    Open,
    Close,
    LBracket,
    RBracket,
    Str(String),
    /// Anything else up to a space, bracket, parenthesis or quote: attribute paths, operators,
    /// keywords, numbers and Microsoft's unquoted values (`2015-10-10T14:38:21-07:00`).
    Word(&'a str),
}

struct Token<'a> {
    tok: Tok<'a>,
    /// Byte offset in the input.
    at: usize,
}

fn is_delimiter(byte: u8) -> bool {
    byte.is_ascii_whitespace()
        || byte.is_ascii_control()
        || matches!(byte, b'(' | b')' | b'[' | b']' | b'"')
}

/// 1-based character column of byte offset `at`, for error messages.
fn column(input: &str, at: usize) -> usize {
    input.get(..at).map_or(at, |s| s.chars().count()) + 1
}

fn describe(tok: Option<&Tok<'_>>) -> String {
    match tok {
        None => "the end of the input".to_owned(),
        Some(Tok::Open) => "`(`".to_owned(),
        Some(Tok::Close) => "`)`".to_owned(),
        Some(Tok::LBracket) => "`[`".to_owned(),
        Some(Tok::RBracket) => "`]`".to_owned(),
        Some(Tok::Str(s)) => format!("the string {}", Value::String(s.clone())),
        Some(Tok::Word(w)) => format!("`{w}`"),
    }
}

// ---------------------------------------------------------------------------------------------
// Parser: recursive descent with an explicit depth bound, so hostile input cannot exhaust the
// stack. `and` binds tighter than `or`; both associate to the left.

struct Parser<'a> {
    input: &'a str,
    tokens: Vec<Token<'a>>,
    pos: usize,
    end: usize,
    scim_type: ScimType,
    max_depth: usize,
}

impl<'a> Parser<'a> {
    fn new(
        input: &'a str,
        span: Range<usize>,
        scim_type: ScimType,
        limits: &Limits,
    ) -> Result<Self, Error> {
        let mut parser = Parser {
            input,
            tokens: Vec::new(),
            pos: 0,
            end: span.end,
            scim_type,
            max_depth: limits.filter_depth,
        };
        parser.tokenize(span)?;
        Ok(parser)
    }

    fn error(&self, at: usize, detail: impl fmt::Display) -> Error {
        Error::bad_request(
            self.scim_type,
            format!("{detail} (at column {})", column(self.input, at)),
        )
    }

    fn tokenize(&mut self, span: Range<usize>) -> Result<(), Error> {
        let bytes = self.input.as_bytes();
        let mut i = span.start;
        while let Some(&byte) = bytes.get(i).filter(|_| i < span.end) {
            let at = i;
            let tok = match byte {
                b if b.is_ascii_whitespace() => {
                    i += 1;
                    continue;
                }
                // As in JSON strings: a control character is only valid escaped inside quotes, so
                // no unquoted value (Microsoft's legacy form) carries one.
                b if b.is_ascii_control() => {
                    return Err(self.error(
                        at,
                        format!("control character U+{b:04X} outside a quoted string"),
                    ));
                }
                b'(' => Tok::Open,
                b')' => Tok::Close,
                b'[' => Tok::LBracket,
                b']' => Tok::RBracket,
                b'"' => {
                    i = self.string_end(at, span.end)?;
                    let literal = self.input.get(at..i).unwrap_or_default();
                    let text = serde_json::from_str(literal)
                        .map_err(|e| self.error(at, format!("invalid string: {e}")))?;
                    self.tokens.push(Token {
                        tok: Tok::Str(text),
                        at,
                    });
                    continue;
                }
                _ => {
                    while bytes
                        .get(i)
                        .is_some_and(|&b| i < span.end && !is_delimiter(b))
                    {
                        i += 1;
                    }
                    let word = self.input.get(at..i).unwrap_or_default();
                    self.tokens.push(Token {
                        tok: Tok::Word(word),
                        at,
                    });
                    continue;
                }
            };
            self.tokens.push(Token { tok, at });
            i += 1;
        }
        Ok(())
    }

    /// The byte offset just after the closing quote of the string starting at `start`.
    fn string_end(&self, start: usize, end: usize) -> Result<usize, Error> {
        let bytes = self.input.as_bytes();
        let mut i = start + 1;
        while i < end {
            match bytes.get(i) {
                Some(b'\\') => i += 2,
                Some(b'"') => return Ok(i + 1),
                _ => i += 1,
            }
        }
        Err(self.error(start, "unterminated string"))
    }

    fn peek(&self) -> Option<&Tok<'a>> {
        self.tokens.get(self.pos).map(|t| &t.tok)
    }

    fn peek_at(&self) -> usize {
        self.tokens.get(self.pos).map_or(self.end, |t| t.at)
    }

    fn unexpected(&self, expected: &str) -> Error {
        self.error(
            self.peek_at(),
            format!("expected {expected}, found {}", describe(self.peek())),
        )
    }

    fn eat_keyword(&mut self, keyword: &str) -> bool {
        let found = matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(keyword));
        if found {
            self.pos += 1;
        }
        found
    }

    fn expect_end(&self) -> Result<(), Error> {
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(self.unexpected("`and`, `or` or the end of the filter")),
        }
    }

    fn or_expr(&mut self, depth: usize, in_value_path: bool) -> Result<Filter, Error> {
        let mut filter = self.and_expr(depth, in_value_path)?;
        while self.eat_keyword("or") {
            let rhs = self.and_expr(depth, in_value_path)?;
            filter = Filter::Or(Box::new(filter), Box::new(rhs));
        }
        Ok(filter)
    }

    fn and_expr(&mut self, depth: usize, in_value_path: bool) -> Result<Filter, Error> {
        let mut filter = self.unary(depth, in_value_path)?;
        while self.eat_keyword("and") {
            let rhs = self.unary(depth, in_value_path)?;
            filter = Filter::And(Box::new(filter), Box::new(rhs));
        }
        Ok(filter)
    }

    fn unary(&mut self, depth: usize, in_value_path: bool) -> Result<Filter, Error> {
        let is_not = matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case("not"))
            && matches!(
                self.tokens.get(self.pos + 1).map(|t| &t.tok),
                Some(Tok::Open)
            );
        if is_not {
            self.pos += 2;
            let inner = self.nested(depth, in_value_path, Tok::Close)?;
            return Ok(Filter::Not(Box::new(inner)));
        }
        match self.peek() {
            Some(Tok::Open) => {
                self.pos += 1;
                self.nested(depth, in_value_path, Tok::Close)
            }
            Some(Tok::Word(_)) => self.attr_expr(depth, in_value_path),
            _ => Err(self.unexpected("an attribute name, `(` or `not (`")),
        }
    }

    /// A group one level deeper, up to and including its closing token.
    fn nested(&mut self, depth: usize, in_value_path: bool, close: Tok) -> Result<Filter, Error> {
        if depth >= self.max_depth {
            return Err(self.error(
                self.peek_at(),
                format!("nests deeper than the limit of {} levels", self.max_depth),
            ));
        }
        let inner = self.or_expr(depth + 1, in_value_path)?;
        if self.peek() != Some(&close) {
            return Err(self.unexpected(&describe(Some(&close))));
        }
        self.pos += 1;
        Ok(inner)
    }

    fn attr_expr(&mut self, depth: usize, in_value_path: bool) -> Result<Filter, Error> {
        let at = self.peek_at();
        let Some(Tok::Word(word)) = self.peek() else {
            return Err(self.unexpected("an attribute name"));
        };
        let word = *word;
        let path = parse_attr_path(word).map_err(|e| self.error(at, e))?;
        self.pos += 1;
        match self.peek() {
            Some(Tok::LBracket) => {
                if in_value_path {
                    return Err(self.error(self.peek_at(), "value paths cannot be nested"));
                }
                if path.sub.is_some() {
                    return Err(self.error(at, "a value path needs an attribute, not `attr.sub`"));
                }
                self.pos += 1;
                let inner = self.nested(depth, true, Tok::RBracket)?;
                if matches!(self.peek(), Some(Tok::Word(w)) if w.starts_with('.')) {
                    return Err(self.error(
                        self.peek_at(),
                        "a sub-attribute after a value path is only valid in PATCH paths",
                    ));
                }
                Ok(Filter::ValuePath(path, Box::new(inner)))
            }
            Some(Tok::Word(op)) if op.eq_ignore_ascii_case("pr") => {
                self.pos += 1;
                Ok(Filter::Present(path))
            }
            Some(Tok::Word(op)) => {
                let Some(op) = CompareOp::from_keyword(op) else {
                    return Err(self.unexpected(&format!("an operator after `{word}`")));
                };
                self.pos += 1;
                let value = self.comp_value()?;
                Ok(Filter::Compare(path, op, value))
            }
            _ => Err(self.unexpected(&format!("an operator or `[` after `{word}`"))),
        }
    }

    fn comp_value(&mut self) -> Result<CompValue, Error> {
        let value = match self.peek() {
            Some(Tok::Str(s)) => CompValue::Str(s.clone()),
            Some(Tok::Word(w)) => match *w {
                "true" => CompValue::Bool(true),
                "false" => CompValue::Bool(false),
                "null" => CompValue::Null,
                // Microsoft's legacy unquoted values: a word that is no JSON number is a string.
                w => match w.parse::<Number>() {
                    // serde_json's fast float parsing can be one unit off; std's is exact.
                    Ok(n) if n.is_f64() => w
                        .parse()
                        .ok()
                        .and_then(Number::from_f64)
                        .map_or(CompValue::Num(n), CompValue::Num),
                    Ok(n) => CompValue::Num(n),
                    Err(_) => CompValue::Str(w.to_owned()),
                },
            },
            _ => return Err(self.unexpected("a comparison value")),
        };
        self.pos += 1;
        Ok(value)
    }
}

impl CompareOp {
    fn from_keyword(word: &str) -> Option<Self> {
        const OPS: [(&str, CompareOp); 9] = [
            ("eq", CompareOp::Eq),
            ("ne", CompareOp::Ne),
            ("co", CompareOp::Co),
            ("sw", CompareOp::Sw),
            ("ew", CompareOp::Ew),
            ("gt", CompareOp::Gt),
            ("ge", CompareOp::Ge),
            ("lt", CompareOp::Lt),
            ("le", CompareOp::Le),
        ];
        OPS.iter()
            .find(|(keyword, _)| keyword.eq_ignore_ascii_case(word))
            .map(|(_, op)| *op)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        }
    }

    /// Whether an ordering satisfies the operator; `co`/`sw`/`ew` are not orderings.
    fn holds(self, ordering: Ordering) -> bool {
        match self {
            CompareOp::Eq => ordering.is_eq(),
            CompareOp::Ne => ordering.is_ne(),
            CompareOp::Gt => ordering.is_gt(),
            CompareOp::Ge => ordering.is_ge(),
            CompareOp::Lt => ordering.is_lt(),
            CompareOp::Le => ordering.is_le(),
            CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Canonical printing: lowercase operators, JSON-quoted strings, and parentheses exactly where the
// left-associative grammar needs them, so `parse(filter.to_string()) == filter`.

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(urn) = &self.urn {
            write!(f, "{urn}:")?;
        }
        f.write_str(&self.name)?;
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

impl fmt::Display for CompareOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for CompValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompValue::Str(s) => f.write_str(&serde_json::to_string(s).map_err(|_| fmt::Error)?),
            CompValue::Num(n) => write!(f, "{n}"),
            CompValue::Bool(b) => write!(f, "{b}"),
            CompValue::Null => f.write_str("null"),
        }
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn operand(f: &mut fmt::Formatter<'_>, filter: &Filter, parens: bool) -> fmt::Result {
            if parens {
                write!(f, "({filter})")
            } else {
                write!(f, "{filter}")
            }
        }
        match self {
            Filter::Compare(path, op, value) => write!(f, "{path} {op} {value}"),
            Filter::Present(path) => write!(f, "{path} pr"),
            Filter::And(lhs, rhs) => {
                operand(f, lhs, matches!(**lhs, Filter::Or(..)))?;
                f.write_str(" and ")?;
                operand(f, rhs, matches!(**rhs, Filter::And(..) | Filter::Or(..)))
            }
            Filter::Or(lhs, rhs) => {
                write!(f, "{lhs} or ")?;
                operand(f, rhs, matches!(**rhs, Filter::Or(..)))
            }
            Filter::Not(inner) => write!(f, "not ({inner})"),
            Filter::ValuePath(path, inner) => write!(f, "{path}[{inner}]"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Evaluation

/// Whether `resource` (a full SCIM resource, with `id`, `meta` and extension objects) matches.
pub fn matches(filter: &Filter, kind: ResourceKind, resource: &Value) -> bool {
    resource
        .as_object()
        .is_some_and(|object| eval(filter, object, Scope::Resource(kind)))
}

/// Whether one value of a multi-valued attribute (defined by `def`) matches a value filter.
pub(crate) fn matches_element(
    filter: &Filter,
    def: Option<&'static AttributeDef>,
    element: &Value,
) -> bool {
    element
        .as_object()
        .is_some_and(|object| eval(filter, object, Scope::Element(def)))
}

/// Where the attribute `name` (with optional URN) of a resource lives: `None` for the top level,
/// `Some(urn)` inside the extension object under that URN, with its definition if known. A name
/// without URN that the core schema lacks resolves to the extension that defines it.
pub fn attribute_home<'a>(
    kind: ResourceKind,
    urn: Option<&'a str>,
    name: &str,
) -> (Option<&'a str>, Option<&'static AttributeDef>) {
    match urn {
        Some(urn) if !urn.eq_ignore_ascii_case(kind.core_schema()) => {
            (Some(urn), schema::find_attribute(kind, Some(urn), name))
        }
        _ => match schema::find_attribute(kind, None, name) {
            Some(def) => (None, Some(def)),
            None => schema::schemas_for(kind)
                .iter()
                .skip(1)
                .find_map(|s| Some((Some(s.id.as_str()), Some(s.attribute(name)?))))
                .unwrap_or((None, None)),
        },
    }
}

#[derive(Clone, Copy)]
enum Scope {
    /// Attributes of a resource of this type.
    Resource(ResourceKind),
    /// Sub-attributes of one value of the multi-valued attribute with this definition.
    Element(Option<&'static AttributeDef>),
}

fn eval(filter: &Filter, object: &Map<String, Value>, scope: Scope) -> bool {
    match filter {
        Filter::And(lhs, rhs) => eval(lhs, object, scope) && eval(rhs, object, scope),
        Filter::Or(lhs, rhs) => eval(lhs, object, scope) || eval(rhs, object, scope),
        Filter::Not(inner) => !eval(inner, object, scope),
        Filter::Present(path) => resolve(object, scope, path).0.into_iter().any(is_present),
        Filter::Compare(path, op, value) => {
            let (values, def) = resolve(object, scope, path);
            compare(values, def, *op, value)
        }
        Filter::ValuePath(path, inner) => {
            let (values, def) = resolve(object, scope, path);
            values
                .into_iter()
                .filter_map(Value::as_object)
                .any(|element| eval(inner, element, Scope::Element(def)))
        }
    }
}

/// The values an attribute path selects (multi-valued attributes flattened) and its definition.
fn resolve<'v>(
    object: &'v Map<String, Value>,
    scope: Scope,
    path: &AttrPath,
) -> (Vec<&'v Value>, Option<&'static AttributeDef>) {
    let (container, mut def) = match scope {
        Scope::Element(parent) => (
            Some(object),
            parent.and_then(|d| d.sub_attribute(&path.name)),
        ),
        Scope::Resource(kind) => {
            let (home, def) = attribute_home(kind, path.urn.as_deref(), &path.name);
            let container = match home {
                None => Some(object),
                Some(urn) => get_ci(object, urn).and_then(Value::as_object),
            };
            (container, def)
        }
    };
    let mut values = flatten(container.and_then(|c| get_ci(c, &path.name)));
    if let Some(sub) = &path.sub {
        values = values
            .into_iter()
            .filter_map(Value::as_object)
            .flat_map(|element| flatten(get_ci(element, sub)))
            .collect();
        def = def.and_then(|d| d.sub_attribute(sub));
    }
    (values, def)
}

fn flatten(value: Option<&Value>) -> Vec<&Value> {
    match value {
        None => Vec::new(),
        Some(Value::Array(items)) => items.iter().collect(),
        Some(value) => vec![value],
    }
}

fn is_present(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(items) => items.iter().any(is_present),
        Value::Object(object) => object.values().any(is_present),
        Value::Bool(_) | Value::Number(_) => true,
    }
}

fn compare(
    values: Vec<&Value>,
    def: Option<&'static AttributeDef>,
    op: CompareOp,
    expected: &CompValue,
) -> bool {
    if op == CompareOp::Ne {
        return !compare(values, def, CompareOp::Eq, expected);
    }
    if *expected == CompValue::Null {
        return op == CompareOp::Eq && !values.into_iter().any(is_present);
    }
    let value_def = def.and_then(|d| d.sub_attribute("value"));
    values.into_iter().any(|value| match value {
        Value::Object(object) => {
            get_ci(object, "value").is_some_and(|v| compare_one(v, value_def, op, expected))
        }
        value => compare_one(value, def, op, expected),
    })
}

fn compare_one(
    actual: &Value,
    def: Option<&'static AttributeDef>,
    op: CompareOp,
    expected: &CompValue,
) -> bool {
    let case_exact = def.is_some_and(|d| d.case_exact);
    match (actual, expected) {
        (Value::String(a), CompValue::Str(b)) => {
            let is_date = def.is_some_and(|d| d.attr_type == AttrType::DateTime);
            if is_date && !matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew) {
                let parse = DateTime::parse_from_rfc3339;
                if let (Ok(a), Ok(b)) = (parse(a), parse(b)) {
                    return op.holds(a.cmp(&b));
                }
            }
            compare_strings(a, b, op, case_exact)
        }
        (Value::String(a), CompValue::Num(b)) => compare_strings(a, &b.to_string(), op, case_exact),
        (Value::Number(a), CompValue::Num(b)) => compare_numbers(a, b, op),
        (Value::Number(a), CompValue::Str(b)) => b
            .parse::<Number>()
            .is_ok_and(|b| compare_numbers(a, &b, op)),
        (Value::Bool(a), CompValue::Bool(b)) => compare_bools(*a, *b, op),
        (Value::Bool(a), CompValue::Str(b)) => {
            parse_bool(b).is_some_and(|b| compare_bools(*a, b, op))
        }
        (Value::String(a), CompValue::Bool(b)) => {
            parse_bool(a).is_some_and(|a| compare_bools(a, *b, op))
        }
        _ => false,
    }
}

/// "true"/"false" in any case: Entra sends booleans as "True"/"False".
pub(crate) fn parse_bool(text: &str) -> Option<bool> {
    if text.eq_ignore_ascii_case("true") {
        Some(true)
    } else if text.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// Booleans are only equal or not (`ne` is handled as `not eq` before this).
fn compare_bools(a: bool, b: bool, op: CompareOp) -> bool {
    op == CompareOp::Eq && a == b
}

fn compare_numbers(a: &Number, b: &Number, op: CompareOp) -> bool {
    let ordering = match (a.as_i64(), b.as_i64(), a.as_u64(), b.as_u64()) {
        (Some(a), Some(b), _, _) => Some(a.cmp(&b)),
        (_, _, Some(a), Some(b)) => Some(a.cmp(&b)),
        _ => a
            .as_f64()
            .zip(b.as_f64())
            .and_then(|(a, b)| a.partial_cmp(&b)),
    };
    ordering.is_some_and(|o| op.holds(o))
}

fn compare_strings(a: &str, b: &str, op: CompareOp, case_exact: bool) -> bool {
    let (a, b): (Cow<'_, str>, Cow<'_, str>) = if case_exact {
        (a.into(), b.into())
    } else {
        (a.to_lowercase().into(), b.to_lowercase().into())
    };
    match op {
        CompareOp::Co => a.contains(&*b),
        CompareOp::Sw => a.starts_with(&*b),
        CompareOp::Ew => a.ends_with(&*b),
        op => op.holds(a.cmp(&b)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn path(urn: Option<&str>, name: &str, sub: Option<&str>) -> AttrPath {
        AttrPath {
            urn: urn.map(str::to_owned),
            name: name.to_owned(),
            sub: sub.map(str::to_owned),
        }
    }

    fn attr(name: &str) -> AttrPath {
        path(None, name, None)
    }

    fn eq(name: &str, value: &str) -> Filter {
        Filter::Compare(attr(name), CompareOp::Eq, CompValue::Str(value.to_owned()))
    }

    /// The parser with the default limits.
    fn parse(input: &str) -> Result<Filter, Error> {
        super::parse(input, &Limits::DEFAULT)
    }

    fn invalid(input: &str) -> String {
        match parse(input) {
            Err(Error::BadRequest(ScimType::InvalidFilter, detail)) => detail,
            other => panic!("{input:?} should be invalidFilter, got {other:?}"),
        }
    }

    const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

    #[test]
    fn parses_entra_queries() {
        assert_eq!(
            parse(r#"userName eq "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee""#).unwrap(),
            eq("userName", "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee")
        );
        // The validator's `+` is decoded by the HTTP layer; `%40` too.
        assert_eq!(
            parse(r#"userName eq "noemie.hoppe@schaefer.us""#).unwrap(),
            eq("userName", "noemie.hoppe@schaefer.us")
        );
        assert_eq!(
            parse("externalId eq jyoung").unwrap(),
            eq("externalId", "jyoung")
        );
        assert_eq!(
            parse("id eq 54D382A4-1 and manager eq 2819c223-7f76").unwrap(),
            Filter::And(
                Box::new(eq("id", "54D382A4-1")),
                Box::new(eq("manager", "2819c223-7f76"))
            )
        );
        assert_eq!(
            parse("meta.created gt 2015-10-10T14:38:21-07:00").unwrap(),
            Filter::Compare(
                path(None, "meta", Some("created")),
                CompareOp::Gt,
                CompValue::Str("2015-10-10T14:38:21-07:00".into())
            )
        );
    }

    #[test]
    fn parses_the_rfc_examples() {
        for input in [
            r#"userName Eq "john""#,
            r#"name.familyName co "O'Malley""#,
            r#"userName sw "J""#,
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#,
            "title pr",
            r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
            r#"meta.lastModified ge "2011-05-13T04:42:34Z""#,
            r#"title pr and userType eq "Employee""#,
            r#"title pr or userType eq "Intern""#,
            r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
            r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
            r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
            r#"userType eq "Employee" and (emails.type eq "work")"#,
            r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#,
            r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
        ] {
            let filter = parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(parse(&filter.to_string()).unwrap(), filter, "{input}");
        }
    }

    #[test]
    fn operators_and_keywords_are_case_insensitive() {
        assert_eq!(
            parse(r#"title PR AND userName EQ "x" OR NOT (active eq true)"#).unwrap(),
            parse(r#"title pr and userName eq "x" or not (active eq true)"#).unwrap()
        );
    }

    #[test]
    fn and_binds_tighter_than_or() {
        let a = || Filter::Present(attr("a"));
        let b = || Filter::Present(attr("b"));
        let c = || Filter::Present(attr("c"));
        assert_eq!(
            parse("a pr or b pr and c pr").unwrap(),
            Filter::Or(
                Box::new(a()),
                Box::new(Filter::And(Box::new(b()), Box::new(c())))
            )
        );
        assert_eq!(
            parse("(a pr or b pr) and c pr").unwrap(),
            Filter::And(
                Box::new(Filter::Or(Box::new(a()), Box::new(b()))),
                Box::new(c())
            )
        );
        assert_eq!(
            parse("a pr and b pr and c pr").unwrap(),
            Filter::And(
                Box::new(Filter::And(Box::new(a()), Box::new(b()))),
                Box::new(c())
            )
        );
    }

    #[test]
    fn parses_values() {
        let value = |input: &str| match parse(&format!("a eq {input}")).unwrap() {
            Filter::Compare(_, _, value) => value,
            other => panic!("{other:?}"),
        };
        assert_eq!(value("true"), CompValue::Bool(true));
        assert_eq!(value("false"), CompValue::Bool(false));
        assert_eq!(value("null"), CompValue::Null);
        assert_eq!(value("42"), CompValue::Num(42.into()));
        assert_eq!(
            value("-1.5e3"),
            CompValue::Num(Number::from_f64(-1500.0).unwrap())
        );
        assert_eq!(value("007"), CompValue::Str("007".into()));
        assert_eq!(value("True"), CompValue::Str("True".into()));
        assert_eq!(
            value(r#""a \"quoted\" \\ \u00e9 \n ] ) ( [""#),
            CompValue::Str("a \"quoted\" \\ é \n ] ) ( [".into())
        );
    }

    #[test]
    fn parses_attribute_paths() {
        let present = |input: &str| match parse(&format!("{input} pr")).unwrap() {
            Filter::Present(path) => path,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            present(&format!("{ENTERPRISE}:manager.value")),
            path(Some(ENTERPRISE), "manager", Some("value"))
        );
        assert_eq!(
            present(&format!("{ENTERPRISE}:employeeNumber")),
            path(Some(ENTERPRISE), "employeeNumber", None)
        );
        assert_eq!(present("members.$ref"), path(None, "members", Some("$ref")));
        assert_eq!(
            present("name.familyName"),
            path(None, "name", Some("familyName"))
        );
        for bad in ["a.b.c", "1abc", "foo:bar", "a.", ".a", "name.fam ily"] {
            invalid(&format!("{bad} pr"));
        }
    }

    #[test]
    fn value_paths() {
        assert_eq!(
            parse(r#"emails[type eq "work" and value co "@x"]"#).unwrap(),
            Filter::ValuePath(
                attr("emails"),
                Box::new(Filter::And(
                    Box::new(eq("type", "work")),
                    Box::new(Filter::Compare(
                        attr("value"),
                        CompareOp::Co,
                        CompValue::Str("@x".into())
                    ))
                ))
            )
        );
        assert!(invalid(r#"emails[type eq "work"].value eq "x""#).contains("PATCH paths"));
        assert!(invalid(r#"emails[type eq "work" and x[y pr]]"#).contains("nested"));
        invalid(r#"emails[type eq "work""#);
        invalid(r#"emails[type eq "work"] eq "x""#);
    }

    #[test]
    fn errors_name_the_problem_and_position() {
        assert!(invalid("").contains("end of the input"));
        assert!(invalid(r#"userName eq"#).contains("comparison value"));
        assert!(invalid(r#"userName equals "x""#).contains("operator"));
        assert!(invalid(r#"userName eq "x" "y""#).contains("column 17"));
        assert!(invalid(r#"userName eq "x"#).contains("unterminated"));
        assert!(invalid(r#"userName eq "\q""#).contains("invalid string"));
        assert!(invalid("(a pr").contains("`)`"));
        assert!(invalid("a pr)").contains("`)`"));
        assert!(invalid("not a pr").contains("operator"));
    }

    #[test]
    fn control_characters_only_inside_strings() {
        // Found by fuzzing: an unquoted value with NULs parsed, and printed (quoted and escaped)
        // longer than the filter limit.
        assert!(invalid("x-Score gt 6.2\0\0\u{1}0 and a pr").contains("U+0000 outside"));
        assert!(invalid("title eq a\u{7f}b").contains("column 11"));
        assert!(invalid("title\u{0}pr").contains("U+0000"));
        assert_eq!(
            parse(r#"title eq "a\u0000b""#).unwrap(),
            eq("title", "a\u{0}b")
        );
        assert_eq!(parse("title\teq\r\nx").unwrap(), eq("title", "x"));
    }

    #[test]
    fn enforces_limits() {
        let deep = |n: usize| format!("{}a pr{}", "(".repeat(n), ")".repeat(n));
        let Limits {
            filter_depth,
            filter_bytes,
            ..
        } = Limits::DEFAULT;
        assert!(parse(&deep(filter_depth)).is_ok());
        assert!(invalid(&deep(filter_depth + 1)).contains("deeper"));
        assert!(invalid(&"(".repeat(100_000)).contains("longer"));
        let nots = format!("{}a pr{}", "not (".repeat(20), ")".repeat(20));
        assert!(invalid(&nots).contains("deeper"));
        // A long flat chain is fine: it is one level deep and its length is bounded.
        let chain = vec!["a pr"; 500].join(" or ");
        assert!(chain.len() <= filter_bytes);
        let filter = parse(&chain).unwrap();
        assert!(matches(&filter, ResourceKind::User, &json!({"a": 1})));
        assert_eq!(parse(&filter.to_string()).unwrap(), filter);
    }

    #[test]
    fn limits_are_the_configured_ones() {
        let limits = Limits {
            filter_bytes: 12,
            filter_depth: 1,
            ..Limits::DEFAULT
        };
        let detail = |input: &str| match super::parse(input, &limits) {
            Err(Error::BadRequest(ScimType::InvalidFilter, detail)) => detail,
            other => panic!("{input:?} should be invalidFilter, got {other:?}"),
        };
        assert!(super::parse("(a pr)", &limits).is_ok());
        assert!(super::parse("x[a pr]", &limits).is_ok());
        assert!(detail("((a pr))").contains("limit of 1 levels"));
        assert!(detail("x[(a pr)]").contains("limit of 1 levels"));
        assert!(detail("a pr and b pr").contains("13 bytes long, longer than the limit of 12"));
        let flat = Limits {
            filter_depth: 0,
            ..Limits::DEFAULT
        };
        assert!(super::parse("a pr or b pr", &flat).is_ok());
        assert!(super::parse("(a pr)", &flat).is_err());
    }

    fn user() -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
            "id": "2441309d85324e7793ae",
            "externalId": "7fce0092-d52e-4f76-b727-3955bd72c939",
            "meta": {
                "resourceType": "User",
                "created": "2018-03-27T19:59:26.000Z",
                "lastModified": "2018-03-27T19:59:26.000Z"
            },
            "userName": "Test_User@example.com",
            "name": {"familyName": "O'Malley", "givenName": "Barbara"},
            "title": "",
            "active": true,
            "emails": [
                {"value": "bjensen@example.com", "type": "work", "primary": true},
                {"value": "babs@jensen.org", "type": "home"}
            ],
            "roles": [{"primary": "True", "value": "Admin"}],
            "x-score": 7,
            ENTERPRISE: {"employeeNumber": "701984", "manager": {"value": "26118915-6090"}}
        })
    }

    fn check(input: &str) -> bool {
        matches(&parse(input).unwrap(), ResourceKind::User, &user())
    }

    #[test]
    fn evaluates_strings_case_insensitively_unless_case_exact() {
        assert!(check(r#"userName eq "TEST_USER@EXAMPLE.COM""#));
        assert!(check(r#"USERNAME sw "test_""#));
        assert!(check(r#"name.FAMILYNAME co "malley""#));
        assert!(check(r#"userName ew ".COM""#));
        assert!(check(r#"userName gt "A" and userName lt "U""#));
        // id and externalId are caseExact.
        assert!(check(r#"id eq "2441309d85324e7793ae""#));
        assert!(!check(r#"id eq "2441309D85324E7793AE""#));
        assert!(!check(
            r#"externalId eq "7FCE0092-D52E-4F76-B727-3955BD72C939""#
        ));
        assert!(check(
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "test""#
        ));
        assert!(check(
            r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#
        ));
    }

    #[test]
    fn evaluates_multi_valued_and_complex_attributes() {
        assert!(check(r#"emails eq "BABS@jensen.org""#));
        assert!(check(r#"emails.value co "jensen.org""#));
        assert!(check(r#"emails.type eq "home""#));
        assert!(check(
            r#"emails[type eq "work" and value co "@example.com"]"#
        ));
        assert!(!check(
            r#"emails[type eq "home" and value co "@example.com"]"#
        ));
        assert!(check(r#"emails[not (type eq "work")]"#));
        // `ne` is `not eq`: no value may be equal, and an absent attribute matches.
        assert!(!check(r#"emails.type ne "work""#));
        assert!(check(r#"emails.type ne "other""#));
        assert!(check(r#"nickName ne "x""#));
    }

    #[test]
    fn evaluates_extension_attributes() {
        assert!(check(&format!(
            r#"{ENTERPRISE}:employeeNumber eq "701984""#
        )));
        assert!(check(&format!(
            r#"{ENTERPRISE}:manager.value eq "26118915-6090""#
        )));
        assert!(check(r#"manager eq "26118915-6090""#));
        assert!(check(
            "id eq 2441309d85324e7793ae and manager eq 26118915-6090"
        ));
        assert!(check(&format!(
            "{} pr",
            ENTERPRISE.to_uppercase() + ":EMPLOYEENUMBER"
        )));
    }

    #[test]
    fn evaluates_presence_and_null() {
        assert!(check("userName pr"));
        assert!(check("name pr"));
        assert!(!check("title pr"));
        assert!(!check("nickName pr"));
        assert!(check("title eq null"));
        assert!(check("nickName eq null"));
        assert!(check("userName ne null"));
        assert!(!check("userName eq null"));
    }

    #[test]
    fn evaluates_booleans_numbers_and_dates() {
        assert!(check("active eq true"));
        assert!(check(r#"active eq "True""#));
        assert!(check("active eq True"));
        assert!(!check("active ne true"));
        assert!(!check("active gt false"));
        assert!(check(r#"roles[primary eq "True"]"#));
        assert!(check("roles[primary eq true]"));
        assert!(check("x-score gt 6.5 and x-score le 7"));
        assert!(check(r#"x-score eq "7""#));
        // Instants, not strings: -07:00 makes this later than the 19:59Z values.
        assert!(check("meta.created lt 2018-03-27T13:00:00-07:00"));
        assert!(check(r#"meta.lastModified eq "2018-03-27T19:59:26Z""#));
        assert!(check(r#"meta.lastModified gt "2018-03-27T12:00:00-07:00""#));
        assert!(!check(r#"meta.lastModified gt "2018-03-27T20:00:00Z""#));
        // Unparsable dates fall back to string comparison.
        assert!(check(r#"meta.created gt "2017""#));
    }

    #[test]
    fn evaluates_logic() {
        assert!(check(r#"userName pr and (title pr or active eq true)"#));
        assert!(!check(r#"not (userName pr)"#));
        assert!(check(r#"nickName pr or emails[type eq "home"]"#));
        assert!(!matches(
            &parse("a pr").unwrap(),
            ResourceKind::User,
            &json!([1])
        ));
    }

    #[test]
    fn evaluates_group_members() {
        let group = json!({
            "id": "g1",
            "displayName": "Sales",
            "members": [{"value": "u1", "display": "A"}, {"value": "u2"}]
        });
        let check = |input: &str| matches(&parse(input).unwrap(), ResourceKind::Group, &group);
        assert!(check(r#"id eq "g1" and members eq "u2""#));
        assert!(check(r#"members.value eq "u1""#));
        assert!(!check(r#"members eq "u3""#));
        assert!(check(r#"displayName eq "SALES""#));
    }

    // ---- property tests

    fn arb_name() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-zA-Z][a-zA-Z0-9_-]{0,6}",
            Just("$ref".to_owned()),
            Just("and".to_owned()),
            Just("not".to_owned()),
        ]
    }

    fn arb_path(allow_sub: bool) -> impl Strategy<Value = AttrPath> {
        let urn = prop::option::of(prop_oneof![
            Just(ENTERPRISE.to_owned()),
            "urn:[a-z]{1,4}(:[a-z0-9.]{1,4}){0,3}",
        ]);
        let sub = if allow_sub {
            prop::option::of(arb_name()).boxed()
        } else {
            Just(None).boxed()
        };
        (urn, arb_name(), sub).prop_map(|(urn, name, sub)| AttrPath { urn, name, sub })
    }

    fn arb_value() -> impl Strategy<Value = CompValue> {
        prop_oneof![
            any::<String>().prop_map(CompValue::Str),
            any::<i64>().prop_map(|n| CompValue::Num(n.into())),
            any::<u64>().prop_map(|n| CompValue::Num(n.into())),
            any::<f64>().prop_filter_map("finite", |f| Number::from_f64(f).map(CompValue::Num)),
            any::<bool>().prop_map(CompValue::Bool),
            Just(CompValue::Null),
        ]
    }

    fn arb_op() -> impl Strategy<Value = CompareOp> {
        prop::sample::select(vec![
            CompareOp::Eq,
            CompareOp::Ne,
            CompareOp::Co,
            CompareOp::Sw,
            CompareOp::Ew,
            CompareOp::Gt,
            CompareOp::Ge,
            CompareOp::Lt,
            CompareOp::Le,
        ])
    }

    fn arb_logic(leaf: BoxedStrategy<Filter>) -> BoxedStrategy<Filter> {
        leaf.prop_recursive(4, 24, 2, |inner| {
            prop_oneof![
                (inner.clone(), inner.clone())
                    .prop_map(|(a, b)| Filter::And(Box::new(a), Box::new(b))),
                (inner.clone(), inner.clone())
                    .prop_map(|(a, b)| Filter::Or(Box::new(a), Box::new(b))),
                inner.prop_map(|a| Filter::Not(Box::new(a))),
            ]
        })
        .boxed()
    }

    fn arb_filter() -> BoxedStrategy<Filter> {
        let compare = (arb_path(true), arb_op(), arb_value())
            .prop_map(|(p, op, v)| Filter::Compare(p, op, v));
        let present = arb_path(true).prop_map(Filter::Present);
        let simple = prop_oneof![compare, present].boxed();
        let value_path = (arb_path(false), arb_logic(simple.clone()))
            .prop_map(|(p, f)| Filter::ValuePath(p, Box::new(f)));
        arb_logic(prop_oneof![3 => simple, 1 => value_path].boxed())
    }

    fn filterish() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("(".to_owned()),
            Just(")".to_owned()),
            Just("[".to_owned()),
            Just("]".to_owned()),
            Just(" and ".to_owned()),
            Just(" or ".to_owned()),
            Just("not ".to_owned()),
            Just(" eq ".to_owned()),
            Just(" gt ".to_owned()),
            Just(" pr".to_owned()),
            Just("\"x\\".to_owned()),
            Just("\"".to_owned()),
            Just(".".to_owned()),
            Just("urn:a:2.0:".to_owned()),
            "[a-z]{1,3}",
            "[0-9.e-]{1,4}",
            ".{0,2}",
        ];
        prop::collection::vec(piece, 0..40).prop_map(|pieces| pieces.concat())
    }

    proptest! {
        #[test]
        fn printing_round_trips(filter in arb_filter()) {
            let printed = filter.to_string();
            let parsed = parse(&printed);
            prop_assert!(parsed.is_ok(), "{printed}: {parsed:?}");
            prop_assert_eq!(parsed.unwrap(), filter);
        }

        #[test]
        fn random_input_never_panics(input in prop_oneof![any::<String>(), filterish()]) {
            match parse(&input) {
                Ok(filter) => {
                    matches(&filter, ResourceKind::User, &user());
                    prop_assert_eq!(parse(&filter.to_string()).unwrap(), filter);
                }
                Err(e) => prop_assert_eq!(e.scim_type(), Some(ScimType::InvalidFilter)),
            }
        }

        #[test]
        fn evaluating_random_filters_never_panics(filter in arb_filter()) {
            matches(&filter, ResourceKind::User, &user());
            matches(&filter, ResourceKind::Group, &user());
        }
    }
}
