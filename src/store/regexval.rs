// TEMPORARY STUB
pub fn is_regex_value(v: &str) -> bool { v.starts_with('|') }
pub struct RegexValue;
impl RegexValue {
    pub fn parse(v: &str) -> Result<RegexValue, String> { let _ = v; todo!() }
    pub fn eval(&self, node: &str) -> Result<Option<String>, String> { let _ = node; todo!() }
}
pub fn resolve(value: &str, node: &str) -> Result<Option<String>, String> { let _ = (value, node); todo!() }
