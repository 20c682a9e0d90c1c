//! xdsh, xdcp, updatenode: commands run, files copied and postscripts re-run on many nodes at
//! once over in-process SSH sessions (see `crate::remote`).

use super::{fanout_arg, flag, json_arg, timeout_arg, values, Ctx, Status};
use crate::error::{Error, Result};
use crate::output;
use crate::remote::session::{self, Chunk, Event, Failure, Line, Settings, Target, Work};
use crate::remote::updatenode::{authorize_line, bundle, reported_status, stage_dir, sync_dirs, synclist};
use crate::remote::{hostkeys, keys, scp, targets};
use crate::store::{self, view::NodeView, Store};
use clap::{Arg, ArgAction, ArgMatches, Command};
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

pub const XDSH_ABOUT: &str = "Run commands on many nodes at once over SSH";
pub const XDCP_ABOUT: &str = "Copy files to (or, with -P, from) many nodes at once over SSH";
pub const UPDATENODE_ABOUT: &str = "Re-run nodes' postscripts over SSH, sync their files, refresh their SSH keys";

const XDSH_LONG_ABOUT: &str = "Run commands on many nodes at once over SSH.

Each node gets its own SSH session, all held by one process (in-process SSH: no ssh process per node), at most FANOUT at once. Every line a node prints is shown as 'node: line', standard error on standard error; a node's output is shown whole when it finishes (with -s, line by line as it comes). Pipe it through xdshbak or xcoll to group it.

Nodes are reached at hosts.ip (else their name) on site.sshport (default 22) as root (-l for another user), logging in with the cluster's key (site.sshkey; made beside the store by the first nodeset or xdsh; nodes get it from oxcatpost at boot or a disk deploy's seed). The key each node presents is checked against the host keys it reported at boot (table hostkeys, see makeknownhosts): a node whose key differs, or that has none recorded, is refused with one line saying what to do; --accept-hostkey records the key of a node that has none.

