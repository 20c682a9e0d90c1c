//! addbmnode: enroll bare-metal nodes (BMC, credentials, MACs, inventory) in one transaction.

use super::{flag, Ctx, Status};
use crate::enroll::{self, NodeSpec};
use crate::error::{Error, Result};
use crate::noderange;
use crate::output;
use crate::store::{self, tabcsv};
use clap::{Arg, ArgAction, ArgMatches, Command};
use std::io::Write;

pub const ABOUT: &str = "Enroll bare-metal nodes: BMC address and credentials, MACs, hardware inventory";

const LONG_ABOUT: &str = "Enroll bare-metal nodes: BMC address and credentials, MACs, hardware inventory.

With --mgt redfish the BMCs are Redfish services over HTTPS: --bmc may be a URL, \
https://HOST[:PORT][/redfish/v1[/Systems/ID]] (the port goes to ipmi.bmcport, the system Id, for a BMC \
that manages several, to ipmi.bmcsystem), and the BMC's TLS certificate check \
goes to ipmi.bmccert. Without --bmc-cert, addbmnode connects to every BMC first and pins the SHA-256 \
fingerprint of the certificate it presents (trust on enrolment, as ssh does with host keys; compare it \
with the BMC's own display where it matters); a BMC that cannot be reached then fails the whole call. \
--validate logs in over Redfish (a session, else Basic auth) with the pinned check.";

fn opt(id: &'static str, long: &'static str, value: &'static str, help: &'static str) -> Arg {
    Arg::new(id).long(long).value_name(value).help(help)
}

pub fn command() -> Command {
    Command::new("addbmnode")
        .long_about(LONG_ABOUT)
        .arg(Arg::new("noderange").value_name("NODERANGE").required_unless_present("file").help("The nodes to enroll, e.g. n[001-100]"))
        .arg(opt("bmc", "bmc", "ADDR", "BMC IPv4 address or host name, or for Redfish an https://HOST[:PORT] URL (a regex value such as '|n(\\d+)|10.1.0.($1+0)|' gives one per node)"))
        .arg(
            Arg::new("mgt")
                .long("mgt")
                .value_name("PROTOCOL")
                .value_parser(["ipmi", "redfish"])
                .hide_possible_values(true)
                .help("The BMCs' protocol: ipmi (default) or redfish (HTTPS)"),
        )
        .arg(opt("bmc-cert", "bmc-cert", "CHECK", "Redfish: how to check the BMC's TLS certificate: sha256:FINGERPRINT, ca:/path/ca.pem, or insecure (no check); default: read each BMC's certificate now and pin its SHA-256"))
        .arg(opt("bmc-user", "bmc-user", "USER", "BMC user name"))
        .arg(opt("bmc-password", "bmc-password", "PW", "BMC password (visible to other users in the process list; prefer --bmc-password-file)").conflicts_with("bmc-password-file"))
        .arg(opt("bmc-password-file", "bmc-password-file", "FILE", "Read the BMC password from the first line of FILE ('-' for standard input)"))
        .arg(opt("mac", "mac", "MAC[,MAC...]", "Boot NIC MACs: one node takes them all, N nodes take N in order, or a regex value"))
        .arg(opt("cpus", "cpus", "N", "Number of CPU cores"))
        .arg(opt("memory", "memory", "MB", "Memory size in MB"))
        .arg(opt("disk", "disk", "GB", "Disk size in GB"))
        .arg(opt("arch", "arch", "ARCH", "Architecture: x86_64, aarch64 or ppc64le"))
        .arg(opt("groups", "groups", "G,...", "Groups the nodes belong to (every node is also in 'all')"))
        .arg(opt("ip", "ip", "IP", "IPv4 address of the node (a regex value gives one per node)"))
        .arg(Arg::new("servicenode").short('s').long("service-node").value_name("SERVICE_HOST").help("Service node that manages these nodes"))
        .arg(Arg::new("file").short('f').long("file").value_name("nodes.csv").help(
            "Enroll the nodes listed in a CSV file with a header naming columns among node, bmc, bmcusername, bmcpassword, mac, ip, groups, cpus, memory, disk, arch, servicenode, mgt, bmccert; options give defaults",
        ))
        .arg(Arg::new("force").long("force").action(ArgAction::SetTrue).help("Replace the definitions of nodes already enrolled"))
        .arg(
            Arg::new("validate")
                .long("validate")
                .action(ArgAction::SetTrue)
                .help("Log in to every BMC first (IPMI, or Redfish with --mgt redfish); enroll nothing unless all answer with the given credentials"),
        )
        .arg(Arg::new("verbose").short('V').long("verbose").action(ArgAction::SetTrue).help("Print one line per node enrolled"))
}

