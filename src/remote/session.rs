//! In-process SSH sessions to many nodes at once (russh on one tokio thread): connect with a
//! timeout, verify the node's host key against the recorded ones, log in with the cluster key,
//! run a command (or a file copy, see [`super::scp`]) with an idle timeout, and stop everything
//! cleanly on Ctrl-C (the remote commands get the signal, then the sessions close).

use russh::client::{self, Handle, Msg};
use russh::keys::{HashAlg, PrivateKey, PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use russh::{Channel, ChannelMsg, Sig};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch, Semaphore};

/// One node to reach.
#[derive(Clone, Debug)]
pub struct Target {
    pub node: String,
    /// Its address (hosts.ip) or, without one, its name for the resolver.
    pub host: String,
    pub port: u16,
    /// Its recorded host keys (`TYPE BASE64`), empty when none.
    pub known: Vec<String>,
}

/// How sessions are opened.
#[derive(Clone)]
pub struct Settings {
    pub user: String,
    pub key: Arc<PrivateKey>,
    pub connect_timeout: Duration,
    /// Accept and record the key of a node that has none recorded (never one that differs).
    pub accept_new: bool,
    /// Logs in with this password when the node refuses the key (xdsh -K, $DSH_REMOTE_PASSWORD).
    pub password: Option<String>,
    pub config: Arc<client::Config>,
}

impl Settings {
    pub fn new(user: &str, key: PrivateKey, connect_timeout: Duration, accept_new: bool) -> Settings {
        let config = client::Config { nodelay: true, ..Default::default() };
        Settings {
            user: user.to_string(),
            key: Arc::new(key),
            connect_timeout,
            accept_new,
            password: None,
            config: Arc::new(config),
        }
    }
}

/// Why a node's session failed (each prints as one line after `node: Error: `).
#[derive(Debug, Clone)]
pub enum Failure {
    HostKey(String),
    Connect(String),
    Timeout(String),
    Auth(String),
    Ssh(String),
    Interrupted,
}

impl Failure {
    pub fn kind(&self) -> &'static str {
        match self {
            Failure::HostKey(_) => "hostkey",
            Failure::Connect(_) => "connect",
            Failure::Timeout(_) => "timeout",
            Failure::Auth(_) => "auth",
            Failure::Ssh(_) => "ssh",
            Failure::Interrupted => "interrupted",
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::HostKey(m) | Failure::Connect(m) | Failure::Timeout(m) | Failure::Auth(m) | Failure::Ssh(m) => {
                f.write_str(m)
            }
            Failure::Interrupted => {
                f.write_str("interrupted (Ctrl-C): the remote command was stopped and the session closed")
            }
        }
    }
}

/// What the host key check decided (kept outside the handler: russh only returns an error).
#[derive(Default)]
enum Verdict {
    #[default]
    Pending,
    Matched,
    Accepted(String),
    Unknown(String),
    Mismatch(String),
}

pub struct Client {
    node: String,
    known: Vec<String>,
    accept_new: bool,
    verdict: Arc<Mutex<Verdict>>,
}

/// `TYPE BASE64` of a key as the node presented it, and its SHA256 fingerprint.
fn presented(key: &PublicKeyOrCertificate) -> (String, String) {
    let k = match key {
        PublicKeyOrCertificate::PublicKey { key, .. } => key.clone(),
        PublicKeyOrCertificate::Certificate(c) => russh::keys::PublicKey::from(c.public_key().clone()),
    };
    let line = k.to_openssh().unwrap_or_default();
    let line = line.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
    (line, k.fingerprint(HashAlg::Sha256).to_string())
}

impl client::Handler for Client {
    type Error = russh::Error;

    async fn check_server_key(&mut self, key: &PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        let (line, fp) = presented(key);
        let kind = line.split(' ').next().unwrap_or("").to_string();
        let node = &self.node;
        let v = if self.known.contains(&line) {
            Verdict::Matched
        } else if self.known.is_empty() && self.accept_new {
            Verdict::Accepted(line)
        } else if self.known.is_empty() {
            Verdict::Unknown(format!(
                "no host key recorded for {node} (it presented {kind} {fp}): boot it so that it reports its keys, \
                 or accept and record this one with --accept-hostkey"
            ))
        } else {
            Verdict::Mismatch(format!(
                "host key mismatch: {node} presented {kind} {fp}, which is not the key recorded for it; \
                 if it was reinstalled, run 'makeknownhosts {node} -r', then reboot it (it reports its new keys) or rerun with --accept-hostkey"
            ))
        };
        let ok = matches!(v, Verdict::Matched | Verdict::Accepted(_));
        *self.verdict.lock().expect("verdict lock") = v;
        Ok(ok)
    }
}

/// An open, authenticated session; `accepted` is the host key recorded under --accept-hostkey.
pub struct Session {
    pub handle: Handle<Client>,
    pub accepted: Option<String>,
}

