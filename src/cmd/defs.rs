//! mkdef, chdef, lsdef, rmdef: xCAT's object commands.

use super::{flag, json_arg, secrets_arg, values, Ctx, Status};
use crate::defs::{self, ListOp, Shown};
use crate::error::{Error, Result};
use crate::noderange;
use crate::output::{self, shown};
use crate::select::Comparison;
use crate::store::objects::{ObjType, OBJ_TYPES};
use crate::store::view::NodeView;
use crate::store::{self, Store};
use clap::{Arg, ArgAction, ArgMatches, Command};
use std::collections::HashSet;
use std::io::Write;

pub const MKDEF_ABOUT: &str = "Create object definitions (node, group, osimage, network, site)";
pub const CHDEF_ABOUT: &str = "Change object definitions";
pub const LSDEF_ABOUT: &str = "List object definitions";
pub const RMDEF_ABOUT: &str = "Remove object definitions";

fn type_arg() -> Arg {
    Arg::new("type")
        .short('t')
        .value_name("TYPE")
        .default_value("node")
        .value_parser(clap::builder::PossibleValuesParser::new(OBJ_TYPES))
        .hide_possible_values(true)
        .help("Object type: node, group, osimage, network or site")
}

fn names_arg() -> Arg {
    Arg::new("objects").short('o').value_name("NAMES").help("Object names, comma-separated (instead of a noderange)")
}

fn rest_arg(help: &'static str) -> Arg {
    Arg::new("args").num_args(0..).value_name("NODERANGE|ATTR=VALUE").help(help)
}

pub fn mkdef_command() -> Command {
    Command::new("mkdef")
        .arg(type_arg())
        .arg(names_arg())
        .arg(
            Arg::new("stanza")
                .short('z')
                .action(ArgAction::SetTrue)
                .help("Read stanzas (lsdef -z format) from standard input"),
        )
        .arg(Arg::new("force").short('f').long("force").action(ArgAction::SetTrue).help("Replace existing definitions"))
        .arg(rest_arg("The objects (a noderange for nodes), then attribute=value pairs"))
}

pub fn chdef_command() -> Command {
    Command::new("chdef")
        .arg(type_arg())
        .arg(names_arg())
        .arg(
            Arg::new("stanza")
                .short('z')
                .action(ArgAction::SetTrue)
                .help("Read stanzas (lsdef -z format) from standard input"),
        )
        .arg(Arg::new("newname").short('n').value_name("NEWNAME").help("Rename the one object given"))
        .arg(
            Arg::new("plus")
                .short('p')
                .long("plus")
                .action(ArgAction::SetTrue)
                .conflicts_with("minus")
                .help("Add the values to list attributes"),
        )
        .arg(
            Arg::new("minus")
                .short('m')
                .long("minus")
                .action(ArgAction::SetTrue)
                .help("Remove the values from list attributes"),
        )
        .arg(rest_arg("The objects (a noderange for nodes), then attribute=value pairs"))
}

pub fn lsdef_command() -> Command {
    Command::new("lsdef")
        .arg(type_arg())
        .arg(names_arg())
        .arg(Arg::new("stanza").short('z').action(ArgAction::SetTrue).help("Print stanzas that mkdef -z reads back"))
        .arg(
            Arg::new("long")
                .short('l')
                .action(ArgAction::SetTrue)
                .help("Print every attribute (the default when objects are named)"),
        )
        .arg(
            Arg::new("attrs")
                .short('i')
                .value_name("ATTRS")
                .help("Print only these attributes, comma-separated (unset ones as attr=)"),
        )
        .arg(Arg::new("compressed").short('c').action(ArgAction::SetTrue).help("Print 'name: attr=value' lines"))
        .arg(
            Arg::new("where")
                .short('w')
                .value_name("ATTR==VAL")
                .action(ArgAction::Append)
                .help("Select objects: attr==val, attr!=val, attr=~regex, attr!~regex"),
        )
        .arg(
            Arg::new("table")
                .long("table")
                .action(ArgAction::SetTrue)
                .conflicts_with_all(["stanza", "compressed", "json", "long"])
                .help("Print a table: one row per object, one column per attribute (-i picks the columns)"),
        )
        .arg(json_arg())
        .arg(secrets_arg())
        .arg(rest_arg("The objects (a noderange for nodes); all when omitted"))
}

