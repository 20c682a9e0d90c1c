//! rinstall: xCAT's one command for a provisioning cycle: nodeset, rsetboot net, rpower boot; with
//! -c it follows every node's nodelist.status until the node booted or failed.

use super::{flag, hwctl, Ctx, Status};
use crate::boot::nodeset::{self, Request};
use crate::error::{Error, Result};
use crate::hw::ipmi::cmds::BootDevice;
use crate::hw::ops::{Fact, Op, Power};
use crate::hw::{bmc, fanout};
use crate::noderange;
use crate::output;
use crate::store::{self, view::NodeView};
use clap::{Arg, ArgAction, ArgMatches, Command};
use std::collections::{BTreeMap, HashMap};
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

pub const ABOUT: &str =
    "Provision nodes: nodeset, rsetboot net and rpower boot in one command; -c follows them to booted";

const LONG_ABOUT: &str = "\
Provision nodes: for each node, nodeset STATE (default osimage: the node's provmethod), then \
rsetboot net (nodes with nodehm.mgt=ipmi; for others the boot order must already start with the \
network, as in xCAT), then rpower boot (on if off, else reset). Each step prints what the command \
of that name prints; a node that fails a step gets a `node: Error: ...` line and is left out of the \
later steps.

With -c (--wait), rinstall then follows each node's nodelist.status (as the node reports it to \
oxcatd: installing N%, installed, booting, booted, failed: REASON), printing each change as \
`node: STATUS`, with a progress bar on a terminal, until every node reached booted or failed, or \
the timeout passed (a node still going is reported as `node: timed out (last status: STATUS)`). \
The exit status is 0 only when every node went through every step (and with -c, booted). (xCAT's rinstall -c opens the console of a single node instead.)";

pub fn command() -> Command {
    Command::new("rinstall")
        .long_about(LONG_ABOUT)
        .arg(Arg::new("noderange").required(true).value_name("NODERANGE").help("The nodes"))
        .arg(Arg::new("state").value_name("STATE").default_value("osimage").help(
            "osimage=NAME, osimage (the node's provmethod, the default), boot, shell, runcmd=CMD or runimage=URL",
        ))
        .arg(
            Arg::new("wait")
                .short('c')
                .long("wait")
                .action(ArgAction::SetTrue)
                .help("Follow the nodes' status until each booted or failed; exit 1 if any failed or timed out"),
        )
        .arg(
            Arg::new("timeout")
                .short('t')
                .long("timeout")
                .value_name("SECONDS")
                .value_parser(clap::value_parser!(u64).range(1..))
                .default_value("3600")
                .help("With -c: how long to wait for the nodes to boot"),
        )
        .arg(Arg::new("uefi").short('u').long("uefimode").action(ArgAction::SetTrue).help("rsetboot net in UEFI mode"))
}

/// How often -c reads the nodes' status.
const POLL: Duration = Duration::from_millis(500);

