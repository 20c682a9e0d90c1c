//! xCAT "regular expression values" in table cells.
//!
//! A cell on a group row may hold a pattern that is evaluated against each
//! node's name when it is read (see xCAT's `regexp_db.rst` and
//! `xCAT::Table::getNodeAttribs`). Three forms exist:
//!
//! * `/PATTERN/REPLACEMENT/` -- a Perl `s///` (first match only) on the node
//!   name, e.g. `/\z/-bmc/` turns `node01` into `node01-bmc`.
//! * `|PATTERN|EXPR|` -- PATTERN is matched against the node name; every
//!   top-level parenthesised group in EXPR is evaluated as integer arithmetic
//!   (Perl `use integer`) with `$1..$n` bound to the captures, the text
//!   outside the groups is kept (with `$n` interpolated), and the result
//!   replaces the matched part of the node name (as xCAT's final `s///` does).
//! * `|EXPR|` -- the "easy" form: PATTERN is generated from the node name as
//!   `[\D0]*(\d+)` repeated once per match of that atom in the name, followed
//!   by `.*$` (exactly as Table.pm does).
//!
//! Values are parsed once into a small AST ([`RegexValue::parse`]) and then
//! evaluated per node ([`RegexValue::eval`]) without any further parsing.
//!
//! Deliberate differences from Perl/xCAT (documented, all on error paths or
//! corner cases):
//! * a pattern that does not match yields `None` (xCAT's `s///` would leave
//!   the node name unchanged and return it);
//! * numbers and captures are always decimal (Perl would read a literal with a
//!   leading zero, such as a substituted `$1` = `010`, as octal);
//! * a group that evaluates something that is not an integer (e.g. `($1)`
//!   where `$1` is `node01`) is an error rather than Perl's silent empty value;
//!   `($1)` with an integer capture keeps the capture text verbatim (leading
//!   zeros included, as the docs' `c($1)f($2)x($3)` example shows);
//! * the delimiter counts are strict: `/a/b/c/` or `|a|b|c|` are not regex
//!   values (a delimiter inside a part must be escaped with a backslash).

use regex::{Captures, Regex, RegexBuilder};
use std::sync::OnceLock;

/// Maximum nesting of parentheses / unary operators inside one group.
const MAX_DEPTH: usize = 64;
/// Maximum number of AST nodes inside one group (bounds recursion in eval).
const MAX_GROUP_NODES: usize = 512;
/// Maximum sprintf field width / precision.
const MAX_FMT_WIDTH: usize = 1024;
/// Easy-form patterns are cached for digit-group counts below this.
const EASY_CACHE_SIZE: usize = 16;
/// The atom Table.pm repeats to build the easy-form pattern.
const EASY_ATOM: &str = r"[\D0]*(\d+)";
/// Compiled size limit for user patterns.
const REGEX_SIZE_LIMIT: usize = 1 << 22;

// ---------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------

/// True when `v` has the form of a regex value (`/../../` or `|..|..|` or `|..|`).
pub fn is_regex_value(v: &str) -> bool {
    split_value(v).is_some()
}

/// A parsed, compiled regex value; parse once, evaluate for many nodes.
#[derive(Debug)]
pub struct RegexValue {
    source: String,
    pattern: Pattern,
    segs: Vec<Seg>,
}

impl RegexValue {
    /// Err(message) names what is wrong, e.g.
    /// `invalid regex value '|node(\d+|x|': unclosed group in pattern`.
    pub fn parse(v: &str) -> Result<RegexValue, String> {
        let err = |m: String| format!("invalid regex value '{v}': {m}");
        let sp = split_value(v).ok_or_else(|| {
            err("not of the form /PATTERN/REPLACEMENT/, |PATTERN|EXPR| or |EXPR| \
                 (check the number of unescaped delimiters)"
                .to_string())
        })?;
        let mut ctx = ParseCtx::default();
        let segs = parse_text(sp.expr, sp.delim == b'|', &mut ctx).map_err(err)?;
        let pattern = match sp.pattern {
            Some(p) => {
                if p.is_empty() {
                    return Err(err("empty pattern".to_string()));
                }
                let src = if sp.delim == b'/' { unescape_delim(p, '/') } else { p.to_string() };
                let re = compile(&src).map_err(err)?;
                let groups = re.captures_len().saturating_sub(1);
                if ctx.max_cap > groups {
                    return Err(err(format!(
                        "${} is used but the pattern has only {} capture group{}",
                        ctx.max_cap,
                        groups,
                        if groups == 1 { "" } else { "s" }
                    )));
                }
                Pattern::Fixed(re)
            }
            None => Pattern::Easy((0..EASY_CACHE_SIZE).map(|_| OnceLock::new()).collect()),
        };
        Ok(RegexValue { source: v.to_string(), pattern, segs })
    }

    /// Ok(None) when the pattern does not match the node name or the result is empty.
    pub fn eval(&self, node: &str) -> Result<Option<String>, String> {
        let err = |m: String| format!("regex value '{}' for node '{}': {m}", self.source, node);
        let local;
        let re: &Regex = match &self.pattern {
            Pattern::Fixed(re) => re,
            Pattern::Easy(cache) => {
                let n = easy_count(node).map_err(err)?;
                match cache.get(n) {
                    Some(slot) => slot.get_or_init(|| compile(&easy_pattern(n))).as_ref(),
                    None => {
                        local = compile(&easy_pattern(n));
                        local.as_ref()
                    }
                }
                .map_err(|e| err(e.clone()))?
            }
        };
        let Some(caps) = re.captures(node) else {
            return Ok(None);
        };
        let Some(m) = caps.get(0) else {
            return Ok(None);
        };
        let mut out = String::with_capacity(node.len() + 32);
        out.push_str(&node[..m.start()]);
        for seg in &self.segs {
            match seg {
                Seg::Lit(s) => out.push_str(s),
                Seg::Cap(n) => out.push_str(cap_text(&caps, *n)),
                Seg::Group(e) => out.push_str(&eval_group(e, &caps).map_err(err)?),
            }
        }
        out.push_str(&node[m.end()..]);
        Ok(if out.is_empty() { None } else { Some(out) })
    }

    /// The original text of the value.
    pub fn source(&self) -> &str {
        &self.source
    }
}

/// Convenience: non-regex values are returned as Some(v) (None if v is empty);
/// regex values are parsed and evaluated.
pub fn resolve(value: &str, node: &str) -> Result<Option<String>, String> {
    if !is_regex_value(value) {
        return Ok(if value.is_empty() { None } else { Some(value.to_string()) });
    }
    RegexValue::parse(value)?.eval(node)
}

// ---------------------------------------------------------------------------
// Data types
// ---------------------------------------------------------------------------

#[derive(Debug)]
enum Pattern {
    Fixed(Regex),
    /// Lazily compiled easy-form patterns, indexed by digit-group count.
    Easy(Vec<OnceLock<Result<Regex, String>>>),
}

/// A piece of the right-hand side.
#[derive(Debug)]
enum Seg {
    Lit(String),
    Cap(usize),
    Group(Expr),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    Pow,
}

#[derive(Debug)]
enum Expr {
    Num(i64),
    Str(String),
    /// Double-quoted string with `$n` interpolation.
    Interp(Vec<Seg>),
    Cap(usize),
    Neg(Box<Expr>),
    Bin(BinOp, Box<Expr>, Box<Expr>),
    Sprintf(FmtSrc, Vec<Expr>),
    /// a2idx (base 1) / a2zidx (base 0).
    A2idx(Box<Expr>, i64),
    Ipadd(Vec<Expr>),
    /// skip(index, 'start[:count],...').
    Skip(Box<Expr>, Box<Expr>),
    Dim2idx(Vec<Expr>),
    Mknum(Box<Expr>),
    Int(Box<Expr>),
    Abs(Box<Expr>),
}

#[derive(Debug)]
enum FmtSrc {
    Fixed(Vec<FmtPiece>),
    Dynamic(Box<Expr>),
}

#[derive(Debug, Clone)]
enum FmtPiece {
    Lit(String),
    Spec(Spec),
}