pub fn rmdef_command() -> Command {
    Command::new("rmdef").arg(type_arg()).arg(names_arg()).arg(rest_arg("The objects (a noderange for nodes)"))
}

/// The objects named (by -o or the first positional) and the attribute=value arguments.
fn split_args(m: &ArgMatches) -> (Option<String>, Vec<String>) {
    let mut rest = values(m, "args");
    let named = m.get_one::<String>("objects").cloned();
    if named.is_some() {
        return (named, rest);
    }
    if rest.first().is_some_and(|a| !a.contains('=')) {
        let first = rest.remove(0);
        return (Some(first), rest);
    }
    (None, rest)
}

fn obj_type(m: &ArgMatches) -> Result<ObjType> {
    ObjType::parse(m.get_one::<String>("type").map(String::as_str).unwrap_or("node"))
}

/// Expands object names: noderanges for nodes, comma lists otherwise.
fn expand(view: &NodeView, t: ObjType, text: &str, creating: bool) -> Result<Vec<String>> {
    match t {
        ObjType::Node if creating => Ok(noderange::expand_names_within(text, view.name_limit())?),
        ObjType::Node => Ok(noderange::expand(text, view)?),
        ObjType::Group if creating => Ok(noderange::expand_names_within(text, view.name_limit())?),
        _ => Ok(text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()),
    }
}

/// One object (or noderange) to create or change, from the command line or a stanza.
struct Job {
    objtype: ObjType,
    target: Option<String>,
    assign: Vec<(String, String)>,
}

fn write(ctx: &mut Ctx, m: &ArgMatches, create: bool) -> Result<Status> {
    let t = obj_type(m)?;
    let op = if !create && flag(m, "plus") {
        ListOp::Add
    } else if !create && flag(m, "minus") {
        ListOp::Remove
    } else {
        ListOp::Set
    };
    let force = create && flag(m, "force");
    let (target, rest) = split_args(m);
    let mut jobs: Vec<Job> = Vec::new();
    if flag(m, "stanza") {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).map_err(|e| Error::io("stdin", e))?;
        for s in defs::parse_stanzas(&text)? {
            jobs.push(Job { objtype: s.objtype, target: Some(s.name), assign: s.attrs });
        }
    } else {
        jobs.push(Job { objtype: t, target: target.clone(), assign: defs::parse_assignments(&rest)? });
    }
    let newname = if create { None } else { m.get_one::<String>("newname").cloned() };
    let mut store = ctx.store()?;
    let args = ctx.redacted_args();
    let name = ctx.name;
    let count = store.write(|c| {
        let mut count = 0;
        for Job { objtype: t, target, assign } in &jobs {
            let view = NodeView::load(c)?;
            if *t == ObjType::Site {
                if assign.is_empty() {
                    return Err(Error::Usage("no attributes were specified".into()));
                }
                count += defs::write_site(c, assign, op)?;
                continue;
            }
            let Some(target) = target else {
                return Err(Error::Usage(format!("no {} names were given (a noderange, or -o NAMES)", t.name())));
            };
            if let Some(new) = &newname {
                defs::rename(c, *t, target, new)?;
                count += 1;
                if assign.is_empty() {
                    continue;
                }
            }
            let target = newname.clone().unwrap_or_else(|| target.clone());
            let names = expand(&view, *t, &target, create)?;
            if names.is_empty() {
                continue;
            }
            if assign.is_empty() && !create {
                return Err(Error::Usage("no attributes were specified".into()));
            }
            count += match t {
                ObjType::Node => defs::write_nodes(c, &names, assign, op, create, force)?,
                ObjType::Group => defs::write_groups(c, &names, assign, op, create, force)?,
                _ => defs::write_records(c, *t, &names, assign, op, create, force)?,
            };
        }
        store::audit(c, name, target.as_deref().unwrap_or(""), &args)?;
        Ok(count)
    })?;
    if count == 0 {
        writeln!(ctx.out, "No object definitions have been created or modified.").map_err(output::io)?;
    } else {
        writeln!(ctx.out, "{count} object definitions have been created or modified.").map_err(output::io)?;
    }
    Ok(Status::Ok)
}

