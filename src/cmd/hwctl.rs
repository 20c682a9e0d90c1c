//! rpower, rsetboot, rinv, rvitals, reventlog: one operation fanned out to every node's BMC.

use super::{fanout_arg, flag, json_arg, timeout_arg, Ctx, Status};
use crate::error::{Error, Result};
use crate::hw::ipmi::cmds::BootDevice;
use crate::hw::ipmi::sdrcache::SdrCache;
use crate::hw::ops::{Fact, Inventory, Op, Power, Vitals};
use crate::hw::{self, bmc, fanout};
use crate::noderange;
use crate::output;
use crate::store::{self, schema, view::NodeView};
use clap::{Arg, ArgAction, ArgMatches, Command};
use std::io::{IsTerminal, Write};
use std::time::Duration;

pub const RPOWER_ABOUT: &str = "Control and query the power of nodes through their BMCs";
pub const RSETBOOT_ABOUT: &str = "Set or show the device nodes boot from next";
pub const RINV_ABOUT: &str = "Read nodes' hardware inventory (FRU, firmware, GUID, MAC) from their BMCs";
pub const RVITALS_ABOUT: &str = "Read nodes' sensors (temperatures, voltages, fans, power) from their BMCs";
pub const REVENTLOG_ABOUT: &str = "Read or clear nodes' BMC event logs (SEL)";

/// What every hardware command's page says about the two BMC protocols.
const PROTOCOLS: &str = "Each node's BMC speaks the protocol nodehm.mgt (or nodehm.power) names: ipmi \
(IPMI 2.0 over LAN, UDP port ipmi.bmcport, default 623) or redfish (HTTPS, port ipmi.bmcport, default \
443). One noderange may mix both; output and exit status are the same for either. A Redfish BMC's TLS \
certificate is checked as ipmi.bmccert says: sha256:FINGERPRINT (pinned by addbmnode --mgt redfish), \
ca:/path/ca.pem, or insecure (no check, only ever set on request); a node without it is refused. \
Redfish logins use a session (SessionService, logged out after each command) where the service \
offers one, else Basic auth; the system, chassis and manager are found from the service root. \
Redfish requests wait at least 10 s (-t raises it).";

/// The options every hardware command shares.
fn hw_command(name: &'static str, action: Arg) -> Command {
    let about = match name {
        "rpower" => format!(
            "{RPOWER_ABOUT}.\n\n{PROTOCOLS}\n\nOn Redfish BMCs the actions are ComputerSystem.Reset types, the first \
             one the service allows (its @Redfish.AllowableValues or ActionInfo): on: On or ForceOn; off: ForceOff; \
             softoff: GracefulShutdown; reset: ForceRestart or GracefulRestart; cycle: PowerCycle or ForceRestart. \
             stat reads PowerState."
        ),
        "rsetboot" => format!(
            "{RSETBOOT_ABOUT}.\n\n{PROTOCOLS}\n\nOn Redfish BMCs rsetboot PATCHes the system's Boot: \
             BootSourceOverrideTarget Pxe, Hdd, Cd, BiosSetup or Floppy, BootSourceOverrideEnabled Once (or \
             Continuous with -p), BootSourceOverrideMode UEFI with -u; def sets Enabled to Disabled. Values \
             outside the service's @Redfish.AllowableValues are refused before anything is sent. `rsetboot \
             NODERANGE http URI` sets UEFI HTTP boot from URI (UefiHttp and Boot.HttpBootUri, Redfish only). \
             A service that demands If-Match gets the resource's ETag. `rsetboot NODERANGE cd --media URL` inserts \
             the ISO at URL in the BMC's virtual CD/DVD (VirtualMedia.InsertMedia, ejecting what was there) and \
             sets the next boot (every boot with -p) from it; `rsetboot NODERANGE cd --eject` ejects it (Redfish \
             only; the media stays inserted until ejected)."
        ),
        "rinv" => format!(
            "{RINV_ABOUT}.\n\n{PROTOCOLS}\n\nOn Redfish BMCs the facts come from the ComputerSystem \
             (Manufacturer, Model, SerialNumber, AssetTag, UUID, BiosVersion), its manager (FirmwareVersion, Model), \
             its Processors, Memory and EthernetInterfaces (MAC addresses)."
        ),
        "rvitals" => format!(
            "{RVITALS_LONG_ABOUT}\n\n{PROTOCOLS}\n\nOn Redfish BMCs the readings come from the chassis' \
             Sensors collection where the service has one, else from its Thermal (temperatures, fans) and Power \
             (voltages, power consumed) resources; leds reads the system's IndicatorLED. Redfish readings are not \
             cached."
        ),
        _ => format!(
            "{REVENTLOG_ABOUT}.\n\n{PROTOCOLS}\n\nOn Redfish BMCs the log is the manager's first LogService \
             with Entries (else the system's); each entry prints as date, Severity and Message; clear posts \
             LogService.ClearLog."
        ),
    };
    Command::new(name)
        .long_about(about)
        .arg(Arg::new("noderange").required(true).value_name("NODERANGE").help("The nodes"))
        .arg(action)
        .arg(timeout_arg("Seconds to wait for each BMC answer (default: site.ipmitimeout, else 2)"))
        .arg(
            Arg::new("retries")
                .short('r')
                .long("retries")
                .value_name("N")
                .value_parser(clap::value_parser!(u32))
                .help("Times to send each request (default: site.ipmiretries, else 3)"),
        )
        .arg(fanout_arg("Most BMCs talked to at once (default 1024)"))
        .arg(json_arg())
}

