//! Reading node attributes as xCAT does: the node's own row wins, then the rows of its groups in
//! `nodelist.groups` order, then the row of the group `all`; regex values (`|node(\d+)|10.0.0.($1+0)|`)
//! are evaluated against the node name on read. Tables are loaded once per command and indexed, so
//! reading every attribute of 10,000 nodes is a few hash lookups per value.

use super::objects::{attribute, Attr, ObjType};
use super::regexval::{is_regex_value, RegexValue};
use super::schema::{self, Owner, Table};
use super::{all_rows, is_disabled, Row};
use crate::error::{Error, Result};
use crate::noderange::{natural_cmp, Universe};
use crate::select::Comparison;
use rusqlite::Connection;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

/// A resolved value and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub value: String,
    /// The group whose row supplied the value; None for the node's own row.
    pub from: Option<String>,
}

pub struct NodeView<'c> {
    conn: &'c Connection,
    /// Every node, in natural order.
    nodes: Vec<String>,
    index: HashMap<String, usize>,
    /// Each node's groups, in `nodelist.groups` order.
    groups: Vec<Vec<String>>,
    /// Group name -> members in natural order (defined groups without members map to an empty list).
    members: HashMap<String, Vec<String>>,
    tables: RefCell<HashMap<&'static str, Rc<HashMap<String, Row>>>>,
    regexes: RefCell<HashMap<String, Rc<Result<RegexValue, String>>>>,
    /// `site.excludenodes`: nodes that no noderange names (xCAT subtracts them from every noderange).
    excluded: HashSet<String>,
    /// When a command works on a few nodes: the row keys it can need (those nodes, their groups,
    /// `all`), so tables are read by key instead of whole.
    focus: RefCell<Option<HashSet<String>>>,
    /// `site.noderangelimit`: the most names the ranges of one noderange may produce.
    name_limit: u64,
    /// Dynamic groups (`nodegroup.grouptype=dynamic`): group -> `nodegroup.wherevals`. Their
    /// members are the nodes whose attributes match, worked out when a noderange names them.
    dynamic: HashMap<String, String>,
}

/// Up to this many row keys, tables are read by key rather than whole.
const FOCUS_LIMIT: usize = 500;

/// True when `name` is a group: `all`, a nodegroup row, or in some node's `nodelist.groups`
/// (LIKE may also match a look-alike name: callers use it where a false yes only costs work).
pub fn is_group_name(conn: &Connection, name: &str) -> Result<bool> {
    if name == "all" {
        return Ok(true);
    }
    let found: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM nodegroup WHERE groupname = ?1)
             OR EXISTS (SELECT 1 FROM nodelist WHERE ',' || replace(coalesce(groups, ''), ' ', '') || ',' LIKE '%,' || ?1 || ',%'
                        AND coalesce(disable, '') NOT IN ('yes', '1'))",
        [name],
        |r| r.get(0),
    )?;
    Ok(found)
}

/// Parses a dynamic group's criteria: `attr==val`, `attr!=val`, `attr=~re`, `attr!~re` or
/// `attr=val` (xCAT reads it as `==`), joined by `::`; the attributes are node attributes.
pub fn parse_wherevals(text: &str) -> Result<Vec<(&'static Attr, Comparison)>, String> {
    let mut out = Vec::new();
    for part in text.split("::").map(str::trim).filter(|p| !p.is_empty()) {
        let (attr, cmp) = match Comparison::parse(part) {
            Some(parsed) => parsed.map_err(|e| format!("{part}: {e}"))?,
            None => match part.split_once('=') {
                Some((a, v)) if !a.is_empty() && !v.is_empty() => Comparison::parse(&format!("{a}=={v}"))
                    .expect("has an operator")
                    .map_err(|e| format!("{part}: {e}"))?,
                _ => return Err(format!("'{part}' is not attr==val, attr!=val, attr=~re or attr!~re")),
            },
        };
        let a = attribute(ObjType::Node, &attr).map_err(|_| format!("'{attr}' is not a node attribute"))?;
        if a.column().secret {
            return Err(secret_criterion(&attr));
        }
        out.push((a, cmp));
    }
    if out.is_empty() {
        return Err("no criteria (a dynamic group needs -w attr==val)".into());
    }
    Ok(out)
}

