//! nodels: list nodes, and table columns of nodes, with xCAT's output shapes.

use super::{flag, json_arg, secrets_arg, values, Ctx, Status};
use crate::error::{Error, Result};
use crate::noderange;
use crate::output::{self, shown};
use crate::select::Comparison;
use crate::store::schema::{self, Owner, Table};
use crate::store::view::NodeView;
use clap::{Arg, ArgAction, ArgMatches, Command};
use std::io::Write;

pub const ABOUT: &str = "List nodes and their table values";

pub fn command() -> Command {
    Command::new("nodels")
        .arg(Arg::new("blame").short('b').long("blame").action(ArgAction::SetTrue).help("Show which group a value is inherited from"))
        .arg(Arg::new("with-fieldname").short('H').long("with-fieldname").action(ArgAction::SetTrue).help("Always print 'node: table.column: value'"))
        .arg(Arg::new("hidden").short('S').action(ArgAction::SetTrue).help("Also list hidden nodes (nodelist.hidden=1)"))
        .arg(json_arg())
        .arg(secrets_arg())
        .arg(Arg::new("noderange").value_name("NODERANGE").help("The nodes (default: all)"))
        .arg(
            Arg::new("columns")
                .num_args(0..)
                .value_name("TABLE.COLUMN|TABLE|SHORTNAME|CRITERION")
                .help("What to print: table.column, a whole table, groups/tags/mgt; table.column==value (also !=, =~, !~) selects nodes"),
        )
}

pub fn run(ctx: &mut Ctx, m: &ArgMatches) -> Result<Status> {
    let store = ctx.store()?;
    let mut view = NodeView::load(store.conn())?;
    let range = m.get_one::<String>("noderange").cloned().unwrap_or_else(|| "all".to_string());
    let nodes = noderange::expand(&range, &view)?;
    view.focus(&nodes);
    let nodes = if flag(m, "hidden") { nodes } else { view.without_hidden(nodes)? };
    // Each column with its label: the name as typed (xCAT labels `groups` as groups, not
    // nodelist.groups), table.column for a whole table.
    let mut columns: Vec<(&'static Table, usize, String)> = Vec::new();
    let mut criteria: Vec<(&'static Table, usize, Comparison)> = Vec::new();
    let mut whole_table = false;
    // xCAT labels the values once two or more table.column arguments are given, criteria included.
    let mut named = 0;
    for spec in values(m, "columns") {
        if let Some(parsed) = Comparison::parse(&spec) {
            let (sel, cmp) = parsed.map_err(|e| Error::Usage(format!("{spec}: {e}")))?;
            let (table, col) = NodeView::criterion(&sel)?;
            criteria.push((table, col, cmp));
            named += 1;
        } else if let Some(t) = schema::table(&spec).filter(|t| t.owner == Owner::Node) {
            whole_table = true;
            columns.extend((1..t.columns.len() - 2).map(|i| (t, i, format!("{}.{}", t.name, t.columns[i].name))));
        } else {
            let (t, col) = NodeView::selector(&spec)?;
            columns.push((t, col, spec));
            named += 1;
        }
    }
    let labelled = named > 1 || whole_table || flag(m, "with-fieldname");
    let (blame, json, secrets) = (flag(m, "blame"), flag(m, "json"), flag(m, "show-secrets"));
    let out = &mut ctx.out;
    'nodes: for n in &nodes {
        for (table, col, cmp) in &criteria {
            let v = view.value(n, table, *col)?.map(|r| r.value).unwrap_or_default();
            if !cmp.matches(&v) {
                continue 'nodes;
            }
        }
        if json {
            let mut values = serde_json::Map::new();
            for &(t, col, _) in &columns {
                let v = view.value(n, t, col)?;
                let c = &t.columns[col];
                values.insert(
                    format!("{}.{}", t.name, c.name),
                    v.map(|r| shown(&r.value, c.secret, secrets).to_string()).into(),
                );
            }
            output::json_line(out.as_mut(), &serde_json::json!({"node": n, "values": values}))?;
            continue;
        }
        if columns.is_empty() {
            writeln!(out, "{n}").map_err(output::io)?;
        }
        for (t, col, label) in &columns {
            let (t, col) = (*t, *col);
            let c = &t.columns[col];
            let r = view.value(n, t, col)?;
            let mut text = r.as_ref().map(|r| shown(&r.value, c.secret, secrets).to_string()).unwrap_or_default();
            if let Some(g) = r.as_ref().and_then(|r| r.from.as_ref()).filter(|_| blame) {
                text.push_str(&format!(" (inherited from group {g})"));
            }
            if labelled {
                writeln!(out, "{n}: {label}: {text}").map_err(output::io)?;
            } else {
                writeln!(out, "{n}: {text}").map_err(output::io)?;
            }
        }
    }
    Ok(Status::Ok)
}
