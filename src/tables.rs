//! xCAT's table-level tools: chtab and gettab (rows picked by column values), nodech, nodeadd and
//! noderm (node rows by noderange), and the CSV restore behind tabrestore and tabedit. Every
//! change is checked in full before anything is written, and runs in the caller's transaction.

use crate::defs::{self, check_value, ListOp};
use crate::error::{Error, Result};
use crate::node;
use crate::output::MASK;
use crate::select::Comparison;
use crate::store::objects::ObjType;
use crate::store::schema::{self, Owner, Table};
use crate::store::view::NodeView;
use crate::store::{self, get_row, restore_rows, tabcsv, upsert, Row};
use rusqlite::{params_from_iter, Connection};

/// One `table.column OP value` argument.
#[derive(Debug)]
pub struct Change {
    pub table: &'static Table,
    pub col: usize,
    pub op: ListOp,
    pub value: String,
}

impl Change {
    fn column_name(&self) -> String {
        format!("{}.{}", self.table.name, self.table.columns[self.col].name)
    }
}

/// Parses `key=value[,key=value...]`, the row selector of chtab and gettab.
pub fn parse_keys(text: &str) -> Result<Vec<(String, String)>> {
    text.split(',')
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(Error::Usage(format!("Incorrect argument \"{kv}\" (expected keycolname=keyvalue)"))),
        })
        .collect()
}

/// The table and column of `table.column` (`groups`, `tags` and `mgt` as in nodels when
/// `shortnames`); `node_tables` limits it to node-keyed tables (nodech, nodeadd).
pub fn column_of(spec: &str, shortnames: bool, node_tables: bool) -> Result<(&'static Table, usize)> {
    let full = match spec {
        "groups" | "tags" if shortnames => "nodelist.groups",
        "mgt" if shortnames => "nodehm.mgt",
        other => other,
    };
    let bad = || Error::Input(format!("{spec} not a valid table.column description"));
    let (tname, cname) = full.split_once('.').ok_or_else(bad)?;
    let t = schema::table(tname).ok_or_else(|| Error::Input(format!("Table {tname} does not exist.")))?;
    if node_tables && t.owner != Owner::Node {
        return Err(Error::Input(format!("{spec}: table {tname} is not keyed by node")));
    }
    let (col, _) = t.column(cname).ok_or_else(bad)?;
    Ok((t, col))
}

/// Parses `table.column=value`, `+=` (when `append`), or `,=` and `^=` (when `splice`).
pub fn parse_change(arg: &str, append: bool, splice: bool, shortnames: bool, node_tables: bool) -> Result<Change> {
    let Some((lhs, value)) = arg.split_once('=') else {
        return Err(Error::Usage(format!("Malformed argument {arg} (expected table.column=value)")));
    };
    let (lhs, op) = match lhs.chars().last() {
        Some('+') if append => (&lhs[..lhs.len() - 1], ListOp::Add),
        Some(',') if splice => (&lhs[..lhs.len() - 1], ListOp::Prepend),
        Some('^') if splice => (&lhs[..lhs.len() - 1], ListOp::Remove),
        _ => (lhs, ListOp::Set),
    };
    // nodech: `=@value` is an unambiguous `=` (the value may itself start with an operator).
    let value = if splice { value.strip_prefix('@').unwrap_or(value) } else { value };
    let (table, col) = column_of(lhs, shortnames, node_tables)?;
    if col == 0 && node_tables {
        return Err(Error::Input(format!("{lhs}: the node column cannot be changed this way")));
    }
    Ok(Change { table, col, op, value: value.to_string() })
}

/// Checks a value for a column of the row keyed `key`: no masked secret, a site value its key
/// takes (schema::check_cell), and its kind (a MAC is canonicalized).
fn checked(owner: &str, key: &str, t: &Table, col: usize, value: &str) -> Result<String, String> {
    let c = &t.columns[col];
    schema::check_cell(t, key, col, value).map_err(|e| format!("{owner}: Error: {e}"))?;
    // Regex values are parsed here and checked per node when read.
    check_value(owner, true, &format!("{}.{}", t.name, c.name), c, value)
}

fn where_keys(t: &Table, keys: &[(String, String)]) -> Result<String> {
    let mut conds = Vec::with_capacity(keys.len());
    for (i, (k, _)) in keys.iter().enumerate() {
        if t.column(k).is_none() {
            return Err(Error::Input(format!("Unknown key {k} to {}", t.name)));
        }
        conds.push(format!("\"{k}\" = ?{}", i + 1));
    }
    Ok(if conds.is_empty() { "1".into() } else { conds.join(" AND ") })
}

