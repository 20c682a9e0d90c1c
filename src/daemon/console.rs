//! The console service: oxcatd keeps the SOL console of every selected node connected, writes what
//! each prints to a log file of its own (timestamped lines, size-capped, rotated, root-only), and
//! lets several `rcons` clients attach to a console over a local unix socket: one writes, the others
//! read. A console that drops is reconnected after a back-off that grows with its failures and with
//! the number of consoles, so a rack of BMCs restarting at once is not reconnected as a storm.
//!
//! Which nodes it holds is read from the store at the start and again on SIGHUP or a `reload`
//! request (`makegocons`); consoles are released (SOL deactivated) when oxcatd stops.
//!
//! Client protocol (one line, then raw bytes both ways): `attach NODE [ro] [force]`, answered
//! `ok writer`, `ok reader` or `unmanaged` (not a console of the service: rcons goes to the BMC
//! itself) or `error WHY`. Client input: bytes, with FFh escaping: `FF FF` is a literal FFh and
//! `FF 42` ('B') a serial break. Or `reload`, answered as [`reload_reply`] says.

use super::log::Log;
use crate::hw::ipmi::session::Target;
use crate::hw::ipmi::sol::{Console, SolEnd, SolError, SolInput};
use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, watch};

/// The `[console]` settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Off unless asked for: a held console is a BMC's only SOL session.
    pub enable: bool,
    /// Which nodes (a noderange; default every node with nodehm.cons=ipmi).
    pub nodes: String,
    pub log_dir: PathBuf,
    /// A log file is rotated when it reaches this many bytes...
    pub log_max: u64,
    /// ...keeping this many old ones (NODE.log.1 is the newest).
    pub log_keep: u32,
    pub socket: PathBuf,
    /// Seconds between keep-alives on an idle console (which also notice a BMC that is gone).
    pub keepalive: Duration,
    /// Patterns (regular expressions) of console lines that become the node's status: the last
    /// line matching one is kept as `console=LINE` in nodelist.appstatus.
    pub status: Vec<String>,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            enable: false,
            nodes: "nodehm.cons==ipmi".into(),
            log_dir: PathBuf::from("/var/log/oxcat/consoles"),
            log_max: 4 << 20,
            log_keep: 2,
            socket: PathBuf::from("/run/oxcat/console.sock"),
            keepalive: Duration::from_secs(10),
            status: Vec::new(),
        }
    }
}

/// The wait before reconnecting a console after `failures` failures in a row, when the service
/// holds `consoles` consoles: doubling from 1 s up to 60 s, plus a random share of a window that
/// grows by 20 ms per console (1,000 consoles whose BMCs restart together come back over 20 s).
pub fn backoff(failures: u32, consoles: usize, random: f64) -> Duration {
    let base = Duration::from_secs(1 << failures.saturating_sub(1).min(6)).min(Duration::from_secs(60));
    let window = Duration::from_millis(20) * consoles as u32 + base / 2;
    base + window.mul_f64(random.clamp(0.0, 1.0))
}

fn random_unit() -> f64 {
    let mut b = [0u8; 4];
    getrandom::fill(&mut b).expect("the OS random source works");
    f64::from(u32::from_le_bytes(b)) / f64::from(u32::MAX)
}

/// `MM/DD/YYYY HH:MM:SS` in UTC (the event log's format).
fn now_stamp() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    format!("{}:{:02}", crate::hw::ipmi::fru::utc(secs), secs % 60)
}

/// One node's console log: each line starts with the time its first character arrived; the file is
/// rotated at `max` bytes. Created 0600 in a 0700 directory.
pub struct LogFile {
    path: PathBuf,
    file: Option<File>,
    size: u64,
    max: u64,
    keep: u32,
    at_line_start: bool,
}

impl LogFile {
    pub fn open(dir: &Path, node: &str, max: u64, keep: u32) -> std::io::Result<LogFile> {
        let path = dir.join(format!("{node}.log"));
        let mut l = LogFile { path, file: None, size: 0, max: max.max(1024), keep, at_line_start: true };
        l.reopen()?;
        Ok(l)
    }