The exit status is 0 when every node ran the command and it exited 0, else 1 (each failure is a 'node: Error: ...' line). -t bounds both the time to get a session and the time a command may go without output; a node that times out is stopped and counted as failed. Ctrl-C stops the commands on every node (their sessions' processes are killed) and closes every session.";

/// xCAT's default fanout (DSH_FANOUT overrides it, -f overrides both).
const DEFAULT_FANOUT: usize = 64;
/// The connect timeout when -t is not given (xCAT's -K default).
const DEFAULT_CONNECT: f64 = 10.0;

fn common(cmd: Command) -> Command {
    cmd.arg(Arg::new("noderange").required(true).value_name("NODERANGE").help("The nodes"))
        .arg(fanout_arg("Most nodes worked on at once (default: $DSH_FANOUT, else 64)"))
        .arg(timeout_arg("Seconds to wait for a node's SSH session, and for output from its command before it is stopped (default: $DSH_TIMEOUT; else 10 s to connect, no limit on output)"))
        .arg(Arg::new("user").short('l').long("user").value_name("USER").help("The user on the nodes (default root)"))
        .arg(
            Arg::new("accept-hostkey")
                .long("accept-hostkey")
                .action(ArgAction::SetTrue)
                .help("Accept and record the host key of a node that has none recorded (a key that differs from the recorded one is still refused)"),
        )
}

pub fn xdsh_command() -> Command {
    common(Command::new("xdsh").long_about(XDSH_LONG_ABOUT))
        .arg(Arg::new("stream").short('s').long("stream").action(ArgAction::SetTrue).help("Print output as it arrives (unsorted) instead of each node's when it finishes"))
        .arg(Arg::new("exit-status").short('z').long("exit-status").action(ArgAction::SetTrue).help("Print each node's exit status: 'node: Remote_command_rc = N'"))
        .arg(Arg::new("execute").short('e').long("execute").action(ArgAction::SetTrue).help("COMMAND is a local script (and its arguments): copied to a temporary file on each node and run there"))
        .arg(Arg::new("silent").short('Q').long("silent").action(ArgAction::SetTrue).help("Print no output from the nodes (errors and the exit status still count)"))
        .arg(Arg::new("ssh-setup").short('K').long("ssh-setup").action(ArgAction::SetTrue).help("Install the cluster's public key in the user's authorized_keys on the nodes (logs in with the key, else with the password in $DSH_REMOTE_PASSWORD)"))
        .arg(Arg::new("cleanup").short('c').long("cleanup").action(ArgAction::SetTrue).help("Remove the files oxcat staged on the nodes (/var/lib/oxcat/post, where updatenode puts postscripts)"))
        .arg(json_arg())
        .arg(Arg::new("command").value_name("COMMAND").num_args(0..).trailing_var_arg(true).allow_hyphen_values(true).help("The command line to run (quote it to keep ; | > for the node's shell)"))
}

pub fn xdcp_command() -> Command {
    common(Command::new("xdcp"))
        .arg(
            Arg::new("recursive")
                .short('r')
                .long("recursive")
                .action(ArgAction::SetTrue)
                .help("Copy directories and what they hold"),
        )
        .arg(
            Arg::new("preserve")
                .short('p')
                .long("preserve")
                .action(ArgAction::SetTrue)
                .help("Keep modes and modification times"),
        )
        .arg(
            Arg::new("pull")
                .short('P')
                .long("pull")
                .action(ArgAction::SetTrue)
                .help("Copy SRC from each node into the local directory DST, as SRC's name followed by ._NODE"),
        )
        .arg(Arg::new("paths").value_name("SRC... DST").num_args(2..).required(true).help("What to copy, and where to"))
}

const UPDATENODE_LONG_ABOUT: &str = "Re-run nodes' postscripts over SSH, sync their files, refresh their SSH keys.

updatenode sends each node its mypostscript (with UPDATENODE=1), the scripts it lists and oxcatpost, the runner nodes use at boot, and runs it there: the same scripts in the same order, with the same output ('node: script: line', 'node: oxcatpost: script: ok'). The status it reports is recorded in nodelist.status (unless site.nodestatus=n), and nodelist.updatestatus becomes synced or failed. Scripts are read from the postscripts directory in oxcatd's configuration (OXCAT_CONFIG, else /etc/oxcat/oxcat.toml) and staged on the node in site.nodepostdir (default /var/lib/oxcat/post).

-F copies the files the node's osimage synclists file names ('SRC... -> DST' lines) with their modes, creating the directories they go into; -k appends the cluster's public key to the user's authorized_keys. The exit status is 1 when any node failed.";

pub fn updatenode_command() -> Command {
    common(Command::new("updatenode").long_about(UPDATENODE_LONG_ABOUT))
        .arg(Arg::new("scripts").short('P').long("scripts").value_name("SCRIPTS").num_args(0..=1).default_missing_value("").help("Run only these postscripts (comma-separated; without a list: all of the node's postscripts and postbootscripts)"))
        .arg(Arg::new("sync").short('F').long("sync").action(ArgAction::SetTrue).help("Copy the files the node's osimage synclists file names (lines 'SRC -> DST')"))
        .arg(Arg::new("security").short('k').long("security").action(ArgAction::SetTrue).help("Refresh keys: install the cluster's public key on the nodes again"))
}

/// What every remote command needs: the targets and how to open sessions.
struct Plan {
    st: Store,
    nodes: Vec<String>,
    targets: Vec<Target>,
    settings: Settings,
    fanout: usize,
    idle: Option<Duration>,
}

fn seconds(m: &ArgMatches) -> Result<Option<f64>> {
    if let Some(t) = m.get_one::<f64>("timeout") {
        return Ok(Some(*t).filter(|t| *t > 0.0));
    }
    match std::env::var("DSH_TIMEOUT").ok().filter(|v| !v.is_empty()) {
        Some(v) => v
            .parse::<f64>()
            .map(|t| Some(t).filter(|t| *t > 0.0))
            .map_err(|_| Error::Usage(format!("DSH_TIMEOUT '{v}' is not a number of seconds"))),
        None => Ok(None),
    }
}

fn plan(ctx: &Ctx, m: &ArgMatches) -> Result<Plan> {
    let mut st = ctx.store()?;
    let range = m.get_one::<String>("noderange").cloned().unwrap_or_default();
    let (nodes, targets) = {
        let conn = st.conn();
        let (view, nodes) = NodeView::for_range(conn, &range)?;
        let t = targets::of_nodes(conn, &view, &nodes)?;
        (nodes, t)
    };
    let key = keys::ensure(&mut st)?;
    let fanout = match m.get_one::<usize>("fanout") {
        Some(f) => *f,
        None => match std::env::var("DSH_FANOUT").ok().filter(|v| !v.is_empty()) {
            Some(v) => v.parse().map_err(|_| Error::Usage(format!("DSH_FANOUT '{v}' is not a number")))?,
            None => DEFAULT_FANOUT,
        },
    };
    if fanout == 0 {
        return Err(Error::Usage("the fanout is at least 1".into()));
    }
    let t = seconds(m)?;
    let user = m.get_one::<String>("user").cloned().unwrap_or_else(|| "root".into());
    let settings =
        Settings::new(&user, key.key, Duration::from_secs_f64(t.unwrap_or(DEFAULT_CONNECT)), flag(m, "accept-hostkey"));
    Ok(Plan { st, nodes, targets, settings, fanout, idle: t.map(Duration::from_secs_f64) })
}

/// One node's outcome.
struct Outcome {
    out: Vec<u8>,
    err: Vec<u8>,
    /// Remote exit status, or the failure.
    result: std::result::Result<Option<u32>, Failure>,
    accepted: Option<String>,
    /// Extra lines for stdout after the output (updatenode's summary).
    notes: Vec<String>,
}

impl Outcome {
    fn failed(f: Failure) -> Outcome {
        Outcome { out: Vec::new(), err: Vec::new(), result: Err(f), accepted: None, notes: Vec::new() }
    }
    fn ok(&self) -> bool {
        matches!(self.result, Ok(Some(0)))
    }
}

/// Splits output into lines (a last line without a newline counts).
fn lines(b: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(b);
    let t = text.strip_suffix('\n').unwrap_or(&text);
    if t.is_empty() && b.is_empty() {
        return Vec::new();
    }
    t.split('\n').map(String::from).collect()
}

/// Streams complete lines from `buf` (keeping a partial last line back).
fn stream_lines(buf: &mut Vec<u8>, data: &[u8], to: &(usize, tokio::sync::mpsc::UnboundedSender<Line>), stderr: bool) {
    buf.extend_from_slice(data);
    while let Some(i) = buf.iter().position(|&b| b == b'\n') {
        let l: Vec<u8> = buf.drain(..=i).collect();
        let text = String::from_utf8_lossy(&l[..l.len() - 1]).into_owned();
        let _ = to.1.send(Line { index: to.0, stderr, text });
    }
}

struct Printer<'a> {
    nodes: &'a [String],
    json: bool,
    silent: bool,
    exit_status: bool,
    failed: bool,
}

