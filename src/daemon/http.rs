//! The HTTP server nodes boot and report through: `/install/...` (the image store, with Range
//! requests), `/tftpboot/...` (per-node iPXE scripts and boot files), `/postscripts/...`,
//! `/mypostscript/NODE?token=T` (the node's environment file for postscripts),
//! `/deploy/plan?node=N&token=T` (a disk deploy's plan, see `crate::deploy`), and
//! `/status?node=N&token=T&status=S`, which checks the node's boot token (chain.token, put there
//! by nodeset) and writes nodelist.status/statustime (at the end of a disk deploy also the
//! agent's POSTed log tail, nodelist.deploylog, and hands the node over to its disk). What
//! carries or needs the token is answered
//! to the node's own address only (see `scope`), and once the node reports the end of its boot
//! (installed, booted, failed), its token is spent: chain.token keeps only its SHA-256, the token
//! reports status but opens nothing else until the next nodeset.
//!
//! HTTP/1.1 (hyper) with keep-alive, GET and HEAD (POST for /status, whose body, at most 16 KiB,
//! must come within the header timeout); paths that leave their
//! root are refused. A client gets `header_timeout` to send each request head, a connection that
//! moves nothing for `idle_timeout` is closed, and at `max_connections` the connection idle
//! longest makes room (else the newcomer gets a 503). Reads of the store use connections of
//! their own, so files and boot configs are served while a status report waits for another
//! process's write transaction.

mod discover;
mod zerocopy;

use super::config::HttpLimits;
use super::log::{Log, Problems};
use super::scope::{self, Seen};
use crate::store::{self, schema, Store};
use bytes::{Bytes, BytesMut};
use hyper::body::{Body, Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncSeekExt, AsyncWrite, ReadBuf};
use tokio::net::TcpSocket;
use tokio::sync::{Notify, Semaphore};

/// The statuses a node may report (xCAT's lifecycle words); a disk deploy's agent also reports
/// `installing N%` and `failed: REASON` (see [`status_error`]).
pub const STATUSES: &[&str] = &["booting", "netbooting", "installing", "postbooting", "installed", "booted", "failed"];

/// The statuses that end a boot's work: the token is spent (see the module's description).
const ENDS: &[&str] = &["installed", "booted", "failed"];

/// The longest status a node may report (`failed: REASON` included).
pub const MAX_STATUS: usize = 256;

/// The most of a status report's body (the deploy agent's log tail) that is read and kept.
pub const MAX_DEPLOYLOG: usize = 16 * 1024;

/// Why `status` is not one a node may report, or None when it is.
pub fn status_error(status: &str) -> Option<String> {
    if STATUSES.contains(&status) {
        return None;
    }
    if let Some(n) = status.strip_prefix("installing ").and_then(|p| p.strip_suffix('%')) {
        return match n.parse::<u8>() {
            Ok(p) if p <= 100 && n.bytes().all(|b| b.is_ascii_digit()) => None,
            _ => Some(format!("'installing {n}%': the progress is a whole number from 0 to 100\n")),
        };
    }
    if let Some(reason) = status.strip_prefix("failed: ") {
        if status.len() > MAX_STATUS {
            return Some(format!("a status is at most {MAX_STATUS} bytes ('failed: REASON' is {})\n", status.len()));
        }
        if reason.trim().is_empty() || status.chars().any(char::is_control) {
            return Some("'failed: REASON': the reason is printable text (no control characters)\n".into());
        }
        return None;
    }
    Some(format!(
        "status must be one of: {}, installing N% (0-100), failed: REASON (at most {MAX_STATUS} bytes)\n",
        STATUSES.join(", ")
    ))
}

/// True when `status` ends a boot's work (spends the token).
fn ends(status: &str) -> bool {
    ENDS.contains(&status) || status.starts_with("failed: ")
}

/// A status report's body as nodelist.deploylog keeps it: text, with control characters other
/// than newlines dropped (the admin reads it on a terminal).
pub fn deploylog_text(body: &[u8]) -> String {
    String::from_utf8_lossy(body).chars().filter(|c| *c == '\n' || !c.is_control()).collect()
}

pub struct Shared {
    readers: Readers,
    /// Status writes, one at a time: waiting for another process's write holds only this.
    writer: Mutex<Store>,
    pub postscripts: PathBuf,
    /// One line per client and path every five minutes: a node retrying in a loop is one line.
    pub problems: Problems,
    /// Addresses proxyDHCP saw nodes use.
    pub seen: Arc<Seen>,
    /// Events worth a line each (a deployed node's boot device switched to disk).
    log: Log,
}

/// Connections to the store for reading, reused; one more is opened when all are in use. In WAL
/// mode a reader never waits for a writer.
struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Store>>,
}

/// Readers kept open when idle.
const READERS_KEPT: usize = 4;

impl Readers {
    fn with<T>(&self, f: impl FnOnce(&rusqlite::Connection) -> T) -> crate::error::Result<T> {
        let st = super::lock(&self.idle).pop();
        let st = match st {
            Some(st) => st,
            None => Store::open(&self.path)?,
        };
        let out = f(st.conn());
        let mut idle = super::lock(&self.idle);
        if idle.len() < READERS_KEPT {
            idle.push(st);
        }
        Ok(out)
    }
}

impl Shared {
    pub fn new(store: Store, postscripts: PathBuf, log: Log, seen: Arc<Seen>) -> crate::error::Result<Shared> {
        let problems = Problems::new(log.clone(), Duration::from_secs(300));
        let reader = Store::open(store.path())?;
        let readers = Readers { path: store.path().to_path_buf(), idle: Mutex::new(vec![reader]) };
        Ok(Shared { readers, writer: Mutex::new(store), postscripts, problems, seen, log })
    }