    fn reopen(&mut self) -> std::io::Result<()> {
        let f = std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(&self.path)?;
        self.size = f.metadata()?.len();
        self.file = Some(f);
        Ok(())
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        self.file = None;
        let name = |i: u32| PathBuf::from(format!("{}.{i}", self.path.display()));
        if self.keep == 0 {
            std::fs::remove_file(&self.path)?;
        } else {
            for i in (1..self.keep).rev() {
                let _ = std::fs::rename(name(i), name(i + 1));
            }
            std::fs::rename(&self.path, name(1))?;
        }
        self.reopen()
    }

    /// Appends console output.
    pub fn write(&mut self, data: &[u8]) -> std::io::Result<()> {
        let mut out = Vec::with_capacity(data.len() + 32);
        for &b in data {
            if self.at_line_start {
                out.extend(format!("[{}] ", now_stamp()).as_bytes());
                self.at_line_start = false;
            }
            out.push(b);
            if b == b'\n' {
                self.at_line_start = true;
            }
        }
        if self.size + out.len() as u64 > self.max && self.size > 0 {
            self.rotate()?;
        }
        self.file.as_mut().expect("open").write_all(&out)?;
        self.size += out.len() as u64;
        Ok(())
    }

    /// A line of the service's own (connected, lost, taken over), on a line of its own.
    pub fn event(&mut self, what: &str) -> std::io::Result<()> {
        let lead = if self.at_line_start { "" } else { "\n" };
        self.at_line_start = true;
        self.write(format!("{lead}[-- oxcatd: {what} --]\n").as_bytes())
    }
}

/// The last `lines` lines of a node's console log (and of its last rotated file when the current
/// one has fewer).
pub fn tail(dir: &Path, node: &str, lines: usize) -> std::io::Result<String> {
    let path = dir.join(format!("{node}.log"));
    let mut text = std::fs::read(&path)?;
    let count = |t: &[u8]| t.iter().filter(|&&b| b == b'\n').count();
    if count(&text) < lines {
        if let Ok(mut older) = std::fs::read(format!("{}.1", path.display())) {
            older.extend(text);
            text = older;
        }
    }
    let text = String::from_utf8_lossy(&text).into_owned();
    let all: Vec<&str> = text.lines().collect();
    let skip = all.len().saturating_sub(lines);
    Ok(all[skip..].iter().map(|l| format!("{l}\n")).collect())
}

/// Console lines that set nodes' status (`[console] status`), written to the store by a thread
/// of their own (a store write may wait on a lock; the consoles must not).
pub struct StatusLines {
    patterns: Vec<regex::Regex>,
    tx: Mutex<std::sync::mpsc::Sender<(String, String)>>,
}

/// The most of a console line kept as a status.
const MAX_STATUS: usize = 200;

impl StatusLines {
    /// None without patterns. Patterns were checked when the settings were read.
    pub fn start(patterns: &[String], db: PathBuf, log: Log) -> Option<Arc<StatusLines>> {
        if patterns.is_empty() {
            return None;
        }
        let patterns = patterns.iter().filter_map(|p| regex::Regex::new(p).ok()).collect();
        let (tx, rx) = std::sync::mpsc::channel::<(String, String)>();
        std::thread::spawn(move || {
            let mut store = match crate::store::Store::open(&db) {
                Ok(s) => s,
                Err(e) => {
                    log.problem(format!("oxcatd: console status: {e}"));
                    return;
                }
            };
            for (node, line) in rx {
                if let Err(e) = record_status(&mut store, &node, &line) {
                    log.problem(format!("oxcatd: console {node}: cannot record its status: {e}"));
                }
            }
        });
        Some(Arc::new(StatusLines { patterns, tx: Mutex::new(tx) }))
    }
}

