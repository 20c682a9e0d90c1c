//! nodeset: set the next network boot of nodes (an OS image, local disk, a shell) or take them
//! offline; `stat` shows each node's boot state.

use super::{flag, Ctx, Status};
use crate::boot::nodeset::{self, Request};
use crate::error::{Error, Result};
use crate::noderange;
use crate::output;
use crate::store::{self, view::NodeView};
use clap::{Arg, ArgAction, ArgMatches, Command};
use std::io::Write;

pub const ABOUT: &str = "Set nodes' next network boot (osimage, boot, shell, offline) or show it (stat)";

pub fn command() -> Command {
    Command::new("nodeset")
        .arg(Arg::new("noderange").required(true).value_name("NODERANGE").help("The nodes (only these are touched)"))
        .arg(
            Arg::new("state")
                .required(true)
                .value_name("STATE")
                .help("osimage=NAME (or osimage: the node's provmethod), boot (local disk), shell, offline, or stat"),
        )
        .arg(
            Arg::new("show")
                .long("show")
                .action(ArgAction::SetTrue)
                .help("Print the files that would be written; change nothing"),
        )
}

pub fn run(ctx: &mut Ctx, m: &ArgMatches) -> Result<Status> {
    let range = m.get_one::<String>("noderange").cloned().unwrap_or_default();
    let state = m.get_one::<String>("state").cloned().unwrap_or_default();
    let req = match state.as_str() {
        "stat" => None,
        "boot" => Some(Request::Boot),
        "shell" => Some(Request::Shell),
        "offline" => Some(Request::Offline),
        "osimage" => Some(Request::Image(None)),
        s => match s.strip_prefix("osimage=") {
            Some(name) if !name.is_empty() => Some(Request::Image(Some(name.to_string()))),
            _ => {
                return Err(Error::Usage(format!(
                    "'{s}' is not a nodeset state (allowed: osimage=NAME, osimage, boot, shell, offline, stat)"
                )))
            }
        },
    };
    let mut st = ctx.store()?;
    let (nodes, plans, failed) = {
        let conn = st.conn();
        let mut view = NodeView::load(conn)?;
        let nodes = noderange::expand(&range, &view)?;
        view.focus(&nodes);
        let Some(req) = &req else {
            let dir = nodeset::tftpdir(conn)?;
            for n in &nodes {
                writeln!(ctx.out, "{n}: {}", nodeset::state_of(&dir, n)).map_err(output::io)?;
            }
            return Ok(Status::Ok);
        };
        let (plans, failed) = nodeset::plan(conn, &view, &nodes, req)?;
        (nodes, plans, failed)
    };
    if flag(m, "show") {
        for p in &plans {
            for (path, text) in &p.files {
                writeln!(ctx.out, "==> {} <==\n{text}", path.display()).map_err(output::io)?;
            }
            for path in &p.remove {
                writeln!(ctx.out, "==> {} <== (removed)", path.display()).map_err(output::io)?;
            }
        }
    } else if !plans.is_empty() {
        let args = ctx.redacted_args();
        let name = ctx.name;
        st.write(|c| {
            nodeset::record(c, &plans)?;
            store::audit(c, name, &range, &args)
        })?;
        nodeset::apply(&plans).map_err(Error::Io)?;
        for p in &plans {
            writeln!(ctx.out, "{}: {}", p.node, p.state).map_err(output::io)?;
        }
    }
    ctx.out.flush().map_err(output::io)?;
    let errors: std::collections::HashMap<&str, &str> = failed.iter().map(|(n, e)| (n.as_str(), e.as_str())).collect();
    for n in &nodes {
        if let Some(e) = errors.get(n.as_str()) {
            ctx.error_line(&format!("{n}: Error: {e}"))?;
        }
    }
    Ok(if failed.is_empty() { Status::Ok } else { Status::SomeFailed })
}