    /// Runs `f` on a reading connection, off the async threads.
    async fn read<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Shared, &rusqlite::Connection) -> T + Send + 'static,
    ) -> Option<T> {
        let shared = self.clone();
        tokio::task::spawn_blocking(move || match shared.readers.with(|c| f(&shared, c)) {
            Ok(v) => Some(v),
            // A reader that cannot be opened (descriptors used up, the store gone) is an admin's
            // problem to see, not a silent 404.
            Err(e) => {
                shared.problems.report("reader".into(), || format!("oxcatd: HTTP: cannot read the store: {e}"));
                None
            }
        })
        .await
        .ok()
        .flatten()
    }
}

/// What the accept loop knows of a connection: whether a request is being answered, and how to
/// ask it to close.
#[derive(Default)]
pub struct Conn {
    busy: AtomicUsize,
    close: Notify,
}

/// Marks a connection busy while a request is answered (until its response body is dropped).
struct Busy(Arc<Conn>);

impl Busy {
    fn new(c: &Arc<Conn>) -> Busy {
        c.busy.fetch_add(1, Ordering::SeqCst);
        Busy(c.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The open connections, oldest first, and the cap.
struct Conns {
    open: Mutex<BTreeMap<u64, Arc<Conn>>>,
    next: AtomicU64,
    slots: Arc<Semaphore>,
}

impl Conns {
    /// Asks the oldest connection that is answering nothing to close (and forgets it, so that
    /// the next newcomer picks another); false when every connection is answering.
    fn evict_idle(&self) -> bool {
        let mut open = super::lock(&self.open);
        let Some(id) = open.iter().find(|(_, c)| c.busy.load(Ordering::SeqCst) == 0).map(|(id, _)| *id) else {
            return false;
        };
        if let Some(c) = open.remove(&id) {
            c.close.notify_one();
        }
        true
    }

    /// Registers a new connection (before its task runs, so that it can be evicted at once).
    fn add(&self) -> (u64, Arc<Conn>) {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let conn = Arc::new(Conn::default());
        super::lock(&self.open).insert(id, conn.clone());
        (id, conn)
    }
}

/// The connections that fit the descriptor limit: a quarter of it (at least 64) is kept for
/// everything else (TFTP transfers, the store, DHCP).
fn connection_cap(wanted: usize) -> usize {
    use nix::sys::resource::{getrlimit, Resource};
    let Ok((soft, _)) = getrlimit(Resource::RLIMIT_NOFILE) else { return wanted };
    let soft = usize::try_from(soft).unwrap_or(usize::MAX);
    wanted.min(soft.saturating_sub((soft / 4).max(64)).max(8))
}

/// Binds (a port in use is a startup error); returns the bound address and the server future.
pub async fn bind(
    addr: SocketAddr,
    shared: Arc<Shared>,
    limits: HttpLimits,
) -> Result<(SocketAddr, impl std::future::Future<Output = ()>), String> {
    let fail = |e: std::io::Error| format!("cannot listen on {addr} for HTTP: {e}");
    let socket = if addr.is_ipv4() { TcpSocket::new_v4() } else { TcpSocket::new_v6() }.map_err(fail)?;
    socket.set_reuseaddr(true).map_err(fail)?;
    socket.bind(addr).map_err(fail)?;
    // A queue of 1,024 (std's is 128): a boot storm's connections wait there instead of being
    // dropped, and the loop below empties it as fast as it can.
    let listener = socket.listen(1024).map_err(fail)?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    let cap = connection_cap(limits.max_connections);
    if cap < limits.max_connections {
        shared.problems.report("cap".into(), || {
            format!(
                "oxcatd: HTTP: serving at most {cap} connections, not http.max_connections = {}: the descriptor limit is too low (LimitNOFILE)",
                limits.max_connections
            )
        });
    }
    let conns =
        Arc::new(Conns { open: Mutex::default(), next: AtomicU64::new(0), slots: Arc::new(Semaphore::new(cap)) });
    Ok((bound, async move {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(c) => c,
                Err(e) => {
                    // Out of descriptors (EMFILE) or memory: retrying at once would spin.
                    shared.problems.report(format!("accept {:?}", e.kind()), || {
                        format!("oxcatd: HTTP: cannot accept a connection: {e} (retrying every 100 ms)")
                    });
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let (shared, conns, limits) = (shared.clone(), conns.clone(), limits.clone());
            let slot = match conns.slots.clone().try_acquire_owned() {
                Ok(slot) => slot,
                // At the cap: the connection idle longest makes room, if there is one (the
                // next connections wait in the listen queue meanwhile); else 503.
                Err(_) if conns.evict_idle() => {
                    match tokio::time::timeout(Duration::from_secs(1), conns.slots.clone().acquire_owned()).await {
                        Ok(Ok(slot)) => slot,
                        _ => {
                            let _ = stream.try_write(BUSY);
                            continue;
                        }
                    }
                }
                Err(_) => {
                    let _ = stream.try_write(BUSY);
                    continue;
                }
            };
            let (id, conn) = conns.add();
            tokio::spawn(run_connection(stream, peer, shared, limits, conns, (id, conn), slot));
        }
    }))
}

/// What a client gets when every connection is busy answering.
const BUSY: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 12\r\nRetry-After: 1\r\nConnection: close\r\n\r\nserver busy\n";

async fn run_connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    limits: HttpLimits,
    conns: Arc<Conns>,
    (id, conn): (u64, Arc<Conn>),
    _slot: tokio::sync::OwnedSemaphorePermit,
) {
    zerocopy::serve(stream, peer, shared, &limits, conn).await;
    super::lock(&conns.open).remove(&id);
}

/// Serves one connection until the client closes it, a timeout, or eviction: the daemon's
/// connections and the fuzz target's input go through here.
pub async fn serve<IO>(io: IO, peer: SocketAddr, shared: Arc<Shared>, limits: &HttpLimits, conn: Arc<Conn>)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    run_hyper(io, peer, shared, limits, conn, false).await;
}

/// Lets hyper answer the one request `io` holds (see `zerocopy`), and gives the stream back when
/// the response is sent and the connection may go on.
async fn serve_one(
    io: zerocopy::Rewind<zerocopy::Limited>,
    peer: SocketAddr,
    shared: Arc<Shared>,
    limits: &HttpLimits,
    conn: Arc<Conn>,
) -> Option<zerocopy::Rewind<zerocopy::Limited>> {
    run_hyper(io, peer, shared, limits, conn, true).await
}

/// hyper on `io` until the end, or (`one`) until the request it holds is answered: then the IO
/// comes back, unless hyper closed the connection or a limit ended it.
async fn run_hyper<IO>(
    io: IO,
    peer: SocketAddr,
    shared: Arc<Shared>,
    limits: &HttpLimits,
    conn: Arc<Conn>,
    one: bool,
) -> Option<IO>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let start = Instant::now();
    let moved = Arc::new(AtomicU64::new(0));
    let io = hyper_util::rt::TokioIo::new(Watched { io, start, moved: moved.clone() });
    let svc_conn = conn.clone();
    let body_timeout = limits.header_timeout;
    let service = hyper::service::service_fn(move |req| {
        let (shared, busy) = (shared.clone(), Busy::new(&svc_conn));
        async move { Ok::<_, std::convert::Infallible>(answer(req, peer, &shared, busy, body_timeout).await) }
    });
    let served = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(64 * 1024)
        .title_case_headers(true)
        // One request: its IO ends after the request, which must not cut the response short.
        .half_close(one)
        .serve_connection(io, service)
        .without_shutdown();
    tokio::pin!(served);
    loop {
        let last = start + Duration::from_millis(moved.load(Ordering::Relaxed));
        tokio::select! {
            parts = served.as_mut() => {
                let parts = parts.ok().filter(|p| one && p.read_buf.is_empty())?;
                return Some(parts.io.into_inner().io);
            }
            _ = tokio::time::sleep_until((last + limits.idle_timeout).into()) => {
                if start + Duration::from_millis(moved.load(Ordering::Relaxed)) == last {
                    return None;
                }
            }
            _ = conn.close.notified() => {
                if conn.busy.load(Ordering::SeqCst) == 0 {
                    return None;
                }
            }
        }
    }
}