/// nodelist.appstatus with its `console=` entry set to `line` (other applications' entries kept).
fn record_status(store: &mut crate::store::Store, node: &str, line: &str) -> crate::error::Result<()> {
    use rusqlite::OptionalExtension;
    let nodelist = crate::store::schema::table("nodelist").expect("nodelist");
    store.write(|c| {
        let old: Option<String> =
            c.query_row("SELECT appstatus FROM nodelist WHERE node = ?1", [node], |r| r.get(0)).optional()?.flatten();
        let mut entries: Vec<String> = old
            .as_deref()
            .unwrap_or("")
            .split(',')
            .filter(|e| !e.is_empty() && !e.starts_with("console="))
            .map(str::to_string)
            .collect();
        entries.push(format!("console={}", line.replace(',', ";")));
        let now: String = c.query_row("SELECT strftime('%Y-%m-%dT%H:%M:%SZ', 'now')", [], |r| r.get(0))?;
        crate::store::upsert(
            c,
            nodelist,
            &[node],
            &[("appstatus", Some(&entries.join(","))), ("appstatustime", Some(&now))],
        )
    })
}

/// A console line as text for matching: terminal escapes and control characters gone, trimmed.
pub fn plain_line(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // CSI: ESC [ parameters final-letter; other escapes: ESC and one character.
            if chars.next_if_eq(&'[').is_some() {
                for n in chars.by_ref() {
                    if n.is_ascii_alphabetic() || n == '~' {
                        break;
                    }
                }
            } else {
                chars.next();
            }
        } else if !c.is_control() {
            out.push(c);
        }
    }
    out.trim().chars().take(MAX_STATUS).collect()
}

/// One console as the service holds it: its log, its attached clients and where input goes.
struct Hub {
    node: String,
    log: Mutex<Option<LogFile>>,
    clients: Mutex<HashMap<u64, mpsc::Sender<Arc<[u8]>>>>,
    writer: Mutex<Option<u64>>,
    /// The live console's input (None while it is down).
    input: Mutex<Option<mpsc::Sender<SolInput>>>,
    log_error: std::sync::atomic::AtomicBool,
    status: Option<Arc<StatusLines>>,
    /// oxcatd's log (never standard error directly: the log's writer holds it).
    daemon_log: Log,
    /// The console line being printed (up to 512 bytes), and the last one recorded as status.
    line: Mutex<(Vec<u8>, String)>,
}

impl Hub {
    /// Checks the line being printed, also before its end ("node01 login: " waits for input).
    fn match_status(&self, data: &[u8]) {
        let Some(st) = &self.status else { return };
        let mut g = super::lock(&self.line);
        let check = |buf: &[u8], last: &mut String| {
            let text = plain_line(buf);
            if !text.is_empty() && *last != text && st.patterns.iter().any(|p| p.is_match(&text)) {
                *last = text.clone();
                let _ = super::lock(&st.tx).send((self.node.clone(), text));
            }
        };
        let (buf, last) = &mut *g;
        for &b in data {
            if b == b'\n' {
                check(buf, last);
                buf.clear();
            } else if buf.len() < 512 {
                buf.push(b);
            }
        }
        check(buf, last);
    }

    fn output(&self, data: &[u8]) {
        self.match_status(data);
        if let Some(l) = super::lock(&self.log).as_mut() {
            if let Err(e) = l.write(data) {
                if !self.log_error.swap(true, Ordering::Relaxed) {
                    self.daemon_log.problem(format!("oxcatd: console {}: cannot write its log: {e}", self.node));
                }
            }
        }
        self.broadcast(data);
    }

    fn broadcast(&self, data: &[u8]) {
        let data: Arc<[u8]> = Arc::from(data);
        // A client that does not keep up is dropped rather than holding the console up.
        super::lock(&self.clients).retain(|_, tx| tx.try_send(data.clone()).is_ok());
    }

