//! The TFTP server: read-only, rooted at site.tftpdir. RFC 1350 transfers with the option
//! extension (RFC 2347): blksize (2348), timeout and tsize (2349), windowsize (7440). Every path is
//! resolved and refused when it is absolute, has `..`, or its real path (symlinks followed) leaves
//! the root; writes are refused. A node's boot config that no file holds is rendered from the
//! store (see `boot::nodeset::render_path`). Each transfer runs on its own socket (its own TID)
//! and reads its file as it sends it, one window at a time: the kernel's page cache holds the one
//! copy of a file that every transfer shares, whatever block size each asked for.
//!
//! Sources of UDP requests can be forged, so a request costs little until its client answers:
//! transfers are bounded per client address and in total, one whose first packet (OACK or
//! block 1) is never acknowledged ends after the ordinary retries at the default timeout, not
//! at the (up to 255 s) timeout the request asked for, and with every slot taken a new request
//! displaces the oldest transfer not acknowledged yet.

use super::log::{Log, Problems};
use crate::store::Store;
use nix::sys::socket::{setsockopt, sockopt};
use std::collections::{HashMap, VecDeque};
use std::io::IoSliceMut;
use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::FileExt;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::sync::Notify;
use tokio::time::timeout;

const RRQ: u16 = 1;
const WRQ: u16 = 2;
const DATA: u16 = 3;
const ACK: u16 = 4;
const ERROR: u16 = 5;
const OACK: u16 = 6;
/// Sends of one packet or window before a transfer is abandoned.
const RETRIES: u32 = 5;
/// The wait for each answer until the client has acknowledged its first packet (RFC 1350's
/// usual second): a client that asks for a long timeout gets it once it has shown it is there.
const FIRST_WAIT: Duration = Duration::from_secs(1);
const MAX_BLKSIZE: usize = 65464;
const MAX_WINDOW: usize = 64;
/// Transfers at once from one client address (a booting node fetches one file at a time, but an
/// address may be a NAT or a host running many clients) and in all: each holds a socket, so the
/// total also bounds the descriptors TFTP can take.
pub const MAX_PER_CLIENT: usize = 32;
pub const MAX_TRANSFERS: usize = 256;

/// The TFTP error codes used.
const ENOTFOUND: u16 = 1;
const EACCESS: u16 = 2;
const EBADOP: u16 = 4;

#[derive(Debug, PartialEq)]
pub enum Refusal {
    NotFound,
    Denied,
    /// A node's boot config that cannot be rendered, and why (logged: the node only sees not found).
    Unrendered(String),
    /// A node's boot config asked for from another address than the node's (see `daemon::scope`).
    NotTheNode(String),
}

pub struct ReadOnlyRoot {
    root: PathBuf,
    store: Option<Arc<Mutex<Store>>>,
    seen: Arc<super::scope::Seen>,
}

/// What a transfer sends: an open file (read as it goes), or a rendered boot config. The size is
/// taken once, when the request is answered (tsize, and where the last block ends).
pub struct Content {
    source: Source,
    size: usize,
}

enum Source {
    File(std::fs::File),
    Text(Vec<u8>),
}

impl Content {
    pub fn text(t: Vec<u8>) -> Content {
        Content { size: t.len(), source: Source::Text(t) }
    }

    /// Number of DATA packets at `blksize`: a file that fills its last block ends with an empty one.
    fn blocks(&self, blksize: usize) -> usize {
        self.size / blksize + 1
    }