#[derive(Debug, Clone, Default)]
struct Spec {
    left: bool,
    zero: bool,
    plus: bool,
    space: bool,
    alt: bool,
    width: usize,
    prec: Option<usize>,
    conv: char,
}

#[derive(Debug)]
enum Val {
    Int(i64),
    Str(String),
}

// ---------------------------------------------------------------------------
// Splitting and pattern compilation
// ---------------------------------------------------------------------------

struct Split<'a> {
    delim: u8,
    pattern: Option<&'a str>,
    expr: &'a str,
}

fn split_value(v: &str) -> Option<Split<'_>> {
    let b = v.as_bytes();
    if b.len() < 2 {
        return None;
    }
    let d = b[0];
    if (d != b'/' && d != b'|') || b[b.len() - 1] != d {
        return None;
    }
    // First and last bytes are ASCII, so these are char boundaries.
    let inner = &v[1..v.len() - 1];
    let ib = inner.as_bytes();
    let mut sep: Option<usize> = None;
    let mut i = 0;
    while i < ib.len() {
        if ib[i] == b'\\' {
            if i + 1 >= ib.len() {
                return None; // the closing delimiter is escaped
            }
            i += 2;
        } else if ib[i] == d {
            if sep.is_some() {
                return None;
            }
            sep = Some(i);
            i += 1;
        } else {
            i += 1;
        }
    }
    match (d, sep) {
        (_, Some(p)) => Some(Split { delim: d, pattern: Some(&inner[..p]), expr: &inner[p + 1..] }),
        (b'|', None) => Some(Split { delim: d, pattern: None, expr: inner }),
        _ => None,
    }
}

/// Turn `\/` into `/` (the regex crate does not need the escape).
fn unescape_delim(p: &str, d: char) -> String {
    let mut out = String::with_capacity(p.len());
    let mut it = p.chars().peekable();
    while let Some(c) = it.next() {
        if c == '\\' {
            match it.next() {
                Some(n) if n == d => out.push(n),
                Some(n) => {
                    out.push('\\');
                    out.push(n);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn compile(src: &str) -> Result<Regex, String> {
    RegexBuilder::new(src).size_limit(REGEX_SIZE_LIMIT).build().map_err(|e| match e {
        regex::Error::Syntax(s) => {
            let msg = s.lines().find_map(|l| l.strip_prefix("error: ")).unwrap_or(s.as_str()).trim().to_string();
            format!("{msg} in pattern")
        }
        regex::Error::CompiledTooBig(_) => "pattern is too large".to_string(),
        other => format!("bad pattern: {other}"),
    })
}

fn easy_pattern(n: usize) -> String {
    let mut s = EASY_ATOM.repeat(n);
    s.push_str(".*$");
    s
}

/// Number of matches of `[\D0]*(\d+)` in the node name (Perl's `m//g` count).
fn easy_count(node: &str) -> Result<usize, String> {
    static COUNTER: OnceLock<Result<Regex, String>> = OnceLock::new();
    let re = COUNTER.get_or_init(|| compile(EASY_ATOM)).as_ref()?;
    Ok(re.find_iter(node).count())
}

fn cap_text<'a>(caps: &Captures<'a>, n: usize) -> &'a str {
    caps.get(n).map_or("", |m| m.as_str())
}

// ---------------------------------------------------------------------------
// Parsing the right-hand side
// ---------------------------------------------------------------------------

#[derive(Default)]
struct ParseCtx {
    max_cap: usize,
}

fn unescape_char(c: char) -> char {
    match c {
        'n' => '\n',
        't' => '\t',
        other => other,
    }
}

/// Parse `$N` / `${N}` at the start of `rest` (the text after `$`).
/// Returns the capture number and the number of chars consumed.
fn parse_capref(rest: &[char]) -> Result<Option<(usize, usize)>, String> {
    let (start, braced) = match rest.first() {
        Some(c) if c.is_ascii_digit() => (0, false),
        Some('{') if rest.get(1).is_some_and(|c| c.is_ascii_digit()) => (1, true),
        _ => return Ok(None),
    };
    let mut i = start;
    let mut n: usize = 0;
    while let Some(c) = rest.get(i).filter(|c| c.is_ascii_digit()) {
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(*c as usize - '0' as usize))
            .ok_or_else(|| "capture number is too large".to_string())?;
        i += 1;
    }
    if braced {
        if rest.get(i) != Some(&'}') {
            return Err("unterminated ${...} capture reference".to_string());
        }
        i += 1;
    }
    if n == 0 {
        return Err("$0 is not a capture group (captures start at $1)".to_string());
    }
    Ok(Some((n, i)))
}

fn flush(lit: &mut String, segs: &mut Vec<Seg>) {
    if !lit.is_empty() {
        segs.push(Seg::Lit(std::mem::take(lit)));
    }
}

/// Parse replacement / EXPR text. With `groups`, top-level balanced
/// parentheses become arithmetic groups.
fn parse_text(s: &str, groups: bool, ctx: &mut ParseCtx) -> Result<Vec<Seg>, String> {
    let chars: Vec<char> = s.chars().collect();
    let mut segs = Vec::new();
    let mut lit = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' => match chars.get(i + 1) {
                Some(&n) => {
                    lit.push(unescape_char(n));
                    i += 2;
                }
                None => {
                    lit.push('\\');
                    i += 1;
                }
            },
            '$' => match parse_capref(&chars[i + 1..])? {
                Some((n, len)) => {
                    flush(&mut lit, &mut segs);
                    ctx.max_cap = ctx.max_cap.max(n);
                    segs.push(Seg::Cap(n));
                    i += 1 + len;
                }
                None => {
                    lit.push('$');
                    i += 1;
                }
            },
            '(' if groups => {
                let end = find_close(&chars, i)?;
                let inner: String = chars[i + 1..end].iter().collect();
                flush(&mut lit, &mut segs);
                let e = parse_group(&inner, ctx).map_err(|m| format!("in '({inner})': {m}"))?;
                segs.push(Seg::Group(e));
                i = end + 1;
            }
            ')' if groups => {
                return Err("unbalanced parenthesis: unmatched ')' (escape a literal one as \\))".to_string())
            }
            _ => {
                lit.push(c);
                i += 1;
            }
        }
    }
    flush(&mut lit, &mut segs);
    Ok(segs)
}

/// Index of the `)` matching the `(` at `open`, skipping quoted strings and
/// backslash escapes.
fn find_close(chars: &[char], open: usize) -> Result<usize, String> {
    let mut depth = 0usize;
    let mut i = open;
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 1,
            q @ ('\'' | '"') => {
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(format!("unterminated string (missing {q})")),
                        Some('\\') => i += 1,
                        Some(&c) if c == q => break,
                        Some(_) => {}
                    }
                    i += 1;
                }
            }
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return Ok(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    Err("unbalanced parenthesis: missing ')'".to_string())
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(i64),
    Str(String),
    Interp(String),
    Cap(usize),
    Ident(String),
    Plus,
    Minus,
    Star,
    Pow,
    Slash,
    Percent,
    LParen,
    RParen,
    Comma,
}