    fn event(&self, what: &str) {
        if let Some(l) = super::lock(&self.log).as_mut() {
            let _ = l.event(what);
        }
        self.broadcast(format!("\r\n[-- oxcatd: {what} --]\r\n").as_bytes());
    }
}

/// The nodes `[console] nodes` selects: those with a usable BMC, and the others with why not.
pub struct Selection {
    pub held: Vec<(String, Target)>,
    pub refused: Vec<(String, String)>,
}

/// Reads the selection from the store.
pub fn selected(settings: &Settings, db: &Path) -> crate::error::Result<Selection> {
    let st = crate::store::Store::open(db)?;
    let conn = st.conn();
    let (view, nodes) = crate::store::view::NodeView::for_range(conn, &settings.nodes)?;
    let limits = crate::hw::bmc::Limits::from_site(conn, None, None)?;
    let mut sel = Selection { held: Vec::new(), refused: Vec::new() };
    for (node, t) in crate::hw::bmc::targets(conn, &view, &nodes, &limits)? {
        match t {
            Ok(t) => sel.held.push((node, t)),
            Err(e) => sel.refused.push((node, e.to_string())),
        }
    }
    Ok(sel)
}

/// One console the service holds: its hub, the BMC it is reached at, and the task holding it.
struct Held {
    hub: Arc<Hub>,
    /// Address, credentials and settings of the BMC: a change restarts the console.
    bmc: String,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

fn bmc_identity(t: &Target) -> String {
    format!("{} {} {} {:?} {:?} {}", t.addr, t.user, t.password, t.suites, t.timeout, t.tries)
}

/// What a [`Service::sync`] changed, by node (each list sorted), and the nodes it could not hold.
#[derive(Debug, Default)]
pub struct Changes {
    pub started: Vec<String>,
    pub restarted: Vec<String>,
    pub stopped: Vec<String>,
    pub held: usize,
    pub refused: Vec<(String, String)>,
}

/// The consoles the service holds, by node; which nodes is read from the store at the start and
/// again on every reload (SIGHUP, or `makegocons` through the socket).
pub struct Service {
    held: Mutex<HashMap<String, Held>>,
    settings: Settings,
    db: PathBuf,
    status: Option<Arc<StatusLines>>,
    log: Log,
}

static NEXT_CLIENT: AtomicU64 = AtomicU64::new(1);

impl Service {
    /// Prepares the log directory (0700); Err names what failed. No console is held until
    /// [`Service::sync`].
    pub fn new(settings: Settings, db: PathBuf, log: Log) -> Result<Arc<Service>, String> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&settings.log_dir)
            .map_err(|e| format!("{}: {e}", settings.log_dir.display()))?;
        std::fs::set_permissions(&settings.log_dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| format!("{}: {e}", settings.log_dir.display()))?;
        let status = StatusLines::start(&settings.status, db.clone(), log.clone());
        Ok(Arc::new(Service { held: Mutex::default(), settings, db, status, log }))
    }

    fn hub(&self, node: &str) -> Option<Arc<Hub>> {
        super::lock(&self.held).get(node).map(|h| h.hub.clone())
    }

    /// Reads the selected nodes from the store and brings the held consoles in line: new nodes
    /// are started, nodes no longer selected are released (SOL deactivated, their clients told
    /// and disconnected), nodes whose BMC changed are restarted. Runs in the tokio runtime.
    pub fn sync(&self) -> Result<Changes, String> {
        let Selection { held: wanted, refused } = selected(&self.settings, &self.db).map_err(|e| e.to_string())?;
        let mut changes = Changes { refused, ..Changes::default() };
        let mut held = super::lock(&self.held);
        let keep: std::collections::HashSet<&str> = wanted.iter().map(|(n, _)| n.as_str()).collect();
        let gone: Vec<String> = held.keys().filter(|n| !keep.contains(n.as_str())).cloned().collect();
        for n in gone {
            let h = held.remove(&n).expect("held");
            release(&h);
            h.hub.event("console released: no longer one of oxcatd's consoles");
            super::lock(&h.hub.clients).clear();
            changes.stopped.push(n);
        }
        let consoles = wanted.len();
        for (node, target) in wanted {
            let bmc = bmc_identity(&target);
            let (stop, stopped) = watch::channel(false);
            let keepalive = self.settings.keepalive;
            match held.remove(&node) {
                Some(h) if h.bmc == bmc => {
                    held.insert(node, h);
                }
                Some(h) => {
                    // The new session starts once the old one has deactivated SOL, which would
                    // otherwise end the new one's console.
                    release(&h);
                    let (hub, old) = (h.hub.clone(), h.task);
                    let task = tokio::spawn(async move {
                        let _ = old.await;
                        hold(hub, target, keepalive, consoles, stopped).await
                    });
                    changes.restarted.push(node.clone());
                    held.insert(node, Held { hub: h.hub, bmc, stop, task });
                }
                None => {
                    // A log that cannot be opened keeps this console out, not the others.
                    let log = match LogFile::open(
                        &self.settings.log_dir,
                        &node,
                        self.settings.log_max,
                        self.settings.log_keep,
                    ) {
                        Ok(l) => l,
                        Err(e) => {
                            let path = self.settings.log_dir.join(format!("{node}.log"));
                            changes.refused.push((node, format!("{}: {e}", path.display())));
                            continue;
                        }
                    };
                    let hub = Arc::new(Hub {
                        node: node.clone(),
                        log: Mutex::new(Some(log)),
                        clients: Mutex::default(),
                        writer: Mutex::default(),
                        input: Mutex::default(),
                        log_error: Default::default(),
                        status: self.status.clone(),
                        daemon_log: self.log.clone(),
                        line: Mutex::default(),
                    });
                    let task = tokio::spawn(hold(hub.clone(), target, keepalive, consoles, stopped));
                    changes.started.push(node.clone());
                    held.insert(node, Held { hub, bmc, stop, task });
                }
            }
        }
        changes.held = held.len();
        for v in [&mut changes.started, &mut changes.restarted, &mut changes.stopped] {
            v.sort();
        }
        Ok(changes)
    }

    /// Releases every console (SOL deactivated, sessions closed), waiting up to `limit` for the
    /// BMCs: what oxcatd does when it stops, so that a console is free at once for others.
    pub async fn shutdown(&self, limit: Duration) {
        let held: Vec<Held> = super::lock(&self.held).drain().map(|(_, h)| h).collect();
        for h in &held {
            release(h);
        }
        let all = all_ended(held.into_iter().map(|h| h.task));
        let _ = tokio::time::timeout(limit, all).await;
    }

    /// Binds the socket (its directory 0700, the socket 0600; a stale socket is replaced) and
    /// returns the future that serves the clients.
    pub fn bind(self: Arc<Self>) -> Result<impl std::future::Future<Output = ()> + Send + 'static, String> {
        let sock = &self.settings.socket;
        if let Some(dir) = sock.parent() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        if std::os::unix::net::UnixStream::connect(sock).is_ok() {
            return Err(format!("{}: another oxcatd serves consoles there", sock.display()));
        }
        let _ = std::fs::remove_file(sock);
        let listener = UnixListener::bind(sock).map_err(|e| format!("{}: {e}", sock.display()))?;
        std::fs::set_permissions(sock, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| format!("{}: {e}", sock.display()))?;
        Ok(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                };
                tokio::spawn(serve_client(self.clone(), stream));
            }
        })
    }
}