pub fn run(ctx: &mut Ctx, m: &ArgMatches) -> Result<Status> {
    let range = m.get_one::<String>("noderange").cloned().unwrap_or_default();
    let state = m.get_one::<String>("state").cloned().unwrap_or_default();
    let req = Request::parse(&state).map_err(Error::Usage)?;
    if matches!(req, Request::Offline | Request::Shutdown) {
        return Err(Error::Usage(format!(
            "'{state}' boots nothing (allowed: osimage=NAME, osimage, boot, shell, runcmd=CMD, runimage=URL)"
        )));
    }
    let wait = flag(m, "wait");
    let timeout = Duration::from_secs(m.get_one::<u64>("timeout").copied().unwrap_or(3600));
    let mut st = ctx.store()?;
    if wait && store::site_value(st.conn(), "nodestatus")?.is_some_and(|v| matches!(v.as_str(), "n" | "no" | "0")) {
        return Err(Error::Usage("-c follows nodelist.status, which site.nodestatus=n turns off".into()));
    }
    let mut failed: Vec<(String, String)> = Vec::new();
    // 1. nodeset.
    let (nodes, plans, ipmi) = {
        let conn = st.conn();
        let (view, nodes) = NodeView::for_range(conn, &range)?;
        let (plans, nodeset_failed) = nodeset::plan(conn, &view, &nodes, &req)?;
        failed.extend(nodeset_failed);
        let mut ipmi = std::collections::HashSet::new();
        for p in &plans {
            if view.get(&p.node, "nodehm", "mgt")?.as_deref() == Some("ipmi") {
                ipmi.insert(p.node.clone());
            }
        }
        (nodes, plans, ipmi)
    };
    let args = ctx.redacted_args();
    let plans = nodeset::commit(&mut st, plans, false, (ctx.name, &range, &args))?;
    for p in &plans {
        writeln!(ctx.out, "{}: {}", p.node, p.state).map_err(output::io)?;
    }
    report_errors(ctx, &mut failed)?;
    let mut going: Vec<String> = plans.into_iter().map(|p| p.node).collect();
    // 2. rsetboot net, where the node's BMC speaks IPMI.
    let (netboot, rest): (Vec<String>, Vec<String>) = going.into_iter().partition(|n| ipmi.contains(n));
    let op = Op::Boot { device: Some(BootDevice::Net), persistent: false, uefi: flag(m, "uefi") };
    let (ok, step_failed) = hw_step(ctx, &mut st, netboot, op)?;
    failed.extend(step_failed);
    report_errors(ctx, &mut failed)?;
    going = ok.into_iter().chain(rest).collect();
    going.sort_by(|a, b| noderange::natural_cmp(a, b));
    // 3. rpower boot.
    let (going, step_failed) = hw_step(ctx, &mut st, going, Op::Power(Power::Boot))?;
    failed.extend(step_failed);
    report_errors(ctx, &mut failed)?;
    let mut all_ok = going.len() == nodes.len();
    if wait && !going.is_empty() {
        all_ok &= follow(ctx, &st, &going, timeout)?;
    }
    ctx.out.flush().map_err(output::io)?;
    Ok(if all_ok { Status::Ok } else { Status::SomeFailed })
}

/// Prints (and clears) the per-node error lines gathered so far, in node order.
fn report_errors(ctx: &mut Ctx, failed: &mut Vec<(String, String)>) -> Result<()> {
    ctx.out.flush().map_err(output::io)?;
    failed.sort_by(|a, b| noderange::natural_cmp(&a.0, &b.0));
    for (n, e) in failed.drain(..) {
        ctx.error_line(&format!("{n}: Error: {e}"))?;
    }
    Ok(())
}

/// One BMC operation on `nodes`, printed as rpower/rsetboot print it: the nodes it worked for,
/// and (node, why) for the others.
fn hw_step(
    ctx: &mut Ctx,
    st: &mut store::Store,
    nodes: Vec<String>,
    op: Op,
) -> Result<(Vec<String>, nodeset::Failures)> {
    if nodes.is_empty() {
        return Ok((nodes, vec![]));
    }
    let (targets, stagger) = {
        let conn = st.conn();
        let view = NodeView::of_nodes(conn, &nodes)?;
        let limits = bmc::Limits::from_site(conn, None, None)?;
        (bmc::bmcs(conn, &view, &nodes, &limits)?, hwctl::stagger(conn, op)?)
    };
    let opts = fanout::Options { fanout: hwctl::DEFAULT_FANOUT, stagger, progress: false };
    let mut failed = Vec::new();
    let mut runnable = Vec::new();
    for (node, t) in targets {
        match t {
            Ok(t) => runnable.push((node, t)),
            Err(e) => failed.push((node, e)),
        }
    }
    let mut done: Vec<(String, Vec<Fact>)> = Vec::new();
    for (node, r) in fanout::run(runnable, &opts, move |t| crate::hw::perform(t, op, None)) {
        match r {
            Ok(facts) => done.push((node, facts)),
            Err(e) => failed.push((node, e.to_string())),
        }
    }
    done.sort_by(|a, b| noderange::natural_cmp(&a.0, &b.0));
    let mut powered = Vec::new();
    for (node, facts) in &done {
        for f in facts {
            match &f.label {
                Some(l) => writeln!(ctx.out, "{node}: {l}: {}", f.value),
                None => writeln!(ctx.out, "{node}: {}", f.value),
            }
            .map_err(output::io)?;
        }
        if matches!(op, Op::Power(_)) {
            powered.push((node.clone(), "powering-on"));
        }
    }
    if !powered.is_empty() {
        hwctl::record_power_status(st, &powered)?;
    }
    Ok((done.into_iter().map(|(n, _)| n).collect(), failed))
}

