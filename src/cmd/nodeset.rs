//! nodeset: set the next network boot of nodes (an OS image, local disk, a shell) or take them
//! offline; `stat` shows each node's boot state.

use super::{flag, Ctx, Status};
use crate::boot::nodeset::{self, Request};
use crate::error::{Error, Result};
use crate::output;
use crate::store::view::NodeView;
use clap::{Arg, ArgAction, ArgMatches, Command};
use std::io::Write;

pub const ABOUT: &str =
    "Set nodes' next network boot (osimage, boot, shell, runcmd, runimage, shutdown, offline) or show it (stat)";

/// What `man nodeset` describes beyond the options.
const LONG_ABOUT: &str = "\
Set nodes' next network boot (osimage, boot, shell, offline) or show it (stat). Only the named \
nodes are touched; each node's state is recorded in chain.currstate, and oxcatd renders its \
pxelinux, iPXE and GRUB configs from it when the node asks. While a disk deploy is under way, \
stat shows its progress beside the state (node01: install rocky9-disk (installing 37%)).

The servers a node is told about are decided as in xCAT: its master (the kernel argument \
oxcat.server, where it fetches its postscripts and reports its status) is noderes.xcatmaster, \
else the management node's address on the node's network: site.master where it is on that \
network, else this machine's own address there (so a multi-homed management node names the right \
one on each network), else site.master; kernel, initrd and root \
image come from noderes.nfsserver, else noderes.tftpserver, else its master; oxcatd's DHCP names \
noderes.tftpserver, else its master, as next-server. The value <xcatmaster> means the node's \
master. A host name is given to the node as the address it resolves to.

Templates (site.templatedir, else the shipped ones) may use {{node}}, {{mac}}, {{ip}}, {{state}}, \
{{image}}, {{server}} (the image server), {{xcatmaster}}, {{tftpserver}}, {{nfsserver}}, \
{{http_port}}, {{kcmdline}}, {{kernel_url}}, {{initrd_url}}, {{kernel_path}} and {{initrd_path}}.

An osimage with provmethod disk (addimage --disk) is recorded as 'install IMAGE': the node boots \
genesis, the node ramdisk mknb builds (TFTPDIR/genesis/ARCH/vmlinuz and initrd.img, fetched over \
HTTP under /tftpboot/), with oxcat.mode=deploy and oxcat.mac=MAC (its boot NIC); genesis writes the \
image to the node's disk and oxcatd switches the node to boot when it reports installed. shell, \
runcmd= and runimage= boot genesis too, with oxcat.mode=shell, and need no osimage. Without genesis \
in the TFTP root such a node is refused (run mknb). The deploy and shell templates are \
deploy.tmpl and shell.tmpl; boot hands over to the local disk: iPXE and GRUB exit to the firmware \
(GRUB first starts /EFI/BOOT/BOOTX64.EFI from a local disk when one has it), pxelinux LOCALBOOT 0.";

pub fn command() -> Command {
    Command::new("nodeset")
        .long_about(LONG_ABOUT)
        .arg(Arg::new("noderange").required(true).value_name("NODERANGE").help("The nodes (only these are touched)"))
        .arg(
            Arg::new("state")
                .required(true)
                .value_name("STATE")
                .help("osimage=NAME (or osimage: the node's provmethod), boot (local disk), shell (genesis; no osimage needed), runcmd=CMD or runimage=URL (boot like shell, the task in oxcat.destiny=), shutdown or offline (no boot config), or stat"),
        )
        .arg(
            Arg::new("all")
                .short('a')
                .action(ArgAction::SetTrue)
                .help("With stat: the state on every server (oxcat has one: the same as stat)"),
        )
        .arg(
            Arg::new("show")
                .long("show")
                .action(ArgAction::SetTrue)
                .help("Print the configs the nodes would be served; change nothing"),
        )
        .arg(Arg::new("files").long("files").action(ArgAction::SetTrue).help(
            "Also write the configs under site.tftpdir, for a TFTP server other than oxcatd (oxcatd renders them on request)",
        ))
}

pub fn run(ctx: &mut Ctx, m: &ArgMatches) -> Result<Status> {
    let range = m.get_one::<String>("noderange").cloned().unwrap_or_default();
    let state = m.get_one::<String>("state").cloned().unwrap_or_default();
    let req = match state.as_str() {
        "stat" => None,
        s => Some(Request::parse(s).map_err(Error::Usage)?),
    };
    // xCAT's -a shows stat on every service node (disjointdhcps); oxcat has one server.
    if flag(m, "all") && req.is_some() {
        return Err(Error::Usage("'-a' could only be used with 'stat' subcommand.".into()));
    }
    let mut st = ctx.store()?;
    let (nodes, plans, failed) = {
        let conn = st.conn();
        let (view, nodes) = NodeView::for_range(conn, &range)?;
        let Some(req) = &req else {
            for n in &nodes {
                let state = view.get(n, "chain", "currstate")?.unwrap_or_else(|| "offline".into());
                // A deploy under way shows how far it got (the agent's `installing 37%`).
                let progress = view.get(n, "nodelist", "status")?.filter(|s| s.starts_with("installing "));
                match progress {
                    Some(p) if state.starts_with("install ") => writeln!(ctx.out, "{n}: {state} ({p})"),
                    _ => writeln!(ctx.out, "{n}: {state}"),
                }
                .map_err(output::io)?;
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
    } else {
        let args = ctx.redacted_args();
        let plans = nodeset::commit(&mut st, plans, flag(m, "files"), (ctx.name, &range, &args))?;
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