/// Waits for every task.
async fn all_ended(tasks: impl Iterator<Item = tokio::task::JoinHandle<()>>) {
    for t in tasks {
        let _ = t.await;
    }
}

/// Tells a console's task to end: a live console's input closes (its SOL is deactivated and its
/// session closed), a console being connected or waiting to retry gives up.
fn release(h: &Held) {
    // In this order: `hold` sets the input, then looks at the stop flag.
    let _ = h.stop.send(true);
    *super::lock(&h.hub.input) = None;
}

/// Keeps one console connected until it is released.
async fn hold(hub: Arc<Hub>, target: Target, keepalive: Duration, consoles: usize, mut stop: watch::Receiver<bool>) {
    let mut failures = 0u32;
    let mut last_error = String::new();
    // Consoles start spread over the window too, not all in the first instant.
    let spread = Duration::from_millis(20).mul_f64(consoles as f64 * random_unit());
    tokio::select! {
        _ = tokio::time::sleep(spread) => {}
        _ = stop.wait_for(|s| *s) => return,
    }
    loop {
        // The service owns its consoles: one a previous oxcatd left active is taken back.
        let activated = tokio::select! {
            a = Console::activate(&target, true, keepalive) => a,
            _ = stop.wait_for(|s| *s) => return,
        };
        match activated {
            Ok(c) => {
                failures = 0;
                last_error.clear();
                hub.event("console connected");
                let (tx, mut rx) = mpsc::channel(64);
                *super::lock(&hub.input) = Some(tx);
                if *stop.borrow() {
                    // Released while connecting: the input just set is closed at once.
                    *super::lock(&hub.input) = None;
                }
                let h = hub.clone();
                let end = c.run(&mut rx, &mut |b| h.output(b)).await;
                *super::lock(&hub.input) = None;
                match end {
                    SolEnd::Closed => return,
                    SolEnd::TakenOver => hub.event("console taken over by another session; reconnecting"),
                    SolEnd::Lost(why) => hub.event(&format!("console lost: {why}; reconnecting")),
                }
            }
            Err(e) => {
                let why = match e {
                    SolError::Taken => "the console is in use by another session".to_string(),
                    e => e.to_string(),
                };
                // Each new reason once, not every retry.
                if why != last_error {
                    hub.event(&format!("cannot connect: {why}; retrying"));
                    last_error = why;
                }
            }
        }
        failures += 1;
        tokio::select! {
            _ = tokio::time::sleep(backoff(failures, consoles, random_unit())) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

async fn serve_client(svc: Arc<Service>, stream: UnixStream) {
    let (rd, mut wr) = stream.into_split();
    let mut rd = BufReader::new(rd);
    let mut line = String::new();
    let got = tokio::time::timeout(Duration::from_secs(5), (&mut rd).take(512).read_line(&mut line)).await;
    if !matches!(got, Ok(Ok(n)) if n > 0) {
        return;
    }
    let words: Vec<&str> = line.split_whitespace().collect();
    let (node, ro, force) = match words.as_slice() {
        ["attach", node, rest @ ..] => (node.to_string(), rest.contains(&"ro"), rest.contains(&"force")),
        ["reload"] => {
            let _ = wr.write_all(reload_reply(&svc).as_bytes()).await;
            return;
        }
        _ => {
            let _ = wr.write_all(b"error expected: attach NODE [ro] [force], or reload\n").await;
            return;
        }
    };
    let Some(hub) = svc.hub(&node) else {
        let _ = wr.write_all(b"unmanaged\n").await;
        return;
    };
    let id = NEXT_CLIENT.fetch_add(1, Ordering::Relaxed);
    let (tx, mut rx) = mpsc::channel::<Arc<[u8]>>(256);
    let role = {
        let mut w = super::lock(&hub.writer);
        if !ro && (w.is_none() || force) {
            if let Some(old) = w.replace(id) {
                if let Some(t) = super::lock(&hub.clients).get(&old) {
                    let _ = t.try_send(Arc::from(
                        &b"\r\n[-- oxcatd: another client took write access; read-only now --]\r\n"[..],
                    ));
                }
            }
            "writer"
        } else {
            "reader"
        }
    };
    super::lock(&hub.clients).insert(id, tx);
    if wr.write_all(format!("ok {role}\n").as_bytes()).await.is_err() {
        super::lock(&hub.clients).remove(&id);
        return;
    }
    let up = super::lock(&hub.input).is_some();
    if !up {
        let _ = wr.write_all(b"[-- oxcatd: console not connected; waiting for the BMC --]\r\n").await;
    }
    let to_client = async {
        while let Some(d) = rx.recv().await {
            if wr.write_all(&d).await.is_err() {
                break;
            }
        }
    };
    let hub2 = hub.clone();
    let from_client = async move {
        let mut buf = [0u8; 1024];
        let mut escape = false;
        loop {
            let n = match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if *super::lock(&hub2.writer) != Some(id) {
                continue;
            }
            let mut inputs = Vec::new();
            let mut data = Vec::new();
            for &b in &buf[..n] {
                match (escape, b) {
                    (false, 0xff) => escape = true,
                    (false, b) => data.push(b),
                    (true, b'B') => {
                        escape = false;
                        inputs.push(SolInput::Data(std::mem::take(&mut data)));
                        inputs.push(SolInput::Break);
                    }
                    (true, b) => {
                        escape = false;
                        data.push(b);
                    }
                }
            }
            inputs.push(SolInput::Data(data));
            let tx = super::lock(&hub2.input).clone();
            if let Some(tx) = tx {
                for i in inputs {
                    if !matches!(&i, SolInput::Data(d) if d.is_empty()) {
                        let _ = tx.send(i).await;
                    }
                }
            }
        }
    };
    tokio::select! {
        _ = to_client => {}
        _ = from_client => {}
    }
    super::lock(&hub.clients).remove(&id);
    let mut w = super::lock(&hub.writer);
    if *w == Some(id) {
        *w = None;
    }
}

/// The answer to `reload`: a line per change (`started NODE`, `restarted NODE`, `stopped NODE`,
/// `refused NODE WHY`), then `held N`; or `error WHY`.
fn reload_reply(svc: &Service) -> String {
    let c = match svc.sync() {
        Ok(c) => c,
        Err(e) => return format!("error {}\n", e.replace('\n', " ")),
    };
    let mut out = String::new();
    for (what, nodes) in [("started", &c.started), ("restarted", &c.restarted), ("stopped", &c.stopped)] {
        for n in nodes {
            out.push_str(&format!("{what} {n}\n"));
        }
    }
    for (n, why) in &c.refused {
        out.push_str(&format!("refused {n} {}\n", why.replace('\n', " ")));
    }
    out.push_str(&format!("held {}\n", c.held));
    out
}

/// The service's socket: None when no service runs there (no socket, or nobody listening). A
/// socket this user may not open is an error, not "no service": going to the BMC instead would
/// fight the service for the console.
async fn connect(socket: &Path) -> Result<Option<UnixStream>, String> {
    match UnixStream::connect(socket).await {
        Ok(s) => Ok(Some(s)),
        Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused) => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Err(format!(
            "{}: permission denied (oxcatd's console service holds the consoles; its socket is root's)",
            socket.display()
        )),
        Err(e) => Err(format!("{}: {e}", socket.display())),
    }
}

/// Asks the service at `socket` to read its nodes again (`makegocons`): the reply's lines, or
/// None when no service answers there.
pub async fn reload(socket: &Path) -> Result<Option<Vec<String>>, String> {
    let Some(mut stream) = connect(socket).await? else { return Ok(None) };
    stream.write_all(b"reload\n").await.map_err(|e| format!("{}: {e}", socket.display()))?;
    let mut text = String::new();
    stream.read_to_string(&mut text).await.map_err(|e| format!("{}: {e}", socket.display()))?;
    Ok(Some(text.lines().map(String::from).collect()))
}

/// How `rcons` reaches a console through the service.
pub enum Attached {
    /// Connected: the role given, and the stream (raw bytes both ways from here).
    Yes { writer: bool, stream: UnixStream },
    /// No service runs on the socket, or it does not hold this node's console.
    NotServed,
}

/// Asks the service at `socket` for `node`'s console.
pub async fn attach(socket: &Path, node: &str, read_only: bool, force: bool) -> Result<Attached, String> {
    let Some(mut stream) = connect(socket).await? else { return Ok(Attached::NotServed) };
    let mut req = format!("attach {node}");
    if read_only {
        req.push_str(" ro");
    }
    if force {
        req.push_str(" force");
    }
    req.push('\n');
    stream.write_all(req.as_bytes()).await.map_err(|e| format!("{}: {e}", socket.display()))?;
    // The answer line, byte by byte: console output may follow it at once.
    let mut line = Vec::new();
    loop {
        let b = stream.read_u8().await.map_err(|e| format!("{}: {e}", socket.display()))?;
        if b == b'\n' || line.len() > 512 {
            break;
        }
        line.push(b);
    }
    let line = String::from_utf8_lossy(&line).into_owned();
    match line.as_str() {
        "ok writer" => Ok(Attached::Yes { writer: true, stream }),
        "ok reader" => Ok(Attached::Yes { writer: false, stream }),
        "unmanaged" => Ok(Attached::NotServed),
        other => Err(other.strip_prefix("error ").unwrap_or(other).to_string()),
    }
}

/// Client input in the service protocol's framing.
pub fn encode_input(i: &SolInput) -> Vec<u8> {
    match i {
        SolInput::Break => vec![0xff, b'B'],
        SolInput::Data(d) => {
            let mut v = Vec::with_capacity(d.len());
            for &b in d {
                v.push(b);
                if b == 0xff {
                    v.push(0xff);
                }
            }
            v
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_its_window_grows_with_the_consoles() {
        assert_eq!(backoff(1, 1, 0.0), Duration::from_secs(1));
        assert_eq!(backoff(3, 1, 0.0), Duration::from_secs(4));
        assert_eq!(backoff(50, 1, 0.0), Duration::from_secs(60));
        assert_eq!(backoff(1, 1000, 1.0), Duration::from_millis(1000 + 20_000 + 500));
        assert!(backoff(1, 10, 1.0) < backoff(1, 1000, 1.0));
    }

    #[test]
    fn logs_are_timestamped_per_line_rotated_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = LogFile::open(dir.path(), "n1", 1024, 2).unwrap();
        l.write(b"hello\r\nwor").unwrap();
        l.write(b"ld\n").unwrap();
        let text = std::fs::read_to_string(dir.path().join("n1.log")).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[0].starts_with('[') && lines[0].ends_with("] hello"), "{text}");
        assert!(lines[1].ends_with("] world"), "{text}");
        let mode = std::fs::metadata(dir.path().join("n1.log")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        for i in 0..100 {
            l.write(format!("line {i}\n").as_bytes()).unwrap();
        }
        assert!(std::fs::metadata(dir.path().join("n1.log")).unwrap().len() <= 1024);
        assert!(dir.path().join("n1.log.1").exists());
        assert!(dir.path().join("n1.log.2").exists());
        assert!(!dir.path().join("n1.log.3").exists());
        let t = tail(dir.path(), "n1", 3).unwrap();
        assert!(t.ends_with("] line 99\n"), "{t}");
        assert_eq!(t.lines().count(), 3);
    }

    #[test]
    fn status_lines_are_plain_text() {
        assert_eq!(plain_line(b"\x1b[1;32mn1 login: \x1b[0m\r"), "n1 login:");
        assert_eq!(plain_line(b"  Kernel panic - not syncing\x07"), "Kernel panic - not syncing");
        assert_eq!(plain_line(&[b'x'; 300]).len(), MAX_STATUS);
    }

    #[test]
    fn input_framing_escapes_ff_and_marks_breaks() {
        assert_eq!(encode_input(&SolInput::Data(vec![1, 0xff, 2])), vec![1, 0xff, 0xff, 2]);
        assert_eq!(encode_input(&SolInput::Break), vec![0xff, b'B']);
    }
}