    /// Lays packets `a..b` (block a + 1 onwards) out in `buf` as DATA packets, back to back.
    fn frame(&self, buf: &mut Vec<u8>, a: usize, b: usize, blksize: usize) -> std::io::Result<()> {
        let len = |i: usize| self.size.saturating_sub(i * blksize).min(blksize);
        buf.clear();
        buf.resize((a..b).map(|i| 4 + len(i)).sum(), 0);
        let mut slices = Vec::with_capacity(b - a);
        let mut rest: &mut [u8] = buf;
        for i in a..b {
            let (packet, tail) = std::mem::take(&mut rest).split_at_mut(4 + len(i));
            let (head, data) = packet.split_at_mut(4);
            head[..2].copy_from_slice(&DATA.to_be_bytes());
            head[2..].copy_from_slice(&(((i + 1) & 0xffff) as u16).to_be_bytes());
            slices.push(IoSliceMut::new(data));
            rest = tail;
        }
        let want = self.size.min(b * blksize).saturating_sub(a * blksize);
        let offset = a * blksize;
        match &self.source {
            Source::Text(t) => {
                let mut at = offset;
                for s in &mut slices {
                    let n = s.len();
                    s.copy_from_slice(&t[at..at + n]);
                    at += n;
                }
                Ok(())
            }
            // One read for the window (it is one run of the file); a short one (a file cut
            // while it is sent) is finished, or failed, block by block.
            Source::File(f) => {
                let got = nix::sys::uio::preadv(f, &mut slices, offset as i64).map_err(std::io::Error::from)?;
                if got < want {
                    let mut at = offset;
                    for s in &mut slices {
                        f.read_exact_at(s, at as u64)?;
                        at += s.len();
                    }
                }
                Ok(())
            }
        }
    }
}

/// At most this many bytes go to one segmented send (the kernel takes up to 64 KiB), in at most
/// this many segments (the kernel's UDP_MAX_SEGMENTS; also well under a read's IOV_MAX).
const GSO_BYTES: usize = 60_000;
const GSO_SEGMENTS: usize = 128;

/// Packets in one send (and one read) at `blksize`.
fn per_send(blksize: usize) -> usize {
    (GSO_BYTES / (4 + blksize)).clamp(1, GSO_SEGMENTS)
}

/// The DATA packets of one transfer read so far: blocks `first..first + count`, framed back to
/// back in `buf` (a send's worth, at most GSO_BYTES or one block). Block-by-block transfers (window
/// 1) and resent windows take their packets from here without reading again.
#[derive(Default)]
struct ReadAhead {
    buf: Vec<u8>,
    first: usize,
    count: usize,
}

impl ReadAhead {
    /// Packets `a..b` (at most a send's worth), back to back.
    fn packets(&mut self, data: &Content, a: usize, b: usize, blksize: usize) -> std::io::Result<&[u8]> {
        let seg = 4 + blksize;
        if a < self.first || b > self.first + self.count {
            let end = (a + per_send(blksize).max(b - a)).min(data.blocks(blksize));
            data.frame(&mut self.buf, a, end, blksize)?;
            (self.first, self.count) = (a, end - a);
        }
        // Every packet is `seg` long but the file's last, which ends the buffer.
        let end = ((b - self.first) * seg).min(self.buf.len());
        Ok(&self.buf[(a - self.first) * seg..end])
    }
}

/// Sends packets `a..b` of `data`, a send's worth at a time. With UDP segmentation offload set on
/// the socket (all packets but the file's last are `seg` bytes long), the kernel cuts one buffer
/// into the datagrams: one system call per send instead of one per block. Without it, one packet
/// at a time; a kernel or link that refuses a segmented send (EIO; EMSGSIZE or EINVAL when a
/// segment exceeds the MTU) turns it off for the rest of the transfer.
async fn send_window(
    sock: &UdpSocket,
    data: &Content,
    read: &mut ReadAhead,
    (a, b): (usize, usize),
    blksize: usize,
    gso: &mut bool,
) -> std::io::Result<()> {
    let seg = 4 + blksize;
    let mut i = a;
    while i < b {
        let j = (i + per_send(blksize)).min(b);
        let packets = read.packets(data, i, j, blksize)?;
        if *gso {
            match sock.send(packets).await {
                Ok(_) => {
                    i = j;
                    continue;
                }
                Err(e)
                    if matches!(e.raw_os_error(), Some(nix::libc::EIO | nix::libc::EINVAL | nix::libc::EMSGSIZE)) =>
                {
                    // The option applies to every send on the socket: clear it for the plain ones.
                    setsockopt(sock, sockopt::UdpGsoSegment, &0)?;
                    *gso = false;
                }
                Err(e) => return Err(e),
            }
        }
        for p in packets.chunks(seg) {
            sock.send(p).await?;
        }
        i = j;
    }
    Ok(())
}