fn words(id: &'static str, values: &'static [&'static str], default: &'static str, help: &'static str) -> Arg {
    Arg::new(id)
        .value_name(id.to_uppercase())
        .value_parser(clap::builder::PossibleValuesParser::new(values))
        .hide_possible_values(true)
        .default_value(default)
        .help(help)
}

pub fn rpower_command() -> Command {
    hw_command(
        "rpower",
        words(
            "action",
            &["on", "off", "softoff", "reset", "boot", "cycle", "stat", "state", "status"],
            "stat",
            "on, off, softoff, reset, boot (on if off, else reset), cycle, stat",
        )
        .required(false),
    )
}

pub fn rsetboot_command() -> Command {
    hw_command(
        "rsetboot",
        words(
            "device",
            &["net", "hd", "cd", "setup", "floppy", "def", "default", "stat", "http"],
            "stat",
            "net, hd, cd, setup, floppy, def (clear the override), stat, http URI (UEFI HTTP boot, Redfish)",
        ),
    )
    .arg(Arg::new("uri").value_name("URI").help("With http: the boot program's http:// or https:// URI"))
    .arg(
        Arg::new("media")
            .long("media")
            .value_name("URL")
            .conflicts_with("eject")
            .help("With cd: insert the ISO at URL in the BMC's virtual CD/DVD and boot from it (Redfish)"),
    )
    .arg(Arg::new("eject").long("eject").action(ArgAction::SetTrue).help("With cd: eject the virtual CD/DVD (Redfish)"))
    .arg(Arg::new("uefi").short('u').action(ArgAction::SetTrue).help("Boot in UEFI mode"))
    .arg(Arg::new("persistent").short('p').action(ArgAction::SetTrue).help("For every boot, not only the next"))
}

pub fn rinv_command() -> Command {
    hw_command(
        "rinv",
        words(
            "what",
            &["all", "model", "serial", "asset", "vpd", "deviceid", "guid", "uuid", "firm", "mac"],
            "all",
            "all, model, serial, asset, vpd, deviceid, guid (or uuid), firm, mac",
        ),
    )
}

pub fn rvitals_command() -> Command {
    hw_command(
        "rvitals",
        words(
            "what",
            &["temp", "voltage", "wattage", "fanspeed", "power", "leds", "all"],
            "all",
            "temp, voltage, wattage, fanspeed, power, leds, all",
        ),
    )
}

const RVITALS_LONG_ABOUT: &str = "Read nodes' sensors (temperatures, voltages, power, fans) from their BMCs.

Each BMC's sensor data records (SDRs) are cached beside the store, in the directory sdrcache (0700), \
so a run costs two small requests plus the readings. A cached copy is used while the BMC's device id, \
firmware and SDR repository info (record count, free space, last addition and erase times) are \
unchanged; any change makes rvitals read the records again. BMCs of one model and firmware share a \
copy only when their repositories carry the same real addition time. Set site.ipmisdrcache=no to \
read the records on every run.";

pub fn reventlog_command() -> Command {
    hw_command(
        "reventlog",
        Arg::new("what").value_name("N|all|clear").default_value("all").help("The last N entries, all, or clear"),
    )
}

fn choice(m: &ArgMatches, id: &str) -> String {
    m.get_one::<String>(id).cloned().unwrap_or_default()
}

pub fn rpower(ctx: &mut Ctx, m: &ArgMatches) -> Result<Status> {
    let p = match choice(m, "action").as_str() {
        "on" => Power::On,
        "off" => Power::Off,
        "softoff" => Power::Softoff,
        "reset" => Power::Reset,
        "boot" => Power::Boot,
        "cycle" => Power::Cycle,
        _ => Power::Stat,
    };
    fan_out(ctx, m, Op::Power(p))
}

pub fn rsetboot(ctx: &mut Ctx, m: &ArgMatches) -> Result<Status> {
    let media = m.get_one::<String>("media");
    if media.is_some() || flag(m, "eject") {
        if choice(m, "device") != "cd" {
            return Err(Error::Usage("--media and --eject go with rsetboot NODERANGE cd".into()));
        }
        let url = match media {
            Some(u) if u.starts_with("http://") || u.starts_with("https://") => {
                Some(&*Box::leak(u.clone().into_boxed_str()))
            }
            Some(u) => return Err(Error::Usage(format!("--media: '{u}' is not an http:// or https:// URL"))),
            None => None,
        };
        return fan_out(ctx, m, Op::Media { url, persistent: flag(m, "persistent"), uefi: flag(m, "uefi") });
    }
    let device = match choice(m, "device").as_str() {
        "net" => Some(BootDevice::Net),
        "hd" => Some(BootDevice::Hd),
        "cd" => Some(BootDevice::Cd),
        "setup" => Some(BootDevice::Setup),
        "floppy" => Some(BootDevice::Floppy),
        "def" | "default" => Some(BootDevice::Default),
        "http" => {
            let uri = match m.get_one::<String>("uri") {
                Some(u) if u.starts_with("http://") || u.starts_with("https://") => u.clone(),
                Some(u) => return Err(Error::Usage(format!("'{u}' is not an http:// or https:// URI"))),
                None => {
                    return Err(Error::Usage("rsetboot http needs the boot URI: rsetboot NODERANGE http URI".into()))
                }
            };
            // Leaked once per command: the operation stays Copy for the fan-out.
            let uri: &'static str = Box::leak(uri.into_boxed_str());
            return fan_out(ctx, m, Op::HttpBoot { uri, persistent: flag(m, "persistent") });
        }
        _ => None,
    };
    if let Some(u) = m.get_one::<String>("uri") {
        return Err(Error::Usage(format!("'{u}': a URI goes with rsetboot http only")));
    }
    fan_out(ctx, m, Op::Boot { device, persistent: flag(m, "persistent"), uefi: flag(m, "uefi") })
}

pub fn rinv(ctx: &mut Ctx, m: &ArgMatches) -> Result<Status> {
    let what = match choice(m, "what").as_str() {
        "model" => Inventory::Model,
        "serial" => Inventory::Serial,
        "asset" => Inventory::Asset,
        "vpd" => Inventory::Vpd,
        "deviceid" => Inventory::DeviceId,
        "guid" | "uuid" => Inventory::Guid,
        "firm" => Inventory::Firm,
        "mac" => Inventory::Mac,
        _ => Inventory::All,
    };
    fan_out(ctx, m, Op::Inventory(what))
}

pub fn rvitals(ctx: &mut Ctx, m: &ArgMatches) -> Result<Status> {
    let what = match choice(m, "what").as_str() {
        "temp" => Vitals::Temp,
        "voltage" => Vitals::Voltage,
        "wattage" => Vitals::Wattage,
        "fanspeed" => Vitals::Fanspeed,
        "power" => Vitals::Power,
        "leds" => Vitals::Leds,
        _ => Vitals::All,
    };
    fan_out(ctx, m, Op::Vitals(what))
}

pub fn reventlog(ctx: &mut Ctx, m: &ArgMatches) -> Result<Status> {
    let what = choice(m, "what");
    let op = match what.as_str() {
        "clear" => Op::ClearEventLog,
        "all" => Op::EventLog { last: None },
        n => match n.parse::<usize>() {
            Ok(n) if n > 0 => Op::EventLog { last: Some(n) },
            _ => return Err(Error::Usage(format!("'{n}' is not a number of entries, all or clear"))),
        },
    };
    fan_out(ctx, m, op)
}

/// The default fan-out bound: high, because each conversation is a few datagrams; -f lowers it.
pub(super) const DEFAULT_FANOUT: usize = 1024;

fn fan_out(ctx: &mut Ctx, m: &ArgMatches, op: Op) -> Result<Status> {
    let mut st = ctx.store()?;
    let range = choice(m, "noderange");
    let (nodes, targets, stagger) = {
        let conn = st.conn();
        let (view, nodes) = NodeView::for_range(conn, &range)?;
        let limits =
            bmc::Limits::from_site(conn, m.get_one::<f64>("timeout").copied(), m.get_one::<u32>("retries").copied())?;
        let targets = bmc::bmcs(conn, &view, &nodes, &limits)?;
        (nodes, targets, stagger(conn, op)?)
    };
    let json = flag(m, "json");
    let opts = fanout::Options {
        fanout: m.get_one::<usize>("fanout").copied().unwrap_or(DEFAULT_FANOUT),
        stagger,
        progress: !json && nodes.len() > 1 && std::io::stderr().is_terminal(),
    };
    let mut results: Vec<(String, std::result::Result<Vec<Fact>, String>)> = Vec::with_capacity(nodes.len());
    let mut runnable = Vec::new();
    let mut kinds: Vec<Option<&'static str>> = Vec::new();
    for (node, t) in targets {
        match t {
            Ok(t) => runnable.push((node, t)),
            Err(e) => {
                results.push((node, Err(e)));
                kinds.push(Some("config"));
            }
        }
    }
    let sdr_cache = match op {
        Op::Vitals(_) => SdrCache::for_store(&st)?.map(std::sync::Arc::new),
        _ => None,
    };
    for (node, r) in fanout::run(runnable, &opts, move |b| hw::perform(b, op, sdr_cache.clone())) {
        kinds.push(r.as_ref().err().map(|e| e.kind()));
        results.push((node, r.map_err(|e| e.to_string())));
    }
    // Sort back into natural node order (config errors were set aside first).
    let mut order: Vec<usize> = (0..results.len()).collect();
    order.sort_by(|&a, &b| noderange::natural_cmp(&results[a].0, &results[b].0));
    let mut failed = false;
    let mut powered: Vec<(String, &'static str)> = Vec::new();
    for i in order {
        let (node, r) = &results[i];
        match r {
            Ok(facts) => {
                if let Op::Power(p) = op {
                    if let Some(state) = status_after(p, facts) {
                        powered.push((node.clone(), state));
                    }
                }
                if json {
                    let data: serde_json::Map<String, serde_json::Value> = facts
                        .iter()
                        .map(|f| {
                            (f.label.clone().unwrap_or_else(|| default_key(op).to_string()), f.value.clone().into())
                        })
                        .collect();
                    let rec = serde_json::json!({"node": node, "ok": true, "data": data});
                    output::json_line(ctx.out.as_mut(), &rec)?;
                } else {
                    for f in facts {
                        match &f.label {
                            Some(l) => writeln!(ctx.out, "{node}: {l}: {}", f.value),
                            None => writeln!(ctx.out, "{node}: {}", f.value),
                        }
                        .map_err(output::io)?;
                    }
                }
            }
            Err(e) => {
                failed = true;
                if json {
                    let rec = serde_json::json!({"node": node, "ok": false, "error": {"kind": kinds[i].unwrap_or("error"), "message": e}});
                    output::json_line(ctx.out.as_mut(), &rec)?;
                } else {
                    ctx.out.flush().map_err(output::io)?;
                    ctx.error_line(&format!("{node}: Error: {e}"))?;
                }
            }
        }
    }
    if !powered.is_empty() {
        record_power_status(&mut st, &powered)?;
    }
    Ok(if failed { Status::SomeFailed } else { Status::Ok })
}

fn default_key(op: Op) -> &'static str {
    match op {
        Op::Power(_) => "power",
        Op::Boot { .. } | Op::HttpBoot { .. } | Op::Media { .. } => "boot",
        Op::EventLog { .. } | Op::ClearEventLog => "event",
        _ => "value",
    }
}

/// nodelist.status after a power change (xCAT: powering-on / powering-off).
fn status_after(p: Power, facts: &[Fact]) -> Option<&'static str> {
    if p == Power::Stat {
        return None;
    }
    match facts.first().map(|f| f.value.as_str()) {
        Some("on" | "reset" | "cycle") => Some("powering-on"),
        Some("off" | "softoff") => Some("powering-off"),
        _ => None,
    }
}