/// A connection's I/O, noting when a byte last moved (milliseconds after `start`).
struct Watched<IO> {
    io: IO,
    start: Instant,
    moved: Arc<AtomicU64>,
}

impl<IO> Watched<IO> {
    fn touch(&self) {
        self.moved.store(self.start.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Watched<IO> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.touch();
        }
        r
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Watched<IO> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// A response body: bytes in memory, or a part of a file read as it is sent.
pub struct Reply {
    kind: Kind,
    /// The connection is busy until the body is sent (or dropped).
    _busy: Option<Busy>,
}

enum Kind {
    Bytes(Option<Bytes>),
    File { file: tokio::fs::File, left: u64, buf: BytesMut },
}

/// Bytes read from a file per frame.
const CHUNK: usize = 256 * 1024;

impl Body for Reply {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        match &mut self.kind {
            Kind::Bytes(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Kind::File { file, left, buf } => {
                if *left == 0 {
                    return Poll::Ready(None);
                }
                let want = (*left).min(CHUNK as u64) as usize;
                buf.resize(want, 0);
                let mut rb = ReadBuf::new(&mut buf[..]);
                match Pin::new(file).poll_read(cx, &mut rb) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e))),
                    Poll::Ready(Ok(())) => {
                        let n = rb.filled().len();
                        if n == 0 {
                            return Poll::Ready(Some(Err(std::io::Error::other("file shrank while being sent"))));
                        }
                        *left -= n as u64;
                        buf.truncate(n);
                        Poll::Ready(Some(Ok(Frame::data(buf.split().freeze()))))
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Bytes(b) => b.is_none(),
            Kind::File { left, .. } => *left == 0,
        }
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        match &self.kind {
            Kind::Bytes(b) => hyper::body::SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Kind::File { left, .. } => hyper::body::SizeHint::with_exact(*left),
        }
    }
}

/// A request as the handlers see it.
struct Req {
    method: Method,
    path: String,
    query: Vec<(String, String)>,
    range: Option<String>,
    peer: SocketAddr,
    /// The Host header: the server's address as the client sees it (discovery boot scripts).
    host: Option<String>,
    /// The body of a POST /status (at most [`MAX_DEPLOYLOG`] bytes); None for other requests.
    body: Option<Bytes>,
}

impl Req {
    fn q(&self, k: &str) -> Option<String> {
        self.query.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone())
    }
}