impl Printer<'_> {
    fn line(&mut self, ctx: &mut Ctx, l: Line) {
        if self.silent {
            return;
        }
        let node = &self.nodes[l.index];
        if l.stderr {
            let _ = ctx.out.flush();
            let _ = writeln!(ctx.err, "{node}: {}", l.text);
        } else {
            let _ = writeln!(ctx.out, "{node}: {}", l.text);
        }
    }

    fn done(&mut self, ctx: &mut Ctx, i: usize, o: &Outcome) -> Result<()> {
        let node = &self.nodes[i];
        if !o.ok() {
            self.failed = true;
        }
        if self.json {
            let mut rec =
                serde_json::json!({"node": node, "ok": o.ok(), "stdout": lines(&o.out), "stderr": lines(&o.err)});
            match &o.result {
                Ok(rc) => rec["rc"] = serde_json::json!(rc),
                Err(f) => rec["error"] = serde_json::json!({"kind": f.kind(), "message": f.to_string()}),
            }
            return output::json_line(ctx.out.as_mut(), &rec);
        }
        if !self.silent {
            for l in lines(&o.out) {
                writeln!(ctx.out, "{node}: {l}").map_err(output::io)?;
            }
            if !o.err.is_empty() {
                ctx.out.flush().map_err(output::io)?;
                for l in lines(&o.err) {
                    ctx.error_line(&format!("{node}: {l}"))?;
                }
            }
        }
        for n in &o.notes {
            writeln!(ctx.out, "{node}: {n}").map_err(output::io)?;
        }
        match &o.result {
            Ok(rc) => {
                if self.exit_status {
                    let rc = rc.map(|r| r.to_string()).unwrap_or_else(|| "unknown".into());
                    writeln!(ctx.out, "{node}: Remote_command_rc = {rc}").map_err(output::io)?;
                }
            }
            Err(f) => {
                ctx.out.flush().map_err(output::io)?;
                ctx.error_line(&format!("{node}: Error: {f}"))?;
            }
        }
        // Shown as each node finishes, not when the buffer fills.
        ctx.out.flush().map_err(output::io)
    }
}