fn tokenize(s: &str, ctx: &mut ParseCtx) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = s.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '0'..='9' => {
                let start = i;
                let hex = c == '0' && matches!(chars.get(i + 1), Some('x' | 'X'));
                if hex {
                    i += 2;
                }
                while chars.get(i).is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_') {
                    i += 1;
                }
                let text: String = chars[start..i].iter().filter(|c| **c != '_').collect();
                let parsed = if hex { i64::from_str_radix(&text[2..], 16) } else { text.parse::<i64>() };
                let n = parsed.map_err(|e| match e.kind() {
                    std::num::IntErrorKind::PosOverflow => {
                        format!("number '{text}' is too large")
                    }
                    _ => format!("invalid number '{text}'"),
                })?;
                toks.push(Tok::Num(n));
            }
            '$' => match parse_capref(&chars[i + 1..])? {
                Some((n, len)) => {
                    ctx.max_cap = ctx.max_cap.max(n);
                    toks.push(Tok::Cap(n));
                    i += 1 + len;
                }
                None => return Err("only capture variables $1, $2, ... are allowed".to_string()),
            },
            '\'' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err("unterminated string (missing ')".to_string()),
                        Some('\'') => break,
                        Some('\\') if matches!(chars.get(i + 1), Some('\\' | '\'')) => {
                            s.push(chars[i + 1]);
                            i += 1;
                        }
                        Some(&c) => s.push(c),
                    }
                    i += 1;
                }
                i += 1;
                toks.push(Tok::Str(s));
            }
            '"' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err("unterminated string (missing \")".to_string()),
                        Some('"') => break,
                        Some('\\') if i + 1 < chars.len() => {
                            s.push('\\');
                            s.push(chars[i + 1]);
                            i += 1;
                        }
                        Some(&c) => s.push(c),
                    }
                    i += 1;
                }
                i += 1;
                toks.push(Tok::Interp(s));
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while chars.get(i).is_some_and(|c| c.is_alphanumeric() || *c == '_') {
                    i += 1;
                }
                toks.push(Tok::Ident(chars[start..i].iter().collect()));
            }
            '*' if chars.get(i + 1) == Some(&'*') => {
                toks.push(Tok::Pow);
                i += 2;
            }
            _ => {
                toks.push(match c {
                    '+' => Tok::Plus,
                    '-' => Tok::Minus,
                    '*' => Tok::Star,
                    '/' => Tok::Slash,
                    '%' => Tok::Percent,
                    '(' => Tok::LParen,
                    ')' => Tok::RParen,
                    ',' => Tok::Comma,
                    other => return Err(format!("unexpected character '{other}'")),
                });
                i += 1;
            }
        }
    }
    Ok(toks)
}

struct Parser<'c> {
    toks: Vec<Tok>,
    pos: usize,
    depth: usize,
    nodes: usize,
    ctx: &'c mut ParseCtx,
}

fn parse_group(s: &str, ctx: &mut ParseCtx) -> Result<Expr, String> {
    let toks = tokenize(s, ctx)?;
    if toks.is_empty() {
        return Err("empty expression".to_string());
    }
    let mut p = Parser { toks, pos: 0, depth: 0, nodes: 0, ctx };
    let e = p.expr()?;
    match p.peek() {
        None => Ok(e),
        Some(t) => Err(format!("unexpected {} after expression", describe(t))),
    }
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Num(n) => format!("number {n}"),
        Tok::Str(s) | Tok::Interp(s) => format!("string \"{s}\""),
        Tok::Cap(n) => format!("${n}"),
        Tok::Ident(s) => format!("'{s}'"),
        Tok::Plus => "'+'".into(),
        Tok::Minus => "'-'".into(),
        Tok::Star => "'*'".into(),
        Tok::Pow => "'**'".into(),
        Tok::Slash => "'/'".into(),
        Tok::Percent => "'%'".into(),
        Tok::LParen => "'('".into(),
        Tok::RParen => "')'".into(),
        Tok::Comma => "','".into(),
    }
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn expect(&mut self, want: Tok) -> Result<(), String> {
        match self.next() {
            Some(t) if t == want => Ok(()),
            Some(t) => Err(format!("expected {} but found {}", describe(&want), describe(&t))),
            None => Err(format!("expected {} at end of expression", describe(&want))),
        }
    }

    fn node(&mut self, e: Expr) -> Result<Expr, String> {
        self.nodes += 1;
        if self.nodes > MAX_GROUP_NODES {
            return Err("expression is too long".to_string());
        }
        Ok(e)
    }

    fn enter(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err("expression is nested too deeply".to_string());
        }
        Ok(())
    }

    fn expr(&mut self) -> Result<Expr, String> {
        self.enter()?;
        let mut lhs = self.term()?;
        loop {
            let op = match self.peek() {
                Some(Tok::Plus) => BinOp::Add,
                Some(Tok::Minus) => BinOp::Sub,
                _ => break,
            };
            self.pos += 1;
            let rhs = self.term()?;
            lhs = self.node(Expr::Bin(op, Box::new(lhs), Box::new(rhs)))?;
        }
        self.depth -= 1;
        Ok(lhs)
    }

    fn term(&mut self) -> Result<Expr, String> {
        let mut lhs = self.unary()?;
        loop {
            let op = match self.peek() {
                Some(Tok::Star) => BinOp::Mul,
                Some(Tok::Slash) => BinOp::Div,
                Some(Tok::Percent) => BinOp::Rem,
                _ => break,
            };
            self.pos += 1;
            let rhs = self.unary()?;
            lhs = self.node(Expr::Bin(op, Box::new(lhs), Box::new(rhs)))?;
        }
        Ok(lhs)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        match self.peek() {
            Some(Tok::Minus) => {
                self.pos += 1;
                self.enter()?;
                let e = self.unary()?;
                self.depth -= 1;
                self.node(Expr::Neg(Box::new(e)))
            }
            Some(Tok::Plus) => {
                self.pos += 1;
                self.enter()?;
                let e = self.unary()?;
                self.depth -= 1;
                Ok(e)
            }
            _ => self.power(),
        }
    }

    fn power(&mut self) -> Result<Expr, String> {
        let base = self.primary()?;
        if self.peek() == Some(&Tok::Pow) {
            self.pos += 1;
            self.enter()?;
            let exp = self.unary()?; // right-associative, binds tighter than unary minus
            self.depth -= 1;
            return self.node(Expr::Bin(BinOp::Pow, Box::new(base), Box::new(exp)));
        }
        Ok(base)
    }

    fn primary(&mut self) -> Result<Expr, String> {
        let e = match self.next() {
            Some(Tok::Num(n)) => Expr::Num(n),
            Some(Tok::Str(s)) => Expr::Str(s),
            Some(Tok::Interp(s)) => {
                let segs = parse_text(&s, false, self.ctx)?;
                Expr::Interp(segs)
            }
            Some(Tok::Cap(n)) => Expr::Cap(n),
            Some(Tok::LParen) => {
                let e = self.expr()?;
                self.expect(Tok::RParen)?;
                return Ok(e);
            }
            Some(Tok::Ident(name)) => return self.call(name),
            Some(t) => return Err(format!("unexpected {}", describe(&t))),
            None => return Err("unexpected end of expression".to_string()),
        };
        self.node(e)
    }

    fn call(&mut self, name: String) -> Result<Expr, String> {
        if self.peek() != Some(&Tok::LParen) {
            return Err(format!(
                "bare word '{name}' is not allowed (only integer arithmetic, captures, \
                 quoted strings and the functions sprintf, a2idx, a2zidx, dim2idx, skip, ipadd, mknum, int, abs)"
            ));
        }
        self.pos += 1;
        let mut args = Vec::new();
        if self.peek() == Some(&Tok::RParen) {
            self.pos += 1;
        } else {
            loop {
                args.push(self.expr()?);
                match self.next() {
                    Some(Tok::Comma) => continue,
                    Some(Tok::RParen) => break,
                    Some(t) => return Err(format!("expected ',' or ')' in {name}() but found {}", describe(&t))),
                    None => return Err(format!("missing ')' after arguments of {name}()")),
                }
            }
        }
        let arity = |want: &str, ok: bool| {
            if ok {
                Ok(())
            } else {
                Err(format!("{name}() takes {want} argument(s), got {}", args.len()))
            }
        };
        let e = match name.as_str() {
            "sprintf" => {
                arity("at least 1", !args.is_empty())?;
                let mut it = args.into_iter();
                let fmt = match it.next() {
                    Some(Expr::Str(s)) => FmtSrc::Fixed(parse_fmt(&s)?),
                    Some(Expr::Interp(segs)) if segs.iter().all(|s| matches!(s, Seg::Lit(_))) => {
                        let s: String = segs
                            .iter()
                            .filter_map(|s| match s {
                                Seg::Lit(l) => Some(l.as_str()),
                                _ => None,
                            })
                            .collect();
                        FmtSrc::Fixed(parse_fmt(&s)?)
                    }
                    Some(other) => FmtSrc::Dynamic(Box::new(other)),
                    None => return Err("sprintf() needs a format".to_string()),
                };
                Expr::Sprintf(fmt, it.collect())
            }
            "a2idx" | "a2zidx" | "mknum" | "int" | "abs" => {
                arity("1", args.len() == 1)?;
                let a = Box::new(args.into_iter().next().ok_or("missing argument")?);
                match name.as_str() {
                    "a2idx" => Expr::A2idx(a, 1),
                    "a2zidx" => Expr::A2idx(a, 0),
                    "mknum" => Expr::Mknum(a),
                    "int" => Expr::Int(a),
                    _ => Expr::Abs(a),
                }
            }
            "ipadd" => {
                arity("5 or 7", args.len() == 5 || args.len() == 7)?;
                Expr::Ipadd(args)
            }
            "skip" => {
                arity("2", args.len() == 2)?;
                let mut it = args.into_iter();
                let (Some(idx), Some(skips)) = (it.next(), it.next()) else { return Err("missing argument".into()) };
                Expr::Skip(Box::new(idx), Box::new(skips))
            }
            "dim2idx" => {
                arity("at least 1", !args.is_empty())?;
                Expr::Dim2idx(args)
            }
            _ => return Err(format!("unknown function '{name}'")),
        };
        self.node(e)
    }
}