/// A response before its body is attached: code, content type, extra headers, body.
struct Answer {
    code: u16,
    ctype: &'static str,
    headers: Vec<(&'static str, String)>,
    body: Kind,
    len: u64,
}

fn text(code: u16, body: impl Into<String>) -> Answer {
    let body = Bytes::from(body.into());
    Answer { code, ctype: "text/plain", headers: vec![], len: body.len() as u64, body: Kind::Bytes(Some(body)) }
}

/// Why a request's body could not be read.
enum BodyError {
    TooLarge,
    Broken,
}

/// Reads a body of at most `max` bytes within `within` (a client trickling it byte by byte
/// gets no longer than it gets for its request head).
async fn read_body(body: Incoming, max: usize, within: Duration) -> Result<Bytes, BodyError> {
    use http_body_util::BodyExt;
    let limited = http_body_util::Limited::new(body, max);
    match tokio::time::timeout(within, limited.collect()).await {
        Ok(Ok(c)) => Ok(c.to_bytes()),
        Ok(Err(e)) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => Err(BodyError::TooLarge),
        _ => Err(BodyError::Broken),
    }
}

async fn answer(
    req: Request<Incoming>,
    peer: SocketAddr,
    shared: &Arc<Shared>,
    busy: Busy,
    body_timeout: Duration,
) -> Response<Reply> {
    let (parts, body) = req.into_parts();
    let uri = &parts.uri;
    let query = uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|kv| !kv.is_empty())
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            Some((decode(k, true)?, decode(v, true)?))
        })
        .collect();
    let range = parts.headers.get(hyper::header::RANGE).and_then(|v| v.to_str().ok()).map(str::to_string);
    let host = parts.headers.get(hyper::header::HOST).and_then(|v| v.to_str().ok()).map(str::to_string);
    let path = decode(uri.path(), false);
    let method = parts.method.clone();
    // Only a status report's body is read (the deploy agent's log tail); any other body is
    // not: hyper discards it, or closes the connection.
    let body = match (&method, path.as_deref()) {
        (&Method::POST, Some("/status" | "/hostkeys")) => Some(read_body(body, MAX_DEPLOYLOG, body_timeout).await),
        (&Method::POST, Some("/discover")) => Some(read_body(body, crate::discover::MAX_REPORT, body_timeout).await),
        _ => {
            drop(body);
            None
        }
    };
    let a = match (path, body) {
        (None, _) => text(400, "bad request\n"),
        (Some(p), Some(Err(BodyError::TooLarge))) if p == "/discover" => discover::too_large(shared, peer),
        (Some(_), Some(Err(BodyError::TooLarge))) => {
            text(413, format!("a status report's body is at most {MAX_DEPLOYLOG} bytes\n"))
        }
        (Some(_), Some(Err(BodyError::Broken))) => text(400, "the request's body could not be read\n"),
        (Some(path), body) => {
            let r = Req { method, path, query, range, peer, host, body: body.and_then(Result::ok) };
            let a = route(&r, shared).await;
            log_problem(shared, &r, a.code);
            a
        }
    };
    let head = parts.method == Method::HEAD;
    let mut resp = Response::builder()
        .status(StatusCode::from_u16(a.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header(hyper::header::CONTENT_TYPE, a.ctype)
        .header(hyper::header::CONTENT_LENGTH, a.len);
    for (k, v) in a.headers {
        resp = resp.header(k, v);
    }
    let body = if head { Kind::Bytes(None) } else { a.body };
    resp.body(Reply { kind: body, _busy: Some(busy) })
        .unwrap_or_else(|_| Response::new(Reply { kind: Kind::Bytes(None), _busy: None }))
}

/// Percent-decodes `s`; `+` is a space only in a query (form encoding), never in a path
/// (`gcc-c++-8.5.0.rpm` is a file name).
fn decode(s: &str, plus_is_space: bool) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Logs a refused or failed request (the path only: queries carry tokens), but for not-found
/// answers to pxelinux's config search.
fn log_problem(shared: &Shared, req: &Req, code: u16) {
    let searched = req.path.strip_prefix("/tftpboot/").is_some_and(super::log::config_search);
    if code < 400 || (code == 404 && searched) {
        return;
    }
    shared.problems.report(format!("{} {}", req.peer.ip(), req.path), || {
        format!("oxcatd: HTTP: {} {} {}: {code} {}", req.peer.ip(), req.method, req.path, reason(code))
    });
}

fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        206 => "Partial Content",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Content Too Large",
        416 => "Range Not Satisfiable",
        431 => "Request Header Fields Too Large",
        _ => "Internal Server Error",
    }
}

/// The file a URL path names under `root`, if it stays inside it.
fn under(root: &Path, rel: &str) -> Option<PathBuf> {
    let rel = Path::new(rel.trim_start_matches('/'));
    if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return None;
    }
    let root = std::fs::canonicalize(root).ok()?;
    let real = std::fs::canonicalize(root.join(rel)).ok()?;
    (real.starts_with(&root) && real.is_file()).then_some(real)
}

/// `bytes=a-b`, `bytes=a-`, `bytes=-n` against a file of `len` bytes: Ok(None) for no range.
fn byte_range(spec: Option<&str>, len: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = spec else { return Ok(None) };
    let Some(r) = spec.strip_prefix("bytes=") else { return Ok(None) };
    if r.contains(',') {
        return Ok(None); // several ranges: send the whole file, as the RFC allows
    }
    let (a, b) = r.split_once('-').ok_or(())?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().map_err(|_| ())?;
            (len.saturating_sub(n), len.checked_sub(1).ok_or(())?)
        }
        (a, "") => (a.parse().map_err(|_| ())?, len.checked_sub(1).ok_or(())?),
        (a, b) => (a.parse().map_err(|_| ())?, b.parse::<u64>().map_err(|_| ())?.min(len.saturating_sub(1))),
    };
    if start > end || start >= len {
        return Err(());
    }
    Ok(Some((start, end)))
}

