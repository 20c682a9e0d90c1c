//! What `oxcat nodeagent discover` does on a machine genesis booted in discovery mode: collect
//! the inventory, post it to oxcatd with the boot script's token, and follow the reply: set the
//! BMC up in-band when the node's chain says `runcmd=bmcsetup`, and say whether to reboot into
//! the deploy the chain set up.

use super::{inventory, Reply, Report};
use crate::deploy::agent::{encode, http_agent, Log};
use std::path::PathBuf;
use std::time::Duration;

/// What `nodeagent discover` was told (missing server/token come from the kernel command line).
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub server: Option<String>,
    pub token: Option<String>,
    /// Where the inventory is read (`/`).
    pub root: PathBuf,
    /// The in-band IPMI device (`/dev/ipmi0`), read for the BMC's address and set up by bmcsetup.
    pub ipmi: PathBuf,
    /// Where the reply is written (init reads `"reboot":true` there).
    pub reply: PathBuf,
    pub log: PathBuf,
    /// Print the report instead of posting it.
    pub dry_run: bool,
}

/// `BOOTIF=01-aa-bb-...` or `oxcat.mac=` of a kernel command line: the boot NIC.
fn boot_mac(cmdline: &str) -> Option<String> {
    let get = |key: &str| cmdline.split_whitespace().find_map(|w| w.strip_prefix(key)).map(str::to_string);
    get("oxcat.mac=").or_else(|| get("BOOTIF=").map(|b| b.trim_start_matches("01-").replace('-', ":")))
}

/// Runs discovery; true when the report was recorded (and the BMC set up, if asked).
pub fn run(opts: &Options) -> bool {
    let log = Log::open(&opts.log);
    let cmdline = std::fs::read_to_string(opts.root.join("proc/cmdline")).unwrap_or_default();
    let (server, _, token) = crate::deploy::agent::from_cmdline(&cmdline);
    let server = opts.server.clone().or(server);
    let token = opts.token.clone().or(token).unwrap_or_default();
    let mut report = inventory::collect(&opts.root, boot_mac(&cmdline).as_deref());
    if opts.ipmi.exists() {
        match super::kcs::Kcs::open(&opts.ipmi).and_then(|mut k| k.lan_address()) {
            Ok(b) => report.bmc = Some(b),
            Err(e) => log.line(format!("BMC: {}: {e}", opts.ipmi.display())),
        }
    }
    log.line(summary(&report));
    if opts.dry_run {
        println!("{}", serde_json::to_string_pretty(&report).expect("a report is JSON"));
        return true;
    }
    let Some(server) = server else {
        log.line("failed: no server (give --server, or boot with oxcat.server=)");
        return false;
    };
    let reply = match post(&server, &token, &report, &log) {
        Ok(r) => r,
        Err(why) => {
            log.line(format!("failed: {why}"));
            return false;
        }
    };
    let _ = std::fs::write(&opts.reply, serde_json::to_string(&reply).expect("a reply is JSON"));
    match &reply.node {
        Some(n) => log.line(format!("discovered: this machine is {n} (matched by {})", reply.method)),
        None => {
            log.line("discovered: no node matches this machine; it is kept undefined (nodediscoverls on the server)")
        }
    }
    if let Some(p) = &reply.problem {
        log.line(format!("the server says: {p}"));
    }
    if let Some(b) = &reply.bmcsetup {
        match super::kcs::Kcs::open(&opts.ipmi).and_then(|mut k| k.setup(b)) {
            Ok(()) => {
                log.line(format!("bmcsetup: BMC address {} netmask {}, user {} set", b.ip, b.netmask, b.username))
            }
            Err(e) => {
                log.line(format!("failed: bmcsetup: {e}"));
                return false;
            }
        }
    }
    if reply.reboot {
        log.line("the next boot is set: rebooting into it");
    }
    true
}

fn summary(r: &Report) -> String {
    let gib = |b: u64| format!("{:.1}G", b as f64 / (1u64 << 30) as f64);
    let disks: Vec<String> = r.disks.iter().map(|d| format!("{} {}", d.name, gib(d.size))).collect();
    let nics: Vec<String> =
        r.nics.iter().map(|n| format!("{} {}{}", n.name, n.mac, if n.carrier { " up" } else { "" })).collect();
    format!(
        "inventory: uuid {} serial '{}' model '{}', {} x {}, {} MiB, disks [{}], nics [{}]{}",
        r.uuid,
        r.serial,
        r.mtm,
        r.cpu.count,
        r.cpu.model,
        r.memory_mb,
        disks.join(", "),
        nics.join(", "),
        r.bmc.as_ref().map(|b| format!(", BMC {} {}", b.ip, b.mac)).unwrap_or_default()
    )
}

/// Posts the report (retried while the server cannot be reached or answers 5xx).
fn post(server: &str, token: &str, report: &Report, log: &Log) -> Result<Reply, String> {
    let url = format!("{}/discover?token={}", server.trim_end_matches('/'), encode(token));
    let body = serde_json::to_vec(report).expect("a report is JSON");
    let http = http_agent(Duration::from_secs(30));
    let mut last = String::new();
    for attempt in 1..=5u32 {
        match http.post(&url).header("Content-Type", "application/json").send(&body[..]) {
            Ok(mut r) => {
                let code = r.status().as_u16();
                let text = r.body_mut().read_to_string().unwrap_or_default();
                if code == 200 {
                    return serde_json::from_str(&text).map_err(|e| format!("the server's reply: {e}"));
                }
                last = format!("HTTP {code}: {}", text.trim());
                if code < 500 {
                    break;
                }
            }
            Err(e) => last = e.to_string(),
        }
        log.line(format!("report to {server}: {last}; try {attempt} of 5"));
        if attempt < 5 {
            std::thread::sleep(Duration::from_secs(1 << (attempt - 1)));
        }
    }
    Err(format!("report not taken by {server} ({last})"))
}
