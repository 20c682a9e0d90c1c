//! rcons: a node's serial console (IPMI SOL) on this terminal, through oxcatd's console service when
//! it holds the console, else straight from the BMC.

use super::{flag, Ctx, Status};
use crate::daemon::config::Config;
use crate::daemon::console::{self, Attached};
use crate::error::{Error, Result};
use crate::hw::bmc;
use crate::hw::ipmi::sol::{Console, SolEnd, SolError, SolInput};
use crate::store::view::NodeView;
use clap::{Arg, ArgAction, ArgMatches, Command};
use std::io::{IsTerminal, Write};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

pub const ABOUT: &str = "Open a node's serial console (IPMI Serial-over-LAN)";

const LONG_ABOUT: &str = "\
Open a node's serial console (IPMI Serial-over-LAN) on this terminal.

When oxcatd's console service holds the node's console ([console] in oxcat.toml; rcons reads the \
same file for the socket and log directory), rcons attaches to it over its local socket: several \
admins can attach at once, the first one writes and the others read (-f takes write access over); \
a user who may not open the socket is refused with a line saying so. Otherwise rcons logs in to the node's BMC itself (ipmi.bmc, bmcport, username, password and \
ciphersuite, as rpower does) and activates SOL; a console another session holds is refused with \
a line saying so, and -f takes it over (Deactivate Payload, then Activate).

The terminal is put in raw mode (every key goes to the node, Ctrl-C included) and restored on every \
exit: ~. , the console ending, SIGTERM or SIGHUP. At the start of a line (first, or after Enter), \
~. leaves, ~B sends a serial break, ~? lists the escapes and ~~ sends one ~ (xCAT's conserver \
escape is Ctrl-E c . instead). -r watches without sending anything. When standard input is not a \
terminal, its end leaves (a reader keeps watching).

--log prints the tail of the node's console log that the service keeps (log_dir/NODE.log, then \
NODE.log.1), one line per console line, each prefixed with the UTC time it began.

Exit status: 0 when the user left, 1 when the console could not be opened or ended on its own \
(BMC lost, taken over by another session), 2 for bad arguments.";

const HELP: &str =
    "\r\n[rcons escapes, at the start of a line: ~. leave, ~B send a break, ~~ send ~, ~? this help]\r\n";

pub fn command() -> Command {
    Command::new("rcons")
        .long_about(LONG_ABOUT)
        .arg(Arg::new("node").required(true).value_name("NODE").help("The node"))
        .arg(
            Arg::new("force")
                .short('f')
                .long("force")
                .action(ArgAction::SetTrue)
                .help("Take the console over: from another SOL session on the BMC, or write access from another rcons"),
        )
        .arg(
            Arg::new("readonly")
                .short('r')
                .long("readonly")
                .action(ArgAction::SetTrue)
                .help("Watch only: nothing typed is sent"),
        )
        .arg(
            Arg::new("log")
                .long("log")
                .value_name("LINES")
                .num_args(0..=1)
                .default_missing_value("50")
                .value_parser(clap::value_parser!(usize))
                .help("Print the last LINES lines (default 50) of the node's console log kept by oxcatd, and exit"),
        )
        .arg(Arg::new("config").long("config").value_name("FILE").help(
            "oxcatd's settings, for its console socket and logs (default: $OXCAT_CONFIG, else /etc/oxcat/oxcat.toml)",
        ))
}

/// What the user's keys mean: console input, or one of the escapes.
#[derive(Debug, PartialEq)]
pub enum Key {
    Send(Vec<u8>),
    Break,
    Help,
    Quit,
}

/// The `~` escapes, recognised at the start of a line (ssh's rule: after Enter, or first).
#[derive(Default)]
pub struct Escapes {
    mid_line: bool,
    tilde: bool,
}

impl Escapes {
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Key> {
        let mut keys = Vec::new();
        let mut data = Vec::new();
        for &b in bytes {
            if self.tilde {
                self.tilde = false;
                let key = match b {
                    b'.' => Some(Key::Quit),
                    b'B' => Some(Key::Break),
                    b'?' => Some(Key::Help),
                    b'~' => {
                        data.push(b'~');
                        self.mid_line = true;
                        None
                    }
                    other => {
                        data.extend([b'~', other]);
                        self.mid_line = !matches!(other, b'\r' | b'\n');
                        None
                    }
                };
                if let Some(k) = key {
                    if !data.is_empty() {
                        keys.push(Key::Send(std::mem::take(&mut data)));
                    }
                    let quit = k == Key::Quit;
                    keys.push(k);
                    if quit {
                        return keys;
                    }
                }
                continue;
            }
            if b == b'~' && !self.mid_line {
                self.tilde = true;
                continue;
            }
            data.push(b);
            self.mid_line = !matches!(b, b'\r' | b'\n');
        }
        if !data.is_empty() {
            keys.push(Key::Send(data));
        }
        keys
    }
}

/// The terminal in raw mode while it lives; restored when dropped (also while unwinding a panic).
struct RawMode(nix::sys::termios::Termios);

impl RawMode {
    fn enter() -> Option<RawMode> {
        use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return None;
        }
        let saved = tcgetattr(&stdin).ok()?;
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        tcsetattr(&stdin, SetArg::TCSANOW, &raw).ok()?;
        Some(RawMode(saved))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = nix::sys::termios::tcsetattr(std::io::stdin(), nix::sys::termios::SetArg::TCSADRAIN, &self.0);
    }
}