/// Answers one request.
async fn route(r: &Req, shared: &Arc<Shared>) -> Answer {
    let post = matches!(r.path.as_str(), "/status" | "/hostkeys" | "/discover");
    if r.method != Method::GET && r.method != Method::HEAD && !(r.method == Method::POST && post) {
        return text(405, "method not allowed\n");
    }
    if r.path == "/hostkeys" {
        return hostkeys(r, shared).await;
    }
    if r.path == "/discover" {
        return discover::report(r, shared).await;
    }
    if r.path == "/discover/boot.ipxe" {
        return discover::boot_script(r, shared).await;
    }
    if r.path == "/status" {
        return status(r, shared).await;
    }
    if let Some(node) = r.path.strip_prefix("/mypostscript/") {
        return mypostscript(r, node.to_string(), shared).await;
    }
    if r.path == "/deploy/plan" {
        // GET only: each fetch draws a new first-boot token, which a HEAD would do unseen.
        if r.method != Method::GET {
            return text(405, "method not allowed (GET only)\n");
        }
        return deploy_plan(r, shared).await;
    }
    // The root a site setting names, or its default where unset; None when the store could not be
    // read (a 500: serving from the default root instead could hand out the wrong files).
    let site_dir = |k: &'static str, default: &'static str| async move {
        let v = shared.read(move |_, c| store::site_value(c, k).ok()).await.flatten()?;
        Some(PathBuf::from(v.unwrap_or_else(|| default.into())))
    };
    let (root, rel) = if let Some(rel) = r.path.strip_prefix("/install/") {
        let Some(root) = site_dir("installdir", "/install").await else { return text(500, "cannot read the store\n") };
        (root, rel)
    } else if let Some(rel) = r.path.strip_prefix("/tftpboot/") {
        let Some(root) = site_dir("tftpdir", "/tftpboot").await else { return text(500, "cannot read the store\n") };
        (root, rel)
    } else if let Some(rel) = r.path.strip_prefix("/postscripts/") {
        (shared.postscripts.clone(), rel)
    } else {
        return text(404, "not found\n");
    };
    // canonicalize and stat may wait on a slow or hung mount (an NFS /install): not on a worker.
    let found = {
        let rel = rel.to_string();
        tokio::task::spawn_blocking(move || under(&root, &rel)).await.ok().flatten()
    };
    let Some(path) = found else {
        // No file: a node's boot config, rendered from its recorded state, for the node only.
        if r.path.starts_with("/tftpboot/") {
            let (rel, peer) = (rel.to_string(), r.peer.ip());
            let rendered = shared
                .read(move |sh, c| {
                    let (node, config) = match crate::boot::nodeset::render_path(c, &rel) {
                        Ok(r) => r?,
                        Err(e) => {
                            let e = e.to_string();
                            sh.problems
                                .report(format!("render {rel}"), || format!("oxcatd: HTTP: /tftpboot/{rel}: {e}"));
                            return None;
                        }
                    };
                    Some(match scope::is_node_address(c, &node, peer, &sh.seen) {
                        Ok(true) => text(200, config),
                        _ => text(403, format!("the boot config of {node} is served to its own address only\n")),
                    })
                })
                .await
                .flatten();
            if let Some(a) = rendered {
                return a;
            }
        }
        return text(404, "not found\n");
    };
    // A config `nodeset --files` wrote holds the node's token too: for the node only.
    if r.path.starts_with("/tftpboot/") && crate::boot::nodeset::names_a_config(rel) {
        let (rel, peer) = (rel.to_string(), r.peer.ip());
        let refused = shared
            .read(move |sh, c| {
                let node = crate::boot::nodeset::config_node(c, &rel).ok().flatten()?;
                (!scope::is_node_address(c, &node, peer, &sh.seen).unwrap_or(false)).then_some(node)
            })
            .await
            .flatten();
        if let Some(node) = refused {
            return text(403, format!("the boot config of {node} is served to its own address only\n"));
        }
    }
    let Ok(mut file) = tokio::fs::File::open(&path).await else { return text(404, "not found\n") };
    let Ok(len) = file.metadata().await.map(|m| m.len()) else { return text(500, "cannot read the file\n") };
    let ctype = if rel.ends_with(".ipxe") || rel.contains("cfg") || rel.ends_with(".sh") {
        "text/plain"
    } else {
        "application/octet-stream"
    };
    let mut headers = vec![("Accept-Ranges", "bytes".to_string())];
    let (code, start, count) = match byte_range(r.range.as_deref(), len) {
        Ok(None) => (200, 0, len),
        Ok(Some((a, b))) => {
            headers.push(("Content-Range", format!("bytes {a}-{b}/{len}")));
            (206, a, b - a + 1)
        }
        Err(()) => {
            let mut a = text(416, "");
            a.headers.push(("Content-Range", format!("bytes */{len}")));
            return a;
        }
    };
    if r.method != Method::HEAD && start > 0 && file.seek(std::io::SeekFrom::Start(start)).await.is_err() {
        return text(500, "cannot read the file\n");
    }
    Answer { code, ctype, headers, len: count, body: Kind::File { file, left: count, buf: BytesMut::new() } }
}

/// The node's recorded token (chain.token), if it has one.
fn stored_token(conn: &rusqlite::Connection, node: &str) -> Option<String> {
    let chain = schema::table("chain").expect("chain");
    let (col, _) = chain.column("token").expect("token");
    store::get_row(conn, chain, &[node]).ok().flatten().and_then(|r| r[col].clone())
}

/// Checks that a request for `node` comes from the node's address and carries its token: the
/// stored token, or why not (the message of a 403).
fn check(
    sh: &Shared,
    conn: &rusqlite::Connection,
    node: &str,
    token: &str,
    peer: std::net::IpAddr,
) -> Result<String, String> {
    if !scope::is_node_address(conn, node, peer, &sh.seen).unwrap_or(false) {
        return Err(format!("{node}: not the node's address (only the node itself may use its token)\n"));
    }
    match stored_token(conn, node) {
        Some(t) if crate::boot::nodeset::token_matches(&t, token) => Ok(t),
        _ => Err("unknown node or wrong token\n".to_string()),
    }
}

