//! xCAT's regex values (Table.pm `transRegexAttrs`): a table cell that is computed from the node's
//! name when read, so one group row serves a whole rack.
//!
//! - `/PATTERN/REPLACEMENT/`: Perl's `s///` on the node name (`/\z/-bmc/`: node01 -> node01-bmc).
//! - `|PATTERN|EXPR|`: PATTERN is matched against the node name; in EXPR every parenthesised group
//!   is evaluated as integer arithmetic over the captures `$1..$n` and replaced by its value; the
//!   text between groups is kept (`|node(\d+)|10.0.0.($1+0)|`: node7 -> 10.0.0.7). Functions:
//!   `sprintf`, `a2idx`, `a2zidx`, `ipadd`. EXPR without groups is a plain `s///` replacement.
//! - `|EXPR|`: the easy form; the pattern is one `[\D0]*(\d+)` per number in the node name.
//!
//! Differences from xCAT, on purpose: numbers are decimal (Perl reads a capture `010` as octal 8),
//! and a pattern that does not match the node name gives no value rather than Perl's garbage.

use regex::Regex;

/// True when `v` has the form of a regex value.
pub fn is_regex_value(v: &str) -> bool {
    let b = v.as_bytes();
    if b.len() < 3 {
        return false;
    }
    match (b[0], b[b.len() - 1]) {
        (b'|', b'|') => true,
        (b'/', b'/') => v[1..v.len() - 1].matches('/').count() == 1,
        _ => false,
    }
}

/// A parsed, compiled regex value: parse once, evaluate for many nodes.
#[derive(Debug)]
pub struct RegexValue {
    kind: Form,
}

#[derive(Debug)]
enum Form {
    /// `/PATTERN/REPLACEMENT/`
    Subst { re: Regex, replacement: String },
    /// `|PATTERN|EXPR|` (pattern None: the easy form, generated per node).
    Expr { re: Option<Regex>, parts: Vec<Part> },
}

#[derive(Debug)]
enum Part {
    Text(String),
    Group(Expr),
}

#[derive(Debug, Clone)]
enum Expr {
    Int(i64),
    Str(String),
    Capture(usize),
    Neg(Box<Expr>),
    Bin(char, Box<Expr>, Box<Expr>),
    Call(String, Vec<Expr>),
}

#[derive(Debug, Clone)]
enum Val {
    Int(i64),
    Str(String),
}

impl Val {
    fn int(&self) -> Result<i64, String> {
        match self {
            Val::Int(i) => Ok(*i),
            Val::Str(s) => s.trim().parse::<i64>().map_err(|_| format!("'{s}' is not a number")),
        }
    }
    fn text(&self) -> String {
        match self {
            Val::Int(i) => i.to_string(),
            Val::Str(s) => s.clone(),
        }
    }
}

impl RegexValue {
    pub fn parse(v: &str) -> Result<RegexValue, String> {
        let bad = |why: String| format!("invalid regex value '{v}': {why}");
        if !is_regex_value(v) {
            return Err(bad("it is not of the form |PATTERN|EXPR|, |EXPR| or /PATTERN/REPLACEMENT/".into()));
        }
        let inner = &v[1..v.len() - 1];
        let kind = if v.starts_with('/') {
            let (pat, rep) = inner.split_once('/').expect("checked by is_regex_value");
            let re = Regex::new(pat).map_err(|e| bad(first_line(&e.to_string())))?;
            Form::Subst { re, replacement: perl_replacement(rep) }
        } else {
            let (re, expr) = match inner.split_once('|') {
                Some((pat, expr)) => (Some(Regex::new(pat).map_err(|e| bad(first_line(&e.to_string())))?), expr),
                None => (None, inner),
            };
            Form::Expr { re, parts: split_groups(expr).map_err(bad)? }
        };
        Ok(RegexValue { kind })
    }