fn to_terminal(b: &[u8]) {
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(b).and_then(|_| o.flush());
}

/// How a console session ended, for the closing line.
enum Ending {
    /// The user left.
    Left,
    /// It ended on its own: the line to print and whether that is a failure.
    Ended(String, bool),
}

pub fn run(ctx: &mut Ctx, m: &ArgMatches) -> Result<Status> {
    let node = m.get_one::<String>("node").expect("required").clone();
    let cfg = Config::load(m.get_one::<String>("config").map(String::as_str))?;
    if let Some(&lines) = m.get_one::<usize>("log") {
        return match console::tail(&cfg.console.log_dir, &node, lines) {
            Ok(text) => {
                ctx.out.write_all(text.as_bytes()).map_err(|e| Error::io("stdout", e))?;
                Ok(Status::Ok)
            }
            Err(e) => {
                let path = cfg.console.log_dir.join(format!("{node}.log"));
                let why = if e.kind() == std::io::ErrorKind::NotFound {
                    format!("no console log at {} (oxcatd's console service has not logged this node)", path.display())
                } else {
                    format!("cannot read {}: {e}", path.display())
                };
                ctx.error_line(&format!("{node}: Error: {why}"))?;
                Ok(Status::SomeFailed)
            }
        };
    }
    let force = flag(m, "force");
    let read_only = flag(m, "readonly");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Io(format!("runtime: {e}")))?;
    let attached = rt.block_on(console::attach(&cfg.console.socket, &node, read_only, force));
    let (in_tx, in_rx) = mpsc::channel::<SolInput>(64);
    let (transport, writer) = match attached {
        Err(e) => {
            ctx.error_line(&format!("{node}: Error: console service: {e}"))?;
            return Ok(Status::SomeFailed);
        }
        Ok(Attached::Yes { writer, stream }) => (rt.spawn(via_service(stream, in_rx)), writer),
        Ok(Attached::NotServed) => {
            let target = match target_of(ctx, &node)? {
                Ok(t) => t,
                Err(e) => {
                    ctx.error_line(&format!("{node}: Error: {e}"))?;
                    return Ok(Status::SomeFailed);
                }
            };
            match rt.block_on(Console::activate(&target, force, cfg.console.keepalive)) {
                Ok(c) => (rt.spawn(direct(c, in_rx)), !read_only),
                Err(SolError::Taken) => {
                    ctx.error_line(&format!(
                        "{node}: Error: the console is in use by another session (rcons -f takes it over)"
                    ))?;
                    return Ok(Status::SomeFailed);
                }
                Err(e) => {
                    ctx.error_line(&format!("{node}: Error: {e}"))?;
                    return Ok(Status::SomeFailed);
                }
            }
        }
    };
    ctx.out.flush().map_err(|e| Error::io("stdout", e))?;
    let role = if writer { "" } else { ", read-only" };
    let ending = {
        let _raw = RawMode::enter();
        // Once raw: keys typed after this line reach the node as typed.
        let _ = write!(ctx.err, "[rcons {node}: connected{role}; ~. to leave, ~? for help]\r\n");
        rt.block_on(interact(transport, in_tx, writer))
    };
    // The thread reading standard input may still wait on it: do not wait for it.
    rt.shutdown_background();
    match ending {
        Ending::Left => {
            let _ = writeln!(ctx.err, "\n[rcons {node}: closed]");
            Ok(Status::Ok)
        }
        Ending::Ended(why, failed) => {
            let _ = writeln!(ctx.err, "\n[rcons {node}: {why}]");
            Ok(if failed { Status::SomeFailed } else { Status::Ok })
        }
    }
}