/// The node's mypostscript, for the holder of its token, until its boot's work ends.
async fn mypostscript(r: &Req, node: String, shared: &Arc<Shared>) -> Answer {
    let Some(token) = r.q("token") else { return text(400, "give token\n") };
    let peer = r.peer.ip();
    shared
        .read(move |sh, c| {
            let stored = match check(sh, c, &node, &token, peer) {
                Ok(t) => t,
                Err(why) => return text(403, why),
            };
            if crate::boot::nodeset::token_is_spent(&stored) {
                return text(403, spent_message(&node));
            }
            match crate::postscript::mypostscript(c, &node) {
                Ok(Some(t)) => text(200, t),
                Ok(None) => text(404, "no such node\n"),
                Err(e) => text(500, format!("{e}\n")),
            }
        })
        .await
        .unwrap_or_else(|| text(500, "internal error\n"))
}

/// The node's plan for a disk deploy ([`crate::deploy::Plan`], JSON), for the holder of its
/// unspent token, while its state is the install of a disk image. Each fetch draws a new
/// first-boot token (chain.nexttoken, written in the same transaction that read the plan): the
/// seed of the last plan fetched is the one that works.
async fn deploy_plan(r: &Req, shared: &Arc<Shared>) -> Answer {
    let (Some(node), Some(token)) = (r.q("node"), r.q("token")) else { return text(400, "give node and token\n") };
    let peer = r.peer.ip();
    let (n, t) = (node.clone(), token.clone());
    let checked = shared
        .read(move |sh, c| {
            let stored = check(sh, c, &n, &t, peer)?;
            if crate::boot::nodeset::token_is_spent(&stored) {
                return Err(spent_message(&n));
            }
            Ok(())
        })
        .await;
    match checked {
        None => return text(500, "internal error\n"),
        Some(Err(why)) => return text(403, why),
        Some(Ok(())) => {}
    }
    let sh = shared.clone();
    let built = tokio::task::spawn_blocking(move || {
        let mut st = super::lock(&sh.writer);
        let chain = schema::table("chain").expect("chain");
        st.write(|c| {
            // Checked again inside the write: a nodeset or an end report may have come between.
            match stored_token(c, &node) {
                Some(t) if crate::boot::nodeset::token_matches(&t, &token) => {
                    if crate::boot::nodeset::token_is_spent(&t) {
                        return Ok(Err((403, spent_message(&node))));
                    }
                }
                _ => return Ok(Err((403, "unknown node or wrong token\n".to_string()))),
            }
            let next = crate::boot::nodeset::new_token();
            match crate::deploy::plan::build(c, &node, &next)? {
                Ok(plan) => {
                    store::upsert(c, chain, &[&node], &[("nexttoken", Some(&next))])?;
                    Ok(Ok(plan))
                }
                Err(why) => Ok(Err((why.code(), format!("{}\n", why.message())))),
            }
        })
    })
    .await;
    match built {
        Ok(Ok(Ok(plan))) => match serde_json::to_string_pretty(&plan) {
            Ok(json) => {
                let mut a = text(200, json + "\n");
                a.ctype = "application/json";
                a
            }
            Err(e) => text(500, format!("{e}\n")),
        },
        Ok(Ok(Err((code, why)))) => {
            if code >= 500 {
                shared
                    .problems
                    .report(format!("plan {why}"), || format!("oxcatd: HTTP: /deploy/plan: {}", why.trim_end()));
            }
            text(code, why)
        }
        Ok(Err(e)) => text(500, format!("{e}\n")),
        Err(_) => text(500, "internal error\n"),
    }
}

/// `POST /hostkeys?node=N&token=T`: the node's SSH host public keys (the `.pub` lines), from the
/// node with its unspent boot token; they replace the recorded ones (a reinstalled node's new
/// keys arrive this way, so xdsh verifies instead of trusting on first use).
async fn hostkeys(r: &Req, shared: &Arc<Shared>) -> Answer {
    if r.method != Method::POST {
        return text(405, "POST the host keys\n");
    }
    let (Some(node), Some(token)) = (r.q("node"), r.q("token")) else { return text(400, "give node and token\n") };
    let keys = match crate::remote::hostkeys::parse_report(&String::from_utf8_lossy(r.body.as_deref().unwrap_or(b""))) {
        Ok(k) => k,
        Err(why) => return text(400, format!("{node}: {why}\n")),
    };
    let peer = r.peer.ip();
    let sh = shared.clone();
    let answered = tokio::task::spawn_blocking(move || {
        let mut st = super::lock(&sh.writer);
        // The check and the write in one transaction: a nodeset cannot come between.
        let written = st.write(|c| {
            Ok(match check(&sh, c, &node, &token, peer) {
                Err(why) => Err(why),
                Ok(t) if crate::boot::nodeset::token_is_spent(&t) => Err(spent_message(&node)),
                Ok(_) => {
                    crate::remote::hostkeys::record(c, &node, &keys, "boot")?;
                    Ok(())
                }
            })
        });
        match written {
            Ok(Ok(())) => text(200, "ok\n"),
            Ok(Err(why)) => text(403, why),
            Err(e) => text(500, format!("{e}\n")),
        }
    })
    .await;
    answered.unwrap_or_else(|_| text(500, "internal error\n"))
}

fn spent_message(node: &str) -> String {
    format!("{node}: the boot token is spent (the node reported the end of its boot): run nodeset again\n")
}