    /// The value for `node`; None when the pattern does not match or the result is empty.
    pub fn eval(&self, node: &str) -> Result<Option<String>, String> {
        let out = match &self.kind {
            Form::Subst { re, replacement } => {
                if !re.is_match(node) {
                    return Ok(None);
                }
                re.replacen(node, 1, replacement.as_str()).into_owned()
            }
            Form::Expr { re, parts } => {
                let easy;
                let re = match re {
                    Some(re) => re,
                    None => {
                        easy = easy_pattern(node);
                        &easy
                    }
                };
                let Some(caps) = re.captures(node) else { return Ok(None) };
                let caps: Vec<&str> = caps.iter().map(|m| m.map_or("", |m| m.as_str())).collect();
                if !parts.iter().any(|p| matches!(p, Part::Group(_))) {
                    // No groups: a plain s/// with the text as replacement.
                    let text: String =
                        parts.iter().map(|p| if let Part::Text(t) = p { t.as_str() } else { "" }).collect();
                    return Ok(Some(re.replacen(node, 1, perl_replacement(&text).as_str()).into_owned())
                        .filter(|s| !s.is_empty()));
                }
                let mut s = String::new();
                for p in parts {
                    match p {
                        Part::Text(t) => s.push_str(t),
                        Part::Group(e) => s.push_str(&eval(e, &caps)?.text()),
                    }
                }
                s
            }
        };
        Ok(Some(out).filter(|s| !s.is_empty()))
    }
}

/// Non-regex values as they are (None if empty); regex values evaluated for `node`.
pub fn resolve(value: &str, node: &str) -> Result<Option<String>, String> {
    if is_regex_value(value) {
        RegexValue::parse(value)?.eval(node)
    } else {
        Ok(Some(value.to_string()).filter(|v| !v.is_empty()))
    }
}

fn first_line(s: &str) -> String {
    s.lines().last().unwrap_or(s).trim().trim_start_matches("error: ").to_string()
}

/// Perl's `$1` followed by a letter is capture 1; the regex crate would read `$1a` as a group
/// named "1a", so captures are written `${1}`.
fn perl_replacement(rep: &str) -> String {
    let mut out = String::with_capacity(rep.len() + 8);
    let mut chars = rep.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(|d| d.is_ascii_digit()) {
            let mut n = String::new();
            while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                n.push(*d);
                chars.next();
            }
            out.push_str(&format!("${{{n}}}"));
        } else if c == '$' {
            out.push_str("$$");
        } else {
            out.push(c);
        }
    }
    out
}

/// The easy form's pattern for a node: one `[\D0]*(\d+)` per number in its name.
fn easy_pattern(node: &str) -> Regex {
    let groups = node.split(|c: char| !c.is_ascii_digit()).filter(|s| !s.is_empty()).count();
    Regex::new(&"[\\D0]*(\\d+)".repeat(groups)).expect("a fixed pattern")
}

/// Splits EXPR into literal text and top-level balanced `(...)` groups, each parsed.
fn split_groups(expr: &str) -> Result<Vec<Part>, String> {
    let mut parts = Vec::new();
    let mut text = String::new();
    let mut depth = 0usize;
    let mut group = String::new();
    let mut quote: Option<char> = None;
    for c in expr.chars() {
        if depth == 0 {
            match c {
                '(' => {
                    depth = 1;
                    if !text.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut text)));
                    }
                    group.clear();
                }
                ')' => return Err("')' without '('".into()),
                _ => text.push(c),
            }
            continue;
        }
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '(') => depth += 1,
            (None, ')') => {
                depth -= 1;
                if depth == 0 {
                    parts.push(Part::Group(Parser::new(&group).parse_all()?));
                    continue;
                }
            }
            _ => {}
        }
        group.push(c);
    }
    if depth > 0 {
        return Err("'(' without ')'".into());
    }
    if !text.is_empty() {
        parts.push(Part::Text(text));
    }
    Ok(parts)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    src: &'a str,
}