/// The node's BMC, or why it has none.
fn target_of(ctx: &Ctx, node: &str) -> Result<std::result::Result<crate::hw::ipmi::session::Target, String>> {
    let st = ctx.store()?;
    let conn = st.conn();
    let (view, nodes) = NodeView::for_range(conn, node)?;
    if nodes.len() != 1 {
        return Err(Error::Input(format!("rcons takes one node; '{node}' names {}", nodes.len())));
    }
    let limits = bmc::Limits::from_site(conn, None, None)?;
    Ok(bmc::targets(conn, &view, &nodes, &limits)?.pop().expect("one node").1)
}

async fn direct(c: Console, mut input: mpsc::Receiver<SolInput>) -> Ending {
    match c.run(&mut input, &mut to_terminal).await {
        SolEnd::Closed => Ending::Left,
        SolEnd::TakenOver => Ending::Ended("another session deactivated or took over the console".into(), true),
        SolEnd::Lost(why) => Ending::Ended(format!("console lost: {why}"), true),
    }
}

async fn via_service(stream: tokio::net::UnixStream, mut input: mpsc::Receiver<SolInput>) -> Ending {
    let (mut rd, mut wr) = stream.into_split();
    let from = async {
        let mut buf = [0u8; 4096];
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => return Ending::Ended("oxcatd closed the console".into(), true),
                Ok(n) => to_terminal(&buf[..n]),
            }
        }
    };
    let to = async {
        while let Some(i) = input.recv().await {
            if wr.write_all(&console::encode_input(&i)).await.is_err() {
                break;
            }
        }
        Ending::Left
    };
    tokio::select! {
        e = from => e,
        e = to => e,
    }
}