impl ReadOnlyRoot {
    pub fn new(root: &Path) -> std::io::Result<ReadOnlyRoot> {
        Ok(ReadOnlyRoot { root: std::fs::canonicalize(root)?, store: None, seen: Arc::default() })
    }

    pub fn with_store(
        root: &Path,
        store: Arc<Mutex<Store>>,
        seen: Arc<super::scope::Seen>,
    ) -> std::io::Result<ReadOnlyRoot> {
        Ok(ReadOnlyRoot { store: Some(store), seen, ..ReadOnlyRoot::new(root)? })
    }

    /// The real file a request names, if it is a regular file inside the root.
    pub fn resolve(&self, asked: &Path) -> Result<PathBuf, Refusal> {
        if asked.is_absolute() || asked.components().any(|c| !matches!(c, Component::Normal(_) | Component::CurDir)) {
            return Err(Refusal::Denied);
        }
        let real = std::fs::canonicalize(self.root.join(asked)).map_err(|_| Refusal::NotFound)?;
        if !real.starts_with(&self.root) {
            return Err(Refusal::Denied);
        }
        if !real.is_file() {
            return Err(Refusal::NotFound);
        }
        Ok(real)
    }

    /// What a request gets: a file, opened, or a node's rendered boot config.
    pub fn content(&self, asked: &str, peer: std::net::IpAddr) -> Result<Content, Refusal> {
        // A node's config, rendered or written by `nodeset --files`, holds its token: for the node
        // only, and checked before anything is read or rendered (sources can be forged).
        if let (true, Some(store)) = (crate::boot::nodeset::names_a_config(asked), self.store.as_ref()) {
            let st = super::lock(store);
            if let Ok(Some(node)) = crate::boot::nodeset::config_node(st.conn(), asked) {
                if !super::scope::is_node_address(st.conn(), &node, peer, &self.seen).unwrap_or(false) {
                    return Err(Refusal::NotTheNode(node));
                }
            }
        }
        match self.resolve(Path::new(asked)) {
            Ok(real) => {
                let f = std::fs::File::open(&real).map_err(|_| Refusal::NotFound)?;
                let meta = f.metadata().map_err(|_| Refusal::NotFound)?;
                Ok(Content { size: meta.len() as usize, source: Source::File(f) })
            }
            Err(Refusal::NotFound) => {
                let store = self.store.as_ref().ok_or(Refusal::NotFound)?;
                let st = super::lock(store);
                match crate::boot::nodeset::render_path(st.conn(), asked) {
                    Ok(Some((_, text))) => Ok(Content::text(text.into_bytes())),
                    Err(e) => Err(Refusal::Unrendered(e.to_string())),
                    Ok(None) => Err(Refusal::NotFound),
                }
            }
            Err(e) => Err(e),
        }
    }
}

fn error_packet(code: u16, msg: &str) -> Vec<u8> {
    let mut p = Vec::with_capacity(5 + msg.len());
    p.extend(ERROR.to_be_bytes());
    p.extend(code.to_be_bytes());
    p.extend(msg.as_bytes());
    p.push(0);
    p
}

/// A read request: file name and the options asked for (lower-case names).
#[derive(Debug)]
pub struct Request {
    pub file: String,
    pub options: Vec<(String, String)>,
}

