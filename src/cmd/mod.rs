//! The command registry: one sorted list that the dispatcher, `oxcat --list`, `--install-links`,
//! the man pages, the shell completions and the tests all read. Each command module is thin: it
//! defines its clap `Command` and turns parsed arguments into calls to the library.

mod addbmnode;
mod addimage;
mod bmcdiscover;
mod defs;
mod hwctl;
mod makedhcp;
mod makehosts;
mod mknb;
mod nodeagent;
mod nodediscover;
mod nodels;
mod nodeset;
mod nodestat;
mod oxcatd;
mod rcons;
mod rinstall;
mod tabdump;
mod tabrestore;
mod tabtools;
mod xdsh;
mod xdshbak;

use crate::error::{Error, Result};
use crate::store::Store;
use clap::{Arg, ArgMatches, Command};
use std::io::Write;

/// What a command reports when it did not fail outright.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Every node succeeded: exit 0.
    Ok,
    /// Some node failed (its error already printed): exit 1.
    SomeFailed,
}

pub struct Applet {
    pub name: &'static str,
    /// Man page section: 1 for user commands, 8 for commands that change the management node.
    pub section: u8,
    pub about: &'static str,
    pub command: fn() -> Command,
    pub run: fn(&mut Ctx, &ArgMatches) -> Result<Status>,
}

/// Every command, sorted by name.
pub static APPLETS: &[Applet] = &[
    Applet { name: "addbmnode", section: 8, about: addbmnode::ABOUT, command: addbmnode::command, run: addbmnode::run },
    Applet { name: "addimage", section: 8, about: addimage::ABOUT, command: addimage::command, run: addimage::run },
    Applet {
        name: "bmcdiscover",
        section: 1,
        about: bmcdiscover::ABOUT,
        command: bmcdiscover::command,
        run: bmcdiscover::run,
    },
    Applet { name: "chdef", section: 1, about: defs::CHDEF_ABOUT, command: defs::chdef_command, run: defs::chdef },
    Applet {
        name: "chtab",
        section: 8,
        about: tabtools::CHTAB_ABOUT,
        command: tabtools::chtab_command,
        run: tabtools::chtab,
    },
    Applet {
        name: "gettab",
        section: 1,
        about: tabtools::GETTAB_ABOUT,
        command: tabtools::gettab_command,
        run: tabtools::gettab,
    },
    Applet { name: "lsdef", section: 1, about: defs::LSDEF_ABOUT, command: defs::lsdef_command, run: defs::lsdef },
    Applet { name: "makedhcp", section: 8, about: makedhcp::ABOUT, command: makedhcp::command, run: makedhcp::run },
    Applet {
        name: "makegocons",
        section: 8,
        about: rcons::MAKEGOCONS_ABOUT,
        command: rcons::makegocons_command,
        run: rcons::makegocons,
    },
    Applet { name: "makehosts", section: 8, about: makehosts::ABOUT, command: makehosts::command, run: makehosts::run },
    Applet {
        name: "makeknownhosts",
        section: 8,
        about: nodestat::MAKEKNOWNHOSTS_ABOUT,
        command: nodestat::makeknownhosts_command,
        run: nodestat::makeknownhosts,
    },
    Applet { name: "mkdef", section: 1, about: defs::MKDEF_ABOUT, command: defs::mkdef_command, run: defs::mkdef },
    Applet { name: "mknb", section: 8, about: mknb::ABOUT, command: mknb::command, run: mknb::run },
    Applet {
        name: "nodeadd",
        section: 8,
        about: tabtools::NODEADD_ABOUT,
        command: tabtools::nodeadd_command,
        run: tabtools::nodeadd,
    },
    Applet { name: "nodeagent", section: 8, about: nodeagent::ABOUT, command: nodeagent::command, run: nodeagent::run },
    Applet {
        name: "nodech",
        section: 1,
        about: tabtools::NODECH_ABOUT,
        command: tabtools::nodech_command,
        run: tabtools::nodech,
    },
    Applet {
        name: "nodediscoverdef",
        section: 1,
        about: nodediscover::DEF_ABOUT,
        command: nodediscover::def_command,
        run: nodediscover::def,
    },
    Applet {
        name: "nodediscoverls",
        section: 1,
        about: nodediscover::LS_ABOUT,
        command: nodediscover::ls_command,
        run: nodediscover::ls,
    },
    Applet {
        name: "nodediscoverstart",
        section: 1,
        about: nodediscover::START_ABOUT,
        command: nodediscover::start_command,
        run: nodediscover::start,
    },
    Applet {
        name: "nodediscoverstatus",
        section: 1,
        about: nodediscover::STATUS_ABOUT,
        command: nodediscover::status_command,
        run: nodediscover::status,
    },
    Applet {
        name: "nodediscoverstop",
        section: 1,
        about: nodediscover::STOP_ABOUT,
        command: nodediscover::stop_command,
        run: nodediscover::stop,
    },
    Applet { name: "nodels", section: 1, about: nodels::ABOUT, command: nodels::command, run: nodels::run },
    Applet {
        name: "noderm",
        section: 1,
        about: tabtools::NODERM_ABOUT,
        command: tabtools::noderm_command,
        run: tabtools::noderm,
    },
    Applet { name: "nodeset", section: 8, about: nodeset::ABOUT, command: nodeset::command, run: nodeset::run },
    Applet {
        name: "nodestat",
        section: 1,
        about: nodestat::NODESTAT_ABOUT,
        command: nodestat::nodestat_command,
        run: nodestat::nodestat,
    },
    Applet { name: "oxcatd", section: 8, about: oxcatd::ABOUT, command: oxcatd::command, run: oxcatd::run },
    Applet { name: "rcons", section: 1, about: rcons::ABOUT, command: rcons::command, run: rcons::run },
    Applet {
        name: "reventlog",
        section: 1,
        about: hwctl::REVENTLOG_ABOUT,
        command: hwctl::reventlog_command,
        run: hwctl::reventlog,
    },
    Applet { name: "rinstall", section: 8, about: rinstall::ABOUT, command: rinstall::command, run: rinstall::run },
    Applet { name: "rinv", section: 1, about: hwctl::RINV_ABOUT, command: hwctl::rinv_command, run: hwctl::rinv },
    Applet { name: "rmdef", section: 1, about: defs::RMDEF_ABOUT, command: defs::rmdef_command, run: defs::rmdef },
    Applet {
        name: "rpower",
        section: 1,
        about: hwctl::RPOWER_ABOUT,
        command: hwctl::rpower_command,
        run: hwctl::rpower,
    },
    Applet {
        name: "rsetboot",
        section: 1,
        about: hwctl::RSETBOOT_ABOUT,
        command: hwctl::rsetboot_command,
        run: hwctl::rsetboot,
    },
    Applet {
        name: "rvitals",
        section: 1,
        about: hwctl::RVITALS_ABOUT,
        command: hwctl::rvitals_command,
        run: hwctl::rvitals,
    },
    Applet { name: "tabdump", section: 8, about: tabdump::ABOUT, command: tabdump::command, run: tabdump::run },
    Applet {
        name: "tabedit",
        section: 8,
        about: tabtools::TABEDIT_ABOUT,
        command: tabtools::tabedit_command,
        run: tabtools::tabedit,
    },
    Applet {
        name: "tabrestore",
        section: 8,
        about: tabrestore::ABOUT,
        command: tabrestore::command,
        run: tabrestore::run,
    },
    Applet {
        name: "updatenode",
        section: 8,
        about: xdsh::UPDATENODE_ABOUT,
        command: xdsh::updatenode_command,
        run: xdsh::updatenode,
    },
    Applet {
        name: "xcoll",
        section: 1,
        about: xdshbak::XCOLL_ABOUT,
        command: xdshbak::xcoll_command,
        run: xdshbak::xcoll,
    },
    Applet { name: "xdcp", section: 1, about: xdsh::XDCP_ABOUT, command: xdsh::xdcp_command, run: xdsh::xdcp },
    Applet { name: "xdsh", section: 1, about: xdsh::XDSH_ABOUT, command: xdsh::xdsh_command, run: xdsh::xdsh },
    Applet {
        name: "xdshbak",
        section: 1,
        about: xdshbak::XDSHBAK_ABOUT,
        command: xdshbak::xdshbak_command,
        run: xdshbak::xdshbak,
    },
];