impl<'a> Parser<'a> {
    fn new(src: &'a str) -> Parser<'a> {
        Parser { s: src.as_bytes(), i: 0, src }
    }
    fn err<T>(&self, what: &str) -> Result<T, String> {
        Err(format!("{what} at '{}' in ({})", &self.src[self.i.min(self.src.len())..], self.src))
    }
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }
    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.i).copied()
    }
    fn parse_all(mut self) -> Result<Expr, String> {
        let e = self.sum()?;
        if self.peek().is_some() {
            return self.err("unexpected text");
        }
        Ok(e)
    }
    fn sum(&mut self) -> Result<Expr, String> {
        let mut e = self.product()?;
        while let Some(op @ (b'+' | b'-')) = self.peek() {
            self.i += 1;
            e = Expr::Bin(op as char, Box::new(e), Box::new(self.product()?));
        }
        Ok(e)
    }
    fn product(&mut self) -> Result<Expr, String> {
        let mut e = self.unary()?;
        while let Some(op @ (b'*' | b'/' | b'%')) = self.peek() {
            self.i += 1;
            e = Expr::Bin(op as char, Box::new(e), Box::new(self.unary()?));
        }
        Ok(e)
    }
    fn unary(&mut self) -> Result<Expr, String> {
        match self.peek() {
            Some(b'-') => {
                self.i += 1;
                Ok(Expr::Neg(Box::new(self.unary()?)))
            }
            Some(b'+') => {
                self.i += 1;
                self.unary()
            }
            _ => self.primary(),
        }
    }
    fn primary(&mut self) -> Result<Expr, String> {
        match self.peek() {
            Some(b'(') => {
                self.i += 1;
                let e = self.sum()?;
                if self.peek() != Some(b')') {
                    return self.err("expected ')'");
                }
                self.i += 1;
                Ok(e)
            }
            Some(b'$') => {
                self.i += 1;
                let start = self.i;
                while self.i < self.s.len() && self.s[self.i].is_ascii_digit() {
                    self.i += 1;
                }
                match self.src[start..self.i].parse::<usize>() {
                    Ok(n) if n > 0 => Ok(Expr::Capture(n)),
                    _ => self.err("expected a capture such as $1"),
                }
            }
            Some(q @ (b'\'' | b'"')) => {
                self.i += 1;
                let start = self.i;
                while self.i < self.s.len() && self.s[self.i] != q {
                    self.i += 1;
                }
                if self.i >= self.s.len() {
                    return self.err("unclosed string");
                }
                let s = self.src[start..self.i].to_string();
                self.i += 1;
                Ok(Expr::Str(s))
            }
            Some(c) if c.is_ascii_digit() => {
                let start = self.i;
                while self.i < self.s.len() && self.s[self.i].is_ascii_digit() {
                    self.i += 1;
                }
                match self.src[start..self.i].parse::<i64>() {
                    Ok(n) => Ok(Expr::Int(n)),
                    Err(_) => self.err("number too large"),
                }
            }
            Some(c) if c.is_ascii_alphabetic() => {
                let start = self.i;
                while self.i < self.s.len() && (self.s[self.i].is_ascii_alphanumeric() || self.s[self.i] == b'_') {
                    self.i += 1;
                }
                let name = self.src[start..self.i].to_string();
                if !matches!(name.as_str(), "sprintf" | "a2idx" | "a2zidx" | "ipadd") {
                    return self.err(&format!("unknown function '{name}' (allowed: sprintf, a2idx, a2zidx, ipadd)"));
                }
                if self.peek() != Some(b'(') {
                    return self.err(&format!("expected '(' after {name}"));
                }
                self.i += 1;
                let mut args = Vec::new();
                if self.peek() == Some(b')') {
                    self.i += 1;
                } else {
                    loop {
                        args.push(self.sum()?);
                        match self.peek() {
                            Some(b',') => self.i += 1,
                            Some(b')') => {
                                self.i += 1;
                                break;
                            }
                            _ => return self.err("expected ',' or ')'"),
                        }
                    }
                }
                Ok(Expr::Call(name, args))
            }
            _ => self.err("expected a number, $N, a string or a function"),
        }
    }
}

fn eval(e: &Expr, caps: &[&str]) -> Result<Val, String> {
    Ok(match e {
        Expr::Int(i) => Val::Int(*i),
        Expr::Str(s) => Val::Str(s.clone()),
        Expr::Capture(n) => Val::Str(
            caps.get(*n).ok_or_else(|| format!("${n} refers to a capture the pattern does not have"))?.to_string(),
        ),
        Expr::Neg(a) => Val::Int(eval(a, caps)?.int()?.checked_neg().ok_or("arithmetic overflow")?),
        Expr::Bin(op, a, b) => {
            let (a, b) = (eval(a, caps)?.int()?, eval(b, caps)?.int()?);
            let r = match op {
                '+' => a.checked_add(b),
                '-' => a.checked_sub(b),
                '*' => a.checked_mul(b),
                '/' if b == 0 => return Err("division by zero".into()),
                '/' => a.checked_div(b),
                '%' if b == 0 => return Err("division by zero".into()),
                _ => a.checked_rem(b),
            };
            Val::Int(r.ok_or("arithmetic overflow")?)
        }
        Expr::Call(name, args) => {
            let vals: Vec<Val> = args.iter().map(|a| eval(a, caps)).collect::<Result<_, _>>()?;
            call(name, &vals)?
        }
    })
}