/// Parses an RRQ packet (opcode included) as received.
pub fn parse_request(p: &[u8]) -> Option<Request> {
    let mut fields = p.get(2..)?.split(|b| *b == 0).map(|f| String::from_utf8_lossy(f).into_owned());
    let file = fields.next().filter(|f| !f.is_empty())?;
    let _mode = fields.next()?;
    let mut options = Vec::new();
    while let (Some(k), Some(v)) = (fields.next(), fields.next()) {
        if !k.is_empty() {
            options.push((k.to_ascii_lowercase(), v));
        }
    }
    Some(Request { file, options })
}

/// The options granted: blksize, timeout, windowsize, and the OACK to send (None: no options).
#[derive(Debug)]
pub struct Granted {
    pub blksize: usize,
    pub timeout: Duration,
    pub window: usize,
    pub oack: Option<Vec<u8>>,
}

/// Grants what the server does of the options asked for, for a file of `size` bytes. An option
/// asked for twice is taken (and answered) once, at its first value.
pub fn negotiate(options: &[(String, String)], size: usize) -> Granted {
    let mut g = Granted { blksize: 512, timeout: Duration::from_secs(1), window: 1, oack: None };
    let mut oack = OACK.to_be_bytes().to_vec();
    let mut answered: Vec<&str> = Vec::new();
    let grant = |oack: &mut Vec<u8>, k: &str, v: String| {
        oack.extend(k.as_bytes());
        oack.push(0);
        oack.extend(v.as_bytes());
        oack.push(0);
    };
    for (k, v) in options {
        if answered.contains(&k.as_str()) {
            continue;
        }
        let n: Option<usize> = v.parse().ok();
        match (k.as_str(), n) {
            ("blksize", Some(b)) if b >= 8 => {
                g.blksize = b.min(MAX_BLKSIZE);
                grant(&mut oack, k, g.blksize.to_string());
            }
            ("timeout", Some(t)) if (1..=255).contains(&t) => {
                g.timeout = Duration::from_secs(t as u64);
                grant(&mut oack, k, t.to_string());
            }
            ("tsize", Some(_)) => grant(&mut oack, k, size.to_string()),
            ("windowsize", Some(w)) if w >= 1 => {
                g.window = w.min(MAX_WINDOW);
                grant(&mut oack, k, g.window.to_string());
            }
            _ => continue,
        }
        answered.push(k);
    }
    if !answered.is_empty() {
        g.oack = Some(oack);
    }
    g
}

/// What a client sent to a transfer's socket.
#[derive(Debug, PartialEq)]
pub enum Reply {
    /// ACK of this (wire) block number.
    Ack(u16),
    /// ERROR: the client gave up.
    Error,
    /// Anything else: ignored.
    Other,
}

pub fn parse_reply(p: &[u8]) -> Reply {
    match *p {
        [a, b, hi, lo, ..] if u16::from_be_bytes([a, b]) == ACK => Reply::Ack(u16::from_be_bytes([hi, lo])),
        [a, b, ..] if u16::from_be_bytes([a, b]) == ERROR => Reply::Error,
        _ => Reply::Other,
    }
}

/// Why a transfer ended before its last block was acknowledged.
enum Ended {
    /// The client sent an ERROR (a PXE ROM asking only for tsize does): not a problem.
    ByClient,
    /// Abandoned at a block (None: at the OACK), for a reason the log gives.
    Abandoned(Option<usize>, String),
}

/// The log's words for a socket error: a client whose port is gone shows as ECONNREFUSED (the
/// ICMP port unreachable its host answered our packet with).
fn socket_problem(e: &std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::ConnectionRefused {
        "the client's port is closed (ICMP port unreachable)".into()
    } else {
        e.to_string()
    }
}