/// How far a status says the node is, in percent (for the progress bar).
fn progress_of(status: &str) -> u64 {
    match status.strip_prefix("installing").map(str::trim) {
        Some(p) => p.trim_end_matches('%').parse::<u64>().unwrap_or(0).min(100),
        None if is_end(status) || status == "installed" => 100,
        None => 0,
    }
}

fn is_end(status: &str) -> bool {
    status == "booted" || status.starts_with("failed")
}

/// Follows the nodes' status until each booted or failed, or `timeout` passed; true when all booted.
fn follow(ctx: &mut Ctx, st: &store::Store, nodes: &[String], timeout: Duration) -> Result<bool> {
    let deadline = Instant::now() + timeout;
    let bar = std::io::stderr().is_terminal().then(|| {
        let b = indicatif::ProgressBar::with_draw_target(
            Some(nodes.len() as u64 * 100),
            indicatif::ProgressDrawTarget::stderr(),
        );
        b.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {percent}% {msg} {elapsed}").expect("valid template"),
        );
        b
    });
    // Empty: the first status read (powering-on, as step 3 recorded it) is printed too.
    let mut last: BTreeMap<&str, String> = nodes.iter().map(|n| (n.as_str(), String::new())).collect();
    loop {
        let now = statuses(st, nodes)?;
        let mut lines = Vec::new();
        for n in nodes {
            let s = now.get(n).cloned().unwrap_or_default();
            let seen = last.get_mut(n.as_str()).expect("every node");
            if *seen != s && !is_end(seen) {
                lines.push(format!("{n}: {s}"));
                *seen = s;
            }
        }
        let (booted, failed) = (
            last.values().filter(|s| *s == "booted").count(),
            last.values().filter(|s| s.starts_with("failed")).count(),
        );
        let print = |ctx: &mut Ctx| -> Result<()> {
            for l in &lines {
                writeln!(ctx.out, "{l}").map_err(output::io)?;
            }
            ctx.out.flush().map_err(output::io)
        };
        match &bar {
            Some(b) => {
                b.suspend(|| print(ctx))?;
                b.set_message(format!("{booted} booted, {failed} failed, {} going", nodes.len() - booted - failed));
                b.set_position(last.values().map(|s| progress_of(s)).sum());
            }
            None => print(ctx)?,
        }
        if booted + failed == nodes.len() {
            if let Some(b) = &bar {
                b.finish_and_clear();
            }
            return Ok(failed == 0);
        }
        if Instant::now() >= deadline {
            if let Some(b) = &bar {
                b.finish_and_clear();
            }
            for n in nodes {
                let s = &last[n.as_str()];
                if is_end(s) {
                    continue;
                }
                ctx.error_line(&format!("{n}: timed out (last status: {})", if s.is_empty() { "none" } else { s }))?;
            }
            return Ok(false);
        }
        std::thread::sleep(POLL.min(deadline.saturating_duration_since(Instant::now())));
    }
}

/// nodelist.status of the nodes (one query).
fn statuses(st: &store::Store, nodes: &[String]) -> Result<HashMap<String, String>> {
    let wanted: std::collections::HashSet<&str> = nodes.iter().map(String::as_str).collect();
    let mut out = HashMap::new();
    let mut q = st.conn().prepare_cached("SELECT node, status FROM nodelist WHERE status IS NOT NULL")?;
    for row in q.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))? {
        let (n, s) = row?;
        if wanted.contains(n.as_str()) {
            out.insert(n, s);
        }
    }
    Ok(out)
}
