//! xdshbak and xcoll: read `node: line` output (xdsh's, or any command's) and show it per node,
//! with identical outputs collapsed under one noderange.

use super::{flag, Ctx, Status};
use crate::error::{Error, Result};
use crate::noderange;
use crate::output;
use clap::{Arg, ArgAction, ArgMatches, Command};
use std::collections::BTreeMap;
use std::io::{BufRead, Write};

pub const XDSHBAK_ABOUT: &str = "Show xdsh output grouped by node, identical outputs collapsed with -c";
pub const XCOLL_ABOUT: &str = "Collapse 'node: line' output: one block per distinct output, headed by its nodes";

const HOSTS: &str = "HOSTS -------------------------------------------------------------------------";
const RULE: &str = "-------------------------------------------------------------------------------";
const XCOLL_RULE: &str = "====================================";

pub fn xdshbak_command() -> Command {
    Command::new("xdshbak")
        .arg(
            Arg::new("collapse")
                .short('c')
                .action(ArgAction::SetTrue)
                .help("Show identical outputs once, headed by all their nodes (as a noderange)"),
        )
        .arg(
            Arg::new("compact")
                .short('x')
                .action(ArgAction::SetTrue)
                .conflicts_with("collapse")
                .help("No header lines: the 'node: ' lines sorted by node"),
        )
        .arg(
            Arg::new("bare")
                .short('b')
                .action(ArgAction::SetTrue)
                .requires("compact")
                .help("With -x: strip the 'node: ' prefixes"),
        )
        .arg(
            Arg::new("quiet")
                .short('q')
                .action(ArgAction::SetTrue)
                .help("Accepted for xCAT compatibility (oxcat prints no progress dots)"),
        )
}

pub fn xcoll_command() -> Command {
    Command::new("xcoll")
}

/// Every node's lines in input order; lines without `node: ` are refused (naming the line).
fn read_by_node(ctx: &mut Ctx) -> Result<BTreeMap<String, Vec<String>>> {
    let _ = ctx;
    let mut by: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let stdin = std::io::stdin();
    for (i, line) in stdin.lock().lines().enumerate() {
        let line = line.map_err(|e| Error::io("stdin", e))?;
        let Some((node, text)) = line.split_once(": ").or_else(|| line.strip_suffix(':').map(|n| (n, ""))) else {
            return Err(Error::Input(format!("line {}: not 'node: text': {line}", i + 1)));
        };
        if node.is_empty() || node.contains(char::is_whitespace) {
            return Err(Error::Input(format!("line {}: not 'node: text': {line}", i + 1)));
        }
        by.entry(node.to_string()).or_default().push(text.to_string());
    }
    Ok(by)
}

/// Nodes in natural order with their lines.
fn sorted(by: BTreeMap<String, Vec<String>>) -> Vec<(String, Vec<String>)> {
    let mut v: Vec<(String, Vec<String>)> = by.into_iter().collect();
    v.sort_by(|a, b| noderange::natural_cmp(&a.0, &b.0));
    v
}

/// Groups nodes by identical output, in the order of each group's first node.
fn collapsed(by: BTreeMap<String, Vec<String>>) -> Vec<(Vec<String>, Vec<String>)> {
    let mut groups: Vec<(Vec<String>, Vec<String>)> = Vec::new();
    for (node, lines) in sorted(by) {
        match groups.iter_mut().find(|(_, l)| *l == lines) {
            Some((nodes, _)) => nodes.push(node),
            None => groups.push((vec![node], lines)),
        }
    }
    groups
}

pub fn xdshbak(ctx: &mut Ctx, m: &ArgMatches) -> Result<Status> {
    let by = read_by_node(ctx)?;
    let out = &mut ctx.out;
    if flag(m, "compact") {
        let bare = flag(m, "bare");
        for (node, lines) in sorted(by) {
            for l in lines {
                if bare { writeln!(out, "{l}") } else { writeln!(out, "{node}: {l}") }.map_err(output::io)?;
            }
        }
        return Ok(Status::Ok);
    }
    let blocks: Vec<(String, Vec<String>)> = if flag(m, "collapse") {
        collapsed(by).into_iter().map(|(nodes, lines)| (noderange::compress(&nodes), lines)).collect()
    } else {
        sorted(by)
    };
    for (hosts, lines) in blocks {
        writeln!(out, "{HOSTS}\n{hosts}\n{RULE}").map_err(output::io)?;
        for l in lines {
            writeln!(out, "{l}").map_err(output::io)?;
        }
        writeln!(out).map_err(output::io)?;
    }
    Ok(Status::Ok)
}

pub fn xcoll(ctx: &mut Ctx, _m: &ArgMatches) -> Result<Status> {
    let by = read_by_node(ctx)?;
    for (nodes, lines) in collapsed(by) {
        writeln!(ctx.out, "{XCOLL_RULE}\n{}\n{XCOLL_RULE}", noderange::compress(&nodes)).map_err(output::io)?;
        for l in lines {
            writeln!(ctx.out, "{l}").map_err(output::io)?;
        }
        writeln!(ctx.out).map_err(output::io)?;
    }
    Ok(Status::Ok)
}