fn get(m: &ArgMatches, id: &str) -> Option<String> {
    m.get_one::<String>(id).cloned()
}

fn read_password_file(path: &str) -> Result<String> {
    let text = if path == "-" {
        let mut s = String::new();
        std::io::stdin().read_line(&mut s).map_err(|e| Error::io("stdin", e))?;
        s
    } else {
        std::fs::read_to_string(path)
            .map_err(|e| Error::Input(format!("--bmc-password-file: cannot read {path}: {e}")))?
    };
    let pw = text.lines().next().unwrap_or("").to_string();
    if pw.is_empty() {
        return Err(Error::Input(format!("--bmc-password-file: {path} is empty")));
    }
    Ok(pw)
}

/// Node specs from a CSV file; command-line options fill what a row leaves empty.
fn specs_from_file(path: &str, defaults: &NodeSpec) -> Result<Vec<NodeSpec>> {
    let bytes = std::fs::read(path).map_err(|e| Error::Input(format!("-f: cannot read {path}: {e}")))?;
    let text = Error::text(path, bytes)?;
    let text = if text.starts_with('#') { text } else { format!("#{text}") };
    let parsed = tabcsv::parse(&text).map_err(|e| Error::Input(format!("{path}: {e}")))?;
    const COLUMNS: &[&str] = &[
        "node",
        "bmc",
        "bmcusername",
        "bmcpassword",
        "mac",
        "ip",
        "groups",
        "cpus",
        "memory",
        "disk",
        "arch",
        "servicenode",
        "mgt",
        "bmccert",
    ];
    for c in &parsed.columns {
        if !COLUMNS.contains(&c.as_str()) {
            return Err(Error::Input(format!(
                "{path}: unknown column '{c}' in the header (allowed: {})",
                COLUMNS.join(", ")
            )));
        }
    }
    if !parsed.columns.iter().any(|c| c == "node") {
        return Err(Error::Input(format!("{path}: the header has no 'node' column")));
    }
    let mut specs = Vec::with_capacity(parsed.rows.len());
    for (_, row) in parsed.rows {
        let mut s = defaults.clone();
        for (c, v) in parsed.columns.iter().zip(row) {
            let Some(v) = v else { continue };
            match c.as_str() {
                "node" => s.node = v,
                "bmc" => s.bmc = Some(v),
                "bmcusername" => s.bmc_user = Some(v),
                "bmcpassword" => s.bmc_password = Some(v),
                "mac" => s.macs = Some(v.replace(',', "|")),
                "ip" => s.ip = Some(v),
                "groups" => s.groups = Some(v),
                "cpus" => s.cpus = Some(v),
                "memory" => s.memory = Some(v),
                "disk" => s.disk = Some(v),
                "arch" => s.arch = Some(v),
                "mgt" => s.mgt = Some(v),
                "bmccert" => s.bmc_cert = Some(v),
                _ => s.servicenode = Some(v),
            }
        }
        specs.push(s);
    }
    Ok(specs)
}