pub fn mkdef(ctx: &mut Ctx, m: &ArgMatches) -> Result<Status> {
    write(ctx, m, true)
}

pub fn chdef(ctx: &mut Ctx, m: &ArgMatches) -> Result<Status> {
    write(ctx, m, false)
}

pub fn rmdef(ctx: &mut Ctx, m: &ArgMatches) -> Result<Status> {
    let t = obj_type(m)?;
    let (target, _) = split_args(m);
    let Some(target) = target else {
        return Err(Error::Usage(format!("no {} names were given (a noderange, or -o NAMES)", t.name())));
    };
    let mut store = ctx.store()?;
    let args = ctx.redacted_args();
    let name = ctx.name;
    let (count, images) = store.write(|c| {
        let view = NodeView::load(c)?;
        let names = expand(&view, t, &target, false)?;
        let images = if t == ObjType::Osimage { crate::image::files_of(c, &names)? } else { Vec::new() };
        let n = defs::remove(c, t, &names)?;
        store::audit(c, name, &target, &args)?;
        Ok((n, images))
    })?;
    // Files go after the rows are gone: a failure leaves files without rows, never rows without files.
    let mut status = Status::Ok;
    for dir in &images {
        if let Err(e) = crate::image::remove_dir(dir) {
            ctx.error_line(&format!("Warning: {e}"))?;
            status = Status::SomeFailed;
        }
    }
    if count == 0 {
        writeln!(ctx.out, "No objects have been removed from the xCAT database.").map_err(output::io)?;
    } else {
        writeln!(ctx.out, "{count} object definitions have been removed.").map_err(output::io)?;
    }
    Ok(status)
}

/// The columns of `lsdef --table` when -i does not name them.
const TABLE_DEFAULT: &[&str] = &["groups", "mgt", "bmc", "mac", "ip", "arch", "status"];

/// A `-w` selection: attr==val, attr!=val, attr=~re, attr!~re.
struct Where {
    attr: String,
    cmp: Comparison,
}

impl Where {
    fn parse(text: &str) -> Result<Where> {
        match Comparison::parse(text) {
            Some(Ok((attr, cmp))) => Ok(Where { attr, cmp }),
            Some(Err(e)) => Err(Error::Usage(format!("-w {text}: {e}"))),
            None => Err(Error::Usage(format!("-w '{text}' is not attr==val, attr!=val, attr=~re or attr!~re"))),
        }
    }

    fn matches(&self, attrs: &[Shown]) -> bool {
        self.cmp.matches(attrs.iter().find(|s| s.attr == self.attr).and_then(|s| s.value.as_deref()).unwrap_or(""))
    }
}