/// What a status report did to the node, besides its status.
enum Recorded {
    /// Wrong token (a nodeset came between the check and the write).
    Refused,
    /// Recorded; `installed` ended a disk deploy and the node now boots from disk (these are
    /// the boot configs nodeset planned for it).
    Ok(Option<HandOver>),
}

/// Checks the node's token and records its status; an end status spends the token. `installed`
/// at the end of a disk deploy hands the node over to its disk: chain.token becomes the
/// first-boot token of the plan, the state `boot`; then, for an IPMI node, the next boot
/// device is set to disk.
async fn status(r: &Req, shared: &Arc<Shared>) -> Answer {
    let (Some(node), Some(token), Some(status)) = (r.q("node"), r.q("token"), r.q("status")) else {
        return text(400, "give node, token and status\n");
    };
    if let Some(why) = status_error(&status) {
        return text(400, why);
    }
    let peer = r.peer.ip();
    // The check and the settings are read on a reader; only the write waits for the writer.
    let (node2, token2) = (node.clone(), token.clone());
    let checked = shared
        .read(move |sh, c| {
            check(sh, c, &node2, &token2, peer)?;
            let off = store::site_value(c, "nodestatus")
                .ok()
                .flatten()
                .is_some_and(|v| matches!(v.as_str(), "n" | "no" | "0"));
            Ok::<_, String>(off)
        })
        .await;
    match checked {
        None => return text(500, "internal error\n"),
        Some(Err(why)) => return text(403, why),
        Some(Ok(true)) if !ends(&status) => return text(200, "ok (site.nodestatus=n: not recorded)\n"),
        Some(Ok(_)) => {}
    }
    // The agent's log tail, with the end of a deploy (POSTed; oxcatpost's reports have none).
    let deploylog = match &r.body {
        Some(b) if status == "installed" || status.starts_with("failed") => Some(deploylog_text(b)),
        _ => None,
    };
    let sh = shared.clone();
    let node2 = node.clone();
    let answered = tokio::task::spawn_blocking(move || {
        let (shared, node) = (sh, node2);
        let mut st = super::lock(&shared.writer);
        let nodelist = schema::table("nodelist").expect("nodelist");
        let chain = schema::table("chain").expect("chain");
        let recorded = st.write(|c| {
            // Checked again inside the write: a nodeset may have come between.
            let Some(stored) = stored_token(c, &node).filter(|t| crate::boot::nodeset::token_matches(t, &token)) else {
                return Ok(Recorded::Refused);
            };
            let mut switched = None;
            if ends(&status) && !crate::boot::nodeset::token_is_spent(&stored) {
                let row = store::get_row(c, chain, &[&node])?;
                let col =
                    |name: &str| row.as_ref().and_then(|r| r[chain.column(name).expect("chain column").0].clone());
                let next = col("nexttoken").filter(|t| !t.is_empty());
                let deploying = match col("currstate") {
                    Some(s) => crate::deploy::plan::deploy_image(c, &s)?.is_some(),
                    None => false,
                };
                if status == "installed" && deploying && next.is_some() {
                    // The deployed OS's first boot: the plan's token, the node's disk.
                    store::upsert(c, chain, &[&node], &[("token", next.as_deref()), ("nexttoken", None)])?;
                    switched = Some(boot_from_disk(c, &node)?);
                } else {
                    let spent = crate::boot::nodeset::spent_token(&stored);
                    let mut cols = vec![("token", Some(spent.as_str()))];
                    // A failed deploy's first-boot token will never boot anything.
                    if deploying && next.is_some() {
                        cols.push(("nexttoken", None));
                    }
                    store::upsert(c, chain, &[&node], &cols)?;
                }
            }
            if let Some(text) = &deploylog {
                let text = Some(text.as_str()).filter(|t| !t.is_empty());
                store::upsert(c, nodelist, &[&node], &[("deploylog", text)])?;
            }
            let off = store::site_value(c, "nodestatus")?.is_some_and(|v| matches!(v.as_str(), "n" | "no" | "0"));
            if !off {
                let now: String = c.query_row("SELECT strftime('%Y-%m-%dT%H:%M:%SZ', 'now')", [], |r| r.get(0))?;
                store::upsert(c, nodelist, &[&node], &[("status", Some(&status)), ("statustime", Some(&now))])?;
            }
            Ok(Recorded::Ok(switched))
        });
        drop(st);
        match recorded {
            Ok(Recorded::Ok(switched)) => {
                let switched = switched.is_some_and(|h| {
                    if let Some(why) = h.unplanned {
                        shared.log.problem(format!("oxcatd: {node}: installed: state boot, but no boot config: {why}"));
                    }
                    rewrite_written_configs(&shared, &node, h.plans);
                    true
                });
                (text(200, "ok\n"), switched)
            }
            Ok(Recorded::Refused) => (text(403, "unknown node or wrong token\n"), false),
            Err(e) => (text(500, format!("{e}\n")), false),
        }
    })
    .await;
    match answered {
        Ok((a, switched)) => {
            if switched {
                // Not awaited: a slow or dead BMC must not hold up the node's answer.
                tokio::spawn(set_disk_boot(shared.clone(), node));
            }
            a
        }
        Err(_) => text(500, "internal error\n"),
    }
}

/// A node's switch to its disk: the boot configs nodeset planned for state `boot`, or why it
/// could not plan them (the state is `boot` all the same).
struct HandOver {
    plans: Vec<crate::boot::nodeset::Plan>,
    unplanned: Option<String>,
}