pub fn find(name: &str) -> Option<&'static Applet> {
    APPLETS.binary_search_by_key(&name, |a| a.name).ok().map(|i| &APPLETS[i])
}

/// The applet's full clap command, with the options every command shares.
pub fn build(applet: &Applet) -> Command {
    (applet.command)().name(applet.name).bin_name(applet.name).about(applet.about).arg(
        Arg::new("db")
            .long("db")
            .value_name("PATH")
            .global(true)
            .help("The table store (default: $OXCAT_DB, else /var/lib/oxcat/oxcat.db)"),
    )
}

/// What a running command gets: its output streams and the way to its store.
pub struct Ctx {
    pub out: Box<dyn Write>,
    pub err: Box<dyn Write>,
    pub name: &'static str,
    /// The command line as typed (for the audit log; secrets are redacted before it is stored).
    pub argv: Vec<String>,
    db: Option<String>,
}

impl Ctx {
    pub fn new(applet: &Applet, argv: Vec<String>, m: &ArgMatches) -> Ctx {
        Ctx {
            out: Box::new(std::io::BufWriter::with_capacity(1 << 16, std::io::stdout())),
            err: Box::new(std::io::stderr()),
            name: applet.name,
            argv,
            db: m.get_one::<String>("db").cloned(),
        }
    }

    /// The `--db` given on the command line, if any.
    pub fn db_flag(&self) -> Option<&str> {
        self.db.as_deref()
    }

    pub fn store(&self) -> Result<Store> {
        Store::open(&Store::locate(self.db.as_deref()))
    }

    /// The command line with secrets replaced, as recorded in the audit log.
    pub fn redacted_args(&self) -> String {
        redact(&self.argv[1..]).join(" ")
    }