// ---------------------------------------------------------------------------
// sprintf
// ---------------------------------------------------------------------------

fn parse_fmt(f: &str) -> Result<Vec<FmtPiece>, String> {
    let chars: Vec<char> = f.chars().collect();
    let mut out = Vec::new();
    let mut lit = String::new();
    let mut i = 0;
    let num = |i: &mut usize| -> Result<usize, String> {
        let mut n = 0usize;
        while let Some(d) = chars.get(*i).and_then(|c| c.to_digit(10)) {
            n = n * 10 + d as usize;
            if n > MAX_FMT_WIDTH {
                return Err(format!("sprintf width/precision larger than {MAX_FMT_WIDTH}"));
            }
            *i += 1;
        }
        Ok(n)
    };
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        if c != '%' {
            lit.push(c);
            continue;
        }
        if chars.get(i) == Some(&'%') {
            lit.push('%');
            i += 1;
            continue;
        }
        let mut spec = Spec::default();
        while let Some(&f) = chars.get(i) {
            match f {
                '-' => spec.left = true,
                '0' => spec.zero = true,
                '+' => spec.plus = true,
                ' ' => spec.space = true,
                '#' => spec.alt = true,
                _ => break,
            }
            i += 1;
        }
        spec.width = num(&mut i)?;
        if chars.get(i) == Some(&'.') {
            i += 1;
            spec.prec = Some(num(&mut i)?);
        }
        while matches!(chars.get(i), Some('h' | 'l' | 'q' | 'L' | 'V')) {
            i += 1;
        }
        match chars.get(i) {
            Some(&c @ ('d' | 'i' | 'u' | 'x' | 'X' | 'o' | 'b' | 'B' | 's' | 'c')) => {
                spec.conv = c;
                i += 1;
            }
            Some(c) => return Err(format!("unsupported sprintf conversion '%{c}' in '{f}'")),
            None => return Err(format!("incomplete sprintf conversion at end of '{f}'")),
        }
        if !lit.is_empty() {
            out.push(FmtPiece::Lit(std::mem::take(&mut lit)));
        }
        out.push(FmtPiece::Spec(spec));
    }
    if !lit.is_empty() {
        out.push(FmtPiece::Lit(lit));
    }
    Ok(out)
}

fn pad(out: &mut String, body_len: usize, width: usize, ch: char) {
    for _ in body_len..width {
        out.push(ch);
    }
}

fn fmt_int(spec: &Spec, v: i64, out: &mut String) {
    let (sign, prefix, mut digits) = match spec.conv {
        'x' | 'X' | 'o' | 'b' | 'B' | 'u' => {
            let u = v as u64;
            let (d, p) = match spec.conv {
                'x' => (format!("{u:x}"), "0x"),
                'X' => (format!("{u:X}"), "0X"),
                'o' => (format!("{u:o}"), "0"),
                'b' => (format!("{u:b}"), "0b"),
                'B' => (format!("{u:b}"), "0B"),
                _ => (u.to_string(), ""),
            };
            let p = if spec.alt && u != 0 && spec.conv != 'u' { p } else { "" };
            ("", p, d)
        }
        _ => {
            let sign = if v < 0 {
                "-"
            } else if spec.plus {
                "+"
            } else if spec.space {
                " "
            } else {
                ""
            };
            (sign, "", v.unsigned_abs().to_string())
        }
    };
    if let Some(p) = spec.prec {
        if p == 0 && v == 0 {
            digits.clear();
        } else if digits.len() < p {
            digits = "0".repeat(p - digits.len()) + &digits;
        }
    }
    let len = sign.len() + prefix.len() + digits.len();
    if spec.left {
        out.push_str(sign);
        out.push_str(prefix);
        out.push_str(&digits);
        pad(out, len, spec.width, ' ');
    } else if spec.zero && spec.prec.is_none() {
        out.push_str(sign);
        out.push_str(prefix);
        pad(out, len, spec.width, '0');
        out.push_str(&digits);
    } else {
        pad(out, len, spec.width, ' ');
        out.push_str(sign);
        out.push_str(prefix);
        out.push_str(&digits);
    }
}

fn fmt_str(spec: &Spec, s: &str, out: &mut String) {
    let s: &str = match spec.prec {
        Some(p) => s.char_indices().nth(p).map_or(s, |(i, _)| &s[..i]),
        None => s,
    };
    let len = s.chars().count();
    if spec.left {
        out.push_str(s);
        pad(out, len, spec.width, ' ');
    } else {
        pad(out, len, spec.width, if spec.zero { '0' } else { ' ' });
        out.push_str(s);
    }
}

