//! Object definitions (xCAT's mkdef/chdef/lsdef/rmdef): nodes, groups, osimages, networks and the
//! site object, read and written through the attribute map derived from `schema.rs`.

use crate::error::{Error, Result};
use crate::node;
use crate::select::Comparison;
use crate::store::objects::{attribute, attributes, Attr, ObjType};
use crate::store::regexval::{is_regex_value, RegexValue};
use crate::store::schema::{self, Column, Kind, Table, TABLES};
use crate::store::view::{split_list, NodeView};
use crate::store::{self, all_rows, delete_row, get_row, upsert};
use rusqlite::{Connection, OptionalExtension};
use std::collections::{BTreeMap, HashMap, HashSet};

/// The site object's one name.
pub const SITE_OBJECT: &str = "clustersite";

/// How a value is applied: replace, or add to / remove from a list (chdef `-p` / `-m`; chtab `+=`,
/// nodech `,=` and `^=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListOp {
    Set,
    /// Append what is not in the list yet.
    Add,
    /// Put in front what is not in the list yet (nodech `,=`).
    Prepend,
    Remove,
}

/// Splits `attr=value` arguments; the error names the argument.
pub fn parse_assignments(args: &[String]) -> Result<Vec<(String, String)>> {
    args.iter()
        .map(|a| match a.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(Error::Usage(format!("'{a}' is not of the form attribute=value"))),
        })
        .collect()
}

/// Checks (and for MACs, canonicalizes) a value for `owner`'s attribute backed by `col`. Regex
/// values on a node are evaluated for that node and the result checked; on a group they are only
/// parsed.
pub fn check_value(owner: &str, is_group: bool, attr: &str, col: &Column, value: &str) -> Result<String, String> {
    let fail = |e: String| format!("{owner}: Error: {attr}: {e}");
    if value.is_empty() {
        return Ok(String::new());
    }
    if is_regex_value(value) {
        let re = RegexValue::parse(value).map_err(fail)?;
        if !is_group {
            if let Some(v) = re.eval(owner).map_err(fail)? {
                col.check(&v).map_err(fail)?;
            }
        }
        return Ok(value.to_string());
    }
    col.check(value).map_err(fail)?;
    if col.kind == Kind::Macs {
        return Ok(canonical_macs(value));
    }
    Ok(value.to_string())
}

/// `52-54-00-AB-CD-EF|...!host` -> `52:54:00:ab:cd:ef|...!host` (values already checked).
pub fn canonical_macs(value: &str) -> String {
    value
        .split('|')
        .map(|part| match part.split_once('!') {
            Some((m, host)) => format!("{}!{host}", node::parse_mac(m).unwrap_or_else(|_| m.to_string())),
            None => node::parse_mac(part).unwrap_or_else(|_| part.to_string()),
        })
        .collect::<Vec<_>>()
        .join("|")
}

/// Every MAC in the mac table with the node row that holds it (group rows with regex values are
/// evaluated for each member).
pub fn mac_owners(conn: &Connection, view: &NodeView) -> Result<HashMap<String, String>> {
    let t = schema::table("mac").expect("mac table");
    let mut owners = HashMap::new();
    for n in view.nodes() {
        if let Some(r) = view.value(n, t, 2)? {
            for part in r.value.split('|') {
                let mac = part.split('!').next().unwrap_or(part);
                if let Ok(m) = node::parse_mac(mac) {
                    owners.entry(m).or_insert_with(|| n.clone());
                }
            }
        }
    }
    let _ = conn;
    Ok(owners)
}

fn list_separator(kind: Kind) -> char {
    if kind == Kind::Macs {
        '|'
    } else {
        ','
    }
}

/// Applies a list operation to an old value.
pub fn apply_op(op: ListOp, kind: Kind, old: Option<&str>, value: &str) -> String {
    apply_list(op, list_separator(kind), old, value)
}

/// Applies a list operation to `old`, a list whose items `sep` separates (items trimmed, empty
/// ones dropped).
pub fn apply_list(op: ListOp, sep: char, old: Option<&str>, value: &str) -> String {
    let split = |v: &str| -> Vec<String> {
        v.split(sep).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
    };
    let mut items = split(old.unwrap_or(""));
    match op {
        ListOp::Set => return value.to_string(),
        ListOp::Add => {
            for v in split(value) {
                if !items.contains(&v) {
                    items.push(v);
                }
            }
        }
        ListOp::Prepend => {
            for v in split(value) {
                if !items.contains(&v) {
                    items.insert(0, v);
                }
            }
        }
        ListOp::Remove => {
            let gone = split(value);
            items.retain(|i| !gone.contains(i));
        }
    }
    items.join(&sep.to_string())
}

fn not_found(t: ObjType, name: &str) -> String {
    format!("Could not find an object named '{name}' of type '{}'.", t.name())
}

/// One table's share of an object's changes: the table and its (column, value) pairs.
type TableChange<'a> = (&'static Table, Vec<(&'static str, Option<&'a str>)>);

