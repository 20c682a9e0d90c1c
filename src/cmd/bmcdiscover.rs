//! bmcdiscover: scan an address range for IPMI BMCs (see `crate::hw::scan`), print what answered
//! as xCAT's lines or stanzas, and with -w define them as nodes.

use super::{flag, secrets_arg, Ctx, Status};
use crate::defs::{self, ListOp};
use crate::error::{Error, Result};
use crate::hw::bmc::Limits;
use crate::hw::scan::{self, Found};
use crate::output::{self, MASK};
use crate::store::{self, view::NodeView};
use clap::{Arg, ArgAction, ArgMatches, Command};
use std::collections::HashMap;
use std::io::Write;

pub const ABOUT: &str = "Discover the IPMI and Redfish BMCs of an address range";

pub fn command() -> Command {
    Command::new("bmcdiscover")
        .long_about(
            "Asks every address of the range for IPMI Get Channel Authentication Capabilities (the unauthenticated \
             RMCP request ipmitool and FreeIPMI send first) and for a Redfish service root over HTTPS (port 443, or \
             --redfish-port), all at once (one timeout for the whole range: site.ipmitimeout, tries \
             site.ipmiretries). Where a BMC answers and credentials are given (-u/-p, else the passwd table's ipmi \
             row), it logs in and reads the FRU (model and serial: chassis part and serial, else product part and \
             serial, as xCAT's) and the LAN MAC; a BMC that answers Redfish only gives the model and serial of its \
             first ComputerSystem, and is defined with mgt=redfish and its certificate's SHA-256 pinned in bmccert \
             (the certificate it presented during the scan). Prints one line per BMC, \
             IP,MTM,SERIAL,USER,PASSWORD,mp,bmc,MAC,, (xCAT's fields; the password as ******** unless \
             --show-secrets), or with -z a stanza for mkdef -z named node-MTM-SERIAL (else node-MAC); -w defines \
             those nodes (groups=all, bmc, mgt=ipmi, mtm, serial, bmcusername, bmcpassword) in one transaction. A BMC \
             whose model and serial a node's vpd already has is reported as that node's and not defined again. \
             xCAT scans with nmap; oxcat needs none (-s is accepted for compatibility).",
        )
        .arg(Arg::new("range").long("range").value_name("IP_RANGES").required(true).help(
            "Addresses: 10.1.0.0/24, 10.1.0.1-254, 10.1.0-3.1-254 or 10.1.0.5, several separated by commas or spaces",
        ))
        .arg(Arg::new("user").short('u').long("bmcuser").value_name("BMC_USER").help("BMC user name"))
        .arg(Arg::new("password").short('p').long("bmcpasswd").value_name("BMC_PASSWD").help("BMC password"))
        .arg(Arg::new("stanza").short('z').action(ArgAction::SetTrue).help("Print stanzas (for mkdef -z)"))
        .arg(Arg::new("write").short('w').action(ArgAction::SetTrue).help("Define the BMCs found as nodes"))
        .arg(
            Arg::new("method")
                .short('s')
                .value_name("SCAN_METHOD")
                .value_parser(["nmap"])
                .hide_possible_values(true)
                .help("Scan method: nmap (accepted for xCAT's scripts; the scan is oxcat's own)"),
        )
        .arg(
            Arg::new("redfish-port")
                .long("redfish-port")
                .value_name("PORT")
                .default_value("443")
                .value_parser(clap::value_parser!(u16))
                .help("The HTTPS port asked for a Redfish service root (0: no Redfish probe)"),
        )
        .arg(secrets_arg())
}

/// xCAT's line: ip,mtm,serial,user,pw,mp,bmc,mac,sn,sn (mac only where no model and serial).
fn line(f: &Found, user: &str, pw: &str) -> String {
    let mac = if f.mtm.is_empty() || f.serial.is_empty() { f.mac.as_str() } else { "" };
    format!("{},{},{},{user},{pw},mp,bmc,{mac},,", f.ip, f.mtm, f.serial)
}

/// The attributes a found BMC's node gets (password as given: masked or not), in stanza order.
fn attributes(f: &Found, user: &str, pw: &str) -> Vec<(String, String)> {
    let mut a = vec![("groups".to_string(), "all".to_string()), ("bmc".into(), f.ip.to_string())];
    match &f.redfish {
        // IPMI where the BMC speaks it (xCAT's choice); Redfish for a BMC that speaks only that.
        Some(rf) if !f.ipmi => {
            if rf.port != crate::hw::redfish::PORT {
                a.push(("bmcport".into(), rf.port.to_string()));
            }
            a.push(("mgt".into(), "redfish".into()));
            a.push(("bmccert".into(), rf.cert.clone()));
        }
        _ => {
            a.push(("cons".into(), "ipmi".into()));
            a.push(("mgt".into(), "ipmi".into()));
        }
    }
    for (k, v) in [("mtm", f.mtm.as_str()), ("serial", f.serial.as_str()), ("bmcusername", user), ("bmcpassword", pw)] {
        if !v.is_empty() {
            a.push((k.into(), v.into()));
        }
    }
    a
}