/// Waits for the ACK of one of `expect` (wire block numbers); Ok(Some(i)) its index.
async fn wait_ack(sock: &UdpSocket, wait: Duration, expect: &[u16]) -> Result<Option<usize>, Ended> {
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let n = match tokio::time::timeout_at(deadline, sock.recv(&mut buf)).await {
            Err(_) => return Ok(None),
            Ok(r) => r.map_err(|e| Ended::Abandoned(None, socket_problem(&e)))?,
        };
        match parse_reply(&buf[..n]) {
            Reply::Ack(block) => {
                if let Some(i) = expect.iter().position(|b| *b == block) {
                    return Ok(Some(i));
                }
            }
            Reply::Error => return Err(Ended::ByClient),
            Reply::Other => {}
        }
    }
}

/// Serves one read request from `sock` (connected to the client).
async fn transfer(sock: &UdpSocket, data: Content, g: Granted, confirm: impl Fn()) -> Result<(), Ended> {
    let sent = |e: std::io::Error| Ended::Abandoned(None, socket_problem(&e));
    // Until the client has acknowledged something, its source may be forged: the default wait.
    let mut wait = g.timeout.min(FIRST_WAIT);
    if let Some(oack) = &g.oack {
        let mut acked = false;
        for _ in 0..RETRIES {
            sock.send(oack).await.map_err(sent)?;
            if wait_ack(sock, wait, &[0]).await?.is_some() {
                acked = true;
                break;
            }
        }
        if !acked {
            return Err(Ended::Abandoned(None, format!("the options were not acknowledged ({RETRIES} tries)")));
        }
        confirm();
        wait = g.timeout;
    }
    let blocks = data.blocks(g.blksize);
    let seg = 4 + g.blksize;
    // Segmentation pays off only for windows; a kernel without UDP_SEGMENT refuses the option.
    let mut gso = g.window > 1
        && u16::try_from(seg).is_ok_and(|s| setsockopt(sock, sockopt::UdpGsoSegment, &i32::from(s)).is_ok());
    let mut read = ReadAhead::default();
    let mut base = 0usize;
    let mut tries = 0;
    while base < blocks {
        let end = (base + g.window).min(blocks);
        let at = |why: String| Ended::Abandoned(Some(base + 1), why);
        send_window(sock, &data, &mut read, (base, end), g.blksize, &mut gso)
            .await
            .map_err(|e| at(socket_problem(&e)))?;
        let expect: Vec<u16> = (base..end).map(|i| ((i + 1) & 0xffff) as u16).collect();
        match wait_ack(sock, wait, &expect).await {
            Ok(Some(k)) => {
                if base == 0 {
                    confirm();
                }
                base += k + 1;
                tries = 0;
                wait = g.timeout;
            }
            Ok(None) => {
                tries += 1;
                if tries >= RETRIES {
                    return Err(at(format!("no acknowledgement ({RETRIES} tries)")));
                }
            }
            Err(Ended::Abandoned(_, why)) => return Err(at(why)),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Answers one read request from its own socket; problems go to the log.
async fn serve(
    local: SocketAddr,
    peer: SocketAddr,
    req: Request,
    root: Arc<ReadOnlyRoot>,
    problems: Arc<Problems>,
    slot: &Slot,
) {
    let file = req.file.clone();
    let problem = |what: &str| {
        problems
            .report(format!("{} {file}", peer.ip()), || format!("oxcatd: TFTP: {} asked for {file}: {what}", peer.ip()))
    };
    let sock = match UdpSocket::bind(SocketAddr::new(local.ip(), 0)).await {
        Ok(s) => s,
        Err(e) => return problem(&format!("no socket for the transfer: {e}")),
    };
    if let Err(e) = sock.connect(peer).await {
        return problem(&format!("cannot answer: {e}"));
    }
    let asked = req.file.clone();
    let content = match tokio::task::spawn_blocking(move || root.content(&asked, peer.ip())).await {
        Ok(c) => c,
        Err(e) => return problem(&format!("cannot read: {e}")),
    };
    let data = match content {
        Ok(d) => d,
        Err(Refusal::NotFound) => {
            if !super::log::config_search(&file) {
                problem("not found");
            }
            let _ = sock.send(&error_packet(ENOTFOUND, "file not found")).await;
            return;
        }
        Err(Refusal::Unrendered(why)) => {
            problem(&why);
            let _ = sock.send(&error_packet(ENOTFOUND, "file not found")).await;
            return;
        }
        Err(Refusal::Denied) => {
            problem("refused (outside the TFTP root)");
            let _ = sock.send(&error_packet(EACCESS, "access violation")).await;
            return;
        }
        Err(Refusal::NotTheNode(node)) => {
            problem(&format!("refused (the boot config of {node}, served to its own address only)"));
            let _ = sock.send(&error_packet(EACCESS, "access violation")).await;
            return;
        }
    };
    let g = negotiate(&req.options, data.size);
    match timeout(Duration::from_secs(3600), transfer(&sock, data, g, || slot.confirm())).await {
        Ok(Ok(())) | Ok(Err(Ended::ByClient)) => {}
        Ok(Err(Ended::Abandoned(None, why))) => problem(&format!("abandoned: {why}")),
        Ok(Err(Ended::Abandoned(Some(block), why))) => problem(&format!("abandoned at block {block}: {why}")),
        Err(_) => problem("abandoned: not done after an hour"),
    }
}

/// Transfers running, per client address and in all; a slot is given back when its transfer
/// ends. With every slot taken, a request displaces the oldest transfer whose client has not
/// acknowledged anything yet: forged requests cannot keep real clients out, as a real client
/// acknowledges within a round trip.
#[derive(Default)]
struct Slots {
    running: Mutex<Running>,
}

#[derive(Default)]
struct Running {
    per_client: HashMap<IpAddr, usize>,
    total: usize,
    /// Transfers not acknowledged yet, oldest first, and what ends each.
    unconfirmed: VecDeque<(u64, Arc<Notify>)>,
    next: u64,
}

struct Slot {
    slots: Arc<Slots>,
    client: IpAddr,
    id: u64,
    /// Notified when a newer request takes this transfer's place.
    displaced: Arc<Notify>,
}

impl Slots {
    /// A slot for a transfer to `client`, or why there is none.
    fn take(self: &Arc<Self>, client: IpAddr) -> Result<Slot, String> {
        let mut r = super::lock(&self.running);
        if r.per_client.get(&client).is_some_and(|n| *n >= MAX_PER_CLIENT) {
            return Err(format!("{MAX_PER_CLIENT} transfers to this client running, the most at once"));
        }
        if r.total >= MAX_TRANSFERS {
            // The displaced transfer gives its slot back as soon as it runs again.
            let Some((_, end)) = r.unconfirmed.pop_front() else {
                return Err(format!("{MAX_TRANSFERS} transfers running, the most at once"));
            };
            end.notify_one();
        }
        *r.per_client.entry(client).or_default() += 1;
        r.total += 1;
        r.next += 1;
        let (id, displaced) = (r.next, Arc::new(Notify::new()));
        r.unconfirmed.push_back((id, displaced.clone()));
        Ok(Slot { slots: self.clone(), client, id, displaced })
    }
}

impl Slot {
    /// The client acknowledged a packet: it is real, and its transfer is not displaced.
    fn confirm(&self) {
        let mut r = super::lock(&self.slots.running);
        r.unconfirmed.retain(|(id, _)| *id != self.id);
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut r = super::lock(&self.slots.running);
        r.unconfirmed.retain(|(id, _)| *id != self.id);
        r.total -= 1;
        if let Some(n) = r.per_client.get_mut(&self.client) {
            *n -= 1;
            if *n == 0 {
                r.per_client.remove(&self.client);
            }
        }
    }
}

/// Binds (so that a port in use is a startup error); returns the bound address and the server future.
pub async fn bind(
    addr: SocketAddr,
    root: &Path,
    store: Arc<Mutex<Store>>,
    seen: Arc<super::scope::Seen>,
    log: Log,
) -> Result<(SocketAddr, impl std::future::Future<Output = ()>), String> {
    let problems = Arc::new(Problems::new(log, Duration::from_secs(300)));
    let root = Arc::new(
        ReadOnlyRoot::with_store(root, store, seen).map_err(|e| format!("TFTP root {}: {e}", root.display()))?,
    );
    let sock = UdpSocket::bind(addr).await.map_err(|e| format!("cannot listen on {addr} for TFTP: {e}"))?;
    let bound = sock.local_addr().map_err(|e| e.to_string())?;
    let slots = Arc::new(Slots::default());
    Ok((bound, async move {
        let mut buf = vec![0u8; 1500];
        loop {
            let Ok((n, peer)) = sock.recv_from(&mut buf).await else { continue };
            let op = if n >= 2 { u16::from_be_bytes([buf[0], buf[1]]) } else { 0 };
            match op {
                RRQ => {
                    let Some(req) = parse_request(&buf[..n]) else { continue };
                    // Past a limit the request is dropped unanswered (its source may be forged):
                    // a real client asks again.
                    let slot = match slots.take(peer.ip()) {
                        Ok(s) => s,
                        Err(why) => {
                            problems.report(format!("{} busy", peer.ip()), || {
                                format!("oxcatd: TFTP: {} asked for {}: not answered ({why})", peer.ip(), req.file)
                            });
                            continue;
                        }
                    };
                    let (root, problems) = (root.clone(), problems.clone());
                    tokio::spawn(async move {
                        let file = req.file.clone();
                        tokio::select! {
                            _ = serve(bound, peer, req, root, problems.clone(), &slot) => {}
                            _ = slot.displaced.notified() => problems.report("displaced".into(), || format!(
                                "oxcatd: TFTP: {} asked for {file}: abandoned: displaced by a newer request \
                                 ({MAX_TRANSFERS} transfers running, this one never acknowledged)",
                                peer.ip()
                            )),
                        }
                    });
                }
                WRQ => {
                    problems.report(format!("{} write", peer.ip()), || {
                        format!("oxcatd: TFTP: {} tried to write a file: refused (read-only server)", peer.ip())
                    });
                    let _ = sock.send_to(&error_packet(EBADOP, "this server is read-only"), peer).await;
                }
                // Anything else on the listening port (a late ACK, noise) is ignored.
                _ => {}
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_escapes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/f"), "x").unwrap();
        std::fs::write(dir.path().join("secret"), "s").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret"), root.join("out")).unwrap();
        std::os::unix::fs::symlink("sub/f", root.join("in")).unwrap();
        let h = ReadOnlyRoot::new(&root).unwrap();
        assert!(h.resolve(Path::new("sub/f")).is_ok());
        assert!(h.resolve(Path::new("in")).is_ok());
        for bad in ["../secret", "sub/../../secret", "/etc/passwd", "out"] {
            assert_eq!(h.resolve(Path::new(bad)), Err(Refusal::Denied), "{bad}");
        }
        assert_eq!(h.resolve(Path::new("nope")), Err(Refusal::NotFound));
        assert_eq!(h.resolve(Path::new("sub")), Err(Refusal::NotFound));
    }

    #[test]
    fn content_is_framed_into_numbered_blocks() {
        let framed = |c: &Content, a, b, blksize| {
            let mut buf = vec![9; 3];
            c.frame(&mut buf, a, b, blksize).unwrap();
            buf
        };
        let c = Content::text(b"abcdefgh".to_vec());
        assert_eq!(c.blocks(4), 3, "a file that fills its last block ends with an empty one");
        assert_eq!(framed(&c, 0, 3, 4), b"\x00\x03\x00\x01abcd\x00\x03\x00\x02efgh\x00\x03\x00\x03");
        assert_eq!(framed(&c, 1, 2, 4), b"\x00\x03\x00\x02efgh");
        // A file is read at the window's offset, in one read, the same bytes as a text.
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("r")).unwrap();
        std::fs::write(dir.path().join("r/f"), b"abcde").unwrap();
        let f = ReadOnlyRoot::new(&dir.path().join("r")).unwrap().content("f", [127, 0, 0, 1].into()).unwrap();
        assert_eq!((f.size, f.blocks(4)), (5, 2));
        assert_eq!(framed(&f, 0, 2, 4), b"\x00\x03\x00\x01abcd\x00\x03\x00\x02e");
        assert_eq!(framed(&f, 1, 2, 4), b"\x00\x03\x00\x02e");
        // Cut while it is sent: the window fails instead of sending what is not there.
        std::fs::write(dir.path().join("r/f"), b"ab").unwrap();
        assert!(f.frame(&mut Vec::new(), 0, 2, 4).is_err());
        // A transfer reads a send's worth ahead and takes later packets from what it read.
        let c = Content::text((0..100u8).collect());
        let mut read = ReadAhead::default();
        assert_eq!(read.packets(&c, 0, 1, 10).unwrap(), framed(&c, 0, 1, 10));
        assert_eq!((read.first, read.count), (0, 11));
        assert_eq!(read.packets(&c, 3, 5, 10).unwrap(), framed(&c, 3, 5, 10));
        assert_eq!(read.packets(&c, 10, 11, 10).unwrap(), b"\x00\x03\x00\x0b");
        assert_eq!(read.first, 0, "not read again");
        // Small blocks: a read and a send take at most the segments a send may have.
        std::fs::write(dir.path().join("r/small"), vec![5u8; 20_000]).unwrap();
        let f = ReadOnlyRoot::new(&dir.path().join("r")).unwrap().content("small", [127, 0, 0, 1].into()).unwrap();
        let mut read = ReadAhead::default();
        assert_eq!(read.packets(&f, 0, 1, 8).unwrap(), b"\x00\x03\x00\x01\x05\x05\x05\x05\x05\x05\x05\x05");
        assert_eq!(read.count, GSO_SEGMENTS);
        // Block numbers wrap past 65535.
        let big = Content::text(vec![7; 65_536]);
        assert_eq!(&framed(&big, 65_535, 65_536, 1)[..4], b"\x00\x03\x00\x00");
    }

    #[test]
    fn requests_and_options() {
        let r = parse_request(b"\x00\x01big.bin\x00octet\x00blksize\x001468\x00tsize\x000\x00windowsize\x0016\x00")
            .unwrap();
        assert_eq!(r.file, "big.bin");
        let g = negotiate(&r.options, 3000);
        assert_eq!((g.blksize, g.window), (1468, 16));
        assert_eq!(g.oack.unwrap(), b"\x00\x06blksize\x001468\x00tsize\x003000\x00windowsize\x0016\x00");
        let g = negotiate(&[("blksize".into(), "4".into()), ("foo".into(), "1".into())], 10);
        assert!(g.oack.is_none());
        assert_eq!(g.blksize, 512);
        assert!(parse_request(b"\x00\x01\x00octet\x00").is_none());
        // An option asked for twice is answered once, at its first value.
        let r =
            parse_request(b"\x00\x01f\x00octet\x00blksize\x00512\x00BLKSIZE\x001024\x00tsize\x000\x00tsize\x000\x00")
                .unwrap();
        let g = negotiate(&r.options, 7);
        assert_eq!(g.blksize, 512);
        assert_eq!(g.oack.unwrap(), b"\x00\x06blksize\x00512\x00tsize\x007\x00");
        assert_eq!(parse_reply(b"\x00\x04\x01\x02"), Reply::Ack(258));
        assert_eq!(parse_reply(b"\x00\x05\x00\x00x\x00"), Reply::Error);
        assert_eq!(parse_reply(b"\x00\x04\x01"), Reply::Other);
    }
}
