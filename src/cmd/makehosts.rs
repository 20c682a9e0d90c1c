//! makehosts: write the nodes' addresses into /etc/hosts (a block oxcat manages).

use super::{flag, Ctx, Status};
use crate::error::{Error, Result};
use crate::hosts::{self, Mode};
use crate::noderange;
use crate::store::{self, schema, view::NodeView};
use clap::{Arg, ArgAction, ArgMatches, Command};
use std::collections::BTreeMap;
use std::path::PathBuf;

pub const ABOUT: &str = "Write nodes' addresses into /etc/hosts, in a block oxcat manages";

pub fn command() -> Command {
    Command::new("makehosts")
        .arg(Arg::new("noderange").value_name("NODERANGE").help("The nodes (default: all)"))
        .arg(Arg::new("new").short('n').action(ArgAction::SetTrue).help("Replace the whole block with these nodes"))
        .arg(
            Arg::new("delete")
                .short('d')
                .action(ArgAction::SetTrue)
                .conflicts_with("new")
                .help("Remove these nodes' lines"),
        )
        .arg(
            Arg::new("longnamefirst")
                .short('l')
                .long("longnamefirst")
                .action(ArgAction::SetTrue)
                .help("Put the FQDN before the short name"),
        )
        .arg(
            Arg::new("file").long("file").value_name("PATH").default_value("/etc/hosts").help("The hosts file to edit"),
        )
}

pub fn run(ctx: &mut Ctx, m: &ArgMatches) -> Result<Status> {
    let st = ctx.store()?;
    let conn = st.conn();
    let view = NodeView::load(conn)?;
    let nodes = noderange::expand(m.get_one::<String>("noderange").map(String::as_str).unwrap_or("all"), &view)?;
    let domain = store::site_value(conn, "domain")?;
    let mode = if flag(m, "delete") {
        Mode::Delete
    } else if flag(m, "new") {
        Mode::Replace
    } else {
        Mode::Update
    };
    let hosts_t = schema::table("hosts").expect("hosts");
    let mut lines = BTreeMap::new();
    let mut failed = Vec::new();
    for n in &nodes {
        if mode == Mode::Delete {
            lines.insert(n.clone(), String::new());
            continue;
        }
        let Some(ip) = view.value(n, hosts_t, 1)?.map(|r| r.value) else {
            failed.push(format!("{n}: Error: no IP address (hosts.ip): chdef {n} ip=..."));
            continue;
        };
        let aliases: Vec<String> = view
            .value(n, hosts_t, 2)?
            .map(|r| r.value.split([',', ' ']).filter(|a| !a.is_empty()).map(str::to_string).collect())
            .unwrap_or_default();
        lines.insert(n.clone(), hosts::line(n, &ip, domain.as_deref(), &aliases, flag(m, "longnamefirst")));
    }
    let path = PathBuf::from(m.get_one::<String>("file").expect("has a default"));
    let old = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(Error::io(path.display(), e)),
    };
    let text = hosts::rewrite(&old, &lines, mode, domain.as_deref());
    if text != old {
        hosts::write_atomic(&path, &text).map_err(|e| Error::io(path.display(), e))?;
    }
    for f in &failed {
        ctx.error_line(f)?;
    }
    Ok(if failed.is_empty() { Status::Ok } else { Status::SomeFailed })
}
