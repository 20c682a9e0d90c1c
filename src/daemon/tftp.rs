//! The TFTP server: read-only, rooted at site.tftpdir. RFC 1350 transfers with the option
//! extension (RFC 2347): blksize (2348), timeout and tsize (2349), windowsize (7440). Every path is
//! resolved and refused when it is absolute, has `..`, or its real path (symlinks followed) leaves
//! the root; writes are refused. A node's boot config that no file holds is rendered from the
//! store (see `boot::nodeset::render_path`). Each transfer runs on its own socket (its own TID),
//! with the file in memory: boot files are small, and kernels are better fetched over HTTP.

use super::log::{Log, Problems};
use crate::store::Store;
use nix::sys::socket::{setsockopt, sockopt};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::time::timeout;

const RRQ: u16 = 1;
const WRQ: u16 = 2;
const DATA: u16 = 3;
const ACK: u16 = 4;
const ERROR: u16 = 5;
const OACK: u16 = 6;
/// Sends of one packet or window before a transfer is abandoned.
const RETRIES: u32 = 5;
const MAX_BLKSIZE: usize = 65464;
const MAX_WINDOW: usize = 64;

/// The TFTP error codes used.
const ENOTFOUND: u16 = 1;
const EACCESS: u16 = 2;
const EBADOP: u16 = 4;

#[derive(Debug, PartialEq)]
pub enum Refusal {
    NotFound,
    Denied,
}

pub struct ReadOnlyRoot {
    root: PathBuf,
    store: Option<Arc<Mutex<Store>>>,
    /// DATA packets already laid out, shared by the transfers of the same file at the same block
    /// size (16 nodes fetching one kernel read and frame it once); kept while a transfer uses them.
    framed: Mutex<HashMap<(PathBuf, std::time::SystemTime, usize), Weak<Framed>>>,
}

/// A file cut into DATA packets: packet i (block i + 1) is `bytes[offsets[i]..offsets[i + 1]]`.
pub struct Framed {
    bytes: Vec<u8>,
    offsets: Vec<usize>,
}

impl Framed {
    fn new(data: &[u8], blksize: usize) -> Framed {
        let blocks = data.len() / blksize + 1;
        let mut bytes = Vec::with_capacity(data.len() + 4 * blocks);
        let mut offsets = Vec::with_capacity(blocks + 1);
        for i in 0..blocks {
            offsets.push(bytes.len());
            bytes.extend(DATA.to_be_bytes());
            bytes.extend((((i + 1) & 0xffff) as u16).to_be_bytes());
            bytes.extend(&data[(i * blksize).min(data.len())..((i + 1) * blksize).min(data.len())]);
        }
        offsets.push(bytes.len());
        Framed { bytes, offsets }
    }

    fn blocks(&self) -> usize {
        self.offsets.len() - 1
    }

    fn packet(&self, i: usize) -> &[u8] {
        &self.bytes[self.offsets[i]..self.offsets[i + 1]]
    }

    /// Packets `a..b`, back to back.
    fn packets(&self, a: usize, b: usize) -> &[u8] {
        &self.bytes[self.offsets[a]..self.offsets[b]]
    }
}

/// At most this many bytes go to one segmented send (the kernel takes up to 64 KiB).
const GSO_BYTES: usize = 60_000;

/// Sends packets `a..b` of `data`. With UDP segmentation offload set on the socket (all packets
/// but the file's last are `seg` bytes long), the kernel cuts one buffer into the datagrams: one
/// system call per window instead of one per block. Without it, one packet at a time; a kernel or
/// link that refuses a segmented send (EIO; EMSGSIZE or EINVAL when a segment exceeds the MTU) turns it off
/// for the rest of the transfer.
async fn send_window(
    sock: &UdpSocket,
    data: &Framed,
    a: usize,
    b: usize,
    seg: usize,
    gso: &mut bool,
) -> std::io::Result<()> {
    if *gso {
        match send_segmented(sock, data, a, b, seg).await {
            Ok(()) => return Ok(()),
            Err(e) if matches!(e.raw_os_error(), Some(nix::libc::EIO | nix::libc::EINVAL | nix::libc::EMSGSIZE)) => {
                // The option applies to every send on the socket: clear it for the plain ones.
                setsockopt(sock, sockopt::UdpGsoSegment, &0)?;
                *gso = false;
            }
            Err(e) => return Err(e),
        }
    }
    for i in a..b {
        sock.send(data.packet(i)).await?;
    }
    Ok(())
}

async fn send_segmented(sock: &UdpSocket, data: &Framed, a: usize, b: usize, seg: usize) -> std::io::Result<()> {
    let per_send = (GSO_BYTES / seg).max(1);
    let mut i = a;
    while i < b {
        let j = (i + per_send).min(b);
        sock.send(data.packets(i, j)).await?;
        i = j;
    }
    Ok(())
}