pub fn lsdef(ctx: &mut Ctx, m: &ArgMatches) -> Result<Status> {
    let t = obj_type(m)?;
    let (target, _) = split_args(m);
    let store: Store = ctx.store()?;
    let conn = store.conn();
    let view = NodeView::load(conn)?;
    let names = match &target {
        Some(r) => {
            let names = expand(&view, t, r, false)?;
            if t != ObjType::Node {
                let known: HashSet<String> = defs::names(conn, &view, t)?.into_iter().collect();
                let missing: Vec<String> = names
                    .iter()
                    .filter(|n| !known.contains(*n))
                    .map(|n| format!("Error: Could not find an object named '{n}' of type '{}'.", t.name()))
                    .collect();
                if !missing.is_empty() {
                    return Err(Error::Inputs(missing));
                }
            }
            names
        }
        None => defs::names(conn, &view, t)?,
    };
    let only: Option<HashSet<String>> = m
        .get_one::<String>("attrs")
        .map(|a| a.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect());
    let wheres: Vec<Where> = values(m, "where").iter().map(|w| Where::parse(w)).collect::<Result<_>>()?;
    if let Some(w) =
        wheres.iter().find(|w| store::objects::attributes(t).iter().any(|a| a.name == w.attr && a.column().secret))
    {
        return Err(Error::Input(crate::store::view::secret_criterion(&w.attr)));
    }
    let show_secrets = flag(m, "show-secrets");
    let json = flag(m, "json");
    let stanza = flag(m, "stanza");
    let compressed = flag(m, "compressed");
    let long =
        flag(m, "long") || only.is_some() || target.is_some() || t == ObjType::Site || stanza || json || compressed;
    let out = &mut ctx.out;
    if flag(m, "table") {
        let columns: Vec<String> = match &only {
            Some(_) => m
                .get_one::<String>("attrs")
                .map(|a| a.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())
                .unwrap_or_default(),
            None => TABLE_DEFAULT.iter().map(|s| s.to_string()).collect(),
        };
        let want: HashSet<String> = columns.iter().cloned().collect();
        let mut rows = Vec::new();
        for n in &names {
            let attrs = defs::describe(conn, &view, t, n, if wheres.is_empty() { Some(&want) } else { None })?;
            if !wheres.iter().all(|w| w.matches(&attrs)) {
                continue;
            }
            let cell = |c: &str| {
                attrs
                    .iter()
                    .find(|a| a.attr == c)
                    .and_then(|a| a.value.as_deref().map(|v| shown(v, a.secret, show_secrets).to_string()))
                    .unwrap_or_else(|| "--".to_string())
            };
            rows.push(std::iter::once(n.clone()).chain(columns.iter().map(|c| cell(c))).collect::<Vec<_>>());
        }
        let header = std::iter::once(t.name().to_uppercase()).chain(columns.iter().map(|c| c.to_uppercase()));
        writeln!(out, "{}", output::table(header.collect(), rows)).map_err(output::io)?;
        return Ok(Status::Ok);
    }
    if !long && wheres.is_empty() {
        for n in &names {
            writeln!(out, "{n}  ({})", t.name()).map_err(output::io)?;
        }
        return Ok(Status::Ok);
    }
    if stanza {
        writeln!(out, "# <xCAT data object stanza file>").map_err(output::io)?;
    }
    let mut first = true;
    for n in &names {
        let mut attrs = defs::describe(conn, &view, t, n, only.as_ref().filter(|_| wheres.is_empty()))?;
        if !wheres.iter().all(|w| w.matches(&attrs)) {
            continue;
        }
        if !wheres.is_empty() {
            if let Some(o) = &only {
                attrs.retain(|a| o.contains(&a.attr));
            }
        }
        // Unset attributes are left out unless asked for by name with -i.
        let listed: Vec<&Shown> = attrs.iter().filter(|a| a.value.is_some() || only.is_some()).collect();
        let text = |a: &Shown| shown(a.value.as_deref().unwrap_or(""), a.secret, show_secrets).to_string();
        if json {
            let map: serde_json::Map<String, serde_json::Value> =
                listed.iter().map(|a| (a.attr.clone(), a.value.as_ref().map(|_| text(a)).into())).collect();
            let rec = serde_json::json!({"name": n, "type": t.name(), "attrs": map});
            output::json_line(out.as_mut(), &rec)?;
        } else if stanza {
            writeln!(out, "\n{n}:\n    objtype={}", t.name()).map_err(output::io)?;
            for a in &listed {
                writeln!(out, "    {}={}", a.attr, text(a)).map_err(output::io)?;
            }
        } else if compressed {
            for a in &listed {
                writeln!(out, "{n}: {}={}", a.attr, text(a)).map_err(output::io)?;
            }
        } else {
            if !first {
                writeln!(out).map_err(output::io)?;
            }
            writeln!(out, "Object name: {n}").map_err(output::io)?;
            for a in &listed {
                writeln!(out, "    {}={}", a.attr, text(a)).map_err(output::io)?;
            }
        }
        first = false;
    }
    Ok(Status::Ok)
}