/// Records state `boot` for `node` as `nodeset NODE boot` does (inside the caller's
/// transaction).
fn boot_from_disk(c: &rusqlite::Connection, node: &str) -> crate::error::Result<HandOver> {
    use crate::boot::nodeset::{self, Plan, Request};
    let view = crate::store::view::NodeView::of_nodes(c, &[node.to_string()])?;
    let (mut plans, failed) = nodeset::plan(c, &view, &[node.to_string()], &Request::Boot)?;
    if plans.is_empty() {
        plans.push(Plan {
            node: node.to_string(),
            state: "boot".into(),
            files: vec![],
            remove: vec![],
            nodetype: vec![],
            token: None,
        });
    }
    nodeset::record(c, &plans)?;
    Ok(HandOver { plans, unplanned: failed.into_iter().next().map(|(_, why)| why) })
}

/// Configs `nodeset --files` wrote for the node (for another TFTP server) follow its new state:
/// those that exist are written again; none are created.
fn rewrite_written_configs(shared: &Shared, node: &str, mut plans: Vec<crate::boot::nodeset::Plan>) {
    for p in &mut plans {
        p.files.retain(|(path, _)| path.exists());
        p.remove.clear();
    }
    if let Err(e) = crate::boot::nodeset::apply(&plans) {
        shared.log.problem(format!("oxcatd: {node}: installed, but its boot configs could not be written: {e}"));
    }
}

/// After a disk deploy, sets an IPMI node's next boot (once) to its disk, as `rsetboot NODE hd`
/// does, and logs the outcome.
async fn set_disk_boot(shared: Arc<Shared>, node: String) {
    use crate::hw::{bmc, ipmi::cmds::BootDevice, ops};
    let n = node.clone();
    let target = shared
        .read(move |_, c| -> crate::error::Result<_> {
            let view = crate::store::view::NodeView::of_nodes(c, std::slice::from_ref(&n))?;
            if !matches!(view.get(&n, "nodehm", "mgt")?.as_deref(), Some("ipmi" | "redfish")) {
                return Ok(None);
            }
            let limits = bmc::Limits::from_site(c, None, None)?;
            Ok(bmc::bmcs(c, &view, std::slice::from_ref(&n), &limits)?.into_iter().next().map(|(_, t)| t))
        })
        .await;
    let target = match target {
        None => return,
        Some(Ok(None)) => return,
        Some(Ok(Some(Ok(t)))) => t,
        Some(Ok(Some(Err(e)))) => {
            shared
                .log
                .problem(format!("oxcatd: {node}: installed, but its next boot device cannot be set to disk: {e}"));
            return;
        }
        Some(Err(e)) => {
            shared.log.problem(format!("oxcatd: {node}: installed, but its BMC settings cannot be read: {e}"));
            return;
        }
    };
    let op = ops::Op::Boot { device: Some(BootDevice::Hd), persistent: false, uefi: false };
    match crate::hw::perform(target, op, None).await {
        Ok(facts) => {
            let now = facts.first().map(|f| f.value.clone()).unwrap_or_default();
            shared.log.problem(format!("oxcatd: {node}: installed: next boot from disk (rsetboot {node} hd: {now})"));
        }
        Err(e) => shared.log.problem(format!(
            "oxcatd: {node}: installed, but its next boot device could not be set to disk (rsetboot {node} hd): {e}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(byte_range(None, 10), Ok(None));
        assert_eq!(byte_range(Some("bytes=0-3"), 10), Ok(Some((0, 3))));
        assert_eq!(byte_range(Some("bytes=4-"), 10), Ok(Some((4, 9))));
        assert_eq!(byte_range(Some("bytes=-3"), 10), Ok(Some((7, 9))));
        assert_eq!(byte_range(Some("bytes=5-100"), 10), Ok(Some((5, 9))));
        assert_eq!(byte_range(Some("bytes=10-"), 10), Err(()));
        assert_eq!(byte_range(Some("bytes=x-"), 10), Err(()));
        assert_eq!(byte_range(Some("bytes=0-1,3-4"), 10), Ok(None));
    }

    #[test]
    fn deploy_statuses() {
        for ok in
            ["booted", "installing", "installing 0%", "installing 100%", "failed", "failed: no disk matches size>=1"]
        {
            assert_eq!(status_error(ok), None, "{ok}");
        }
        for bad in [
            "installing 101%",
            "installing x%",
            "installing +5%",
            "installing 5",
            "failed:",
            "failed: ",
            "failed: a\tb",
            "dancing",
        ] {
            assert!(status_error(bad).is_some(), "{bad}");
        }
        assert!(status_error(&format!("failed: {}", "r".repeat(248))).is_none());
        assert!(status_error(&format!("failed: {}", "r".repeat(249))).is_some());
        assert_eq!(deploylog_text(b"a\x1b[0m\r\nb\x00\n\xff"), "a[0m\nb\n\u{fffd}");
    }

    #[test]
    fn decoding() {
        assert_eq!(decode("a%20b+c", true).as_deref(), Some("a b c"));
        // A path keeps its '+': RPMs such as gcc-c++ are named so.
        assert_eq!(
            decode("/install/Packages/gcc-c++-8.5.0.rpm", false).as_deref(),
            Some("/install/Packages/gcc-c++-8.5.0.rpm")
        );
        assert_eq!(decode("%zz", false), None);
        assert_eq!(decode("%", true), None);
    }

    #[test]
    fn paths_stay_under_their_root() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("r")).unwrap();
        std::fs::write(d.path().join("r/f"), "x").unwrap();
        std::fs::write(d.path().join("secret"), "s").unwrap();
        std::os::unix::fs::symlink(d.path().join("secret"), d.path().join("r/out")).unwrap();
        let root = d.path().join("r");
        assert!(under(&root, "/f").is_some());
        for bad in ["../secret", "out", "./f", "", "a/../f"] {
            assert!(under(&root, bad).is_none(), "{bad}");
        }
    }
}