/// Connects to the target, checks its host key and logs in, within the connect timeout.
pub async fn connect(t: &Target, s: &Settings) -> Result<Session, Failure> {
    let verdict = Arc::new(Mutex::new(Verdict::Pending));
    let secs = s.connect_timeout.as_secs_f64();
    let work = async {
        let mut addrs = tokio::net::lookup_host((t.host.as_str(), t.port))
            .await
            .map_err(|e| Failure::Connect(format!("cannot resolve {}: {e}", t.host)))?;
        let addr = addrs.next().ok_or_else(|| Failure::Connect(format!("{} has no address", t.host)))?;
        let tcp = tokio::net::TcpStream::connect(addr).await.map_err(|e| Failure::Connect(format!("{addr}: {e}")))?;
        let _ = tcp.set_nodelay(true);
        let handler =
            Client { node: t.node.clone(), known: t.known.clone(), accept_new: s.accept_new, verdict: verdict.clone() };
        let mut handle = match client::connect_stream(s.config.clone(), tcp, handler).await {
            Ok(h) => h,
            Err(e) => {
                return Err(match std::mem::take(&mut *verdict.lock().expect("verdict lock")) {
                    Verdict::Unknown(m) | Verdict::Mismatch(m) => Failure::HostKey(m),
                    _ => Failure::Ssh(format!("{addr}: SSH handshake failed: {e}")),
                })
            }
        };
        let key = PrivateKeyWithHashAlg::new(s.key.clone(), None);
        let auth = handle
            .authenticate_publickey(s.user.clone(), key)
            .await
            .map_err(|e| Failure::Ssh(format!("{addr}: login failed: {e}")))?;
        let mut ok = auth.success();
        if let (false, Some(pw)) = (ok, &s.password) {
            ok = handle
                .authenticate_password(s.user.clone(), pw.clone())
                .await
                .map_err(|e| Failure::Ssh(format!("{addr}: login failed: {e}")))?
                .success();
        }
        if !ok {
            return Err(Failure::Auth(format!(
                "{}@{addr} refused the cluster key: install it with 'xdsh {} -K' (or boot the node with oxcatpost)",
                s.user, t.node
            )));
        }
        let accepted = match std::mem::take(&mut *verdict.lock().expect("verdict lock")) {
            Verdict::Accepted(k) => Some(k),
            _ => None,
        };
        Ok(Session { handle, accepted })
    };
    match tokio::time::timeout(s.connect_timeout, work).await {
        Ok(r) => r,
        Err(_) => Err(Failure::Timeout(format!("no SSH session to {}:{} within {secs} s", t.host, t.port))),
    }
}

