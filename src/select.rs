//! xCAT's attribute comparisons, shared by noderange selections (`nodehm.mgt==ipmi`), nodels
//! criteria and `lsdef -w`: `==`, `!=`, `=~` (regex), `!~`. An unset value compares as "".

use regex::Regex;

#[derive(Debug, Clone)]
pub struct Comparison {
    pub op: &'static str,
    pub value: String,
    re: Option<Regex>,
}

/// The operators, longest match first is not needed: none is a prefix of another.
pub const OPERATORS: [&str; 4] = ["==", "!=", "=~", "!~"];

impl Comparison {
    /// Splits `lhs OP value`; None when `text` has no operator. Err(message) for a bad regex.
    pub fn parse(text: &str) -> Option<Result<(String, Comparison), String>> {
        let (lhs, op, value) = OPERATORS.iter().find_map(|op| text.split_once(op).map(|(a, b)| (a, *op, b)))?;
        let re = if op.ends_with('~') {
            match Regex::new(value) {
                Ok(r) => Some(r),
                Err(e) => return Some(Err(regex_error(&e))),
            }
        } else {
            None
        };
        Some(Ok((lhs.to_string(), Comparison { op, value: value.to_string(), re })))
    }

    pub fn matches(&self, v: &str) -> bool {
        match self.op {
            "==" => v == self.value,
            "!=" => v != self.value,
            "=~" => self.re.as_ref().is_some_and(|r| r.is_match(v)),
            _ => !self.re.as_ref().is_some_and(|r| r.is_match(v)),
        }
    }
}

/// The last line of a regex error ("unclosed character class"), without the pattern echo.
pub fn regex_error(e: &regex::Error) -> String {
    let text = e.to_string();
    text.lines().last().unwrap_or(&text).trim().trim_start_matches("error: ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operators() {
        let c = |t: &str| Comparison::parse(t).unwrap().unwrap();
        assert_eq!(c("mgt==ipmi").0, "mgt");
        assert!(c("mgt==ipmi").1.matches("ipmi") && !c("mgt==ipmi").1.matches("kvm"));
        assert!(c("a!=x").1.matches("") && !c("a!=x").1.matches("x"));
        assert!(c("ip=~^10\\.0").1.matches("10.0.0.1") && !c("ip!~^10\\.0").1.matches("10.0.0.1"));
        assert!(Comparison::parse("plain").is_none());
        assert_eq!(Comparison::parse("a=~(").unwrap().unwrap_err(), "unclosed group");
    }
}