/// Refuses a store where a name is both a node and a group (after a table is restored): removing
/// such a node would delete the group's rows in every table.
pub fn check_names_disjoint(conn: &Connection) -> Result<()> {
    let view = NodeView::load(conn)?;
    let both: Vec<String> = view
        .nodes()
        .iter()
        .filter(|n| view.is_group(n))
        .map(|n| format!("Error: '{n}' is both a node and a group; a node cannot have a group's name."))
        .collect();
    if both.is_empty() {
        Ok(())
    } else {
        Err(Error::Inputs(both))
    }
}

pub fn split_list(v: &str) -> impl Iterator<Item = &str> {
    v.split(',').map(str::trim).filter(|s| !s.is_empty())
}

impl<'c> NodeView<'c> {
    pub fn load(conn: &'c Connection) -> Result<NodeView<'c>> {
        // Only the names and groups: every command needs them (noderanges), few need the rest.
        let rows: Vec<(String, Option<String>)> = conn
            .prepare_cached("SELECT node, groups FROM nodelist WHERE coalesce(disable, '') NOT IN ('yes', '1')")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let nodegroup = schema::table("nodegroup").expect("nodegroup is in the schema");
        let mut defined = Vec::new();
        let mut dynamic = HashMap::new();
        for r in all_rows(conn, nodegroup)?.into_iter().filter(|r| !is_disabled(nodegroup, r)) {
            let Some(name) = r[0].clone() else { continue };
            if r[1].as_deref() == Some("dynamic") {
                dynamic.insert(name.clone(), r[4].clone().unwrap_or_default());
            }
            defined.push(name);
        }
        let mut view = NodeView::from_rows(conn, rows, defined);
        view.name_limit = name_limit(conn)?;
        view.dynamic = dynamic;
        if let Some(ex) = super::site_value(conn, "excludenodes")? {
            view.excluded = crate::noderange::expand(&ex, &view)
                .map_err(|e| Error::Input(format!("site.excludenodes: {e}")))?
                .into_iter()
                .collect();
        }
        Ok(view)
    }

    /// A view of just `names` (those of them that are nodes), for a server answering one node's
    /// request among thousands: only their nodelist rows are read, and tables by key, so the cost
    /// does not grow with the cluster. Group membership is known only for these nodes, and
    /// site.excludenodes is not applied: it is no view for noderanges.
    pub fn of_nodes(conn: &'c Connection, names: &[String]) -> Result<NodeView<'c>> {
        let mut stmt = conn.prepare_cached(
            "SELECT node, groups FROM nodelist WHERE node = ?1 AND coalesce(disable, '') NOT IN ('yes', '1')",
        )?;
        let mut rows = Vec::new();
        for name in names {
            match stmt.query_row([name], |r| r.get::<_, Option<String>>(1)) {
                Ok(groups) => rows.push((name.clone(), groups)),
                Err(rusqlite::Error::QueryReturnedNoRows) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let mut view = NodeView::from_rows(conn, rows, Vec::new());
        let focus = view.nodes.clone();
        view.focus(&focus);
        Ok(view)
    }

    /// The nodes of `range` and a view that can read their values. A range of a few plain node
    /// names (`n1,n2`, `node[001-010]`) reads only those nodes' rows, so one node among 10,000
    /// costs a few look-ups; anything else (groups, regexes, selectors, many nodes, or
    /// site.excludenodes in force) is expanded against the whole cluster, and so is any exclusion:
    /// an excluded name must be checked too (`n1,n2,-n2l` is an error).
    pub fn for_range(conn: &'c Connection, range: &str) -> Result<(NodeView<'c>, Vec<String>)> {
        let excludes = range.split(',').any(|t| t.trim_start().starts_with('-'));
        if let Some(names) = crate::noderange::expand_names(range).ok().filter(|_| !excludes) {
            if names.len() <= FOCUS_LIMIT && super::site_value(conn, "excludenodes")?.is_none() {
                let view = NodeView::of_nodes(conn, &names)?;
                if view.nodes.len() == names.len() {
                    return Ok((view, names));
                }
            }
        }
        let mut view = NodeView::load(conn)?;
        let nodes = crate::noderange::expand(range, &view)?;
        view.focus(&nodes);
        Ok((view, nodes))
    }

    /// A view of these nodelist rows (node, groups), with `defined` groups that may have no
    /// members; nodes in natural order.
    fn from_rows(conn: &'c Connection, mut rows: Vec<(String, Option<String>)>, defined: Vec<String>) -> NodeView<'c> {
        rows.sort_by(|a, b| natural_cmp(&a.0, &b.0));
        rows.dedup_by(|a, b| a.0 == b.0);
        let mut nodes = Vec::with_capacity(rows.len());
        let mut groups = Vec::with_capacity(rows.len());
        let mut members: HashMap<String, Vec<String>> = HashMap::new();
        for (node, node_groups) in rows {
            let gs: Vec<String> = split_list(node_groups.as_deref().unwrap_or("")).map(str::to_string).collect();
            for g in &gs {
                members.entry(g.clone()).or_default().push(node.clone());
            }
            nodes.push(node);
            groups.push(gs);
        }
        for g in defined {
            members.entry(g).or_default();
        }
        members.insert("all".to_string(), nodes.clone());
        let index = nodes.iter().enumerate().map(|(i, n)| (n.clone(), i)).collect();
        NodeView {
            conn,
            nodes,
            index,
            groups,
            members,
            tables: RefCell::default(),
            regexes: RefCell::default(),
            excluded: HashSet::new(),
            focus: RefCell::new(None),
            name_limit: crate::noderange::DEFAULT_NAME_LIMIT,
            dynamic: HashMap::new(),
        }
    }

    /// The most names the ranges of one noderange may produce (`site.noderangelimit`).
    pub fn name_limit(&self) -> u64 {
        self.name_limit
    }

    pub fn nodes(&self) -> &[String] {
        &self.nodes
    }

    pub fn is_node(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    pub fn is_group(&self, name: &str) -> bool {
        self.members.contains_key(name)
    }

    pub fn groups_of(&self, node: &str) -> &[String] {
        self.index.get(node).map(|&i| self.groups[i].as_slice()).unwrap_or(&[])
    }

    pub fn members_of(&self, group: &str) -> Option<&[String]> {
        self.members.get(group).map(Vec::as_slice)
    }

    /// The criteria of a dynamic group (`nodegroup.wherevals`), None for a static group.
    pub fn dynamic_criteria(&self, group: &str) -> Option<&str> {
        self.dynamic.get(group).map(String::as_str)
    }

    /// The members of a dynamic group: the nodes whose object attributes match every criterion of
    /// its `wherevals` (`attr==val::attr=~re`, as xCAT's `mkdef -d -w` stores them). An unset
    /// attribute compares as "".
    pub fn dynamic_members(&self, group: &str) -> Result<Vec<String>> {
        let Some(wherevals) = self.dynamic.get(group) else { return Ok(Vec::new()) };
        let criteria =
            parse_wherevals(wherevals).map_err(|e| Error::Input(format!("group {group}: wherevals: {e}")))?;
        let mut out = Vec::new();
        'nodes: for n in self.nodes.iter().filter(|n| !self.excluded.contains(*n)) {
            for (attr, cmp) in &criteria {
                let v = self.value(n, attr.table, attr.col)?.map(|r| r.value).unwrap_or_default();
                if !cmp.matches(&v) {
                    continue 'nodes;
                }
            }
            out.push(n.clone());
        }
        Ok(out)
    }

    /// `nodes` without the hidden ones (`nodelist.hidden=1`), which xCAT's nodels and lsdef list
    /// only with `-S`.
    pub fn without_hidden(&self, nodes: Vec<String>) -> Result<Vec<String>> {
        // Most clusters hide nothing: one query instead of every node's value.
        let any: bool = self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM nodelist WHERE coalesce(hidden, '') != ''
                            AND coalesce(disable, '') NOT IN ('yes', '1'))",
            [],
            |r| r.get(0),
        )?;
        if !any {
            return Ok(nodes);
        }
        let t = schema::table("nodelist").expect("nodelist is in the schema");
        let (col, _) = t.column("hidden").expect("nodelist.hidden");
        let mut out = Vec::with_capacity(nodes.len());
        for n in nodes {
            if self.value(&n, t, col)?.is_none_or(|r| r.value.trim() != "1") {
                out.push(n);
            }
        }
        Ok(out)
    }

    /// Declares which nodes the command will read values of; for a few nodes, tables are then read
    /// by key (a node out of 10,000 costs a few lookups, not 10,000 rows per table).
    pub fn focus(&mut self, nodes: &[String]) {
        let mut keys: HashSet<String> = HashSet::new();
        for n in nodes {
            keys.insert(n.clone());
            keys.extend(self.groups_of(n).iter().cloned());
            if keys.len() > FOCUS_LIMIT {
                *self.focus.borrow_mut() = None;
                return;
            }
        }
        keys.insert("all".to_string());
        *self.focus.borrow_mut() = Some(keys);
        self.tables.borrow_mut().clear();
    }

    /// The rows of a node-keyed table, by key (node or group name); disabled rows left out.
    pub fn rows(&self, t: &'static Table) -> Result<Rc<HashMap<String, Row>>> {
        if let Some(r) = self.tables.borrow().get(t.name) {
            return Ok(r.clone());
        }
        let keys: Option<Vec<String>> = self.focus.borrow().as_ref().map(|k| k.iter().cloned().collect());
        let rows = match keys {
            Some(keys) => super::rows_by_key(self.conn, t, &keys)?,
            None => all_rows(self.conn, t)?,
        };
        let map: HashMap<String, Row> =
            rows.into_iter().filter(|r| !is_disabled(t, r)).filter_map(|r| r[0].clone().map(|k| (k, r))).collect();
        let map = Rc::new(map);
        self.tables.borrow_mut().insert(t.name, map.clone());
        Ok(map)
    }

    fn eval(&self, value: &str, node: &str) -> std::result::Result<Option<String>, String> {
        if !is_regex_value(value) {
            return Ok(Some(value.to_string()));
        }
        let compiled = self
            .regexes
            .borrow_mut()
            .entry(value.to_string())
            .or_insert_with(|| Rc::new(RegexValue::parse(value)))
            .clone();
        match compiled.as_ref() {
            Ok(re) => re.eval(node),
            Err(e) => Err(e.clone()),
        }
    }

    /// The value of `t.column[col]` for `node`: own row, then group rows, then `all`; regex values
    /// evaluated. An error names the node, the column and what is wrong with the stored value.
    pub fn value(&self, node: &str, t: &'static Table, col: usize) -> Result<Option<Resolved>> {
        debug_assert_eq!(t.owner, Owner::Node);
        // A node outside the focus: fall back to whole tables rather than miss its rows.
        if self.focus.borrow().as_ref().is_some_and(|k| !k.contains(node)) {
            *self.focus.borrow_mut() = None;
            self.tables.borrow_mut().clear();
        }
        let rows = self.rows(t)?;
        let groups = self.groups_of(node);
        let all = if groups.iter().any(|g| g == "all") { None } else { Some("all") };
        let sources = std::iter::once(node).chain(groups.iter().map(String::as_str)).chain(all);
        for (i, owner) in sources.enumerate() {
            let Some(stored) = rows.get(owner).and_then(|r| r[col].as_deref()).filter(|v| !v.is_empty()) else {
                continue;
            };
            let value = self
                .eval(stored, node)
                .map_err(|e| Error::Input(format!("{node}: {}.{}: {e}", t.name, t.columns[col].name)))?;
            if let Some(value) = value.filter(|v| !v.is_empty()) {
                let from = (i > 0).then(|| owner.to_string());
                return Ok(Some(Resolved { value, from }));
            }
        }
        Ok(None)
    }

    /// The value of `table.column` for `node` (see [`NodeView::value`]), for callers that name
    /// the column in code.
    pub fn get(&self, node: &str, table: &str, column: &str) -> Result<Option<String>> {
        let t = schema::table(table).expect("a table of the schema");
        let (i, _) = t.column(column).expect("a column of the table");
        Ok(self.value(node, t, i)?.map(|r| r.value))
    }

    /// Resolves `table.column` or a shortname (`groups`, `tags`, `mgt`) to a node table column.
    pub fn selector(name: &str) -> Result<(&'static Table, usize)> {
        let full = match name {
            "groups" | "tags" => "nodelist.groups",
            "mgt" => "nodehm.mgt",
            other => other,
        };
        let bad = || Error::Input(format!("{name} not a valid table.column description"));
        let (tname, cname) = full.split_once('.').ok_or_else(bad)?;
        let t = schema::table(tname).filter(|t| t.owner == Owner::Node).ok_or_else(bad)?;
        let (col, _) = t.column(cname).filter(|(i, _)| *i > 0).ok_or_else(bad)?;
        Ok((t, col))
    }

    /// [`NodeView::selector`] for selecting nodes by value (`ipmi.bmc==10.0.0.1`): secret columns
    /// are refused, as a selection would confirm a guessed password without ever printing it.
    pub fn criterion(name: &str) -> Result<(&'static Table, usize)> {
        let (t, col) = NodeView::selector(name)?;
        if t.columns[col].secret {
            return Err(Error::Input(secret_criterion(&format!("{}.{}", t.name, t.columns[col].name))));
        }
        Ok((t, col))
    }
}

/// The error for a selection on a secret column or attribute.
pub fn secret_criterion(name: &str) -> String {
    format!("{name} is secret: it cannot be used to select nodes (==, !=, =~, !~)")
}

/// `site.noderangelimit`, else [`crate::noderange::DEFAULT_NAME_LIMIT`].
pub fn name_limit(conn: &Connection) -> Result<u64> {
    match super::site_value(conn, "noderangelimit")? {
        None => Ok(crate::noderange::DEFAULT_NAME_LIMIT),
        Some(v) => v.trim().parse::<u64>().ok().filter(|&n| n > 0).ok_or_else(|| {
            Error::Input(format!("site.noderangelimit: '{v}' is not allowed (a number of names, at least 1)"))
        }),
    }
}

/// Noderanges see every node but those in `site.excludenodes`.
impl Universe for NodeView<'_> {
    fn is_node(&self, name: &str) -> bool {
        NodeView::is_node(self, name) && !self.excluded.contains(name)
    }
    fn group_members(&self, name: &str) -> Option<Vec<String>> {
        if self.dynamic.contains_key(name) {
            // A criterion that no longer parses selects nothing (mkdef/chdef refuse to store one).
            return Some(self.dynamic_members(name).unwrap_or_default());
        }
        let members = self.members.get(name)?;
        Some(members.iter().filter(|n| !self.excluded.contains(*n)).cloned().collect())
    }
    fn all_nodes(&self) -> Vec<String> {
        self.nodes.iter().filter(|n| !self.excluded.contains(*n)).cloned().collect()
    }
    fn column_values(&self, selector: &str) -> std::result::Result<Vec<(String, Option<String>)>, String> {
        // The message alone: the noderange error puts its own "Error: " in front.
        let why = |e: Error| match e {
            Error::Input(m) => m,
            e => e.to_string(),
        };
        let (t, col) = NodeView::criterion(selector).map_err(why)?;
        self.nodes
            .iter()
            .filter(|n| !self.excluded.contains(*n))
            .map(|n| Ok((n.clone(), self.value(n, t, col).map_err(why)?.map(|r| r.value))))
            .collect()
    }
    fn name_limit(&self) -> u64 {
        self.name_limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{upsert, Store};

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("t.db")).unwrap();
        let nodelist = schema::table("nodelist").unwrap();
        let ipmi = schema::table("ipmi").unwrap();
        s.write(|c| {
            upsert(c, nodelist, &["n10"], &[("groups", Some("rack1,compute"))])?;
            upsert(c, nodelist, &["n2"], &[("groups", Some("compute"))])?;
            upsert(c, nodelist, &["n3"], &[("groups", Some("compute,rack1")), ("disable", Some("yes"))])?;
            upsert(c, ipmi, &["compute"], &[("bmc", Some("|n(\\d+)|10.0.0.($1+0)|")), ("username", Some("cu"))])?;
            upsert(c, ipmi, &["rack1"], &[("username", Some("ru")), ("password", Some("rp"))])?;
            upsert(c, ipmi, &["all"], &[("bmcport", Some("623")), ("password", Some("ap"))])?;
            upsert(c, ipmi, &["n2"], &[("username", Some("own"))])?;
            Ok(())
        })
        .unwrap();
        (dir, s)
    }

    fn get(v: &NodeView, node: &str, col: &str) -> Option<Resolved> {
        let t = schema::table("ipmi").unwrap();
        v.value(node, t, t.column(col).unwrap().0).unwrap()
    }

    #[test]
    fn nodes_in_natural_order_and_disabled_rows_ignored() {
        let (_d, s) = store();
        let v = NodeView::load(s.conn()).unwrap();
        assert_eq!(v.nodes(), &["n2", "n10"]);
        assert_eq!(v.members_of("compute").unwrap(), &["n2", "n10"]);
        assert_eq!(v.members_of("all").unwrap(), &["n2", "n10"]);
        assert!(v.members_of("nosuch").is_none());
    }

    #[test]
    fn own_row_then_groups_in_order_then_all() {
        let (_d, s) = store();
        let v = NodeView::load(s.conn()).unwrap();
        let r = |value: &str, from: Option<&str>| Some(Resolved { value: value.into(), from: from.map(String::from) });
        assert_eq!(get(&v, "n2", "username"), r("own", None));
        // n10 is in rack1 before compute: rack1's row wins.
        assert_eq!(get(&v, "n10", "username"), r("ru", Some("rack1")));
        assert_eq!(get(&v, "n10", "password"), r("rp", Some("rack1")));
        assert_eq!(get(&v, "n2", "password"), r("ap", Some("all")));
        assert_eq!(get(&v, "n2", "bmcport"), r("623", Some("all")));
        assert_eq!(get(&v, "n2", "taggedvlan"), None);
    }

    #[test]
    fn regex_values_evaluate_per_node() {
        let (_d, s) = store();
        let v = NodeView::load(s.conn()).unwrap();
        assert_eq!(get(&v, "n10", "bmc").unwrap().value, "10.0.0.10");
        assert_eq!(get(&v, "n2", "bmc").unwrap().value, "10.0.0.2");
    }

    #[test]
    fn focused_views_read_by_key_and_never_miss_a_node() {
        let (_d, s) = store();
        let mut v = NodeView::load(s.conn()).unwrap();
        v.focus(&["n2".to_string()]);
        assert_eq!(get(&v, "n2", "username").unwrap().value, "own");
        assert_eq!(get(&v, "n2", "password").unwrap().value, "ap");
        // n10 was not in the focus: its values still come back.
        assert_eq!(get(&v, "n10", "username").unwrap().value, "ru");
    }

    #[test]
    fn views_of_some_nodes_resolve_like_the_whole() {
        let (_d, s) = store();
        let whole = NodeView::load(s.conn()).unwrap();
        let some = NodeView::of_nodes(s.conn(), &["n10".to_string(), "n3".to_string(), "nosuch".to_string()]).unwrap();
        // n3 is disabled and nosuch does not exist: neither is in the view.
        assert_eq!(some.nodes(), &["n10"]);
        for col in ["username", "password", "bmc", "bmcport"] {
            assert_eq!(get(&some, "n10", col), get(&whole, "n10", col), "{col}");
        }
        assert_eq!(some.groups_of("n10"), &["rack1", "compute"]);
    }

    #[test]
    fn ranges_of_plain_names_read_only_those_nodes() {
        let (_d, mut s) = store();
        let (v, nodes) = NodeView::for_range(s.conn(), "n10").unwrap();
        assert_eq!((v.nodes(), nodes.as_slice()), (&["n10".to_string()][..], &["n10".to_string()][..]));
        assert_eq!(get(&v, "n10", "username").unwrap().value, "ru");
        // A group, or a name that is no node, is expanded against the whole cluster.
        let (v, nodes) = NodeView::for_range(s.conn(), "compute").unwrap();
        assert_eq!((v.nodes().len(), nodes), (2, vec!["n2".to_string(), "n10".to_string()]));
        let e = NodeView::for_range(s.conn(), "n2,n3").err().unwrap().to_string();
        assert_eq!(e, "Error: Invalid nodes and/or groups in noderange: n3");
        // An excluded name is checked too, though the names left are all nodes.
        let e = NodeView::for_range(s.conn(), "n2,n10,-n10x").err().unwrap().to_string();
        assert_eq!(e, "Error: Invalid nodes and/or groups in noderange: n10x");
        assert_eq!(NodeView::for_range(s.conn(), "n2,n10,-n10").unwrap().1, ["n2"]);
        // site.excludenodes applies to plain names too.
        s.write(|c| upsert(c, schema::table("site").unwrap(), &["excludenodes"], &[("value", Some("n2"))])).unwrap();
        assert!(NodeView::for_range(s.conn(), "n2").is_err());
    }

    #[test]
    fn selectors_and_shortnames() {
        assert_eq!(NodeView::selector("groups").unwrap().0.name, "nodelist");
        assert_eq!(NodeView::selector("mgt").unwrap().0.name, "nodehm");
        let (t, c) = NodeView::selector("ipmi.bmc").unwrap();
        assert_eq!((t.name, c), ("ipmi", 1));
        for bad in ["ipmi", "ipmi.node", "site.value", "nosuch.col", "ipmi.nosuch"] {
            assert_eq!(
                NodeView::selector(bad).unwrap_err().to_string(),
                format!("Error: {bad} not a valid table.column description")
            );
        }
    }
}
