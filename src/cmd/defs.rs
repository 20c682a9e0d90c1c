//! mkdef, chdef, lsdef, rmdef: xCAT's object commands.

use super::{flag, json_arg, secrets_arg, values, Ctx, Status};
use crate::defs::{self, ListOp, Shown};
use crate::error::{Error, Result};
use crate::noderange;
use crate::output::{self, shown};
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
                .help("Read stanzas (lsdef -z format) from standard input; passwords must be real, not ********"),
        )
        .arg(Arg::new("force").short('f').long("force").action(ArgAction::SetTrue).help("Replace existing definitions"))
        .arg(where_arg().help("With -t group: select the group's members (with -d: its criteria)"))
        .arg(Arg::new("template").long("template").value_name("TEMPLATE").help(
            "Start from a shipped template (lsdef --template; its MANDATORY attributes must be given) or an existing object of the type",
        ))
        .arg(dynamic_arg())
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
                .help("Read stanzas (lsdef -z format) from standard input; passwords must be real, not ********"),
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
        .arg(where_arg().help(
            "Change only the objects that match (all of the type when none are named); for a group, select its members",
        ))
        .arg(dynamic_arg())
        .arg(rest_arg("The objects (a noderange for nodes), then attribute=value pairs"))
}

fn where_arg() -> Arg {
    Arg::new("where")
        .short('w')
        .value_name("ATTR==VAL")
        .action(ArgAction::Append)
        .help("Select objects: attr==val, attr!=val, attr=~regex, attr!~regex")
}

fn dynamic_arg() -> Arg {
    Arg::new("dynamic")
        .short('d')
        .long("dynamic")
        .action(ArgAction::SetTrue)
        .requires("where")
        .help("With -t group: a dynamic group, whose members are the nodes matching -w when it is used")
}

pub fn lsdef_command() -> Command {
    Command::new("lsdef")
        .disable_help_flag(true)
        .arg(
            Arg::new("type")
                .short('t')
                .value_name("TYPES")
                .help("Object types, comma-separated: node, group, osimage, network, site (default: node)"),
        )
        .arg(names_arg())
        .arg(
            Arg::new("all")
                .short('a')
                .long("all")
                .action(ArgAction::SetTrue)
                .conflicts_with_all(["objects", "table"])
                .help("List the objects of every type"),
        )
        .arg(
            Arg::new("short")
                .short('s')
                .long("short")
                .action(ArgAction::SetTrue)
                .conflicts_with_all(["long", "attrs", "table"])
                .help("Print only the object names"),
        )
        .arg(
            Arg::new("hidden").short('S').action(ArgAction::SetTrue).help("Also list hidden nodes (nodelist.hidden=1)"),
        )
        .arg(
            Arg::new("template")
                .long("template")
                .value_name("NAMES")
                .num_args(0..=1)
                .default_missing_value("")
                .help("List the object definition templates oxcat ships (of -t's type, or these)"),
        )
        .arg(
            Arg::new("help")
                .short('h')
                .long("help")
                .action(ArgAction::SetTrue)
                .help("With -t: describe the type's attributes (-i: only these); otherwise print this help"),
        )
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
        .arg(where_arg())
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
    Command::new("rmdef")
        .arg(type_arg())
        .arg(names_arg())
        .arg(
            Arg::new("all")
                .short('a')
                .long("all")
                .action(ArgAction::SetTrue)
                .conflicts_with_all(["objects", "args"])
                .help("Remove every node, group, osimage and network (needs -f; the site object stays)"),
        )
        .arg(
            Arg::new("force")
                .short('f')
                .long("force")
                .action(ArgAction::SetTrue)
                .help("Confirm -a; remove an osimage even while nodes are set to boot it"),
        )
        .arg(rest_arg("The objects (a noderange for nodes)"))
}

/// True when `id` was given on the command line (not a default).
fn given(m: &ArgMatches, id: &str) -> bool {
    m.value_source(id) == Some(clap::parser::ValueSource::CommandLine)
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

/// How object names are read: for mkdef (new names), chdef (existing or new) or the others.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Naming {
    Create,
    Change,
    Existing,
}

