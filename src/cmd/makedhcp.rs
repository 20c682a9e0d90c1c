//! makedhcp: oxcatd's DHCP server answers straight from the store, so there is no server
//! configuration to regenerate. `-q` shows what each node is answered, `-a` checks every node
//! can be answered, `-n` shows the networks served; `-d` says what to change instead.

use super::{flag, Ctx, Status};
use crate::daemon::dhcp::{answer, sample_discover, Index};
use crate::error::{Error, Result};
use crate::noderange;
use crate::output;
use crate::store::view::NodeView;
use clap::{Arg, ArgAction, ArgGroup, ArgMatches, Command};
use dhcproto::v4::{DhcpOption, OptionCode};
use std::io::Write;

pub const ABOUT: &str =
    "Show what oxcatd's DHCP server answers each node (-q), check all nodes (-a), show networks (-n)";

pub fn command() -> Command {
    Command::new("makedhcp")
        .arg(Arg::new("noderange").value_name("NODERANGE").help("The nodes (with -q or -d)"))
        .arg(
            Arg::new("query")
                .short('q')
                .action(ArgAction::SetTrue)
                .help("Show each node's answer: address, next server, boot file per client kind"),
        )
        .arg(
            Arg::new("all")
                .short('a')
                .action(ArgAction::SetTrue)
                .help("Check that every node can be answered (MAC and IP set)"),
        )
        .arg(Arg::new("new").short('n').action(ArgAction::SetTrue).help("Show the networks the server answers for"))
        .arg(
            Arg::new("delete")
                .short('d')
                .action(ArgAction::SetTrue)
                .help("Explain how to stop answering nodes (there are no entries to delete)"),
        )
        .group(ArgGroup::new("mode").args(["query", "all", "new", "delete"]).required(true))
}

pub fn run(ctx: &mut Ctx, m: &ArgMatches) -> Result<Status> {
    let st = ctx.store()?;
    let conn = st.conn();
    let view = NodeView::load(conn)?;
    let range = m.get_one::<String>("noderange").cloned();
    if flag(m, "delete") {
        return Err(Error::Usage(
            "oxcatd answers from the mac and hosts tables, so there are no DHCP entries to delete: to stop answering a node, remove its MAC (chdef NODE mac=) or the node (rmdef NODE)"
                .into(),
        ));
    }
    if flag(m, "new") {
        let mut stmt = conn.prepare("SELECT netname, net, mask, gateway, dynamicrange FROM networks ORDER BY net")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, Option<String>>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<String>>(4)?,
            ))
        })?;
        for row in rows {
            let (name, net, mask, gw, dynamic) = row?;
            writeln!(
                ctx.out,
                "{}: net = {net}, mask = {mask}, gateway = {}, dynamic range = {}",
                name.unwrap_or_else(|| format!("{net}/{mask}")),
                gw.unwrap_or_else(|| "none".into()),
                dynamic.unwrap_or_else(|| "none (known MACs only)".into())
            )
            .map_err(output::io)?;
        }
        return Ok(Status::Ok);
    }
    let nodes = match (&range, flag(m, "all")) {
        (Some(r), _) => noderange::expand(r, &view)?,
        (None, true) => view.nodes().to_vec(),
        (None, false) => return Err(Error::Usage("-q needs a noderange".into())),
    };
    let idx = Index::build(conn, None)?;
    let mut macs: std::collections::HashMap<&str, Vec<[u8; 6]>> = std::collections::HashMap::new();
    for (mac, lease) in idx.leases() {
        macs.entry(lease.node.as_str()).or_default().push(*mac);
    }
    let mut failed = false;
    for n in &nodes {
        let Some(list) = macs.get(n.as_str()) else {
            let why = match (view.get(n, "mac", "mac")?, view.get(n, "hosts", "ip")?) {
                (None, _) => "no MAC address (mac.mac)",
                (_, None) => "no IP address (hosts.ip)",
                _ => "its MAC or IP is not valid",
            };
            ctx.out.flush().map_err(output::io)?;
            ctx.error_line(&format!("{n}: Error: not answered: {why}"))?;
            failed = true;
            continue;
        };
        if !flag(m, "query") {
            continue;
        }
        let mut list = list.clone();
        list.sort();
        for mac in list {
            let hw: Vec<String> = mac.iter().map(|b| format!("{b:02x}")).collect();
            let boot = |class: &[u8], arch: Option<u16>, uc: Option<&[u8]>| -> String {
                let req = sample_discover(&mac, Some(class), arch, uc);
                match answer(&req, &idx).and_then(|(r, _)| r.opts().get(OptionCode::BootfileName).cloned()) {
                    Some(DhcpOption::BootfileName(f)) => String::from_utf8_lossy(&f).into_owned(),
                    _ => "none".into(),
                }
            };
            let lease = idx.lookup(&mac).expect("listed from the index");
            writeln!(
                ctx.out,
                "{n}: ip-address = {}, hardware-address = {}, next-server = {}, filename = {} (BIOS), {} (UEFI), {} (iPXE)",
                lease.ip,
                hw.join(":"),
                idx.next_server(lease),
                boot(b"PXEClient:Arch:00000", Some(0), None),
                boot(b"PXEClient:Arch:00007", Some(7), None),
                boot(b"PXEClient", None, Some(b"iPXE")),
            )
            .map_err(output::io)?;
        }
    }
    Ok(if failed { Status::SomeFailed } else { Status::Ok })
}