impl ReadOnlyRoot {
    pub fn new(root: &Path) -> std::io::Result<ReadOnlyRoot> {
        Ok(ReadOnlyRoot { root: std::fs::canonicalize(root)?, store: None, framed: Mutex::default() })
    }

    pub fn with_store(root: &Path, store: Arc<Mutex<Store>>) -> std::io::Result<ReadOnlyRoot> {
        Ok(ReadOnlyRoot { store: Some(store), ..ReadOnlyRoot::new(root)? })
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

    /// What a request gets, cut into packets: a file (shared with concurrent transfers of it), or
    /// a node's rendered boot config. The size is needed first, for tsize, so options come in.
    fn content(&self, asked: &str, options: &[(String, String)]) -> Result<(Arc<Framed>, Granted), Refusal> {
        match self.resolve(Path::new(asked)) {
            Ok(real) => {
                let meta = std::fs::metadata(&real).map_err(|_| Refusal::NotFound)?;
                let g = negotiate(options, meta.len() as usize);
                let key = (real.clone(), meta.modified().map_err(|_| Refusal::NotFound)?, g.blksize);
                let mut cache = self.framed.lock().expect("cache lock");
                if let Some(f) = cache.get(&key).and_then(Weak::upgrade) {
                    return Ok((f, g));
                }
                cache.retain(|_, w| w.strong_count() > 0);
                let data = std::fs::read(&real).map_err(|_| Refusal::NotFound)?;
                let f = Arc::new(Framed::new(&data, g.blksize));
                cache.insert(key, Arc::downgrade(&f));
                Ok((f, g))
            }
            Err(Refusal::NotFound) => {
                let store = self.store.as_ref().ok_or(Refusal::NotFound)?;
                let st = store.lock().expect("store lock");
                match crate::boot::nodeset::render_path(st.conn(), asked) {
                    Ok(Some(text)) => {
                        let g = negotiate(options, text.len());
                        Ok((Arc::new(Framed::new(text.as_bytes(), g.blksize)), g))
                    }
                    _ => Err(Refusal::NotFound),
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
struct Request {
    file: String,
    options: Vec<(String, String)>,
}

fn parse_request(p: &[u8]) -> Option<Request> {
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
struct Granted {
    blksize: usize,
    timeout: Duration,
    window: usize,
    oack: Option<Vec<u8>>,
}

fn negotiate(options: &[(String, String)], size: usize) -> Granted {
    let mut g = Granted { blksize: 512, timeout: Duration::from_secs(1), window: 1, oack: None };
    let mut oack = OACK.to_be_bytes().to_vec();
    let mut any = false;
    let grant = |oack: &mut Vec<u8>, k: &str, v: String| {
        oack.extend(k.as_bytes());
        oack.push(0);
        oack.extend(v.as_bytes());
        oack.push(0);
    };
    for (k, v) in options {
        let n: Option<usize> = v.parse().ok();
        match (k.as_str(), n) {
            ("blksize", Some(b)) if b >= 8 => {
                g.blksize = b.min(MAX_BLKSIZE);
                grant(&mut oack, k, g.blksize.to_string());
                any = true;
            }
            ("timeout", Some(t)) if (1..=255).contains(&t) => {
                g.timeout = Duration::from_secs(t as u64);
                grant(&mut oack, k, t.to_string());
                any = true;
            }
            ("tsize", Some(_)) => {
                grant(&mut oack, k, size.to_string());
                any = true;
            }
            ("windowsize", Some(w)) if w >= 1 => {
                g.window = w.min(MAX_WINDOW);
                grant(&mut oack, k, g.window.to_string());
                any = true;
            }
            _ => {}
        }
    }
    if any {
        g.oack = Some(oack);
    }
    g
}

/// Waits for the ACK of one of `expect` (wire block numbers); Ok(Some(i)) its index.
async fn wait_ack(sock: &UdpSocket, wait: Duration, expect: &[u16]) -> std::io::Result<Option<usize>> {
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let n = match tokio::time::timeout_at(deadline, sock.recv(&mut buf)).await {
            Err(_) => return Ok(None),
            Ok(r) => r?,
        };
        if n >= 4 && u16::from_be_bytes([buf[0], buf[1]]) == ACK {
            let block = u16::from_be_bytes([buf[2], buf[3]]);
            if let Some(i) = expect.iter().position(|b| *b == block) {
                return Ok(Some(i));
            }
        } else if n >= 2 && u16::from_be_bytes([buf[0], buf[1]]) == ERROR {
            return Err(std::io::Error::other("the client gave up"));
        }
    }
}

/// Serves one read request from its own socket.
async fn transfer(
    local: SocketAddr,
    peer: SocketAddr,
    req: Request,
    root: Arc<ReadOnlyRoot>,
    problems: Arc<Problems>,
) -> std::io::Result<()> {
    let sock = UdpSocket::bind(SocketAddr::new(local.ip(), 0)).await?;
    sock.connect(peer).await?;
    let file = req.file.clone();
    let content = tokio::task::spawn_blocking(move || root.content(&req.file, &req.options))
        .await
        .map_err(std::io::Error::other)?;
    let problem = |what: &str| {
        problems
            .report(format!("{} {file}", peer.ip()), || format!("oxcatd: TFTP: {} asked for {file}: {what}", peer.ip()))
    };
    let (data, g) = match content {
        Ok(d) => d,
        Err(Refusal::NotFound) => {
            if !super::log::config_search(&file) {
                problem("not found");
            }
            return sock.send(&error_packet(ENOTFOUND, "file not found")).await.map(|_| ());
        }
        Err(Refusal::Denied) => {
            problem("refused (outside the TFTP root)");
            return sock.send(&error_packet(EACCESS, "access violation")).await.map(|_| ());
        }
    };
    if let Some(oack) = &g.oack {
        let mut acked = false;
        for _ in 0..RETRIES {
            sock.send(oack).await?;
            if wait_ack(&sock, g.timeout, &[0]).await?.is_some() {
                acked = true;
                break;
            }
        }
        if !acked {
            problem(&format!("abandoned: the options were not acknowledged ({RETRIES} tries)"));
            return Ok(());
        }
    }
    // Blocks are numbered from 1; a file that fills its last block ends with an empty one.
    let blocks = data.blocks();
    let seg = 4 + g.blksize;
    // Segmentation pays off only for windows; a kernel without UDP_SEGMENT refuses the option.
    let mut gso = g.window > 1
        && u16::try_from(seg).is_ok_and(|s| setsockopt(&sock, sockopt::UdpGsoSegment, &i32::from(s)).is_ok());
    let mut base = 0usize;
    let mut tries = 0;
    while base < blocks {
        let end = (base + g.window).min(blocks);
        send_window(&sock, &data, base, end, seg, &mut gso).await?;
        let expect: Vec<u16> = (base..end).map(|i| ((i + 1) & 0xffff) as u16).collect();
        match wait_ack(&sock, g.timeout, &expect).await? {
            Some(k) => {
                base += k + 1;
                tries = 0;
            }
            None => {
                tries += 1;
                if tries >= RETRIES {
                    problem(&format!("abandoned at block {}: no acknowledgement ({RETRIES} tries)", base + 1));
                    return Ok(());
                }
            }
        }
    }
    Ok(())
}

/// Binds (so that a port in use is a startup error); returns the bound address and the server future.
pub async fn bind(
    addr: SocketAddr,
    root: &Path,
    store: Arc<Mutex<Store>>,
    log: Log,
) -> Result<(SocketAddr, impl std::future::Future<Output = ()>), String> {
    let problems = Arc::new(Problems::new(log, Duration::from_secs(300)));
    let root =
        Arc::new(ReadOnlyRoot::with_store(root, store).map_err(|e| format!("TFTP root {}: {e}", root.display()))?);
    let sock = UdpSocket::bind(addr).await.map_err(|e| format!("cannot listen on {addr} for TFTP: {e}"))?;
    let bound = sock.local_addr().map_err(|e| e.to_string())?;
    Ok((bound, async move {
        let mut buf = vec![0u8; 1500];
        loop {
            let Ok((n, peer)) = sock.recv_from(&mut buf).await else { continue };
            let op = if n >= 2 { u16::from_be_bytes([buf[0], buf[1]]) } else { 0 };
            match op {
                RRQ => {
                    let Some(req) = parse_request(&buf[..n]) else { continue };
                    let (root, problems) = (root.clone(), problems.clone());
                    tokio::spawn(async move {
                        let _ = timeout(Duration::from_secs(3600), transfer(bound, peer, req, root, problems)).await;
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
    fn files_are_framed_into_numbered_blocks() {
        let f = Framed::new(b"abcdefgh", 4);
        assert_eq!(f.blocks(), 3, "a file that fills its last block ends with an empty one");
        assert_eq!(f.packet(0), b"\x00\x03\x00\x01abcd");
        assert_eq!(f.packet(1), b"\x00\x03\x00\x02efgh");
        assert_eq!(f.packet(2), b"\x00\x03\x00\x03");
        let f = Framed::new(b"abcde", 4);
        assert_eq!((f.blocks(), f.packet(1)), (2, &b"\x00\x03\x00\x02e"[..]));
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
    }
}
