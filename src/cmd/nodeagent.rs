//! nodeagent: the node side of a disk deploy, run on the node by genesis's /init (`deploy`), of
//! discovery (`discover`), and the disk listing its root device hints match (`disks`).

use super::{flag, json_arg, Ctx, Status};
use crate::deploy::{agent, disks};
use crate::discover;
use crate::error::{Error, Result};
use crate::output;
use clap::{Arg, ArgMatches, Command};
use std::io::Write;
use std::path::PathBuf;

pub const ABOUT: &str =
    "On a node in genesis: write the disk image of the node's deploy plan to its disk (deploy), report its inventory for discovery (discover), or list its disks (disks)";

pub fn command() -> Command {
    let path = |id: &'static str, name: &'static str, help: &'static str| {
        Arg::new(id).long(id).value_name(name).value_parser(clap::value_parser!(PathBuf)).help(help)
    };
    Command::new("nodeagent")
        .long_about(
            "On a node booted into genesis (its /init runs `nodeagent deploy`): fetch the deploy plan from oxcatd \
             (GET /deploy/plan with the node's token), choose the target disk by the root device hints (name=, \
             serial=, wwn=, model=, vendor=, size=, size>=, size<= in GiB, rotational=; without hints the smallest \
             non-removable disk that fits; refused when no disk or more than one matches), zero the first and last \
             MiB, stream the image over HTTP straight to the disk (raw, gz, zst or xz, decompressed on the fly; a \
             dropped connection is resumed with a Range request), verify its size and SHA-256 (on a mismatch both \
             ends are zeroed again, so the disk does not boot), move the backup GPT to the end of a larger disk, \
             add an 8 MiB partition with a FAT volume labelled CIDATA holding the cloud-init seed, and re-read the \
             partition table. Progress goes to oxcatd as the node's status (installing N%, then installed or \
             failed: REASON, with the last 50 lines of the log). Exit 0 when the image is on the disk, 1 otherwise.\n\n\
             `nodeagent disks` lists the disks with the fields the hints match.\n\n\
             `nodeagent discover` (genesis's /init runs it on a machine booted by its discovery lease, oxcat.mode=discover): \
             collect the inventory (DMI UUID, serial and model; CPU model and count; memory from the SMBIOS memory devices; \
             disks with size, model, serial, WWN and rotational; NICs with MAC and link; the BMC's LAN address and MAC \
             through /dev/ipmi0 where there is one) and POST it to oxcatd's /discover with the boot script's one-time token \
             (oxcat.token=). The reply names the node it was matched to, if any; when the node's chain says runcmd=bmcsetup \
             the BMC's address, netmask, gateway and user are set through /dev/ipmi0; the reply (JSON) is written to --reply, \
             where /init reads whether to reboot into the deploy the chain set up. Exit 0 when the report was recorded \
             (and the BMC set up, if asked), 1 otherwise.",
        )
        .arg(
            Arg::new("action")
                .required(true)
                .value_name("ACTION")
                .value_parser(["deploy", "disks", "discover"])
                .hide_possible_values(true)
                .help("deploy: fetch the plan, write the image, report to oxcatd; discover: report the inventory to oxcatd; disks: list the disks and their hint fields"),
        )
        .arg(
            Arg::new("server")
                .long("server")
                .value_name("URL")
                .help("oxcatd's HTTP address, http://HOST:PORT (default: oxcat.server= of /proc/cmdline)"),
        )
        .arg(Arg::new("node").long("node").value_name("NODE").help("This node's name (default: oxcat.node= of /proc/cmdline)"))
        .arg(
            Arg::new("token")
                .long("token")
                .value_name("TOKEN")
                .help("This node's boot token (default: oxcat.token= of /proc/cmdline)"),
        )
        .arg(path(
            "disk",
            "PATH",
            "Write to PATH (a block device or a regular file) instead of the disk the root device hints choose",
        ))
        .arg(path(
            "plan",
            "FILE",
            "Take the plan (JSON) from FILE instead of the server; statuses still go to --server if given, else only to the log",
        ))
        .arg(path("log", "FILE", "Also log to FILE (default: /var/log/oxcat-agent.log, if it can be written)"))
        .arg(path("sysfs", "DIR", "Read the disks from DIR/block (default: /sys)"))
        .arg(path("root", "DIR", "discover: read the inventory under DIR (DIR/sys, DIR/proc; default: /)"))
        .arg(path("ipmi", "PATH", "discover: the in-band IPMI device (default: /dev/ipmi0, used if present)"))
        .arg(path("reply", "FILE", "discover: write the server's reply (JSON) to FILE (default: /run/oxcat-discover.json)"))
        .arg(
            Arg::new("dry-run")
                .long("dry-run")
                .action(clap::ArgAction::SetTrue)
                .help("discover: print the report (JSON) instead of posting it"),
        )
        .arg(json_arg())
}

pub fn run(ctx: &mut Ctx, m: &ArgMatches) -> Result<Status> {
    let path = |id: &str, default: &str| m.get_one::<PathBuf>(id).cloned().unwrap_or_else(|| PathBuf::from(default));
    let sysfs = path("sysfs", "/sys");
    if m.get_one::<String>("action").map(String::as_str) == Some("disks") {
        let found =
            disks::list(&sysfs).map_err(|e| Error::Io(format!("listing disks in {}/block: {e}", sysfs.display())))?;
        if flag(m, "json") {
            for d in &found {
                output::json_line(ctx.out.as_mut(), &serde_json::to_value(d).expect("a disk is JSON"))?;
            }
            return Ok(Status::Ok);
        }
        let yes_no = |b: bool| if b { "yes" } else { "no" }.to_string();
        let header = ["NAME", "SIZE (GiB)", "ROTATIONAL", "REMOVABLE", "MODEL", "VENDOR", "SERIAL", "WWN"];
        let rows = found
            .iter()
            .map(|d| {
                vec![
                    d.name.clone(),
                    d.size_gib().to_string(),
                    yes_no(d.rotational),
                    yes_no(d.removable),
                    d.model.clone(),
                    d.vendor.clone(),
                    d.serial.clone(),
                    d.wwn.clone(),
                ]
            })
            .collect();
        writeln!(ctx.out, "{}", output::table(header.map(String::from).to_vec(), rows)).map_err(output::io)?;
        return Ok(Status::Ok);
    }
    if m.get_one::<String>("action").map(String::as_str) == Some("discover") {
        let opts = discover::agent::Options {
            server: m.get_one::<String>("server").cloned(),
            token: m.get_one::<String>("token").cloned(),
            root: path("root", "/"),
            ipmi: path("ipmi", "/dev/ipmi0"),
            reply: path("reply", "/run/oxcat-discover.json"),
            log: path("log", "/var/log/oxcat-agent.log"),
            dry_run: flag(m, "dry-run"),
        };
        return Ok(if discover::agent::run(&opts) { Status::Ok } else { Status::SomeFailed });
    }
    let opts = agent::Options {
        server: m.get_one::<String>("server").cloned(),
        node: m.get_one::<String>("node").cloned(),
        token: m.get_one::<String>("token").cloned(),
        disk: m.get_one::<PathBuf>("disk").cloned(),
        plan: m.get_one::<PathBuf>("plan").cloned(),
        sysfs,
        log: path("log", "/var/log/oxcat-agent.log"),
    };
    Ok(if agent::run(&opts) { Status::Ok } else { Status::SomeFailed })
}