/// chtab: sets columns on the rows whose key columns have the given values, adding a row when none
/// has (then the keys must include the table's key). Returns how many rows changed or were added.
pub fn chtab(conn: &Connection, keys: &[(String, String)], changes: &[Change]) -> Result<usize> {
    let owner = keys.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",");
    let key_of = |t: &Table| keys.iter().find(|(k, _)| k == t.keys[0]).map_or("", |(_, v)| v.as_str());
    let mut tables: Vec<&'static Table> = Vec::new();
    for c in changes {
        if !tables.iter().any(|t| t.name == c.table.name) {
            tables.push(c.table);
        }
    }
    let mut errors = Vec::new();
    for c in changes.iter().filter(|c| c.op == ListOp::Set) {
        if let Err(e) = checked(&owner, key_of(c.table), c.table, c.col, &c.value) {
            errors.push(e);
        }
    }
    if !errors.is_empty() {
        return Err(Error::Inputs(errors));
    }
    let mut count = 0;
    let names_changed = tables.iter().any(|t| matches!(t.name, "nodelist" | "nodegroup"));
    for t in tables {
        let cond = where_keys(t, keys)?;
        let key_values: Vec<&str> = keys.iter().map(|(_, v)| v.as_str()).collect();
        let rowids: Vec<i64> = conn
            .prepare(&format!("SELECT rowid FROM \"{}\" WHERE {cond}", t.name))?
            .query_map(params_from_iter(&key_values), |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let mine: Vec<&Change> = changes.iter().filter(|c| c.table.name == t.name).collect();
        if rowids.is_empty() {
            // A new row: the key columns and the new values (a key column may be among either).
            let mut row: Vec<(&str, String)> = keys.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
            for c in &mine {
                let v = checked(&owner, key_of(t), t, c.col, &defs::apply_list(c.op, ',', None, &c.value))
                    .map_err(Error::Input)?;
                let name = t.columns[c.col].name;
                row.retain(|(k, _)| *k != name);
                row.push((name, v));
            }
            let value_of = |k: &str| row.iter().find(|(n, v)| *n == k && !v.is_empty()).map(|(_, v)| v.as_str());
            let missing: Vec<&str> = t.keys.iter().copied().filter(|k| value_of(k).is_none()).collect();
            if !missing.is_empty() {
                return Err(Error::Input(format!(
                    "no {} row has {owner}, and a new row needs its key ({})",
                    t.name,
                    missing.join(", ")
                )));
            }
            let key: Vec<&str> = t.keys.iter().map(|k| value_of(k).unwrap_or("")).collect();
            let cols: Vec<(&str, Option<&str>)> =
                row.iter().filter(|(k, _)| !t.keys.contains(k)).map(|(k, v)| (*k, Some(v.as_str()))).collect();
            upsert(conn, t, &key, &cols)?;
            count += 1;
            continue;
        }
        for rowid in rowids {
            for c in &mine {
                let cname = t.columns[c.col].name;
                let old: Option<String> = conn.query_row(
                    &format!("SELECT \"{cname}\" FROM \"{}\" WHERE rowid = ?1", t.name),
                    [rowid],
                    |r| r.get(0),
                )?;
                let v = checked(&owner, key_of(t), t, c.col, &defs::apply_list(c.op, ',', old.as_deref(), &c.value))
                    .map_err(Error::Input)?;
                conn.execute(
                    &format!("UPDATE \"{}\" SET \"{cname}\" = ?1 WHERE rowid = ?2", t.name),
                    rusqlite::params![Some(v).filter(|v| !v.is_empty()), rowid],
                )?;
            }
            count += 1;
        }
    }
    if names_changed {
        store::view::check_names_disjoint(conn)?;
    }
    Ok(count)
}