/// Relays keys until the user leaves, the console ends, or a signal (TERM, HUP) arrives.
async fn interact(
    mut transport: tokio::task::JoinHandle<Ending>,
    in_tx: mpsc::Sender<SolInput>,
    writer: bool,
) -> Ending {
    use tokio::signal::unix::{signal, SignalKind};
    let (key_tx, mut keys) = mpsc::channel::<Vec<u8>>(16);
    std::thread::spawn(move || {
        use std::io::Read;
        let mut buf = [0u8; 1024];
        let mut stdin = std::io::stdin().lock();
        while let Ok(n) = stdin.read(&mut buf) {
            if n == 0 || key_tx.blocking_send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut term = signal(SignalKind::terminate()).ok();
    let mut hup = signal(SignalKind::hangup()).ok();
    let mut escapes = Escapes::default();
    let mut stdin_open = true;
    let left = loop {
        tokio::select! {
            end = &mut transport => return end.unwrap_or(Ending::Ended("console task failed".into(), true)),
            k = keys.recv(), if stdin_open => match k {
                // End of input: a writer is done; a reader keeps watching.
                None if writer => break Ending::Left,
                None => stdin_open = false,
                Some(bytes) => {
                    let mut quit = false;
                    for key in escapes.feed(&bytes) {
                        match key {
                            Key::Quit => quit = true,
                            Key::Help => to_terminal(HELP.as_bytes()),
                            Key::Send(d) if writer => { let _ = in_tx.send(SolInput::Data(d)).await; }
                            Key::Break if writer => { let _ = in_tx.send(SolInput::Break).await; }
                            Key::Send(_) | Key::Break => {}
                        }
                    }
                    if quit {
                        break Ending::Left;
                    }
                }
            },
            _ = async { match term.as_mut() { Some(s) => { s.recv().await; } None => std::future::pending().await } } => break Ending::Ended("terminated".into(), true),
            _ = async { match hup.as_mut() { Some(s) => { s.recv().await; } None => std::future::pending().await } } => break Ending::Ended("hung up".into(), true),
        }
    };
    // Closing the input deactivates SOL (direct) or detaches (service); give it a moment.
    drop(in_tx);
    let _ = tokio::time::timeout(Duration::from_secs(3), transport).await;
    left
}

pub const MAKEGOCONS_ABOUT: &str = "Make oxcatd's console service read its nodes again";

const MAKEGOCONS_LONG_ABOUT: &str = "\
Make oxcatd's console service read its nodes again.

The console service ([console] in oxcat.toml) holds the consoles of the nodes its `nodes` setting \
selects (default: every node with nodehm.cons=ipmi), read when oxcatd starts. After nodes are \
added or removed, or their BMC settings change, makegocons (or SIGHUP to oxcatd) makes it read \
them again: it starts the new consoles, releases those no longer selected (SOL deactivated, \
attached rcons clients told and disconnected) and restarts those whose BMC changed. It prints \
'NODE: started', 'NODE: restarted' or 'NODE: stopped' for each change, and 'NODE: Error: WHY' on \
standard error for each selected node the service cannot hold (no usable BMC).

Exit status: 0 when the service holds every selected node, 1 when it cannot hold one or no \
service answers on the socket, 2 for bad arguments.";

pub fn makegocons_command() -> Command {
    Command::new("makegocons").long_about(MAKEGOCONS_LONG_ABOUT).arg(
        Arg::new("config")
            .long("config")
            .value_name("FILE")
            .help("oxcatd's settings, for its console socket (default: $OXCAT_CONFIG, else /etc/oxcat/oxcat.toml)"),
    )
}

pub fn makegocons(ctx: &mut Ctx, m: &ArgMatches) -> Result<Status> {
    let cfg = Config::load(m.get_one::<String>("config").map(String::as_str))?;
    let socket = &cfg.console.socket;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Io(format!("runtime: {e}")))?;
    let Some(lines) = rt.block_on(console::reload(socket)).map_err(Error::Io)? else {
        return Err(Error::Io(format!(
            "no console service answers on {} (enable [console] in oxcat.toml and start oxcatd)",
            socket.display()
        )));
    };
    let mut status = Status::Ok;
    for line in &lines {
        let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
        match word {
            "started" | "restarted" | "stopped" => {
                writeln!(ctx.out, "{rest}: {word}").map_err(|e| Error::io("stdout", e))?
            }
            "refused" => {
                let (node, why) = rest.split_once(' ').unwrap_or((rest, ""));
                ctx.error_line(&format!("{node}: Error: {why}"))?;
                status = Status::SomeFailed;
            }
            "held" => {}
            "error" => return Err(Error::Io(format!("console service: {rest}"))),
            _ => return Err(Error::Io(format!("console service answered '{line}'"))),
        }
    }
    if !lines.iter().any(|l| l.starts_with("held ")) {
        return Err(Error::Io("console service: no answer to reload".into()));
    }
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_only_at_the_start_of_a_line() {
        let mut e = Escapes::default();
        assert_eq!(e.feed(b"~."), vec![Key::Quit]);
        let mut e = Escapes::default();
        assert_eq!(e.feed(b"ls ~.\r"), vec![Key::Send(b"ls ~.\r".to_vec())]);
        assert_eq!(e.feed(b"~"), vec![]);
        assert_eq!(e.feed(b"B"), vec![Key::Break]);
        assert_eq!(e.feed(b"~~x~?"), vec![Key::Send(b"~x~?".to_vec())]);
        assert_eq!(e.feed(b"\r~?~.rest"), vec![Key::Send(b"\r".to_vec()), Key::Help, Key::Quit]);
        let mut e = Escapes::default();
        assert_eq!(e.feed(b"~a"), vec![Key::Send(b"~a".to_vec())]);
    }
}