pub(super) fn record_power_status(st: &mut store::Store, powered: &[(String, &'static str)]) -> Result<()> {
    if store::site_value(st.conn(), "nodestatus")?.is_some_and(|v| matches!(v.as_str(), "n" | "no" | "0")) {
        return Ok(());
    }
    let nodelist = schema::table("nodelist").expect("nodelist");
    st.write(|c| {
        let now: String = c.query_row("SELECT strftime('%Y-%m-%dT%H:%M:%SZ', 'now')", [], |r| r.get(0))?;
        for (n, s) in powered {
            store::upsert(c, nodelist, &[n], &[("status", Some(s)), ("statustime", Some(&now))])?;
        }
        Ok(())
    })
}

/// Staggered power-on (site.syspowerinterval seconds between batches of site.syspowermaxnodes).
pub(super) fn stagger(conn: &rusqlite::Connection, op: Op) -> Result<Option<(usize, Duration)>> {
    if !matches!(op, Op::Power(Power::On | Power::Boot | Power::Cycle)) {
        return Ok(None);
    }
    let interval: f64 = store::site_value(conn, "syspowerinterval")?.and_then(|v| v.parse().ok()).unwrap_or(0.0);
    let batch: usize = store::site_value(conn, "syspowermaxnodes")?.and_then(|v| v.parse().ok()).unwrap_or(0);
    Ok((interval > 0.0 && batch > 0).then(|| (batch, Duration::from_secs_f64(interval))))
}