pub fn run(ctx: &mut Ctx, m: &ArgMatches) -> Result<Status> {
    let password = match get(m, "bmc-password-file") {
        Some(path) => Some(read_password_file(&path)?),
        None => get(m, "bmc-password"),
    };
    let defaults = NodeSpec {
        node: String::new(),
        bmc: get(m, "bmc"),
        bmc_user: get(m, "bmc-user"),
        bmc_password: password,
        macs: None,
        ip: get(m, "ip"),
        groups: get(m, "groups"),
        cpus: get(m, "cpus"),
        memory: get(m, "memory"),
        disk: get(m, "disk"),
        arch: get(m, "arch"),
        servicenode: get(m, "servicenode"),
        mgt: get(m, "mgt"),
        bmc_cert: get(m, "bmc-cert"),
    };
    let range = get(m, "noderange");
    let mut st = ctx.store()?;
    let mut specs: Vec<NodeSpec> = match get(m, "file") {
        Some(path) => {
            let mut d = defaults;
            d.macs = get(m, "mac").map(|v| v.replace(',', "|"));
            specs_from_file(&path, &d)?
        }
        None => {
            let limit = crate::store::view::name_limit(st.conn())?;
            let nodes = noderange::expand_names_within(range.as_deref().unwrap_or(""), limit)?;
            if nodes.is_empty() {
                return Err(Error::Usage("the noderange names no nodes".into()));
            }
            let macs = match get(m, "mac") {
                Some(v) => enroll::assign_macs(&nodes, &v)?.into_iter().map(Some).collect(),
                None => vec![None; nodes.len()],
            };
            nodes.into_iter().zip(macs).map(|(node, macs)| NodeSpec { node, macs, ..defaults.clone() }).collect()
        }
    };
    let args = ctx.redacted_args();
    let name = ctx.name;
    let force = flag(m, "force");
    if specs.iter().any(|s| s.mgt.as_deref() == Some("redfish") && s.bmc_cert.is_none()) {
        // Pin what each Redfish BMC presents now (trust on enrolment, like ssh's known_hosts).
        pin_certificates(st.conn(), &mut specs, force)?;
    }
    if flag(m, "validate") {
        // Log in before the write transaction, so waiting on BMCs never holds the store's lock.
        let ready = enroll::prepare(st.conn(), &specs, force)?;
        let limits = crate::hw::bmc::Limits::from_site(st.conn(), None, None)?;
        let errors = crate::hw::validate(&ready, &limits);
        if !errors.is_empty() {
            let mut lines = errors;
            lines.push("Error: nothing was enrolled".to_string());
            return Err(Error::Inputs(lines));
        }
    }
    let count = st.write(|c| {
        let n = enroll::enroll(c, &specs, force)?;
        store::audit(c, name, range.as_deref().unwrap_or(""), &args)?;
        Ok(n)
    })?;
    if flag(m, "verbose") {
        for s in &specs {
            writeln!(ctx.out, "{}: enrolled", s.node).map_err(output::io)?;
        }
    }
    writeln!(ctx.out, "{count} nodes enrolled.").map_err(output::io)?;
    Ok(Status::Ok)
}

/// Reads the TLS certificate fingerprint of every Redfish BMC enrolled without --bmc-cert and
/// records it in its spec (ipmi.bmccert); a BMC that cannot be reached fails the whole call.
fn pin_certificates(conn: &rusqlite::Connection, specs: &mut [NodeSpec], force: bool) -> Result<()> {
    let ready = enroll::prepare(conn, specs, force)?;
    let limits = crate::hw::bmc::Limits::from_site(conn, None, None)?;
    let mut targets = Vec::new();
    for r in ready.iter().filter(|r| r.mgt == "redfish" && r.cert.is_none()) {
        // Only a handshake, no credentials sent: the certificate is what is being learnt.
        let t = crate::hw::redfish::Target {
            host: r.bmc.clone(),
            port: r.port.unwrap_or(crate::hw::redfish::PORT),
            user: String::new(),
            password: String::new(),
            trust: crate::hw::redfish::Trust::Insecure,
            timeout: limits.timeout.max(crate::hw::redfish::MIN_TIMEOUT),
            tries: limits.tries,
            system: None,
        };
        targets.push((r.node.clone(), t));
    }
    let mut errors = Vec::new();
    for (node, fp) in crate::hw::read_fingerprints(targets) {
        match fp {
            Ok(fp) => {
                if let Some(s) = specs.iter_mut().find(|s| s.node == node) {
                    s.bmc_cert = Some(fp);
                }
            }
            Err(e) => errors.push(format!("{node}: Error: bmc: cannot read the TLS certificate to pin: {e}")),
        }
    }
    if !errors.is_empty() {
        errors.push("Error: nothing was enrolled".to_string());
        return Err(Error::Inputs(errors));
    }
    Ok(())
}