fn call(name: &str, args: &[Val]) -> Result<Val, String> {
    let letter = |v: &Val| -> Result<i64, String> {
        let s = v.text().to_ascii_lowercase();
        match s.as_bytes() {
            [c @ b'a'..=b'z'] => Ok((c - b'a') as i64),
            _ => Err(format!("{name}('{s}'): expected one letter")),
        }
    };
    match name {
        "sprintf" => {
            let (fmt, rest) = args.split_first().ok_or("sprintf needs a format")?;
            Ok(Val::Str(sprintf(&fmt.text(), rest)?))
        }
        "a2idx" if args.len() == 1 => Ok(Val::Int(letter(&args[0])? + 1)),
        "a2zidx" if args.len() == 1 => Ok(Val::Int(letter(&args[0])?)),
        "ipadd" if args.len() == 5 => {
            let mut ip: i64 = 0;
            for a in &args[..4] {
                let o = a.int()?;
                if !(0..=255).contains(&o) {
                    return Err(format!("ipadd: octet {o} is out of range"));
                }
                ip = ip * 256 + o;
            }
            let sum = ip.checked_add(args[4].int()?).filter(|s| (0..=0xffff_ffff).contains(s));
            let sum = sum.ok_or("ipadd: the address leaves the IPv4 range")?;
            Ok(Val::Str(format!("{}.{}.{}.{}", sum >> 24, (sum >> 16) & 255, (sum >> 8) & 255, sum & 255)))
        }
        _ => Err(format!("{name}: wrong number of arguments ({})", args.len())),
    }
}

