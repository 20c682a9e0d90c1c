// TEMPORARY STUB: replaced by the real module.
pub trait Universe {
    fn is_node(&self, name: &str) -> bool;
    fn group_members(&self, name: &str) -> Option<Vec<String>>;
    fn all_nodes(&self) -> Vec<String>;
    fn column_values(&self, selector: &str) -> Result<Vec<(String, Option<String>)>, String>;
}
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoderangeError { Unknown(Vec<String>) }
impl std::fmt::Display for NoderangeError { fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { write!(f, "{:?}", self) } }
impl std::error::Error for NoderangeError {}
pub fn expand(range: &str, u: &dyn Universe) -> Result<Vec<String>, NoderangeError> { let _ = (range, u); todo!() }
pub fn expand_names(range: &str) -> Result<Vec<String>, NoderangeError> { let _ = range; todo!() }
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering { a.cmp(b) }