/// Runs `work` on every target; prints as xdsh does (streamed lines as they come, else each
/// node's output when it finishes); records accepted host keys.
fn run_remote<F, Fut>(ctx: &mut Ctx, mut p: Plan, mut printer: Printer<'_>, work: F) -> Result<Status>
where
    F: Fn(Target, Work) -> Fut,
    Fut: std::future::Future<Output = Outcome> + Send + 'static,
{
    let targets = std::mem::take(&mut p.targets);
    let mut accepted: Vec<(String, String)> = Vec::new();
    let mut error: Option<Error> = None;
    let nodes = p.nodes.clone();
    let interrupted = session::run_all(targets, p.fanout, work, |e: Event<Outcome>| {
        let (i, o) = match e {
            Event::Line(l) => return printer.line(ctx, l),
            Event::Done(i, o) => (i, o),
        };
        if let Some(k) = &o.accepted {
            accepted.push((nodes[i].clone(), k.clone()));
        }
        // Each node's output whole when it finishes (xCAT's order: completion; xdshbak sorts).
        if let Err(e) = printer.done(ctx, i, &o) {
            error.get_or_insert(e);
        }
    });
    if !accepted.is_empty() {
        p.st.write(|c| {
            for (n, k) in &accepted {
                hostkeys::record(c, n, std::slice::from_ref(k), "accepted")?;
            }
            Ok(())
        })?;
    }
    if let Some(e) = error {
        return Err(e);
    }
    if interrupted {
        ctx.out.flush().map_err(output::io)?;
        ctx.error_line("Error: Caught SIGINT - terminating the child processes.")?;
        return Ok(Status::SomeFailed);
    }
    Ok(if printer.failed { Status::SomeFailed } else { Status::Ok })
}

/// Opens the session, runs `cmd` with `stdin`, collects (or streams) its output.
async fn run_one(
    t: Target,
    w: Work,
    s: Settings,
    cmd: String,
    stdin: Option<Vec<u8>>,
    idle: Option<Duration>,
    stream: bool,
) -> Outcome {
    let sess = match session::connect(&t, &s).await {
        Ok(s) => s,
        Err(f) => return Outcome::failed(f),
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let Work { index, lines: sender, mut stop } = w;
    let to = (index, sender);
    let r = session::exec(&sess, &cmd, stdin.as_deref(), idle, &mut stop, |c| match c {
        Chunk::Stdout(d) if stream => stream_lines(&mut out, d, &to, false),
        Chunk::Stderr(d) if stream => stream_lines(&mut err, d, &to, true),
        Chunk::Stdout(d) => out.extend_from_slice(d),
        Chunk::Stderr(d) => err.extend_from_slice(d),
    })
    .await;
    let accepted = sess.accepted.clone();
    session::close(sess).await;
    if stream {
        // What is left is a last line without a newline.
        for (buf, e) in [(&mut out, false), (&mut err, true)] {
            if !buf.is_empty() {
                buf.push(b'\n');
                stream_lines(buf, &[], &to, e);
            }
        }
    }
    let result = match r {
        Ok(exit) => match (exit.status, exit.signal) {
            (Some(rc), _) => Ok(Some(rc)),
            (None, Some(sig)) => Err(Failure::Ssh(format!("the command was killed by signal {sig}"))),
            (None, None) => Ok(None),
        },
        Err(f) => Err(f),
    };
    Outcome { out, err, result, accepted, notes: Vec::new() }
}

pub fn xdsh(ctx: &mut Ctx, m: &ArgMatches) -> Result<Status> {
    let words = values(m, "command");
    let setup = flag(m, "ssh-setup");
    let cleanup = flag(m, "cleanup");
    if words.is_empty() && !setup && !cleanup {
        return Err(Error::Usage("give the command to run (or -K, or -c)".into()));
    }
    let mut p = plan(ctx, m)?;
    let mut stdin = None;
    let cmd = if setup {
        let key = keys::load(&keys::path(&p.st)?)?;
        if let Ok(pw) = std::env::var("DSH_REMOTE_PASSWORD") {
            p.settings.password = Some(pw);
        }
        authorize_line(&key.public)
    } else if cleanup {
        format!("rm -rf {}", scp::quote(&stage_dir(p.st.conn())?))
    } else if flag(m, "execute") {
        let script = PathBuf::from(&words[0]);
        let body = std::fs::read(&script).map_err(|e| Error::io(script.display(), e))?;
        if body.is_empty() {
            return Err(Error::Input(format!("File {} is empty.", script.display())));
        }
        stdin = Some(body);
        let args: Vec<String> = words[1..].iter().map(|a| scp::quote(a)).collect();
        // xCAT copies the script to a random name under /tmp and runs it there.
        format!(
            "f=$(mktemp /tmp/xdsh.XXXXXXXX) && cat > \"$f\" && chmod 700 \"$f\" && {{ \"$f\" {} <&-; rc=$?; rm -f \"$f\"; exit $rc; }}",
            args.join(" ")
        )
    } else {
        words.join(" ")
    };
    let printer = Printer {
        nodes: &p.nodes.clone(),
        json: flag(m, "json"),
        silent: flag(m, "silent"),
        exit_status: flag(m, "exit-status"),
        failed: false,
    };
    let stream = flag(m, "stream");
    let (s, idle) = (p.settings.clone(), p.idle);
    let cmd = session::killable(&cmd, stdin.as_ref().map_or(0, Vec::len));
    let nodes = p.nodes.clone();
    run_remote(ctx, p, Printer { nodes: &nodes, ..printer }, move |t, w| {
        run_one(t, w, s.clone(), cmd.clone(), stdin.clone(), idle, stream)
    })
}

pub fn xdcp(ctx: &mut Ctx, m: &ArgMatches) -> Result<Status> {
    let mut paths = values(m, "paths");
    let dest = paths.pop().expect("clap requires two paths");
    let (recursive, preserve, pull) = (flag(m, "recursive"), flag(m, "preserve"), flag(m, "pull"));
    if pull && paths.len() != 1 {
        return Err(Error::Usage("xdcp -P copies one SRC from the nodes into a local directory DST".into()));
    }
    let sources: Vec<PathBuf> = paths.iter().map(PathBuf::from).collect();
    if pull {
        if !std::path::Path::new(&dest).is_dir() {
            return Err(Error::Input(format!("{dest}: not a directory (xdcp -P puts each node's copy there)")));
        }
    } else {
        for s in &sources {
            let md = std::fs::metadata(s).map_err(|e| Error::io(s.display(), e))?;
            if md.is_dir() && !recursive {
                return Err(Error::Input(format!("{}: is a directory (copy it with -r)", s.display())));
            }
        }
    }
    let p = plan(ctx, m)?;
    let nodes = p.nodes.clone();
    let printer = Printer { nodes: &nodes, json: false, silent: false, exit_status: false, failed: false };
    let (s, idle) = (p.settings.clone(), p.idle.unwrap_or(Duration::from_secs(3600)));
    run_remote(ctx, p, printer, move |t, mut w| {
        let (s, sources, dest) = (s.clone(), sources.clone(), dest.clone());
        async move {
            let sess = match session::connect(&t, &s).await {
                Ok(s) => s,
                Err(f) => return Outcome::failed(f),
            };
            let r = if pull {
                let src = sources[0].display().to_string();
                scp::pull(&sess, &t.node, &src, std::path::Path::new(&dest), recursive, preserve, idle, &mut w.stop)
                    .await
                    .map(|_| ())
            } else {
                scp::push(&sess, &sources, &dest, recursive, preserve, idle, &mut w.stop).await
            };
            let accepted = sess.accepted.clone();
            session::close(sess).await;
            Outcome { out: Vec::new(), err: Vec::new(), result: r.map(|_| Some(0)), accepted, notes: Vec::new() }
        }
    })
}

/// A node's updatenode work: the bundle to run (None without postscripts) and the files to sync.
type Job = (Option<String>, Vec<(Vec<PathBuf>, String)>);

pub fn updatenode(ctx: &mut Ctx, m: &ArgMatches) -> Result<Status> {
    let mut p = plan(ctx, m)?;
    let only: Option<Vec<String>> = m
        .get_one::<String>("scripts")
        .map(|s| s.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect::<Vec<_>>());
    let only = only.filter(|v| !v.is_empty());
    let (sync, security) = (flag(m, "sync"), flag(m, "security"));
    // Without -F or -k, postscripts run; -P asks for them explicitly.
    let scripts = m.get_one::<String>("scripts").is_some() || (!sync && !security);
    let config = crate::daemon::config::Config::load(None)?;
    let public = keys::load(&keys::path(&p.st)?)?.public;
    if security {
        if let Ok(pw) = std::env::var("DSH_REMOTE_PASSWORD") {
            p.settings.password = Some(pw);
        }
    }
    // Per node: the bundle to run and the files to sync, prepared before any session opens (a
    // missing script is this node's error, not a half-run).
    let mut jobs: Vec<std::result::Result<Job, String>> = Vec::new();
    {
        let conn = p.st.conn();
        let (view, _) = NodeView::for_range(conn, &p.nodes.join(","))?;
        let stage = stage_dir(conn)?;
        for n in &p.nodes {
            let script = if scripts {
                match crate::postscript::mypostscript(conn, n)? {
                    Some(my) => bundle(&my, only.as_deref(), &config.postscripts, &stage).map(Some),
                    None => Err("no such node".to_string()),
                }
            } else {
                Ok(None)
            };
            let files = if sync {
                let image = view.get(n, "nodetype", "provmethod")?;
                let osimage = crate::store::schema::table("osimage").expect("osimage");
                let list = match &image {
                    Some(i) => store::get_row(conn, osimage, &[i])?
                        .and_then(|r| r[osimage.column("synclists").expect("synclists").0].clone()),
                    None => None,
                };
                match list {
                    Some(path) => std::fs::read_to_string(&path)
                        .map(|t| synclist(&t))
                        .map_err(|e| format!("synclist {path}: {e}")),
                    None => Err(format!(
                        "no synclist: set synclists on the node's osimage ({})",
                        image.as_deref().unwrap_or("nodetype.provmethod is empty")
                    )),
                }
            } else {
                Ok(Vec::new())
            };
            jobs.push(script.and_then(|s| files.map(|f| (s, f))));
        }
    }
    let nodes = p.nodes.clone();
    let printer = Printer { nodes: &nodes, json: false, silent: false, exit_status: false, failed: false };
    let (s, idle) = (p.settings.clone(), p.idle);
    let jobs = std::sync::Arc::new(jobs);
    let index: std::collections::HashMap<String, usize> =
        nodes.iter().cloned().enumerate().map(|(i, n)| (n, i)).collect();
    let authorize = authorize_line(&public);
    let status_of: std::sync::Arc<std::sync::Mutex<Vec<(String, String, String)>>> = Default::default();
    let statuses = status_of.clone();
    let st = run_remote(ctx, p, printer, move |t, mut w| {
        let job = jobs[index[&t.node]].clone();
        let (s, authorize, statuses) = (s.clone(), authorize.clone(), statuses.clone());
        async move {
            let (bundle, files) = match job {
                Ok(j) => j,
                Err(why) => return Outcome::failed(Failure::Ssh(why)),
            };
            let sess = match session::connect(&t, &s).await {
                Ok(s) => s,
                Err(f) => return Outcome::failed(f),
            };
            let (mut out, mut err, mut notes) = (Vec::new(), Vec::new(), Vec::new());
            let mut result: std::result::Result<Option<u32>, Failure> = Ok(Some(0));
            if security {
                let r = session::exec(&sess, &session::killable(&authorize, 0), None, idle, &mut w.stop, |_| {}).await;
                result = r.map(|e| e.status);
                if matches!(result, Ok(Some(0))) {
                    notes.push("ssh keys have been refreshed.".to_string());
                }
            }
            if let (true, Ok(Some(0)), Some(mkdir)) = (sync, &result, sync_dirs(&files)) {
                let r = session::exec(&sess, &session::killable(&mkdir, 0), None, idle, &mut w.stop, |c| {
                    if let Chunk::Stderr(d) = c {
                        err.extend_from_slice(d)
                    }
                })
                .await;
                result = r.map(|e| e.status);
            }
            if sync && matches!(result, Ok(Some(0))) {
                let idle = idle.unwrap_or(Duration::from_secs(3600));
                for (srcs, dst) in &files {
                    if let Err(f) = scp::push(&sess, srcs, dst, true, true, idle, &mut w.stop).await {
                        result = Err(f);
                        break;
                    }
                }
                if result.is_ok() {
                    notes.push("File synchronization has completed.".to_string());
                }
            }
            if let (Some(b), Ok(Some(0))) = (&bundle, &result) {
                let r = session::exec(
                    &sess,
                    &session::killable("sh -s", b.len()),
                    Some(b.as_bytes()),
                    idle,
                    &mut w.stop,
                    |c| match c {
                        Chunk::Stdout(d) => out.extend_from_slice(d),
                        Chunk::Stderr(d) => err.extend_from_slice(d),
                    },
                )
                .await;
                result = match r.map(|e| e.status) {
                    Ok(Some(rc)) if rc != 0 => {
                        Err(Failure::Ssh(format!("a postscript failed (oxcatpost exit status {rc}, see its lines)")))
                    }
                    other => other,
                };
                let ok = matches!(result, Ok(Some(0)));
                let status = reported_status(&out).unwrap_or_else(|| if ok { "booted" } else { "failed" }.to_string());
                let update = if ok { "synced" } else { "failed" };
                statuses.lock().expect("statuses").push((t.node.clone(), status, update.to_string()));
                notes.push("Running of postscripts has completed.".to_string());
            }
            let accepted = sess.accepted.clone();
            session::close(sess).await;
            Outcome { out, err, result, accepted, notes }
        }
    })?;
    // The statuses the runs reported, as oxcatd records them at boot; plus xCAT's updatestatus.
    let statuses = std::mem::take(&mut *status_of.lock().expect("statuses"));
    if !statuses.is_empty() {
        let mut store = ctx.store()?;
        let off =
            store::site_value(store.conn(), "nodestatus")?.is_some_and(|v| matches!(v.as_str(), "n" | "no" | "0"));
        let nodelist = crate::store::schema::table("nodelist").expect("nodelist");
        store.write(|c| {
            let now: String = c.query_row("SELECT strftime('%Y-%m-%dT%H:%M:%SZ', 'now')", [], |r| r.get(0))?;
            for (n, status, update) in &statuses {
                let mut cols = vec![("updatestatus", Some(update.as_str())), ("updatestatustime", Some(now.as_str()))];
                if !off {
                    cols.push(("status", Some(status.as_str())));
                    cols.push(("statustime", Some(now.as_str())));
                }
                store::upsert(c, nodelist, &[n], &cols)?;
            }
            Ok(())
        })?;
    }
    Ok(st)
}