/// chtab -d: deletes the rows of each table whose key columns have the given values.
pub fn chtab_delete(conn: &Connection, keys: &[(String, String)], tables: &[&'static Table]) -> Result<usize> {
    let mut count = 0;
    for t in tables {
        let cond = where_keys(t, keys)?;
        count += conn.execute(
            &format!("DELETE FROM \"{}\" WHERE {cond}", t.name),
            params_from_iter(keys.iter().map(|(_, v)| v.as_str())),
        )?;
    }
    Ok(count)
}

/// gettab: the values of `columns` in the first row of each table whose key columns have the
/// given values ("" when unset); tables with no such row give nothing.
pub fn gettab(
    conn: &Connection,
    keys: &[(String, String)],
    columns: &[(&'static Table, usize)],
) -> Result<Vec<((&'static Table, usize), String)>> {
    let mut out = Vec::new();
    for &(t, col) in columns {
        let cond = where_keys(t, keys)?;
        // Which rows a password selects would confirm a guess without printing it.
        if let Some((k, _)) = keys.iter().find(|(k, _)| t.column(k).is_some_and(|(_, c)| c.secret)) {
            return Err(Error::Input(crate::store::view::secret_criterion(&format!("{}.{k}", t.name))));
        }
        let cname = t.columns[col].name;
        let v: Option<Option<String>> = conn
            .prepare(&format!("SELECT \"{cname}\" FROM \"{}\" WHERE {cond} LIMIT 1", t.name))?
            .query_row(params_from_iter(keys.iter().map(|(_, v)| v.as_str())), |r| r.get(0))
            .map(Some)
            .or_else(|e| if e == rusqlite::Error::QueryReturnedNoRows { Ok(None) } else { Err(e) })?;
        if let Some(v) = v {
            out.push(((t, col), v.unwrap_or_default()));
        }
    }
    Ok(out)
}

/// A `table.column==value` (also `!=`, `=~`, `!~`) argument of nodech: only the nodes whose
/// value matches are changed.
pub fn parse_criterion(arg: &str) -> Option<Result<(&'static Table, usize, Comparison)>> {
    let parsed = Comparison::parse(arg)?;
    Some(parsed.map_err(|e| Error::Usage(format!("{arg}: {e}"))).and_then(|(sel, cmp)| {
        let (t, col) = column_of(&sel, true, true)?;
        // Changing only the nodes whose password matches would confirm a guess.
        if t.columns[col].secret {
            return Err(Error::Input(crate::store::view::secret_criterion(&format!(
                "{}.{}",
                t.name, t.columns[col].name
            ))));
        }
        Ok((t, col, cmp))
    }))
}

/// nodech / nodeadd: applies the changes to each node's own rows. `,=` and `^=` start from the
/// node's value as it reads (its groups' included), as xCAT's nodech does. An empty value clears
/// the node's own value (xCAT writes `|^.*$||` to hide a group's value instead).
pub fn nodech(conn: &Connection, nodes: &[String], changes: &[Change]) -> Result<usize> {
    let view = NodeView::of_nodes(conn, nodes)?;
    let named: std::collections::HashSet<&str> = nodes.iter().map(String::as_str).collect();
    let mut planned: Vec<(&str, &'static Table, &'static str, String)> = Vec::new();
    let mut errors = Vec::new();
    for n in nodes {
        for c in changes {
            let old = if c.op == ListOp::Set { None } else { view.value(n, c.table, c.col)?.map(|r| r.value) };
            let v = defs::apply_list(c.op, ',', old.as_deref(), &c.value);
            let col = &c.table.columns[c.col];
            match check_value(n, false, &c.column_name(), col, &v) {
                Ok(v) => planned.push((n, c.table, col.name, v)),
                Err(e) => errors.push(e),
            }
            if c.table.name == "nodelist" && col.name == "groups" {
                for g in v.split(',').map(str::trim).filter(|g| !g.is_empty() && *g != "all") {
                    if let Err(e) = node::check_name(g) {
                        errors.push(format!("{n}: Error: nodelist.groups: {e}"));
                    } else if named.contains(g) || get_row(conn, c.table, &[g])?.is_some() {
                        // rmdef of that node would delete the group's rows in every table.
                        errors.push(format!("{n}: Error: nodelist.groups: '{g}' is a node, not a group"));
                    }
                }
            }
        }
    }
    if !errors.is_empty() {
        return Err(Error::Inputs(errors));
    }
    let nodelist = schema::table("nodelist").expect("nodelist");
    for n in nodes {
        upsert(conn, nodelist, &[n], &[])?;
    }
    for (n, t, col, v) in &planned {
        upsert(conn, t, &[n], &[(col, Some(v.as_str()))])?;
    }
    Ok(nodes.len())
}

/// nodeadd: adds the nodes (or updates them, as xCAT's does) with their groups and values.
pub fn nodeadd(conn: &Connection, nodes: &[String], changes: &[Change]) -> Result<usize> {
    if !changes
        .iter()
        .any(|c| c.table.name == "nodelist" && c.table.columns[c.col].name == "groups" && !c.value.is_empty())
    {
        return Err(Error::Usage("nodeadd needs groups=GROUPS (every node belongs to a group)".into()));
    }
    let view = NodeView::load(conn)?;
    let mut errors = Vec::new();
    for n in nodes {
        if let Err(e) = node::check_name(n) {
            errors.push(format!("Error: {e}"));
        } else if !view.is_node(n) && view.is_group(n) {
            errors.push(format!("Error: '{n}' is a group; a node cannot have the same name."));
        }
    }
    if !errors.is_empty() {
        return Err(Error::Inputs(errors));
    }
    nodech(conn, nodes, changes)
}

/// nodech -d: deletes the nodes' own rows from these node tables.
pub fn nodech_delete(conn: &Connection, nodes: &[String], tables: &[&'static Table]) -> Result<usize> {
    for t in tables {
        if t.owner != Owner::Node {
            return Err(Error::Input(format!("table {} is not keyed by node", t.name)));
        }
    }
    for n in nodes {
        for t in tables {
            store::delete_row(conn, t, &[n])?;
        }
    }
    Ok(nodes.len())
}

/// noderm: removes the nodes from every table, as rmdef does.
pub fn noderm(conn: &Connection, nodes: &[String]) -> Result<usize> {
    defs::remove(conn, ObjType::Node, nodes, false)
}

/// A table's CSV, checked against the schema: the columns in the file (as indexes) and the rows.
pub struct Restore {
    pub table: &'static Table,
    /// The file, for errors.
    pub source: String,
    pub columns: Vec<usize>,
    pub rows: Vec<(usize, Row)>,
}

/// Parses and checks a CSV dump of table `t` (`source` names it in errors): the header's columns
/// must exist and the key columns be set. Masked secrets are refused unless `keep_masked`, where
/// [`restore`] keeps the stored value (tabedit shows passwords masked).
pub fn parse_restore(t: &'static Table, source: &str, text: &str, keep_masked: bool) -> Result<Restore> {
    let name = t.name;
    let parsed = tabcsv::parse(text).map_err(|e| Error::Input(format!("{source}: {e}")))?;
    let mut columns = Vec::with_capacity(parsed.columns.len());
    for c in &parsed.columns {
        let (i, _) = t.column(c).ok_or_else(|| {
            Error::Input(format!(
                "{source}: The header line indicates that column '{c}' should exist, which is not defined in the schema for '{name}'"
            ))
        })?;
        columns.push(i);
    }
    for k in t.keys {
        if !parsed.columns.iter().any(|c| c == k) && t.name != "auditlog" {
            return Err(Error::Input(format!("{source}: the header has no '{k}' column, the key of table {name}")));
        }
    }
    let mut errors = Vec::new();
    for (line, row) in &parsed.rows {
        let key = parsed.columns.iter().position(|c| c == t.keys[0]).and_then(|k| row[k].as_deref()).unwrap_or("");
        for (v, &i) in row.iter().zip(&columns) {
            let Some(v) = v else { continue };
            if keep_masked && t.columns[i].secret && v == MASK {
                continue;
            }
            if let Err(e) = schema::check_cell(t, key, i, v) {
                errors.push(format!("Error: {source}: line {line}: {e}"));
            }
        }
        for k in t.keys.iter().filter(|_| t.name != "auditlog") {
            let i = parsed.columns.iter().position(|c| c == k).expect("checked above");
            if row[i].is_none() {
                errors.push(format!("Error: {source}: line {line}: the key column '{k}' is empty"));
            }
        }
    }
    if !errors.is_empty() {
        return Err(Error::Inputs(errors));
    }
    Ok(Restore { table: t, source: source.to_string(), columns, rows: parsed.rows })
}

/// Replaces (or with `append`, adds to) the table's rows. A masked secret left in a row keeps the
/// value stored under the same key; a new row with a masked secret is refused.
pub fn restore(conn: &Connection, r: &Restore, append: bool) -> Result<()> {
    let t = r.table;
    let mut rows: Vec<Row> = Vec::with_capacity(r.rows.len());
    let mut errors = Vec::new();
    for (line, row) in &r.rows {
        let mut row = row.clone();
        for (pos, &i) in r.columns.iter().enumerate() {
            if !(t.columns[i].secret && row[pos].as_deref() == Some(MASK)) {
                continue;
            }
            let key: Vec<&str> = t
                .keys
                .iter()
                .map(|k| {
                    let p = r.columns.iter().position(|&c| t.columns[c].name == *k).expect("keys are in the header");
                    row[p].as_deref().unwrap_or("")
                })
                .collect();
            match get_row(conn, t, &key)?.and_then(|old| old[i].clone()) {
                Some(old) => row[pos] = Some(old),
                None => errors.push(format!(
                    "Error: {}: line {line}: {}.{} is '{MASK}' but row {} has no stored password to keep",
                    r.source,
                    t.name,
                    t.columns[i].name,
                    key.join(",")
                )),
            }
        }
        rows.push(row);
    }
    if !errors.is_empty() {
        return Err(Error::Inputs(errors));
    }
    restore_rows(conn, t, &r.columns, &rows, append)?;
    if matches!(t.name, "nodelist" | "nodegroup") {
        store::view::check_names_disjoint(conn)?;
    }
    Ok(())
}