fn stanza(node: &str, f: &Found, user: &str, pw: &str) -> String {
    let mut s = format!("{node}:\n\tobjtype=node\n");
    for (k, v) in attributes(f, user, pw) {
        s.push_str(&format!("\t{k}={v}\n"));
    }
    s
}

pub fn run(ctx: &mut Ctx, m: &ArgMatches) -> Result<Status> {
    let range = m.get_one::<String>("range").expect("required");
    let addrs = scan::addresses(range).map_err(Error::Usage)?;
    let mut st = ctx.store()?;
    let limits = Limits::from_site(st.conn(), None, None)?;
    let (def_user, def_pw) = store::default_credentials(st.conn(), "ipmi")?;
    let user = m.get_one::<String>("user").cloned().or(def_user);
    let password = m.get_one::<String>("password").cloned().or(def_pw);
    let credentials = password.clone().map(|p| (user.clone().unwrap_or_default(), p));
    let found = scan::run(
        &addrs,
        &scan::Scan {
            port: 623,
            timeout: limits.timeout,
            tries: limits.tries,
            credentials,
            fanout: 1024,
            redfish_port: m.get_one::<u16>("redfish-port").copied().filter(|p| *p != 0),
        },
    );
    if found.is_empty() {
        ctx.error_line("Warning: No bmc found.")?;
        return Ok(Status::Ok);
    }
    // Nodes whose vpd has a model and serial, by "mtm*serial" (lower case), as xCAT's.
    let mut known: HashMap<String, String> = HashMap::new();
    for row in store::all_rows(st.conn(), crate::store::schema::table("vpd").expect("vpd"))? {
        if let (Some(n), Some(s), Some(mtm)) = (&row[0], &row[1], &row[2]) {
            known.insert(format!("{}*{}", mtm.to_lowercase(), s.to_lowercase()), n.clone());
        }
    }
    let view = NodeView::load(st.conn())?;
    known.retain(|_, n| view.is_node(n));
    drop(view);
    let show = flag(m, "show-secrets");
    let (user, pw) = (user.unwrap_or_default(), password.unwrap_or_default());
    let shown_pw = if show || pw.is_empty() { pw.clone() } else { MASK.to_string() };
    let mut status = Status::Ok;
    let mut writes: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for f in &found {
        if let Some(e) = &f.login_error {
            let why =
                if e.contains("password") || e.contains("user") { e.clone() } else { format!("login failed: {e}") };
            ctx.error_line(&format!("Warning: {}: {why}", f.ip))?;
            status = Status::SomeFailed;
        }
        let key = format!("{}*{}", f.mtm.to_lowercase(), f.serial.to_lowercase());
        if !f.mtm.is_empty() && !f.serial.is_empty() {
            if let Some(n) = known.get(&key) {
                writeln!(
                    ctx.out,
                    "Found matching node {n} with bmc ip address: {}, rsetboot/rpower {n} to continue hardware discovery.",
                    f.ip
                )
                .map_err(output::io)?;
                if flag(m, "stanza") {
                    write!(ctx.out, "{}", stanza(n, f, &user, &shown_pw)).map_err(output::io)?;
                }
                continue;
            }
        }
        let node = scan::node_name(f);
        if flag(m, "write") {
            writeln!(ctx.out, "Writing {node} ({}) to database...", line(f, &user, &shown_pw)).map_err(output::io)?;
            writes.push((node.clone(), attributes(f, &user, &pw)));
        }
        if flag(m, "stanza") {
            write!(ctx.out, "{}", stanza(&node, f, &user, &shown_pw)).map_err(output::io)?;
        } else if !flag(m, "write") {
            writeln!(ctx.out, "{}", line(f, &user, &shown_pw)).map_err(output::io)?;
        }
    }
    if !writes.is_empty() {
        // -p's value is a password: never in the audit log.
        let mut hide = false;
        let args: Vec<String> = ctx.argv[1..]
            .iter()
            .map(|a| {
                let shown = if std::mem::take(&mut hide) {
                    MASK.to_string()
                } else if let Some(v) = a.strip_prefix("--bmcpasswd=") {
                    format!("--bmcpasswd={}", if v.is_empty() { "" } else { MASK })
                } else if a.starts_with("-p") && a.len() > 2 {
                    format!("-p{MASK}")
                } else {
                    a.clone()
                };
                hide = a == "-p" || a == "--bmcpasswd";
                shown
            })
            .collect();
        let args = super::redact(&args).join(" ");
        st.write(|c| {
            for (node, assign) in &writes {
                defs::write_nodes(c, std::slice::from_ref(node), assign, ListOp::Set, false, false)?;
            }
            store::audit(c, "bmcdiscover", "", &args)
        })?;
    }
    Ok(status)
}