    /// Prints a per-node (or global) error line on stderr.
    pub fn error_line(&mut self, line: &str) -> Result<()> {
        writeln!(self.err, "{line}").map_err(|e| Error::io("stderr", e))
    }
}

const SECRET_FLAGS: &[&str] = &["--bmc-password"];

/// Whether a name in an argument (`ipmi.password`, `password`, `bmcpassword`, `chain.token`) stands
/// for a column the schema marks secret: as `table.column`, column or attribute name.
fn is_secret_name(name: &str) -> bool {
    let column = name.rsplit('.').next().unwrap_or(name);
    crate::store::schema::TABLES.iter().any(|t| {
        t.columns.iter().any(|c| {
            c.secret
                && (name == format!("{}.{}", t.name, c.name)
                    || [name, column].iter().any(|n| *n == c.name || c.attr == Some(n) || c.object_attr(t) == Some(n)))
        })
    })
}

/// Replaces secret values in an argument list: `--bmc-password X`, `--bmc-password=X`, and in
/// each comma-separated part of an argument, a secret's value after `=`, `==`, `!=`, `=~`, `!~`
/// (also `+=`, `,=`, `^=`, `<`, `>`): chtab's `node=cn01,password=X`, nodech's criteria.
pub fn redact(args: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len());
    let mut hide_next = false;
    for a in args {
        if std::mem::take(&mut hide_next) {
            out.push(crate::output::MASK.to_string());
            continue;
        }
        hide_next = SECRET_FLAGS.contains(&a.as_str());
        out.push(redact_parts(a));
    }
    out
}

/// [`redact`] for one argument.
fn redact_parts(arg: &str) -> String {
    const OPS: &[char] = &['=', '!', '~', '<', '>'];
    let parts: Vec<&str> = arg.split(',').collect();
    let mut out = Vec::with_capacity(parts.len());
    // After a secret's value, parts without an operator may be more of that value.
    let mut in_secret = false;
    for (i, part) in parts.iter().enumerate() {
        let Some(at) = part.find(OPS) else {
            out.push(if in_secret { crate::output::MASK.to_string() } else { part.to_string() });
            continue;
        };
        // `k,=v` splits into `k` and `=v`.
        let key = if at == 0 && i > 0 { parts[i - 1] } else { &part[..at] };
        let bare = key.trim_start_matches('-').trim_end_matches(['+', '^']);
        in_secret = SECRET_FLAGS.contains(&key) || is_secret_name(bare);
        if in_secret {
            let ops = part[at..].len() - part[at..].trim_start_matches(OPS).len();
            out.push(format!("{}{}", &part[..at + ops], crate::output::MASK));
        } else {
            out.push(part.to_string());
        }
    }
    out.join(",")
}

/// `--json`, shared by the listing commands.
pub fn json_arg() -> Arg {
    Arg::new("json").long("json").action(clap::ArgAction::SetTrue).help("Print JSON Lines, one record per object")
}

/// `-t/--timeout SECONDS` (fractions allowed) of the fan-out commands, with what it bounds.
pub fn timeout_arg(help: &'static str) -> Arg {
    Arg::new("timeout")
        .short('t')
        .long("timeout")
        .value_name("SECONDS")
        .value_parser(clap::value_parser!(f64))
        .help(help)
}

/// `-f/--fanout N` of the fan-out commands, with its default.
pub fn fanout_arg(help: &'static str) -> Arg {
    Arg::new("fanout").short('f').long("fanout").value_name("N").value_parser(clap::value_parser!(usize)).help(help)
}

/// `--show-secrets`, shared by the commands that can print passwords.
pub fn secrets_arg() -> Arg {
    Arg::new("show-secrets")
        .long("show-secrets")
        .action(clap::ArgAction::SetTrue)
        .help("Print passwords instead of ******** (a dump to restore from needs it: ******** is refused as input)")
}

pub fn flag(m: &ArgMatches, id: &str) -> bool {
    m.get_flag(id)
}

pub fn values(m: &ArgMatches, id: &str) -> Vec<String> {
    m.get_many::<String>(id).map(|v| v.cloned().collect()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_is_sorted_and_builds() {
        let names: Vec<_> = APPLETS.iter().map(|a| a.name).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        for a in APPLETS {
            build(a).debug_assert();
        }
    }

    #[test]
    fn secrets_are_redacted() {
        let args: Vec<String> = [
            "n1",
            "--bmc-password",
            "s3",
            "--bmc-password=s4",
            "bmcpassword=s5",
            "bmc=10.0.0.1",
            "password=x",
            "ipmi.password+=y",
            "chain.token=t",
            "node=cn01,password=p,q",
            "ipmi.password!=g",
            "password=~h%",
            "ipmi.password,=z",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            redact(&args).join(" "),
            "n1 --bmc-password ******** --bmc-password=******** bmcpassword=******** bmc=10.0.0.1 password=******** ipmi.password+=******** \
             chain.token=******** node=cn01,password=********,******** ipmi.password!=******** \
             password=~******** ipmi.password,=********"
        );
    }
}