/// Groups attribute values by the table that holds them.
fn by_table<'a>(assign: &'a [(&'static Attr, String)]) -> Vec<TableChange<'a>> {
    let mut out: Vec<TableChange<'a>> = Vec::new();
    for (a, v) in assign {
        let entry = match out.iter_mut().position(|(t, _)| t.name == a.table.name) {
            Some(i) => &mut out[i].1,
            None => {
                out.push((a.table, Vec::new()));
                &mut out.last_mut().expect("just pushed").1
            }
        };
        entry.push((a.column().name, Some(v.as_str())));
    }
    out
}

/// Resolves attribute names for a type, collecting every unknown one.
fn lookup_attrs(
    t: ObjType,
    assign: &[(String, String)],
    extra: &[&str],
) -> Result<Vec<(Option<&'static Attr>, String, String)>> {
    let mut errors = Vec::new();
    let mut out = Vec::new();
    for (k, v) in assign {
        if extra.contains(&k.as_str()) {
            out.push((None, k.clone(), v.clone()));
            continue;
        }
        match attribute(t, k) {
            Ok(a) => out.push((Some(a), k.clone(), v.clone())),
            Err(e) => errors.push(e.to_string()),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(Error::Inputs(errors))
    }
}

/// mkdef / chdef for nodes. `create`: the nodes must not exist (unless `force`, which replaces
/// them) and `groups` is required. Otherwise (chdef) nodes that do not exist are created when
/// `groups` is given, as xCAT's chdef does.
pub fn write_nodes(
    conn: &Connection,
    names: &[String],
    assign: &[(String, String)],
    op: ListOp,
    create: bool,
    force: bool,
) -> Result<usize> {
    let attrs = lookup_attrs(ObjType::Node, assign, &[])?;
    if create && !assign.iter().any(|(k, v)| k == "groups" && !v.is_empty()) {
        return Err(Error::Input(
            "No object definitions have been created or modified: no attributes were specified. The 'groups' attribute is required when creating node definitions.".into(),
        ));
    }
    let view = NodeView::load(conn)?;
    let mut errors = Vec::new();
    for n in names {
        if let Err(e) = node::check_name(n) {
            errors.push(format!("Error: {e}"));
        } else if create && view.is_node(n) && !force {
            errors.push(format!("Error: A definition for '{n}' already exists."));
        } else if !view.is_node(n) && view.is_group(n) {
            // rmdef of such a node would delete the group's rows in every table.
            errors.push(format!("Error: '{n}' is a group; a node cannot have the same name."));
        } else if !create && !view.is_node(n) && op == ListOp::Remove {
            errors.push(format!("Error: The '-m' option is not valid since the '{n}' definition does not exist."));
        } else if !create && !view.is_node(n) && !assign.iter().any(|(k, v)| k == "groups" && !v.is_empty()) {
            // chdef creates a node that does not exist yet, as xCAT's does, but only with groups.
            errors.push(format!("Error: Attribute 'groups' is not specified for node '{n}', which does not exist (chdef creates it only with groups=)."));
        }
    }
    if !errors.is_empty() {
        return Err(Error::Inputs(errors));
    }
    let mac_attr = attribute(ObjType::Node, "mac")?;
    let mut owners = if attrs.iter().any(|(a, _, _)| a.is_some_and(|a| std::ptr::eq(a, mac_attr))) {
        mac_owners(conn, &view)?
    } else {
        HashMap::new()
    };
    let named: HashSet<&str> = names.iter().map(String::as_str).collect();
    let mut planned: Vec<(String, Vec<(&'static Attr, String)>)> = Vec::with_capacity(names.len());
    for n in names {
        let mut values = Vec::new();
        for (a, name, v) in &attrs {
            let a = a.expect("node attributes are all in the map");
            let old =
                if op == ListOp::Set { None } else { get_row(conn, a.table, &[n])?.and_then(|r| r[a.col].clone()) };
            let merged = apply_op(op, a.column().kind, old.as_deref(), v);
            match check_value(n, false, name, a.column(), &merged) {
                Ok(v) => {
                    if name == "groups" {
                        for g in split_list(&v) {
                            if g != "all" {
                                if let Err(e) = node::check_name(g) {
                                    errors.push(format!("{n}: Error: groups: {e}"));
                                } else if view.is_node(g) || named.contains(g) {
                                    errors.push(format!("{n}: Error: groups: '{g}' is a node, not a group"));
                                }
                            }
                        }
                    }
                    if std::ptr::eq(a, mac_attr) && !is_regex_value(&v) {
                        for part in v.split('|').filter(|p| !p.is_empty()) {
                            let mac = part.split('!').next().unwrap_or(part).to_string();
                            match owners.get(&mac) {
                                Some(other) if other != n => {
                                    errors.push(format!("{n}: Error: mac: {mac} is already used by node {other}"))
                                }
                                _ => {
                                    owners.insert(mac, n.clone());
                                }
                            }
                        }
                    }
                    values.push((a, v));
                }
                Err(e) => errors.push(e),
            }
        }
        planned.push((n.clone(), values));
    }
    if !errors.is_empty() {
        return Err(Error::Inputs(errors));
    }
    for (n, values) in &planned {
        if create && force {
            remove_owner_rows(conn, n)?;
        }
        upsert(conn, schema::table("nodelist").expect("nodelist"), &[n], &[])?;
        for (t, cols) in by_table(values) {
            upsert(conn, t, &[n], &cols)?;
        }
    }
    Ok(names.len())
}

/// Deletes the rows keyed by a node or group name from every node table.
fn remove_owner_rows(conn: &Connection, owner: &str) -> Result<()> {
    for t in TABLES.iter().filter(|t| t.owner == schema::Owner::Node) {
        delete_row(conn, t, &[owner])?;
    }
    Ok(())
}

/// mkdef / chdef for groups: `members=` sets which nodes carry the group in nodelist.groups; other
/// attributes go to the group's rows, which every member inherits.
pub fn write_groups(
    conn: &Connection,
    names: &[String],
    assign: &[(String, String)],
    op: ListOp,
    create: bool,
    force: bool,
) -> Result<usize> {
    let attrs = lookup_attrs(ObjType::Group, assign, &["members", "grouptype", "wherevals"])?;
    let view = NodeView::load(conn)?;
    let nodegroup = schema::table("nodegroup").expect("nodegroup");
    let mut errors = Vec::new();
    for g in names {
        let defined = view.is_group(g);
        if let Err(e) = node::check_name(g) {
            errors.push(format!("Error: {e}"));
        } else if view.is_node(g) {
            errors.push(format!("Error: '{g}' is a node; a group cannot have the same name."));
        } else if create && defined && !force {
            errors.push(format!("Error: A definition for '{g}' already exists."));
        } else if !create && !defined && op == ListOp::Remove {
            errors.push(format!("Error: The '-m' option is not valid since the '{g}' definition does not exist."));
        }
    }
    let mut members: Option<Vec<String>> = None;
    let given = |k: &str| assign.iter().find(|(a, _)| a == k).map(|(_, v)| v.as_str());
    let wherevals = given("wherevals").filter(|w| !w.is_empty());
    for (a, name, v) in &attrs {
        match a {
            Some(a) => {
                for g in names {
                    if let Err(e) = check_value(g, true, name, a.column(), v) {
                        errors.push(e);
                    }
                }
            }
            None if name == "members" => match crate::noderange::expand(v, &view) {
                Ok(m) => members = Some(m),
                Err(e) => errors.push(format!("Error: members: {e}")),
            },
            None if name == "grouptype" && !matches!(v.as_str(), "static" | "dynamic" | "") => {
                errors.push(format!("Error: grouptype: '{v}' is not allowed (allowed: static, dynamic)"));
            }
            None if name == "wherevals" && !v.is_empty() => {
                if let Err(e) = crate::store::view::parse_wherevals(v) {
                    errors.push(format!("Error: wherevals: {e}"));
                }
            }
            None => {}
        }
    }
    for g in names {
        // A group is dynamic when told so (grouptype=dynamic, mkdef/chdef -d) or already is.
        let dynamic = match given("grouptype") {
            Some("dynamic") => true,
            Some(_) => false,
            None => view.dynamic_criteria(g).is_some(),
        };
        if dynamic {
            if attrs.iter().any(|(_, n, _)| !matches!(n.as_str(), "grouptype" | "wherevals")) {
                errors.push(format!("Error: Can not assign attributes to dynamic node group '{g}'."));
            } else if wherevals.is_none() && view.dynamic_criteria(g).is_none_or(str::is_empty) {
                errors.push(format!("Error: dynamic group '{g}' needs criteria (-w attr==val, or wherevals=)."));
            }
        } else if wherevals.is_some() && members.is_some() {
            errors.push("Error: Cannot use a list of members together with the '-w' option.".to_string());
        }
    }
    if !errors.is_empty() {
        return Err(Error::Inputs(errors));
    }
    let nodelist = schema::table("nodelist").expect("nodelist");
    for g in names {
        let dynamic = match given("grouptype") {
            Some(t) => t == "dynamic",
            None => view.dynamic_criteria(g).is_some(),
        };
        if dynamic {
            let mut cols = vec![("grouptype", Some("dynamic"))];
            if let Some(w) = wherevals {
                cols.push(("wherevals", Some(w)));
            }
            upsert(conn, nodegroup, &[g], &cols)?;
            continue;
        }
        // A static group selected with -w gets the matching nodes as its members (xCAT's chdef -w).
        let members = match (wherevals, &members) {
            (Some(w), None) => {
                let criteria = crate::store::view::parse_wherevals(w).map_err(Error::Input)?;
                let mut m = Vec::new();
                'nodes: for n in view.nodes() {
                    for (a, cmp) in &criteria {
                        if !cmp.matches(&view.value(n, a.table, a.col)?.map(|r| r.value).unwrap_or_default()) {
                            continue 'nodes;
                        }
                    }
                    m.push(n.clone());
                }
                Some(m)
            }
            _ => members.clone(),
        };
        upsert(conn, nodegroup, &[g], &[("grouptype", Some("static")), ("wherevals", None)])?;
        let values: Vec<(&'static Attr, String)> = attrs
            .iter()
            .filter_map(|(a, _, v)| a.map(|a| (a, v.clone())))
            .map(|(a, v)| {
                let old = (op != ListOp::Set)
                    .then(|| get_row(conn, a.table, &[g]).ok().flatten().and_then(|r| r[a.col].clone()))
                    .flatten();
                (a, apply_op(op, a.column().kind, old.as_deref(), &v))
            })
            .collect();
        for (t, cols) in by_table(&values) {
            upsert(conn, t, &[g], &cols)?;
        }
        if let Some(m) = &members {
            let current: Vec<String> = view.members_of(g).unwrap_or(&[]).to_vec();
            let wanted: Vec<String> = match op {
                ListOp::Set => m.clone(),
                ListOp::Add | ListOp::Prepend => current.iter().chain(m).cloned().collect(),
                ListOp::Remove => current.iter().filter(|n| !m.contains(n)).cloned().collect(),
            };
            for n in current.iter().chain(&wanted) {
                let gs = view.groups_of(n).join(",");
                let op = if wanted.contains(n) { ListOp::Add } else { ListOp::Remove };
                let new = apply_op(op, Kind::List, Some(&gs), g);
                if new != gs {
                    upsert(conn, nodelist, &[n], &[("groups", Some(&new))])?;
                }
            }
        }
    }
    Ok(names.len())
}

/// Finds an osimage or network row key by object name.
fn object_key(conn: &Connection, t: ObjType, name: &str) -> Result<Option<Vec<String>>> {
    match t {
        ObjType::Osimage => {
            let osimage = schema::table("osimage").expect("osimage");
            Ok(get_row(conn, osimage, &[name])?.map(|_| vec![name.to_string()]))
        }
        ObjType::Network => {
            let key: Option<(String, String)> = conn
                .prepare_cached("SELECT net, mask FROM networks WHERE netname = ?1")?
                .query_row([name], |r| Ok((r.get(0)?, r.get(1)?)))
                .ok();
            Ok(key.map(|(a, b)| vec![a, b]))
        }
        _ => Ok(None),
    }
}

/// The name of the network with this net and mask, if there is one (`net/mask` when it has none).
fn network_with(conn: &Connection, net: &str, mask: &str) -> Result<Option<String>> {
    let name: Option<Option<String>> = conn
        .prepare_cached("SELECT netname FROM networks WHERE net = ?1 AND mask = ?2")?
        .query_row([net, mask], |r| r.get(0))
        .optional()?;
    Ok(name.map(|n| n.unwrap_or_else(|| format!("{net}/{mask}"))))
}

/// mkdef / chdef for osimages and networks.
pub fn write_records(
    conn: &Connection,
    t: ObjType,
    names: &[String],
    assign: &[(String, String)],
    op: ListOp,
    create: bool,
    force: bool,
) -> Result<usize> {
    let attrs = lookup_attrs(t, assign, &[])?;
    let mut errors = Vec::new();
    for name in names {
        let exists = object_key(conn, t, name)?.is_some();
        if let Err(e) = node::check_object_name(name) {
            errors.push(format!("Error: {e}"));
        } else if create && exists && !force {
            errors.push(format!("Error: A definition for '{name}' already exists."));
        } else if !create && !exists && op == ListOp::Remove {
            errors.push(format!("Error: The '-m' option is not valid since the '{name}' definition does not exist."));
        }
        for (a, attr, v) in &attrs {
            let a = a.expect("all attributes are mapped");
            if let Err(e) = check_value(name, true, attr, a.column(), v) {
                errors.push(e);
            }
        }
    }
    // A network chdef creates needs net and mask as much as one mkdef creates.
    let creating = |name: &String| create || object_key(conn, t, name).ok().flatten().is_none();
    if t == ObjType::Network {
        // Networks are keyed by (net, mask): writing another's pair would overwrite that network.
        let given = |k: &str| assign.iter().rev().find(|(a, _)| a == k).map(|(_, v)| v.clone());
        let mut claimed: HashMap<(String, String), &str> = HashMap::new();
        for name in names {
            let current = if create && force { None } else { object_key(conn, t, name)? };
            let (net, mask) = match current {
                Some(k) => (given("net").unwrap_or(k[0].clone()), given("mask").unwrap_or(k[1].clone())),
                None => (given("net").unwrap_or_default(), given("mask").unwrap_or_default()),
            };
            if net.is_empty() || mask.is_empty() {
                continue;
            }
            let holder = match claimed.get(&(net.clone(), mask.clone())) {
                Some(other) => Some(other.to_string()),
                None => network_with(conn, &net, &mask)?.filter(|other| other != name),
            };
            if let Some(other) = holder {
                let what = if creating(name) {
                    format!("create a definition for '{name}'")
                } else {
                    format!("change '{name}' to them")
                };
                errors.push(format!(
                    "Error: A network definition called '{other}' already exists that contains the same net and mask values. Cannot {what}."
                ));
            }
            claimed.insert((net, mask), name);
        }
    }
    if t == ObjType::Network && names.iter().any(creating) {
        for k in ["net", "mask"] {
            if !assign.iter().any(|(a, v)| a == k && !v.is_empty()) {
                errors.push(format!("Error: the '{k}' attribute is required when creating network definitions."));
            }
        }
    }
    if !errors.is_empty() {
        return Err(Error::Inputs(errors));
    }
    for name in names {
        let old_key = object_key(conn, t, name)?;
        let tables: Vec<&'static Table> = TABLES
            .iter()
            .filter(|tb| match t {
                ObjType::Osimage => tb.owner == schema::Owner::Osimage,
                _ => tb.owner == schema::Owner::Network,
            })
            .collect();
        // Current values (for -p/-m and for a network whose net/mask change).
        let mut current: HashMap<(&str, &str), Option<String>> = HashMap::new();
        if let Some(k) = &old_key {
            let keyrefs: Vec<&str> = k.iter().map(String::as_str).collect();
            for tb in &tables {
                if let Some(row) = get_row(conn, tb, &keyrefs)? {
                    for (i, c) in tb.columns.iter().enumerate() {
                        current.insert((tb.name, c.name), row[i].clone());
                    }
                }
                if create && force {
                    delete_row(conn, tb, &keyrefs)?;
                    current.clear();
                }
            }
        }
        let mut values: Vec<(&'static Attr, String)> = Vec::new();
        for (a, _, v) in &attrs {
            let a = a.expect("mapped");
            let old = current.get(&(a.table.name, a.column().name)).cloned().flatten();
            values.push((a, apply_op(op, a.column().kind, old.as_deref(), v)));
        }
        match t {
            ObjType::Osimage => {
                let osimage = schema::table("osimage").expect("osimage");
                upsert(conn, osimage, &[name], &[])?;
                for (tb, cols) in by_table(&values) {
                    upsert(conn, tb, &[name], &cols)?;
                }
            }
            _ => {
                let networks = schema::table("networks").expect("networks");
                let mut row: BTreeMap<&str, Option<String>> = current
                    .iter()
                    .filter(|((tb, _), _)| *tb == "networks")
                    .map(|((_, c), v)| (*c, v.clone()))
                    .collect();
                for (a, v) in &values {
                    row.insert(a.column().name, Some(v.clone()).filter(|v| !v.is_empty()));
                }
                row.insert("netname", Some(name.clone()));
                if let Some(k) = &old_key {
                    delete_row(conn, networks, &[&k[0], &k[1]])?;
                }
                let net = row.get("net").cloned().flatten().unwrap_or_default();
                let mask = row.get("mask").cloned().flatten().unwrap_or_default();
                let cols: Vec<(&str, Option<&str>)> = row
                    .iter()
                    .filter(|(c, _)| !matches!(**c, "net" | "mask"))
                    .map(|(c, v)| (*c, v.as_deref()))
                    .collect();
                upsert(conn, networks, &[&net, &mask], &cols)?;
            }
        }
    }
    Ok(names.len())
}

/// chdef -t site: each attribute is a site key.
pub fn write_site(conn: &Connection, assign: &[(String, String)], op: ListOp) -> Result<usize> {
    let site = schema::table("site").expect("site");
    let mut planned = Vec::with_capacity(assign.len());
    let mut errors = Vec::new();
    for (k, v) in assign {
        let old = store::site_value(conn, k)?;
        let new = apply_op(op, Kind::List, old.as_deref(), v);
        match schema::check_site(k, &new) {
            Ok(()) => planned.push((k, new)),
            Err(e) => errors.push(format!("Error: {e}")),
        }
    }
    if !errors.is_empty() {
        return Err(Error::Inputs(errors));
    }
    for (k, new) in planned {
        if new.is_empty() {
            delete_row(conn, site, &[k])?;
        } else {
            upsert(conn, site, &[k], &[("value", Some(&new))])?;
        }
    }
    Ok(1)
}

/// chdef -n: renames one node, group, osimage or network.
pub fn rename(conn: &Connection, t: ObjType, old: &str, new: &str) -> Result<()> {
    node::check_name(new).map_err(Error::Input)?;
    match t {
        ObjType::Node | ObjType::Group => {
            let view = NodeView::load(conn)?;
            let exists = if t == ObjType::Node { view.is_node(old) } else { view.is_group(old) };
            if !exists {
                return Err(Error::Input(not_found(t, old)));
            }
            if view.is_node(new) || view.is_group(new) {
                return Err(Error::Input(format!("A definition for '{new}' already exists.")));
            }
            for tb in TABLES.iter().filter(|tb| tb.owner == schema::Owner::Node) {
                conn.execute(&format!("UPDATE \"{}\" SET node = ?1 WHERE node = ?2", tb.name), [new, old])?;
            }
            if t == ObjType::Group {
                conn.execute("UPDATE nodegroup SET groupname = ?1 WHERE groupname = ?2", [new, old])?;
                let nodelist = schema::table("nodelist").expect("nodelist");
                for n in view.members_of(old).unwrap_or(&[]) {
                    let gs: Vec<&str> =
                        view.groups_of(n).iter().map(|g| if g == old { new } else { g.as_str() }).collect();
                    upsert(conn, nodelist, &[n], &[("groups", Some(&gs.join(",")))])?;
                }
            }
        }
        ObjType::Osimage => {
            if object_key(conn, t, old)?.is_none() {
                return Err(Error::Input(not_found(t, old)));
            }
            if object_key(conn, t, new)?.is_some() {
                return Err(Error::Input(format!("A definition for '{new}' already exists.")));
            }
            // The nodes would boot a name that no longer exists.
            let view = NodeView::load(conn)?;
            if let Some(nodes) = image_users(&view, &[old.to_string()])?.get(old) {
                return Err(Error::Input(format!(
                    "osimage '{old}' is the boot image of {} node(s): {} (their provmethod or nodeset state); nodeset them to another image first",
                    nodes.len(),
                    some_nodes(nodes)
                )));
            }
            conn.execute("UPDATE osimage SET imagename = ?1 WHERE imagename = ?2", [new, old])?;
            conn.execute("UPDATE linuximage SET imagename = ?1 WHERE imagename = ?2", [new, old])?;
        }
        ObjType::Network => {
            if object_key(conn, t, old)?.is_none() {
                return Err(Error::Input(not_found(t, old)));
            }
            if object_key(conn, t, new)?.is_some() {
                return Err(Error::Input(format!("A definition for '{new}' already exists.")));
            }
            conn.execute("UPDATE networks SET netname = ?1 WHERE netname = ?2", [new, old])?;
        }
        ObjType::Site => return Err(Error::Usage("the site object cannot be renamed".into())),
    }
    Ok(())
}

/// The nodes set to boot each of `images`: by their nodeset state (chain.currstate `netboot IMAGE`,
/// `install IMAGE`) or their nodetype.provmethod, group values included.
pub fn image_users(view: &NodeView, images: &[String]) -> Result<BTreeMap<String, Vec<String>>> {
    let mut users: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for n in view.nodes() {
        let state = view.get(n, "chain", "currstate")?;
        let booted = state.as_deref().and_then(|s| match s.split_once(' ') {
            Some(("netboot" | "install", image)) => Some(image.to_string()),
            _ => None,
        });
        let prov = view.get(n, "nodetype", "provmethod")?;
        for image in images {
            if booted.as_ref() == Some(image) || prov.as_ref() == Some(image) {
                users.entry(image.clone()).or_default().push(n.clone());
            }
        }
    }
    Ok(users)
}

/// "n1,n2,n3" or, for many, the first ten and how many more.
fn some_nodes(nodes: &[String]) -> String {
    const SHOWN: usize = 10;
    if nodes.len() <= SHOWN {
        return nodes.join(",");
    }
    format!("{} and {} more", nodes[..SHOWN].join(","), nodes.len() - SHOWN)
}

/// rmdef: removes the objects (image files are the caller's business). Unknown names: error, nothing
/// removed. An osimage that nodes are set to boot is kept unless `force`: they would get no config.
pub fn remove(conn: &Connection, t: ObjType, names: &[String], force: bool) -> Result<usize> {
    let view = NodeView::load(conn)?;
    let mut missing = Vec::new();
    for n in names {
        let exists = match t {
            ObjType::Node => view.is_node(n),
            ObjType::Group => view.is_group(n) && n != "all",
            ObjType::Osimage | ObjType::Network => object_key(conn, t, n)?.is_some(),
            ObjType::Site => return Err(Error::Usage("the site object cannot be removed".into())),
        };
        if !exists {
            missing.push(format!("Error: {}", not_found(t, n)));
        }
    }
    if t == ObjType::Osimage && !force && missing.is_empty() {
        for (image, nodes) in image_users(&view, names)? {
            missing.push(format!(
                "Error: osimage '{image}' is the boot image of {} node(s): {} (their provmethod or nodeset state); nodeset them to another image first, or rmdef -f to remove it anyway",
                nodes.len(),
                some_nodes(&nodes)
            ));
        }
    }
    if !missing.is_empty() {
        return Err(Error::Inputs(missing));
    }
    let nodelist = schema::table("nodelist").expect("nodelist");
    for n in names {
        match t {
            ObjType::Node => remove_owner_rows(conn, n)?,
            ObjType::Group => {
                remove_owner_rows(conn, n)?;
                delete_row(conn, schema::table("nodegroup").expect("nodegroup"), &[n])?;
                for m in view.members_of(n).unwrap_or(&[]) {
                    let gs = apply_op(ListOp::Remove, Kind::List, Some(&view.groups_of(m).join(",")), n);
                    upsert(conn, nodelist, &[m], &[("groups", Some(&gs))])?;
                }
            }
            ObjType::Osimage => {
                for tb in TABLES.iter().filter(|tb| tb.owner == schema::Owner::Osimage) {
                    delete_row(conn, tb, &[n])?;
                }
            }
            ObjType::Network => {
                conn.execute("DELETE FROM networks WHERE netname = ?1", [n])?;
            }
            ObjType::Site => {}
        }
    }
    Ok(names.len())
}

/// Checks the attribute names a listing asks for (`lsdef -i`, `-w`): a typo is an error naming it,
/// not an empty column. Site keys are free-form.
pub fn check_attr_names<'a>(t: ObjType, names: impl IntoIterator<Item = &'a str>) -> Result<()> {
    // xCAT's per-NIC form: nicips.eth0 is the nicips attribute.
    let base = |n: &'a str| n.split_once('.').filter(|(b, _)| b.starts_with("nic")).map_or(n, |(b, _)| b);
    let errors: Vec<String> = names
        .into_iter()
        .filter(|n| match (t, base(n)) {
            (ObjType::Site, _) => false,
            (ObjType::Group, b) => attribute(t, b).is_err() && !GROUP_ONLY_ATTRS.iter().any(|(g, _)| *g == b),
            (_, b) => attribute(t, b).is_err(),
        })
        .map(|n| {
            let t = t.name();
            format!(
                "Error: '{n}' is not a valid attribute name for an object type of '{t}' (lsdef -t {t} -h lists them)."
            )
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::Inputs(errors))
    }
}

/// One attribute of a listed object.
#[derive(Debug, Clone)]
pub struct Shown {
    pub attr: String,
    pub value: Option<String>,
    pub secret: bool,
    /// The group a node's value was inherited from.
    pub from: Option<String>,
}

/// The attributes of one object, sorted by name; `only` limits (and orders nothing: still sorted).
pub fn describe(
    conn: &Connection,
    view: &NodeView,
    t: ObjType,
    name: &str,
    only: Option<&HashSet<String>>,
) -> Result<Vec<Shown>> {
    let want = |a: &str| only.is_none_or(|o| o.contains(a));
    let mut out = Vec::new();
    match t {
        ObjType::Node => {
            for a in attributes(t).iter().filter(|a| want(a.name)) {
                let r = view.value(name, a.table, a.col)?;
                out.push(Shown {
                    attr: a.name.to_string(),
                    secret: a.column().secret,
                    from: r.as_ref().and_then(|r| r.from.clone()),
                    value: r.map(|r| r.value),
                });
            }
        }
        ObjType::Group => {
            for a in attributes(t).iter().filter(|a| want(a.name) && a.name != "groups") {
                let v = view.rows(a.table)?.get(name).and_then(|r| r[a.col].clone());
                out.push(Shown { attr: a.name.to_string(), value: v, secret: a.column().secret, from: None });
            }
            let criteria = view.dynamic_criteria(name);
            if want("grouptype") {
                let kind = if criteria.is_some() { "dynamic" } else { "static" };
                out.push(Shown { attr: "grouptype".into(), value: Some(kind.into()), secret: false, from: None });
            }
            if want("wherevals") && criteria.is_some() {
                let w = criteria.map(str::to_string);
                out.push(Shown { attr: "wherevals".into(), value: w, secret: false, from: None });
            }
            if want("members") {
                let m = match criteria {
                    Some(_) => view.dynamic_members(name)?.join(","),
                    None => view.members_of(name).unwrap_or(&[]).join(","),
                };
                out.push(Shown {
                    attr: "members".into(),
                    value: Some(m).filter(|m| !m.is_empty()),
                    secret: false,
                    from: None,
                });
            }
        }
        ObjType::Osimage | ObjType::Network => {
            let key = object_key(conn, t, name)?.ok_or_else(|| Error::Input(not_found(t, name)))?;
            let keyrefs: Vec<&str> = key.iter().map(String::as_str).collect();
            let mut rows: HashMap<&str, store::Row> = HashMap::new();
            for a in attributes(t).iter().filter(|a| want(a.name)) {
                if !rows.contains_key(a.table.name) {
                    let row = get_row(conn, a.table, &keyrefs)?.unwrap_or_default();
                    rows.insert(a.table.name, row);
                }
                let v = rows[a.table.name].get(a.col).cloned().flatten();
                out.push(Shown { attr: a.name.to_string(), value: v, secret: a.column().secret, from: None });
            }
        }
        ObjType::Site => {
            let site = schema::table("site").expect("site");
            for row in all_rows(conn, site)?.into_iter().filter(|r| !store::is_disabled(site, r)) {
                let k = row[0].clone().unwrap_or_default();
                if want(&k) {
                    out.push(Shown { attr: k, value: row[1].clone(), secret: false, from: None });
                }
            }
        }
    }
    out.sort_by(|a, b| a.attr.cmp(&b.attr));
    Ok(out)
}

/// The names of every object of a type, in natural order.
pub fn names(conn: &Connection, view: &NodeView, t: ObjType) -> Result<Vec<String>> {
    let mut v: Vec<String> = match t {
        ObjType::Node => return Ok(view.nodes().to_vec()),
        ObjType::Group => {
            let mut g: Vec<String> = view.nodes().iter().flat_map(|n| view.groups_of(n).iter().cloned()).collect();
            g.extend(
                all_rows(conn, schema::table("nodegroup").expect("nodegroup"))?
                    .into_iter()
                    .filter_map(|r| r[0].clone()),
            );
            g.retain(|g| g != "all");
            g
        }
        ObjType::Osimage => all_rows(conn, schema::table("osimage").expect("osimage"))?
            .into_iter()
            .filter_map(|r| r[0].clone())
            .collect(),
        ObjType::Network => all_rows(conn, schema::table("networks").expect("networks"))?
            .into_iter()
            .filter_map(|r| r[0].clone())
            .collect(),
        ObjType::Site => vec![SITE_OBJECT.to_string()],
    };
    v.sort_by(|a, b| crate::noderange::natural_cmp(a, b));
    v.dedup();
    Ok(v)
}

/// One object of a stanza file.
pub struct Stanza {
    pub objtype: ObjType,
    pub name: String,
    pub attrs: Vec<(String, String)>,
}

/// Parses an xCAT stanza file (`lsdef -z` output): `name:` headers, `attr=value` lines,
/// `objtype=` in each stanza, `default-TYPE:` stanzas whose attributes apply to later stanzas of that type.
pub fn parse_stanzas(text: &str) -> Result<Vec<Stanza>> {
    let mut out: Vec<Stanza> = Vec::new();
    let mut defaults: HashMap<String, Vec<(String, String)>> = HashMap::new();
    let mut current: Option<(String, Vec<(String, String)>)> = None;
    let finish = |cur: Option<(String, Vec<(String, String)>)>,
                  out: &mut Vec<_>,
                  defaults: &mut HashMap<String, Vec<(String, String)>>|
     -> Result<()> {
        if let Some((name, attrs)) = cur {
            if let Some(ty) = name.strip_prefix("default-") {
                defaults.insert(ty.to_string(), attrs);
                return Ok(());
            }
            let ty = attrs.iter().find(|(k, _)| k == "objtype").map(|(_, v)| v.clone());
            let Some(ty) = ty else {
                return Err(Error::Input(format!("stanza '{name}' has no objtype= line")));
            };
            let t = ObjType::parse(&ty)?;
            let mut merged: Vec<(String, String)> = defaults.get(&ty).cloned().unwrap_or_default();
            for (k, v) in attrs.into_iter().filter(|(k, _)| k != "objtype") {
                merged.retain(|(dk, _)| *dk != k);
                merged.push((k, v));
            }
            out.push(Stanza { objtype: t, name, attrs: merged });
        }
        Ok(())
    };
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_suffix(':').filter(|n| !n.contains('=')) {
            finish(current.take(), &mut out, &mut defaults)?;
            current = Some((name.trim().to_string(), Vec::new()));
        } else if let Some((k, v)) = line.split_once('=') {
            match current.as_mut() {
                Some((_, attrs)) => attrs.push((k.trim().to_string(), unquote(v.trim()).to_string())),
                None => {
                    return Err(Error::Input(format!("stanza line {}: '{line}' comes before any 'name:' line", i + 1)))
                }
            }
        } else {
            return Err(Error::Input(format!("stanza line {}: '{line}' is neither 'name:' nor 'attr=value'", i + 1)));
        }
    }
    finish(current.take(), &mut out, &mut defaults)?;
    Ok(out)
}

/// A stanza value without the double quotes around it (xCAT's readFileInput strips them).
fn unquote(v: &str) -> &str {
    v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).map(str::trim).unwrap_or(v)
}

/// The object definition templates `lsdef --template` lists (xCAT ships them under
/// share/xcat/templates/objects/TYPE/); oxcat's are built in.
const TEMPLATES: &str = include_str!("../share/templates/node.stanza");

/// The templates of a type, by name.
pub fn templates(t: ObjType) -> Result<Vec<Stanza>> {
    Ok(parse_stanzas(TEMPLATES)?.into_iter().filter(|s| s.objtype == t).collect())
}

/// `mkdef --template NAME`: the attributes given, plus those of the template the command line
/// leaves out. NAME is a shipped template (its `MANDATORY:` attributes must be given, its
/// `OPTIONAL:` ones are left unset) or else an existing object of the type, which is copied.
pub fn with_template(
    conn: &Connection,
    view: &NodeView,
    t: ObjType,
    template: &str,
    assign: &[(String, String)],
    creating: &[String],
) -> Result<Vec<(String, String)>> {
    let given = |k: &str| assign.iter().any(|(a, v)| a == k && !v.is_empty());
    let mut out = assign.to_vec();
    if let Some(tpl) = templates(t)?.into_iter().find(|s| s.name == template) {
        for (k, v) in tpl.attrs {
            if v.starts_with("MANDATORY:") && !given(&k) {
                return Err(Error::Input(format!("The attribute \"{k}\" must be specified!")));
            }
            if !given(&k) && !v.is_empty() && !v.starts_with("OPTIONAL:") && !v.starts_with("MANDATORY:") {
                out.push((k, v));
            }
        }
        return Ok(out);
    }
    if !names(conn, view, t)?.iter().any(|n| n == template) {
        return Err(Error::Input(format!(
            "Could not find the template object named '{template}' of type '{}'.",
            t.name()
        )));
    }
    if creating.iter().any(|n| n == template) {
        return Err(Error::Input("The template node cannot be the same as the node to create.".into()));
    }
    for a in describe(conn, view, t, template, None)? {
        // A group's members and type belong to it, not to a copy.
        if t == ObjType::Group && matches!(a.attr.as_str(), "members" | "grouptype" | "wherevals") {
            continue;
        }
        if let Some(v) = a.value.filter(|_| !given(&a.attr)) {
            out.push((a.attr, v));
        }
    }
    Ok(out)
}

/// `lsdef -t TYPE -h [-i ATTRS]`: the attributes of a type with their descriptions, in xCAT's
/// layout (`attr:<tab><tab>description`, a blank line between). Unknown names in `only` are an error.
pub fn attribute_help(t: ObjType, only: Option<&[String]>) -> Result<String> {
    if t == ObjType::Site {
        let site = schema::table("site").expect("site");
        return Ok(format!(
            "\nThere can only be one xCAT site definition. This definition consists \nof an unlimited list of user-defined attributes and values that represent \nglobal settings for the whole cluster. The following is a list \nof the attributes currently supported by xCAT.\n{}\n",
            site.desc
        ));
    }
    let mut entries: Vec<(&str, &str)> = attributes(t)
        .iter()
        .filter(|a| !(t == ObjType::Group && a.name == "groups"))
        .map(|a| (a.name, a.column().desc))
        .collect();
    if t == ObjType::Group {
        entries.extend(GROUP_ONLY_ATTRS.iter().copied());
    }
    if let Some(only) = only {
        let unknown: Vec<String> = only
            .iter()
            .filter(|o| !entries.iter().any(|(n, _)| n == o))
            .map(|o| format!("Error: '{o}' is not a valid attribute name for an object type of '{}'.", t.name()))
            .collect();
        if !unknown.is_empty() {
            return Err(Error::Inputs(unknown));
        }
        entries.retain(|(n, _)| only.iter().any(|o| o == n));
    }
    entries.sort();
    let mut text = String::new();
    if only.is_none() {
        text.push_str(&format!("The valid attribute names for object type '{}' are:\n", t.name()));
    }
    text.push_str("Attribute          Description\n\n");
    let body: Vec<String> =
        entries.iter().map(|(n, d)| format!("{n}:{}{d}", if n.len() < 7 { "\t\t" } else { "\t" })).collect();
    text.push_str(&body.join("\n\n"));
    text.push('\n');
    Ok(text)
}

/// Group attributes that live in the nodegroup table rather than in the node tables.
const GROUP_ONLY_ATTRS: &[(&str, &str)] = &[
    (
        "grouptype",
        "The type of the group: static (members listed in nodelist.groups) or dynamic (members selected by wherevals).",
    ),
    ("members", "The members of a static group (a noderange); they carry the group in nodelist.groups."),
    ("wherevals", "The criteria of a dynamic group: attr==val, attr!=val, attr=~re or attr!~re, joined by '::'."),
];

/// A `-w` selection of lsdef and chdef: attr==val, attr!=val, attr=~re, attr!~re on object attributes.
pub struct Selection {
    pub attr: String,
    cmp: Comparison,
}

impl Selection {
    pub fn parse(text: &str) -> Result<Selection> {
        match Comparison::parse(text) {
            Some(Ok((attr, cmp))) => Ok(Selection { attr, cmp }),
            Some(Err(e)) => Err(Error::Usage(format!("-w {text}: {e}"))),
            None => Err(Error::Usage(format!("-w '{text}' is not attr==val, attr!=val, attr=~re or attr!~re"))),
        }
    }

    pub fn matches(&self, attrs: &[Shown]) -> bool {
        self.cmp.matches(attrs.iter().find(|s| s.attr == self.attr).and_then(|s| s.value.as_deref()).unwrap_or(""))
    }
}

/// The objects among `names` whose attributes match every selection.
pub fn select(
    conn: &Connection,
    view: &NodeView,
    t: ObjType,
    names: Vec<String>,
    wheres: &[Selection],
) -> Result<Vec<String>> {
    if wheres.is_empty() {
        return Ok(names);
    }
    check_attr_names(t, wheres.iter().map(|w| w.attr.as_str()))?;
    // A selection on a password would answer questions about it.
    if let Some(w) = wheres.iter().find(|w| attributes(t).iter().any(|a| a.name == w.attr && a.column().secret)) {
        return Err(Error::Input(crate::store::view::secret_criterion(&w.attr)));
    }
    let want: HashSet<String> = wheres.iter().map(|w| w.attr.clone()).collect();
    let mut out = Vec::with_capacity(names.len());
    for n in names {
        let attrs = describe(conn, view, t, &n, Some(&want))?;
        if wheres.iter().all(|w| w.matches(&attrs)) {
            out.push(n);
        }
    }
    Ok(out)
}

/// Expands chdef's noderange: like any noderange, except that names which are no node or group
/// stand for new nodes (xCAT's chdef creates a node that does not exist yet, given `groups=`).
/// An unknown name in an exclusion (`compute,-cn0l`) is a typo, refused as by every command: the
/// node meant to be spared must not be changed.
pub fn expand_for_change(view: &NodeView, text: &str) -> Result<Vec<String>> {
    use crate::noderange::NoderangeError;
    match crate::noderange::expand(text, view) {
        Err(NoderangeError::Unknown(_)) => {
            let (new, excluded) = crate::noderange::unknown_names(text, view)?;
            if !excluded.is_empty() {
                return Err(NoderangeError::Unknown(excluded).into());
            }
            let with_new = WithNewNodes { view, new: new.into_iter().collect() };
            Ok(crate::noderange::expand(text, &with_new)?)
        }
        other => Ok(other?),
    }
}

/// The cluster plus nodes about to be created, for [`expand_for_change`].
struct WithNewNodes<'a, 'c> {
    view: &'a NodeView<'c>,
    new: HashSet<String>,
}

impl crate::noderange::Universe for WithNewNodes<'_, '_> {
    fn is_node(&self, name: &str) -> bool {
        self.new.contains(name) || crate::noderange::Universe::is_node(self.view, name)
    }
    fn group_members(&self, name: &str) -> Option<Vec<String>> {
        self.view.group_members(name)
    }
    fn all_nodes(&self) -> Vec<String> {
        self.view.all_nodes()
    }
    fn column_values(&self, selector: &str) -> std::result::Result<Vec<(String, Option<String>)>, String> {
        self.view.column_values(selector)
    }
    fn name_limit(&self) -> u64 {
        crate::noderange::Universe::name_limit(self.view)
    }
}

/// `rmdef -a -f`: removes every group, node, osimage and network (the site object stays). Returns
/// the count and the image directories to delete once the rows are gone.
pub fn remove_all(conn: &Connection) -> Result<(usize, Vec<std::path::PathBuf>)> {
    let mut count = 0;
    let mut images = Vec::new();
    for t in [ObjType::Group, ObjType::Node, ObjType::Osimage, ObjType::Network] {
        let view = NodeView::load(conn)?;
        let names = names(conn, &view, t)?;
        drop(view);
        if t == ObjType::Osimage {
            images = crate::image::files_of(conn, &names)?;
        }
        count += remove(conn, t, &names, true)?;
    }
    Ok((count, images))
}