/// Perl's sprintf for %d %i %s %x %X %o %c %% with flags `0 - +` and a width.
fn sprintf(fmt: &str, args: &[Val]) -> Result<String, String> {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let (mut zero, mut left, mut plus) = (false, false, false);
        while let Some(&f @ ('0' | '-' | '+')) = chars.peek() {
            match f {
                '0' => zero = true,
                '-' => left = true,
                _ => plus = true,
            }
            chars.next();
        }
        let mut width = 0usize;
        while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
            width = width.saturating_mul(10).saturating_add(d as usize).min(255);
            chars.next();
        }
        let conv = chars.next().ok_or("sprintf: format ends in '%'")?;
        if conv == '%' {
            out.push('%');
            continue;
        }
        let arg = args.next().ok_or("sprintf: more conversions than arguments")?;
        let (body, numeric) = match conv {
            'd' | 'i' => {
                let n = arg.int()?;
                (if plus && n >= 0 { format!("+{n}") } else { n.to_string() }, true)
            }
            'x' => (format!("{:x}", arg.int()?), true),
            'X' => (format!("{:X}", arg.int()?), true),
            'o' => (format!("{:o}", arg.int()?), true),
            's' => (arg.text(), false),
            'c' => (char::from_u32(arg.int()? as u32).map(String::from).unwrap_or_default(), false),
            other => return Err(format!("sprintf: unsupported conversion '%{other}'")),
        };
        let pad = width.saturating_sub(body.chars().count());
        if left {
            out.push_str(&body);
            out.push_str(&" ".repeat(pad));
        } else if zero && numeric {
            let (sign, digits) = if body.starts_with(['-', '+']) { body.split_at(1) } else { ("", body.as_str()) };
            out.push_str(sign);
            out.push_str(&"0".repeat(pad));
            out.push_str(digits);
        } else {
            out.push_str(&" ".repeat(pad));
            out.push_str(&body);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(v: &str, node: &str) -> Option<String> {
        RegexValue::parse(v)
            .unwrap_or_else(|e| panic!("{e}"))
            .eval(node)
            .unwrap_or_else(|e| panic!("{v} on {node}: {e}"))
    }

    #[test]
    fn recognises_the_forms() {
        for yes in ["|a|b|", "|($1)|", "/\\z/-bmc/", "/^n/b/", "|node(\\d+)|10.0.0.($1+0)|"] {
            assert!(is_regex_value(yes), "{yes}");
        }
        for no in ["", "|", "||", "10.0.0.1", "/a/", "/a/b/c/", "a|b|", "/etc/hosts"] {
            assert!(!is_regex_value(no), "{no}");
        }
    }

    #[test]
    fn xcat_documented_examples() {
        assert_eq!(ev("|node(\\d+)|10.0.0.($1+0)|", "node007").as_deref(), Some("10.0.0.7"));
        assert_eq!(ev("|\\D+(\\d+)|cmm(sprintf('%02d',($1-1)/14+1))|", "node20").as_deref(), Some("cmm02"));
        assert_eq!(ev("|\\D+(\\d+)|cmm(sprintf('%02d',($1-1)/14+1))|", "node1").as_deref(), Some("cmm01"));
        assert_eq!(ev("/\\z/-bmc/", "node01").as_deref(), Some("node01-bmc"));
        assert_eq!(ev("|10.0.0.($1+0)|", "node007").as_deref(), Some("10.0.0.7"));
        assert_eq!(ev("|node(\\d+)|10.0.($1/256).($1%256)|", "node300").as_deref(), Some("10.0.1.44"));
    }

    #[test]
    fn several_groups_captures_and_functions() {
        assert_eq!(ev("|node(\\d+)-(\\d+)|10.($1+0).($2+0).1|", "node3-14").as_deref(), Some("10.3.14.1"));
        assert_eq!(ev("|(1)+($1)|", "r1n2").as_deref(), Some("1+1"));
        assert_eq!(ev("|10.($1+0).($2+100)|", "rack02node005").as_deref(), Some("10.2.105"));
        assert_eq!(ev("/^node/bmc/", "node5").as_deref(), Some("bmc5"));
        assert_eq!(ev("/(\\d+)$/-$1a/", "node5").as_deref(), Some("node-5a"));
        assert_eq!(ev("|node(\\d+)|bmc$1|", "node5").as_deref(), Some("bmc5"));
        let mac = "|n(\\d+)|52:54:00:00:(sprintf('%02x',$1/256)):(sprintf('%02x',$1%256))|";
        assert_eq!(ev(mac, "n1").as_deref(), Some("52:54:00:00:00:01"));
        assert_eq!(ev(mac, "n300").as_deref(), Some("52:54:00:00:01:2c"));
        assert_eq!(ev("|r([a-z])n(\\d+)|(a2idx($1))-(a2zidx($1))-($2*2)|", "rcn4").as_deref(), Some("3-2-8"));
        assert_eq!(ev("|n(\\d+)|(ipadd(10,0,0,250,$1))|", "n10").as_deref(), Some("10.0.1.4"));
        assert_eq!(ev("|n(\\d+)|(sprintf(\"%-4s|%+d|%3X|%%\",$1,$1,255))|", "n7").as_deref(), Some("7   |+7| FF|%"));
    }

    #[test]
    fn no_match_or_empty_gives_none() {
        assert_eq!(ev("|node(\\d+)|10.0.0.($1+0)|", "gpu7"), None);
        assert_eq!(ev("/^x/y/", "node1"), None);
        assert_eq!(ev("|node(\\d+)|(sprintf('%s',''))|", "node1"), None);
        assert_eq!(resolve("plain", "n1").unwrap().as_deref(), Some("plain"));
        assert_eq!(resolve("", "n1").unwrap(), None);
    }

    #[test]
    fn errors_are_messages_not_panics() {
        let parse_err = |v: &str| RegexValue::parse(v).unwrap_err();
        assert!(parse_err("|node(\\d+|x|").contains("invalid regex value '|node(\\d+|x|'"));
        assert!(parse_err("|n(\\d+)|10.($1+|").contains("'(' without ')'"));
        assert!(parse_err("|n(\\d+)|10.(system(1))|").contains("unknown function 'system'"));
        let eval_err = |v: &str, n: &str| RegexValue::parse(v).unwrap().eval(n).unwrap_err();
        assert_eq!(eval_err("|n(\\d+)|($1/0)|", "n1"), "division by zero");
        assert!(eval_err("|n(\\d+)|($2)|", "n1").contains("$2 refers to a capture"));
        assert!(eval_err("|n(\\d+)|($1*9223372036854775807)|", "n5").contains("overflow"));
        let odd = [
            "||x|",
            "|(|",
            "|)|",
            "|((((|",
            "|($)|",
            "|($0)|",
            "|(1 2)|",
            "|('x)|",
            "|(sprintf('%'))|",
            "|(sprintf('%q',1))|",
            "|(sprintf('%d'))|",
            "|(a2idx('ab'))|",
            "|(ipadd(1,2,3))|",
            "|(ipadd(300,0,0,0,1))|",
            "|(99999999999999999999)|",
            "/[/x/",
            "|n(\\d+)|(-$1)|",
            "|(--1)|",
            "|(+)|",
        ];
        for v in odd {
            if let Ok(r) = RegexValue::parse(v) {
                let _ = r.eval("n12");
                let _ = r.eval("");
            }
        }
    }
}