fn sprintf(pieces: &[FmtPiece], args: Vec<Val>) -> Result<String, String> {
    let mut out = String::new();
    let mut args = args.into_iter();
    for p in pieces {
        match p {
            FmtPiece::Lit(s) => out.push_str(s),
            FmtPiece::Spec(spec) => {
                let a = args.next().ok_or_else(|| format!("sprintf: missing argument for '%{}'", spec.conv))?;
                match spec.conv {
                    's' => {
                        let s = match a {
                            Val::Int(i) => i.to_string(),
                            Val::Str(s) => s,
                        };
                        fmt_str(spec, &s, &mut out);
                    }
                    'c' => {
                        let n = to_int(a)?;
                        let c = u32::try_from(n)
                            .ok()
                            .and_then(char::from_u32)
                            .ok_or_else(|| format!("sprintf: %c of invalid character code {n}"))?;
                        fmt_str(spec, c.encode_utf8(&mut [0u8; 4]), &mut out);
                    }
                    _ => fmt_int(spec, to_int(a)?, &mut out),
                }
            }
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------

fn parse_int_text(s: &str) -> Option<i64> {
    s.parse::<i64>().ok()
}

fn to_int(v: Val) -> Result<i64, String> {
    match v {
        Val::Int(i) => Ok(i),
        Val::Str(s) => parse_int_text(&s).ok_or_else(|| {
            if s.is_empty() {
                "empty value where an integer is needed".to_string()
            } else {
                format!("'{s}' is not an integer")
            }
        }),
    }
}

fn eval_int(e: &Expr, caps: &Captures) -> Result<i64, String> {
    if let Expr::Cap(n) = e {
        let t = cap_text(caps, *n);
        return parse_int_text(t).ok_or_else(|| {
            if caps.get(*n).is_none() {
                format!("${n} is not set")
            } else {
                format!("${n} = '{t}' is not an integer")
            }
        });
    }
    to_int(eval_expr(e, caps)?)
}

fn eval_group(e: &Expr, caps: &Captures) -> Result<String, String> {
    if let Expr::Cap(n) = e {
        // `($1)`: keep the capture text verbatim when it is an integer.
        let t = cap_text(caps, *n);
        return match parse_int_text(t) {
            Some(_) => Ok(t.to_string()),
            None if caps.get(*n).is_none() => Err(format!("${n} is not set")),
            None => Err(format!(
                "(${n}) = '{t}' is not an integer; parentheses on the right-hand side \
                 are evaluated as integer arithmetic (escape literal ones as \\( \\))"
            )),
        };
    }
    Ok(match eval_expr(e, caps)? {
        Val::Int(i) => i.to_string(),
        Val::Str(s) => s,
    })
}

fn arith(op: BinOp, a: i64, b: i64) -> Result<i64, String> {
    let r = match op {
        BinOp::Add => a.checked_add(b),
        BinOp::Sub => a.checked_sub(b),
        BinOp::Mul => a.checked_mul(b),
        BinOp::Div => {
            if b == 0 {
                return Err("division by zero".to_string());
            }
            a.checked_div(b)
        }
        BinOp::Rem => {
            if b == 0 {
                return Err("modulus by zero".to_string());
            }
            a.checked_rem(b)
        }
        BinOp::Pow => {
            if b < 0 {
                return Err(format!("negative exponent in {a}**{b}"));
            }
            u32::try_from(b).ok().and_then(|b| a.checked_pow(b))
        }
    };
    r.ok_or_else(|| "integer overflow".to_string())
}

fn eval_expr(e: &Expr, caps: &Captures) -> Result<Val, String> {
    Ok(match e {
        Expr::Num(n) => Val::Int(*n),
        Expr::Str(s) => Val::Str(s.clone()),
        Expr::Interp(segs) => {
            let mut s = String::new();
            for seg in segs {
                match seg {
                    Seg::Lit(l) => s.push_str(l),
                    Seg::Cap(n) => s.push_str(cap_text(caps, *n)),
                    Seg::Group(_) => {}
                }
            }
            Val::Str(s)
        }
        Expr::Cap(n) => Val::Str(cap_text(caps, *n).to_string()),
        Expr::Neg(x) => Val::Int(eval_int(x, caps)?.checked_neg().ok_or_else(|| "integer overflow".to_string())?),
        Expr::Bin(op, a, b) => Val::Int(arith(*op, eval_int(a, caps)?, eval_int(b, caps)?)?),
        Expr::Int(x) => Val::Int(eval_int(x, caps)?),
        Expr::Abs(x) => Val::Int(eval_int(x, caps)?.checked_abs().ok_or_else(|| "integer overflow".to_string())?),
        Expr::Mknum(x) => {
            let s = match eval_expr(x, caps)? {
                Val::Int(i) => i.to_string(),
                Val::Str(s) => s,
            };
            Val::Int(s.bytes().map(i64::from).sum())
        }
        Expr::A2idx(x, base) => {
            let s = match eval_expr(x, caps)? {
                Val::Int(i) => i.to_string(),
                Val::Str(s) => s,
            };
            let mut it = s.chars();
            match (it.next(), it.next()) {
                (Some(c), None) if c.is_ascii_alphabetic() => {
                    Val::Int(i64::from(c.to_ascii_lowercase() as u8 - b'a') + base)
                }
                _ => {
                    return Err(format!(
                        "a2{}idx() needs a single letter, got '{s}'",
                        if *base == 0 { "z" } else { "" }
                    ))
                }
            }
        }
        Expr::Ipadd(args) => {
            let mut v = Vec::with_capacity(args.len());
            for a in args {
                v.push(eval_int(a, caps)?);
            }
            Val::Str(ipadd(&v)?)
        }
        Expr::Skip(idx, skips) => {
            let skips = match eval_expr(skips, caps)? {
                Val::Int(i) => i.to_string(),
                Val::Str(s) => s,
            };
            Val::Int(skip(eval_int(idx, caps)?, &skips)?)
        }
        Expr::Dim2idx(args) => {
            let mut v = Vec::with_capacity(args.len());
            for a in args {
                v.push(eval_int(a, caps)?);
            }
            Val::Int(dim2idx(&v)?)
        }
        Expr::Sprintf(fmt, args) => {
            let mut vals = Vec::with_capacity(args.len());
            for a in args {
                vals.push(eval_expr(a, caps)?);
            }
            match fmt {
                FmtSrc::Fixed(p) => Val::Str(sprintf(p, vals)?),
                FmtSrc::Dynamic(f) => {
                    let f = match eval_expr(f, caps)? {
                        Val::Int(i) => i.to_string(),
                        Val::Str(s) => s,
                    };
                    Val::Str(sprintf(&parse_fmt(&f)?, vals)?)
                }
            }
        }
    })
}

/// `ipadd(b1,b2,b3,b4,toadd[,skipstart,skipend])`, as Table.pm computes it (`use integer`):
/// `skipstart` and `skipend` are how many addresses to leave out at the start and at the end of
/// every last octet (without them, none), the offset of `b4` past the skipped start plus `toadd`
/// is spread over the third and fourth octets, and the third octet is never carried into the
/// second. Where Perl would print an address with an octet outside 0..255 (such as `10.0.256.4`),
/// or divide by zero, this is an error instead.
fn ipadd(a: &[i64]) -> Result<String, String> {
    let (b1, b2, b3, b4, toadd) = (a[0], a[1], a[2], a[3], a[4]);
    let (skipstart, skipend) = (a.get(5).copied().unwrap_or(0), a.get(6).copied().unwrap_or(0));
    let overflow = || "ipadd(): integer overflow".to_string();
    let per = 256i64.checked_sub(skipstart).and_then(|x| x.checked_sub(skipend)).ok_or_else(overflow)?;
    if per == 0 {
        return Err(format!("ipadd(): skipping {skipstart} + {skipend} addresses leaves none in an octet"));
    }
    let offset = if b4 >= skipstart { b4 - skipstart } else { 0 };
    let sum = offset.checked_add(toadd).ok_or_else(overflow)?;
    let b3 = b3.checked_add(sum / per).ok_or_else(overflow)?;
    let b4 = sum % per + skipstart;
    let octets = [b1, b2, b3, b4];
    if let Some(k) = octets.iter().position(|o| !(0..=255).contains(o)) {
        return Err(format!(
            "ipadd(): the result {}.{}.{}.{} has octet {} out of range 0..255 (xCAT's ipadd carries only into the third octet)",
            b1, b2, b3, b4, k + 1
        ));
    }
    Ok(format!("{b1}.{b2}.{b3}.{b4}"))
}

/// `skip(index, 'start[:count][,start[:count]...]')`, as Table.pm computes it: the index with
/// the skipped values before it taken out, or -1 when it is one of them. The ranges are walked
/// in order and the walk stops at the first one that starts after the index (so they must be
/// given in ascending order, as in xCAT).
fn skip(idx: i64, skips: &str) -> Result<i64, String> {
    let num = |t: &str| {
        t.trim()
            .parse::<i64>()
            .map_err(|_| format!("skip(): '{skips}' is not of the form start[:count][,start[:count]...]"))
    };
    let mut val = idx;
    // Perl's split: trailing empty elements go; an empty one elsewhere is start 0, count 1;
    // `3:` (an empty count) is count 0.
    for element in skips.trim_end_matches(',').split(',') {
        let (start, count) = match element.split_once(':') {
            _ if element.is_empty() => (0, 1),
            Some((s, c)) => {
                let c = c.split(':').next().unwrap_or("");
                (num(s)?, if c.is_empty() { 0 } else { num(c)? })
            }
            None => (num(element)?, 1),
        };
        if idx < start {
            break;
        }
        if idx < start.saturating_add(count) {
            return Ok(-1);
        }
        val = val.checked_sub(count).ok_or_else(|| "skip(): integer overflow".to_string())?;
    }
    Ok(val)
}

/// `dim2idx(value, size, value, size, ..., value)`, as Table.pm computes it: the 1-based index of
/// an element given its 1-based position in each dimension, outermost first, each followed by
/// the size of the next dimension.
fn dim2idx(args: &[i64]) -> Result<i64, String> {
    let overflow = || "dim2idx(): integer overflow".to_string();
    let mut val: i64 = 0;
    for (k, &element) in args.iter().enumerate() {
        val = if k % 2 == 0 {
            element.checked_sub(1).and_then(|e| val.checked_add(e)).ok_or_else(overflow)?
        } else {
            val.checked_mul(element).ok_or_else(overflow)?
        };
    }
    val.checked_add(1).ok_or_else(overflow)
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(v: &str, node: &str) -> Result<Option<String>, String> {
        RegexValue::parse(v)?.eval(node)
    }

    #[test]
    fn is_regex_value_forms() {
        let yes = [
            "/\\z/-bmc/",
            "/^node/bmc/",
            "|node(\\d+)|10.0.0.($1+0)|",
            "|10.0.0.($1+0)|",
            "||",
            "/dev/sda/",
            "|a\\|b|c|",
            "/a\\/b/c/",
        ];
        for v in yes {
            assert!(is_regex_value(v), "{v} should be a regex value");
        }
        let no =
            ["", "/", "|", "//", "node01", "/install/", "/a/b/c/", "|a|b|c|", "|a\\|", "/a/b|", "10.0.0.1", "|abc"];
        for v in no {
            assert!(!is_regex_value(v), "{v} should not be a regex value");
        }
    }

    #[test]
    fn table_driven_values() {
        let cases: &[(&str, &str, Option<&str>)] = &[
            // s/// form
            ("/\\z/-bmc/", "node01", Some("node01-bmc")),
            ("/^node/bmc/", "node01", Some("bmc01")),
            ("/node(\\d+)/bmc-$1/", "node07", Some("bmc-07")),
            ("/(\\w+?)(\\d+)$/${2}-$1/", "rack12", Some("12-rack")),
            ("/\\./-/", "a.b.c", Some("a-b.c")),
            ("/a\\/b/x/", "za/bz", Some("zxz")),
            ("/(.*)/($1)/", "n1", Some("(n1)")),
            // arithmetic form
            ("|node(\\d+)|10.0.0.($1+0)|", "node007", Some("10.0.0.7")),
            ("|node(\\d+)|10.0.0.($1+0)|", "node1", Some("10.0.0.1")),
            ("|\\D+(\\d+)|cmm(sprintf('%02d',($1-1)/14+1))|", "node20", Some("cmm02")),
            ("|\\D+(\\d+)|cmm(sprintf('%02d',($1-1)/14+1))|", "node14", Some("cmm01")),
            ("|node(\\d+)|10.0.($1/256).($1%256)|", "node300", Some("10.0.1.44")),
            ("|node(\\d+)-(\\d+)|10.($1+0).($2+0).1|", "node01-05", Some("10.1.5.1")),
            // nested parentheses and precedence
            ("|n(\\d+)|x((($1+1)*2)-(3))|", "n4", Some("x7")),
            ("|n(\\d+)|($1-2*3)|", "n10", Some("4")),
            ("|n(\\d+)|(-$1/3)|", "n10", Some("-3")),
            ("|n(\\d+)|(-$1%3)|", "n10", Some("-1")),
            ("|n(\\d+)|(2**$1)|", "n10", Some("1024")),
            ("|n(\\d+)|(-2**2)|", "n1", Some("-4")),
            ("|n(\\d+)|( $1 + 0x10 )|", "n1", Some("17")),
            // no groups: plain substitution with $n
            ("|node(\\d+)|bmc$1|", "node01", Some("bmc01")),
            ("|node(\\d+)|bmc${1}x|", "node01", Some("bmc01x")),
            // escaped parentheses stay literal
            ("|n(\\d+)|\\(($1+1)\\)|", "n1", Some("(2)")),
            // the unmatched part of the node name is kept (final s///)
            ("|(\\d+)$|-($1+1)|", "rack9", Some("rack-10")),
            // MAC-style generation
            (
                "|n(\\d+)|52:54:00:00:(sprintf('%02x',$1/256)):(sprintf('%02x',$1%256))|",
                "n1",
                Some("52:54:00:00:00:01"),
            ),
            (
                "|n(\\d+)|52:54:00:00:(sprintf('%02x',$1/256)):(sprintf('%02x',$1%256))|",
                "n300",
                Some("52:54:00:00:01:2c"),
            ),
            // docs: vm table examples
            ("|\\D+(\\d+)\\D+(\\d+)\\D+(\\d+)\\D+(\\d+)|c($1)f($2)x($3)|", "c01f02x03v04", Some("c01f02x03")),
            (
                "|\\D+(\\d+)\\D+(\\d+)\\D+(\\d+)\\D+(\\d+)|dir:///install/vms/vm($4+0)|",
                "c01f02x03v04",
                Some("dir:///install/vms/vm4"),
            ),
            // easy form
            ("|10.0.0.($1+0)|", "node1", Some("10.0.0.1")),
            ("|10.0.0.($1+0)|", "node007", Some("10.0.0.7")),
            ("|10.($1+0).($2+0).1|", "node1rack2", Some("10.1.2.1")),
            ("|r($1)c($2)s($3)|", "rack3chassis14slot7", Some("r3c14s7")),
            ("|bmc$1|", "node12", Some("bmc12")),
            // helper functions
            ("|(\\w)(\\d+)|(a2idx($1))-($2+0)|", "c07", Some("3-7")),
            ("|(\\w)(\\d+)|(a2zidx($1))|", "C07", Some("2")),
            ("|(\\w)(\\d+)|(a2idx(\"$1\"))|", "b1", Some("2")),
            ("|n(\\d+)|(ipadd(10,0,0,0,$1))|", "n300", Some("10.0.1.44")),
            // ipadd, skip and dim2idx: each expected value is what Table.pm's own subs print
            // (perl, xcat-core 7733d16), including the doc examples of each.
            ("|n(\\d+)|(ipadd(10,10,10,10,$1,0,0))|", "n0", Some("10.10.10.10")),
            ("|n(\\d+)|(ipadd(10,10,10,10,$1,0,0))|", "n245", Some("10.10.10.255")),
            ("|n(\\d+)|(ipadd(10,10,10,10,$1,0,0))|", "n246", Some("10.10.11.0")),
            ("|n(\\d+)|(ipadd(10,0,0,0,$1,1,1))|", "n253", Some("10.0.0.254")),
            ("|n(\\d+)|(ipadd(10,0,0,0,$1,1,1))|", "n254", Some("10.0.1.1")),
            ("|n(\\d+)|(ipadd(10,0,0,0,$1,1,1))|", "n0", Some("10.0.0.1")),
            ("|n(\\d+)|(ipadd(10,0,0,1,$1-1,1,1))|", "n1", Some("10.0.0.1")),
            ("|n(\\d+)|(ipadd(10,0,0,1,$1,1,254))|", "n253", Some("10.0.253.1")),
            ("|n(\\d+)|(ipadd(172,16,0,10,$1,2,3))|", "n500", Some("172.16.2.8")),
            ("|n(\\d+)|(skip($1,'3'))|", "n10", Some("9")),
            ("|n(\\d+)|(skip($1,'3:2'))|", "n10", Some("8")),
            ("|n(\\d+)|(skip($1,'3:2,6'))|", "n10", Some("7")),
            ("|n(\\d+)|(skip($1,'3:2,6'))|", "n4", Some("-1")),
            ("|n(\\d+)|(skip($1,'3:2,6'))|", "n2", Some("2")),
            ("|n(\\d+)|(skip($1,'6,3'))|", "n10", Some("8")),
            ("|n(\\d+)|(skip($1,'12'))|", "n10", Some("10")),
            ("|n(\\d+)|(skip($1,'3:'))|", "n6", Some("6")),
            ("|n(\\d+)|(skip($1,3))|", "n10", Some("9")),
            ("|n(\\d+)|(skip($1,'3,,6'))|", "n0", Some("0")),
            ("|n(\\d+)|(skip($1,',3,'))|", "n7", Some("5")),
            ("|n(\\d+)|(skip($1,'2:1:5'))|", "n7", Some("6")),
            ("|n(\\d+)|n(skip($1,'3:2,6'))|", "n10", Some("n7")),
            ("|r(\\d+)k(\\d+)c(\\d+)n(\\d+)|(dim2idx($1,10,$2,8,$3,8,$4))|", "r2k3c4n5", Some("797")),
            ("|n(\\d+)|(dim2idx($1))|", "n7", Some("7")),
            ("|n(\\d+)|(dim2idx($1,16))|", "n2", Some("17")),
            ("|r(\\d+)n(\\d+)|(ipadd(10,1,0,0,dim2idx($1,16,$2)-1,0,0))|", "r3n4", Some("10.1.0.35")),
            ("|n(\\d+)|(mknum('ab')+$1)|", "n1", Some("196")),
            ("|n(\\d+)|(abs(1-$1))|", "n5", Some("4")),
            ("|n(\\d+)|(int($1))|", "n05", Some("5")),
            // sprintf variety
            ("|n(\\d+)|(sprintf('%03x',$1))|", "n255", Some("0ff")),
            ("|n(\\d+)|(sprintf('%X',$1))|", "n255", Some("FF")),
            ("|n(\\d+)|(sprintf('%o',$1))|", "n8", Some("10")),
            ("|n(\\d+)|(sprintf('%-4d]',$1))|", "n7", Some("7   ]")),
            ("|n(\\d+)|(sprintf('%5s',$1))|", "n7", Some("    7")),
            ("|n(\\d+)|(sprintf('%s-%i%%',$1,$1))|", "n07", Some("07-7%")),
            ("|n(\\d+)|(sprintf(\"%04d\",$1))|", "n7", Some("0007")),
            ("|n(\\d+)|(sprintf('%+d',$1))|", "n7", Some("+7")),
            ("|n(\\d+)|(sprintf('%05d',-$1))|", "n7", Some("-0007")),
            ("|n(\\d+)|(sprintf('%#x',$1))|", "n255", Some("0xff")),
            ("|n(\\d+)|(sprintf('%.3d',$1))|", "n7", Some("007")),
            // non-matching pattern / empty result
            ("|node(\\d+)|10.0.0.($1+0)|", "compute", None),
            ("/^rack/x/", "node01", None),
            ("/^(.*)$//", "node01", None),
            ("||", "node01", None),
        ];
        for (v, node, want) in cases {
            let got = ev(v, node);
            assert_eq!(got, Ok(want.map(str::to_string)), "value {v} node {node}");
        }
    }

    #[test]
    fn easy_pattern_generation_matches_table_pm() {
        assert_eq!(easy_pattern(2), r"[\D0]*(\d+)[\D0]*(\d+).*$");
        assert_eq!(easy_pattern(0), ".*$");
        assert_eq!(easy_count("node1rack2").unwrap(), 2);
        assert_eq!(easy_count("node").unwrap(), 0);
        // Perl's m/[\D0]*(\d+)/g counts matches, not digit runs.
        assert_eq!(easy_count("a0b0c").unwrap(), 1);
        // Leading zeros are absorbed by [\D0]*.
        assert_eq!(ev("|$1|", "node0070").unwrap(), Some("70".into()));
    }

    #[test]
    fn resolve_plain_and_regex() {
        assert_eq!(resolve("", "n1"), Ok(None));
        assert_eq!(resolve("ipmi", "n1"), Ok(Some("ipmi".into())));
        assert_eq!(resolve("/install/", "n1"), Ok(Some("/install/".into())));
        assert_eq!(resolve("/\\z/-bmc/", "n1"), Ok(Some("n1-bmc".into())));
        assert!(resolve("|n(\\d+)|($1/0)|", "n1").is_err());
    }

    #[test]
    fn parse_once_eval_many() {
        let rv = RegexValue::parse("|node(\\d+)|10.0.($1/256).($1%256)|").unwrap();
        assert_eq!(rv.source(), "|node(\\d+)|10.0.($1/256).($1%256)|");
        for i in 0..1000u32 {
            let got = rv.eval(&format!("node{i}")).unwrap();
            assert_eq!(got, Some(format!("10.0.{}.{}", i / 256, i % 256)));
        }
        // Easy-form cache across different digit-group counts.
        let easy = RegexValue::parse("|($1+0)-($2+0)|").unwrap();
        assert_eq!(easy.eval("a1b2").unwrap(), Some("1-2".into()));
        let many: String = (1..=20).map(|i| format!("x{i}")).collect();
        assert_eq!(easy.eval(&many).unwrap(), Some("1-2".into()));
        assert!(easy.eval("a1").unwrap_err().contains("$2 is not set"));
    }

    #[test]
    fn parse_errors_have_messages() {
        let cases: &[(&str, &str)] = &[
            ("|node(\\d+|x|", "unclosed group in pattern"),
            ("|node(\\d+)|10.0.0.($1+0|", "unbalanced parenthesis: missing ')'"),
            ("|node(\\d+)|10.0.0.$1+0)|", "unmatched ')'"),
            ("|node(\\d+)|($2)|", "$2 is used but the pattern has only 1 capture group"),
            ("|node|($1)|", "only 0 capture groups"),
            ("|n(\\d+)|(foo($1))|", "unknown function 'foo'"),
            ("|n(\\d+)|(node01)|", "bare word 'node01' is not allowed"),
            ("|n(\\d+)|(sprintf('%y',$1))|", "unsupported sprintf conversion '%y'"),
            ("|n(\\d+)|(sprintf('%0',$1))|", "incomplete sprintf conversion"),
            ("|n(\\d+)|(sprintf('%99999d',$1))|", "larger than 1024"),
            ("|n(\\d+)|(99999999999999999999)|", "number '99999999999999999999' is too large"),
            ("|n(\\d+)|($1 +)|", "unexpected end of expression"),
            ("|n(\\d+)|()|", "empty expression"),
            ("|n(\\d+)|($1 $1)|", "unexpected $1 after expression"),
            ("|n(\\d+)|('abc)|", "unterminated string"),
            ("|n(\\d+)|($0)|", "$0 is not a capture group"),
            ("|n(\\d+)|($x)|", "only capture variables"),
            ("|n(\\d+)|(a2idx($1,2))|", "a2idx() takes 1 argument(s), got 2"),
            ("|n(\\d+)|(ipadd(1,2,3))|", "ipadd() takes 5 or 7 argument(s), got 3"),
            ("|n(\\d+)|(skip($1))|", "skip() takes 2 argument(s), got 1"),
            ("|n(\\d+)|(dim2idx())|", "dim2idx() takes at least 1 argument(s), got 0"),
            ("|n(\\d+)|($1 & 1)|", "unexpected character '&'"),
            ("||x|", "empty pattern"),
            ("/a/b/c/", "not of the form"),
            ("node01", "not of the form"),
            ("/(?<=a)b/x/", "in pattern"),
        ];
        for (v, want) in cases {
            let e = RegexValue::parse(v).expect_err(v);
            assert!(e.starts_with(&format!("invalid regex value '{v}': ")), "{e}");
            assert!(e.contains(want), "value {v}: error {e:?} should contain {want:?}");
        }
        assert_eq!(
            RegexValue::parse("|node(\\d+|x|").unwrap_err(),
            "invalid regex value '|node(\\d+|x|': unclosed group in pattern"
        );
    }

    #[test]
    fn eval_errors_have_messages() {
        let cases: &[(&str, &str, &str)] = &[
            ("|n(\\d+)|($1/0)|", "n1", "division by zero"),
            ("|n(\\d+)|($1%($1-1))|", "n1", "modulus by zero"),
            ("|n(\\d+)|($1*9223372036854775807)|", "n2", "integer overflow"),
            ("|n(\\d+)|(-9223372036854775807-$1-1)|", "n1", "integer overflow"),
            ("|n(\\d+)|(2**$1)|", "n64", "integer overflow"),
            ("|n(\\d+)|(2**-$1)|", "n1", "negative exponent"),
            ("|(.*)|($1)-bmc|", "node01", "($1) = 'node01' is not an integer"),
            ("|(.*)|($1+1)|", "node01", "$1 = 'node01' is not an integer"),
            ("|n(\\d+)|($1+0)|", "n99999999999999999999", "is not an integer"),
            ("|n(\\d+)|(sprintf('%d %d',$1))|", "n1", "missing argument"),
            ("|n(\\d+)|(sprintf('%d','x'))|", "n1", "'x' is not an integer"),
            ("|(\\w+)|(a2idx($1))|", "ab", "needs a single letter, got 'ab'"),
            // Perl prints 10.0.256.44 and 10.0.1.-1 here.
            ("|n(\\d+)|(ipadd(10,0,255,0,$1))|", "n300", "the result 10.0.256.44 has octet 3 out of range"),
            ("|n(\\d+)|(ipadd(10,0,1,0,-$1,0,0))|", "n1", "the result 10.0.1.-1 has octet 4 out of range"),
            ("|n(\\d+)|(ipadd(256,0,0,0,$1))|", "n1", "octet 1 out of range"),
            ("|n(\\d+)|(ipadd(10,0,0,0,$1,128,128))|", "n1", "leaves none in an octet"),
            ("|n(\\d+)|(skip($1,'a:2'))|", "n1", "skip(): 'a:2' is not of the form"),
            ("|n(\\d+)|(dim2idx($1,9223372036854775807,2))|", "n3", "dim2idx(): integer overflow"),
            ("|n(\\d*)(x)?|($2+1)|", "n1", "$2 is not set"),
            ("|($1+1)|", "nodigits", "$1 is not set"),
        ];
        for (v, node, want) in cases {
            let e = ev(v, node).expect_err(v);
            assert!(e.starts_with(&format!("regex value '{v}' for node '{node}': ")), "{e}");
            assert!(e.contains(want), "value {v}: error {e:?} should contain {want:?}");
        }
    }

    #[test]
    fn sprintf_direct() {
        let f = |fmt: &str, args: Vec<Val>| sprintf(&parse_fmt(fmt).unwrap(), args);
        assert_eq!(f("%02d", vec![Val::Int(5)]).unwrap(), "05");
        assert_eq!(f("%-3s|", vec![Val::Str("a".into())]).unwrap(), "a  |");
        assert_eq!(f("%.2s", vec![Val::Str("abc".into())]).unwrap(), "ab");
        assert_eq!(f("%05s", vec![Val::Str("ab".into())]).unwrap(), "000ab");
        assert_eq!(f("%x", vec![Val::Int(-1)]).unwrap(), "ffffffffffffffff");
        assert_eq!(f("%u", vec![Val::Int(-1)]).unwrap(), "18446744073709551615");
        assert_eq!(f("%b", vec![Val::Int(5)]).unwrap(), "101");
        assert_eq!(f("%c", vec![Val::Int(65)]).unwrap(), "A");
        assert_eq!(f("% d", vec![Val::Int(5)]).unwrap(), " 5");
        assert_eq!(f("%ld", vec![Val::Int(5)]).unwrap(), "5");
        assert_eq!(f("%.0d", vec![Val::Int(0)]).unwrap(), "");
        assert_eq!(f("100%%", vec![]).unwrap(), "100%");
        assert!(f("%c", vec![Val::Int(-1)]).is_err());
    }

    #[test]
    fn no_panic_on_odd_inputs() {
        let mut inputs: Vec<String> = [
            "|",
            "||",
            "|||",
            "////",
            "/",
            "//",
            "/(/x/",
            "/)/x/",
            "/x/(/",
            "|(|",
            "|)|",
            "|((((|",
            "|))))|",
            "|n(\\d+)|((((($1)|",
            "|n(\\d+)|$1))))|",
            "|n|(1/0)|",
            "|n(\\d+)|($1/($1-$1))|",
            "|n(\\d+)|(9223372036854775807+1)|",
            "|n(\\d+)|(-9223372036854775808)|",
            "|n(\\d+)|(0-9223372036854775807-2)|",
            "|n(\\d+)|(sprintf())|",
            "|n(\\d+)|(sprintf('%'))|",
            "|n(\\d+)|(sprintf('%-0+ #'))|",
            "|n(\\d+)|(sprintf('%.99999d',1))|",
            "|n(\\d+)|(sprintf($1,$1))|",
            "|n(\\d+)|(sprintf('%d'))|",
            "|n(\\d+)|(sprintf('%s%s%s',1))|",
            "|n(\\d+)|(sprintf('%*d',1,2))|",
            "|n(\\d+)|(sprintf('%v d',1))|",
            "|n(\\d+)|(,)|",
            "|n(\\d+)|(1,2)|",
            "|n(\\d+)|(()))|",
            "|n(\\d+)|(\"$1)|",
            "|n(\\d+)|('\\')|",
            "|n(\\d+)|(\\)|",
            "|n(\\d+)|${|",
            "|n(\\d+)|${1|",
            "|n(\\d+)|$99999999999999999999999|",
            "|n(\\d+)|(a2idx())|",
            "|n(\\d+)|(a2idx(''))|",
            "|n(\\d+)|(a2idx('é'))|",
            "|n(\\d+)|(ipadd(0,0,0,0,-1))|",
            "|n(\\d+)|(ipadd(0,0,0,0,-9223372036854775807,0,255))|",
            "|n(\\d+)|(ipadd(255,255,255,255,9223372036854775807,0,0))|",
            "|n(\\d+)|(2**9999999999)|",
            "|n(\\d+)|((-1)**3)|",
            "|n(\\d+)|(0**0)|",
            "|n(\\d+)|(---$1)|",
            "|n(\\d+)|(+)|",
            "|n(\\d+)|(*)|",
            "|n(\\d+)|(**)|",
            "|n(\\d+)|(0x)|",
            "|n(\\d+)|(0xZZ)|",
            "|n(\\d+)|(12ab)|",
            "|n(\\d+)|(é)|",
            "|é(\\d+)|(ü$1)|",
            "/é/ü/",
            "|\\|",
            "/\\/",
            "|a\\|b|",
            "|[|x|",
            "|a{99999}{99999}|x|",
            "|(a*)*b|x|",
            "|\\p{Foo}|x|",
            "|(?P<n>x)|$1|",
            "|n(\\d+)|\\",
            "|n(\\d+)|$",
            "|n(\\d+)|(mknum($1))|",
            "|n(\\d+)|(abs(-9223372036854775807-1))|",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        inputs.push(format!("|n(\\d+)|{}$1{}|", "(".repeat(10_000), ")".repeat(10_000)));
        inputs.push(format!("|n(\\d+)|({}1)|", "-".repeat(10_000)));
        inputs.push(format!("|n(\\d+)|({})|", vec!["1"; 10_000].join("+")));
        inputs.push(format!("|n(\\d+)|{}|", "($1)".repeat(2_000)));
        inputs.push(format!("|n(\\d+)|(sprintf('{}',$1))|", "%d".repeat(1000)));
        inputs.push(format!("|{}|", "\\".repeat(101)));
        let nodes = [
            "",
            "n",
            "n1",
            "n0",
            "n007",
            "n99999999999999999999",
            "node1rack2",
            "a0b0c",
            "é1",
            "n-1",
            &"9".repeat(500),
        ];
        for v in &inputs {
            let _ = is_regex_value(v);
            for n in nodes {
                let _ = resolve(v, n);
            }
            if let Ok(rv) = RegexValue::parse(v) {
                for n in nodes {
                    let _ = rv.eval(n);
                }
            }
        }
        // A few of them must be errors, not values.
        assert!(resolve("|n(\\d+)|(9223372036854775807+$1)|", "n1").is_err());
        assert!(RegexValue::parse(&inputs[inputs.len() - 6]).is_err());
        assert!(RegexValue::parse(&inputs[inputs.len() - 5]).is_err());
        assert!(RegexValue::parse(&inputs[inputs.len() - 4]).is_err());
    }

    #[test]
    fn pseudo_random_fuzz() {
        // Deterministic xorshift over an alphabet of syntax-relevant chars.
        let alphabet: Vec<char> = "|/()\\$1209+-*%,'\"dsxn%sprintf a2idx ipadd.é{}[]?".chars().collect();
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut rnd = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..2_000 {
            let len = (rnd() % 24) as usize;
            let mut s = String::from("|");
            for _ in 0..len {
                s.push(alphabet[(rnd() % alphabet.len() as u64) as usize]);
            }
            s.push('|');
            let _ = resolve(&s, "node12rack3");
            let _ = resolve(&s[1..], "n1");
        }
    }
}