/// Expands object names: noderanges for nodes, comma lists otherwise.
fn expand(view: &NodeView, t: ObjType, text: &str, naming: Naming) -> Result<Vec<String>> {
    let creating = naming == Naming::Create;
    match t {
        ObjType::Node if naming == Naming::Change => defs::expand_for_change(view, text),
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
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes).map_err(|e| Error::io("stdin", e))?;
        let text = Error::text("standard input", bytes)?;
        for s in defs::parse_stanzas(&text)? {
            jobs.push(Job { objtype: s.objtype, target: Some(s.name), assign: s.attrs });
        }
    } else {
        jobs.push(Job { objtype: t, target: target.clone(), assign: defs::parse_assignments(&rest)? });
    }
    let wheres: Vec<String> = values(m, "where");
    if !wheres.is_empty() && !flag(m, "stanza") {
        if t == ObjType::Group {
            // A group's -w selects its members (-d: keeps the criteria, a dynamic group).
            let job = jobs.last_mut().expect("one job from the command line");
            job.assign.push(("wherevals".into(), wheres.join("::")));
            if flag(m, "dynamic") {
                job.assign.push(("grouptype".into(), "dynamic".into()));
            }
        } else if create {
            return Err(Error::Usage(
                "-w selects the members of a group (-t group); mkdef of other types names its objects".into(),
            ));
        }
    }
    let selection: Vec<defs::Selection> = if t == ObjType::Group || create {
        Vec::new()
    } else {
        wheres.iter().map(|w| defs::Selection::parse(w)).collect::<Result<_>>()?
    };
    let template = if create { m.get_one::<String>("template").map(String::as_str) } else { None };
    if template.is_some() && flag(m, "stanza") {
        return Err(Error::Usage("The file input can not be used with --template option!".into()));
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
            let target = match target {
                Some(target) => target.clone(),
                // chdef -w with no names: the objects of the type that match.
                None if !selection.is_empty() => defs::names(c, &view, *t)?.join(","),
                None => {
                    return Err(Error::Usage(format!("no {} names were given (a noderange, or -o NAMES)", t.name())))
                }
            };
            let target = &target;
            if let Some(new) = &newname {
                defs::rename(c, *t, target, new)?;
                count += 1;
                if assign.is_empty() {
                    continue;
                }
            }
            let target = newname.clone().unwrap_or_else(|| target.clone());
            let naming = if create { Naming::Create } else { Naming::Change };
            let names = expand(&view, *t, &target, naming)?;
            let names = defs::select(c, &view, *t, names, &selection)?;
            if names.is_empty() {
                continue;
            }
            if assign.is_empty() && !create {
                return Err(Error::Usage("no attributes were specified".into()));
            }
            let templated;
            let assign = match template {
                Some(tpl) => {
                    templated = defs::with_template(c, &view, *t, tpl, assign, &names)?;
                    &templated
                }
                None => assign,
            };
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
    let all = flag(m, "all");
    if all && given(m, "type") {
        return Err(Error::Usage("The flags '-a' and '-t' cannot be used together.".into()));
    }
    if all && !flag(m, "force") {
        return Err(Error::Usage("You must use the '-f' option when using the '-a' option.".into()));
    }
    let target = match target {
        Some(target) => target,
        None if all => String::new(),
        None => return Err(Error::Usage(format!("no {} names were given (a noderange, or -o NAMES)", t.name()))),
    };
    let mut store = ctx.store()?;
    let args = ctx.redacted_args();
    let name = ctx.name;
    let (count, images) = store.write(|c| {
        if all {
            let removed = defs::remove_all(c)?;
            store::audit(c, name, "", &args)?;
            return Ok(removed);
        }
        let view = NodeView::load(c)?;
        let names = expand(&view, t, &target, Naming::Existing)?;
        let images = if t == ObjType::Osimage { crate::image::files_of(c, &names)? } else { Vec::new() };
        let n = defs::remove(c, t, &names, flag(m, "force"))?;
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

/// The object types lsdef lists: -t's comma list (default node), or every type with -a.
fn lsdef_types(m: &ArgMatches) -> Result<Vec<ObjType>> {
    if flag(m, "all") {
        if m.get_one::<String>("type").is_some() && m.get_one::<String>("template").is_none() {
            return Err(Error::Usage("The flags '-a' and '-t' cannot be used together.".into()));
        }
        return OBJ_TYPES.iter().map(|t| ObjType::parse(t)).collect();
    }
    let text = m.get_one::<String>("type").map(String::as_str).unwrap_or("node");
    let mut types = Vec::new();
    for t in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let t = ObjType::parse(t)?;
        if !types.contains(&t) {
            types.push(t);
        }
    }
    if types.is_empty() {
        return Err(Error::Usage("-t needs an object type".into()));
    }
    Ok(types)
}

pub fn lsdef(ctx: &mut Ctx, m: &ArgMatches) -> Result<Status> {
    let only_list: Option<Vec<String>> = m
        .get_one::<String>("attrs")
        .map(|a| a.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect());
    if flag(m, "help") {
        // xCAT: -h with -t describes the type's attributes; -h alone is the usage.
        let Some(types) = m.get_one::<String>("type").map(|_| lsdef_types(m)).transpose()? else {
            let mut c = super::build(super::find("lsdef").expect("registered"));
            write!(ctx.out, "{}", c.render_help()).map_err(output::io)?;
            return Ok(Status::Ok);
        };
        for t in types {
            write!(ctx.out, "{}", defs::attribute_help(t, only_list.as_deref())?).map_err(output::io)?;
        }
        return Ok(Status::Ok);
    }
    let types = lsdef_types(m)?;
    let all = flag(m, "all");
    let (target, _) = split_args(m);
    if types.len() > 1 && target.is_some() {
        return Err(Error::Usage("object names can be given with one type only (-t TYPE)".into()));
    }
    let wheres: Vec<defs::Selection> =
        values(m, "where").iter().map(|w| defs::Selection::parse(w)).collect::<Result<_>>()?;
    let only: Option<HashSet<String>> = only_list.as_ref().map(|l| l.iter().cloned().collect());
    if let ([t], Some(only)) = (types.as_slice(), &only_list) {
        defs::check_attr_names(*t, only.iter().map(String::as_str))?;
    }
    let stanza = flag(m, "stanza");
    let template = m.get_one::<String>("template");
    // xCAT: the attributes are printed with -l, -i, -z, --template or when objects are named; -s
    // (and a bare listing, also with -w) prints names only.
    let long = !flag(m, "short")
        && (flag(m, "long")
            || only.is_some()
            || target.is_some()
            || stanza
            || template.is_some()
            || flag(m, "json")
            || flag(m, "compressed")
            || types == [ObjType::Site]);
    if let Some(wanted) = template {
        return list_templates(ctx, m, &types, wanted, long);
    }
    let store: Store = ctx.store()?;
    let conn = store.conn();
    let view = NodeView::load(conn)?;
    let mut listing: Vec<(ObjType, Vec<String>)> = Vec::new();
    let mut candidates = 0;
    for &t in &types {
        let names = match &target {
            Some(r) => {
                let names = expand(&view, t, r, Naming::Existing)?;
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
        let names = if t == ObjType::Node && !flag(m, "hidden") { view.without_hidden(names)? } else { names };
        candidates += names.len();
        listing.push((t, defs::select(conn, &view, t, names, &wheres)?));
    }
    if candidates > 0 && listing.iter().all(|(_, names)| names.is_empty()) {
        // xCAT's defls says so when -w left nothing of the objects it looked at.
        writeln!(ctx.out, "No object definitions have been found").map_err(output::io)?;
        return Ok(Status::Ok);
    }
    let show_secrets = flag(m, "show-secrets");
    let json = flag(m, "json");
    let compressed = flag(m, "compressed");
    // With several types, each name is followed by its type.
    let several = types.len() > 1;
    let out = &mut ctx.out;
    if flag(m, "table") {
        let [(t, names)] = listing.as_slice() else {
            return Err(Error::Usage("--table lists one type at a time".into()));
        };
        let columns: Vec<String> = match &only_list {
            Some(l) => l.clone(),
            None => TABLE_DEFAULT.iter().map(|s| s.to_string()).collect(),
        };
        let want: HashSet<String> = columns.iter().cloned().collect();
        let mut rows = Vec::new();
        for n in names {
            let attrs = defs::describe(conn, &view, *t, n, Some(&want))?;
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
    if !long {
        for (t, names) in &listing {
            for n in names {
                if stanza {
                    writeln!(out, "\n{n}:").map_err(output::io)?;
                } else if all {
                    // xCAT prints -a's names with one space before the type, -t's with two.
                    writeln!(out, "{n} ({})", t.name()).map_err(output::io)?;
                } else {
                    writeln!(out, "{n}  ({})", t.name()).map_err(output::io)?;
                }
            }
        }
        return Ok(Status::Ok);
    }
    if stanza {
        writeln!(out, "# <xCAT data object stanza file>").map_err(output::io)?;
    }
    let mut first = true;
    for (t, names) in &listing {
        for n in names {
            let attrs = defs::describe(conn, &view, *t, n, only.as_ref())?;
            let header =
                if several { format!("Object name: {n}  ({})", t.name()) } else { format!("Object name: {n}") };
            print_object(
                out.as_mut(),
                *t,
                n,
                &header,
                &attrs,
                only.is_some(),
                show_secrets,
                json,
                stanza,
                compressed,
                first,
            )?;
            first = false;
        }
    }
    Ok(Status::Ok)
}

/// `lsdef --template [NAMES]`: the built-in templates, like objects.
fn list_templates(ctx: &mut Ctx, m: &ArgMatches, types: &[ObjType], wanted: &str, long: bool) -> Result<Status> {
    let mut found = Vec::new();
    for &t in types {
        found.extend(defs::templates(t)?);
    }
    if !wanted.is_empty() {
        let mut picked = Vec::new();
        for name in wanted.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match found.iter().position(|s| s.name == name) {
                Some(i) => picked.push(found.remove(i)),
                None => return Err(Error::Input(format!("Could not find {name} in xCAT templates."))),
            }
        }
        found = picked;
    }
    let only: Option<HashSet<String>> = m
        .get_one::<String>("attrs")
        .map(|a| a.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect());
    let out = &mut ctx.out;
    let (stanza, json, compressed) = (flag(m, "stanza"), flag(m, "json"), flag(m, "compressed"));
    if stanza {
        writeln!(out, "# <xCAT data object stanza file>").map_err(output::io)?;
    }
    for (i, s) in found.iter().enumerate() {
        if !long {
            writeln!(out, "{}  ({})", s.name, s.objtype.name()).map_err(output::io)?;
            continue;
        }
        let mut attrs: Vec<Shown> = s
            .attrs
            .iter()
            .filter(|(k, _)| only.as_ref().is_none_or(|o| o.contains(k)))
            .map(|(k, v)| Shown {
                attr: k.clone(),
                value: Some(v.clone()).filter(|v| !v.is_empty()),
                secret: false,
                from: None,
            })
            .collect();
        attrs.sort_by(|a, b| a.attr.cmp(&b.attr));
        let header = format!("Object name: {}", s.name);
        print_object(
            out.as_mut(),
            s.objtype,
            &s.name,
            &header,
            &attrs,
            only.is_some(),
            true,
            json,
            stanza,
            compressed,
            i == 0,
        )?;
    }
    Ok(Status::Ok)
}

/// Prints one object's attributes in lsdef's long, stanza, compressed or JSON form.
#[allow(clippy::too_many_arguments)]
fn print_object(
    out: &mut dyn Write,
    t: ObjType,
    n: &str,
    header: &str,
    attrs: &[Shown],
    asked: bool,
    show_secrets: bool,
    json: bool,
    stanza: bool,
    compressed: bool,
    first: bool,
) -> Result<()> {
    // Unset attributes are left out unless asked for by name with -i.
    let listed: Vec<&Shown> = attrs.iter().filter(|a| a.value.is_some() || asked).collect();
    let text = |a: &Shown| shown(a.value.as_deref().unwrap_or(""), a.secret, show_secrets).to_string();
    if json {
        let map: serde_json::Map<String, serde_json::Value> =
            listed.iter().map(|a| (a.attr.clone(), a.value.as_ref().map(|_| text(a)).into())).collect();
        let rec = serde_json::json!({"name": n, "type": t.name(), "attrs": map});
        output::json_line(out, &rec)?;
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
        writeln!(out, "{header}").map_err(output::io)?;
        for a in &listed {
            writeln!(out, "    {}={}", a.attr, text(a)).map_err(output::io)?;
        }
    }
    Ok(())
}