/// Output of a remote command as it arrives.
pub enum Chunk<'a> {
    Stdout(&'a [u8]),
    Stderr(&'a [u8]),
}

/// How a remote command ended.
pub struct Exit {
    /// Its exit status; None when it died of a signal (`signal` says which) or the server did
    /// not say.
    pub status: Option<u32>,
    pub signal: Option<String>,
}

/// Wraps a command so that it ends when we go away: OpenSSH refuses "signal" requests for root
/// sessions, and a command without a terminal outlives a closed connection. So the wrapper runs
/// the command in the background and a watcher reads the channel's standard input: EOF (which we
/// send to stop it, and which a dropped connection gives too) kills the session's process group
/// (sshd makes the session one). The command's own input, `stdin_len` bytes, is read first into
/// a file the command gets as its standard input (/dev/null when there is none).
pub fn killable(cmd: &str, stdin_len: usize) -> String {
    let input = if stdin_len > 0 {
        format!("f=$(mktemp) || exit 126; head -c {stdin_len} >\"$f\"; exec 4<\"$f\"; rm -f \"$f\"; ")
    } else {
        "exec 4</dev/null; ".to_string()
    };
    format!(
        "trap 'kill 0' HUP INT TERM; {input}exec 3<&0; {{ {cmd}\n}} <&4 3<&- 4<&- & c=$!; \
         {{ read -r _ <&3; kill 0; }} 4<&- & w=$!; exec 3<&- 4<&-; wait $c; rc=$?; kill $w 2>/dev/null; exit $rc"
    )
}

/// Opens a channel and runs `cmd` (made with [`killable`] for `stdin`'s length), feeding it
/// `stdin`, giving its output to `on` as it comes. `idle` ends it when nothing arrives for that
/// long; a change on `stop` (Ctrl-C) ends it too: either way the remote side gets EOF (which
/// kills the command, see [`killable`]) before the channel closes.
pub async fn exec(
    sess: &Session,
    cmd: &str,
    stdin: Option<&[u8]>,
    idle: Option<Duration>,
    stop: &mut watch::Receiver<bool>,
    mut on: impl FnMut(Chunk<'_>),
) -> Result<Exit, Failure> {
    let ssh = |e: russh::Error| Failure::Ssh(format!("SSH channel: {e}"));
    let mut ch = sess.handle.channel_open_session().await.map_err(ssh)?;
    ch.exec(true, cmd).await.map_err(ssh)?;
    if let Some(data) = stdin {
        ch.data(data).await.map_err(ssh)?;
    }
    let mut exit = Exit { status: None, signal: None };
    loop {
        let next = async {
            match idle {
                Some(d) => tokio::time::timeout(d, ch.wait()).await.map_err(|_| d),
                None => Ok(ch.wait().await),
            }
        };
        let msg = tokio::select! {
            m = next => m,
            _ = stop.changed() => {
                end(&mut ch).await;
                return Err(Failure::Interrupted);
            }
        };
        match msg {
            Err(d) => {
                end(&mut ch).await;
                return Err(Failure::Timeout(format!("no output for {} s: the command was stopped", d.as_secs_f64())));
            }
            Ok(None) => break,
            Ok(Some(ChannelMsg::Data { data })) => on(Chunk::Stdout(&data)),
            Ok(Some(ChannelMsg::ExtendedData { data, ext: 1 })) => on(Chunk::Stderr(&data)),
            Ok(Some(ChannelMsg::ExitStatus { exit_status })) => exit.status = Some(exit_status),
            Ok(Some(ChannelMsg::ExitSignal { signal_name, .. })) => exit.signal = Some(format!("{signal_name:?}")),
            Ok(Some(_)) => {}
        }
    }
    Ok(exit)
}

/// Stops the remote command (EOF on its watcher's input; and SIGTERM, which servers that allow
/// it deliver), waits a moment for the channel to close, then closes it.
async fn end(ch: &mut Channel<Msg>) {
    let _ = ch.eof().await;
    let _ = ch.signal(Sig::TERM).await;
    let _ = tokio::time::timeout(Duration::from_secs(2), async { while ch.wait().await.is_some() {} }).await;
    let _ = ch.close().await;
}

/// Closes the session politely.
pub async fn close(sess: Session) {
    let _ = sess.handle.disconnect(russh::Disconnect::ByApplication, "", "en").await;
}

/// What a node's work can report besides its result: lines for streaming output.
pub struct Line {
    pub index: usize,
    pub stderr: bool,
    pub text: String,
}

/// What each node's work gets: where streamed lines go and the Ctrl-C flag.
pub struct Work {
    pub index: usize,
    pub lines: mpsc::UnboundedSender<Line>,
    pub stop: watch::Receiver<bool>,
}

/// What [`run_all`] hands back as it happens.
pub enum Event<T> {
    /// A streamed line.
    Line(Line),
    /// A node's result (by its index in the targets).
    Done(usize, T),
}

/// Runs `work` for every target on one thread, at most `fanout` at once; `on` gets streamed
/// lines and each node's result as they arrive (completion order). Ctrl-C sets the stop flag
/// every running node's work watches; returns true when that happened.
pub fn run_all<T, F, Fut>(targets: Vec<Target>, fanout: usize, work: F, mut on: impl FnMut(Event<T>)) -> bool
where
    T: Send + 'static,
    F: Fn(Target, Work) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
{
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
    rt.block_on(async {
        let sem = Arc::new(Semaphore::new(fanout.max(1)));
        let (stop_tx, stop_rx) = watch::channel(false);
        let (line_tx, mut line_rx) = mpsc::unbounded_channel();
        let mut set = tokio::task::JoinSet::new();
        for (index, t) in targets.into_iter().enumerate() {
            let sem = sem.clone();
            let w = Work { index, lines: line_tx.clone(), stop: stop_rx.clone() };
            let fut = work(t, w);
            let mut stop = stop_rx.clone();
            set.spawn(async move {
                let permit = tokio::select! {
                    p = sem.acquire_owned() => p,
                    _ = stop.changed() => return (index, None),
                };
                let _permit = permit.expect("the semaphore is never closed");
                if *stop.borrow() {
                    return (index, None);
                }
                (index, Some(fut.await))
            });
        }
        drop(line_tx);
        let mut interrupted = false;
        let ctrl_c = tokio::signal::ctrl_c();
        tokio::pin!(ctrl_c);
        let mut lines_open = true;
        loop {
            tokio::select! {
                biased;
                l = line_rx.recv(), if lines_open => match l {
                    Some(l) => on(Event::Line(l)),
                    None => lines_open = false,
                },
                r = set.join_next() => match r {
                    Some(Ok((i, Some(t)))) => on(Event::Done(i, t)),
                    Some(Ok((_, None))) => {}
                    Some(Err(e)) => panic!("a node's task failed: {e}"),
                    None => break,
                },
                _ = &mut ctrl_c, if !interrupted => {
                    interrupted = true;
                    let _ = stop_tx.send(true);
                }
            }
        }
        while let Ok(l) = line_rx.try_recv() {
            on(Event::Line(l));
        }
        interrupted
    })
}
