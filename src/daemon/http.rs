//! The HTTP server nodes boot and report through: `/install/...` (the image store, with Range
//! requests), `/tftpboot/...` (per-node iPXE scripts and boot files), `/postscripts/...`, and
//! `/mypostscript/NODE?token=T` (the node's environment file for postscripts), and
//! `/status?node=N&token=T&status=S`, which checks the node's boot token (its SHA-256 is in
//! chain.token, put there by nodeset) and writes nodelist.status/statustime. HTTP/1.1 with
//! keep-alive, GET and HEAD; paths that leave their root are refused.

use super::log::{Log, Problems};
use crate::store::{self, schema, Store};
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The statuses a node may report (xCAT's lifecycle words).
pub const STATUSES: &[&str] = &["booting", "netbooting", "installing", "postbooting", "booted", "failed"];

pub struct Shared {
    pub store: Mutex<Store>,
    pub postscripts: PathBuf,
    /// One line per client and path every five minutes: a node retrying in a loop is one line.
    pub problems: Problems,
}

impl Shared {
    pub fn new(store: Store, postscripts: PathBuf, log: Log) -> Shared {
        let problems = Problems::new(log, std::time::Duration::from_secs(300));
        Shared { store: Mutex::new(store), postscripts, problems }
    }
}

/// Binds (a port in use is a startup error); returns the bound address and the server future.
pub async fn bind(
    addr: SocketAddr,
    shared: Arc<Shared>,
) -> Result<(SocketAddr, impl std::future::Future<Output = ()>), String> {
    let listener = TcpListener::bind(addr).await.map_err(|e| format!("cannot listen on {addr} for HTTP: {e}"))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    Ok((bound, async move {
        loop {
            let Ok((stream, peer)) = listener.accept().await else { continue };
            let shared = shared.clone();
            tokio::spawn(async move {
                let _ = connection(stream, peer, shared).await;
            });
        }
    }))
}

struct Request {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    range: Option<String>,
    keep_alive: bool,
}

fn decode(s: &str) -> Option<String> {
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
            b'+' => {
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

fn parse(head: &str) -> Option<Request> {
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, target, version) = (first.next()?, first.next()?, first.next()?);
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let query = query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            Some((decode(k)?, decode(v)?))
        })
        .collect();
    let mut range = None;
    let mut keep_alive = version == "HTTP/1.1";
    for l in lines {
        let Some((k, v)) = l.split_once(':') else { continue };
        match k.trim().to_ascii_lowercase().as_str() {
            "range" => range = Some(v.trim().to_string()),
            "connection" if v.trim().eq_ignore_ascii_case("close") => keep_alive = false,
            "connection" if v.trim().eq_ignore_ascii_case("keep-alive") => keep_alive = true,
            _ => {}
        }
    }
    Some(Request { method: method.to_string(), path: decode(path)?, query, range, keep_alive })
}

async fn connection(mut stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(4096);
    loop {
        // Read one request head (bodies are not used: status reports travel in the query).
        let end = loop {
            if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p;
            }
            if buf.len() > 16 * 1024 {
                return respond(&mut stream, 431, "text/plain", b"request header too large\n", false).await.map(|_| ());
            }
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        buf.drain(..end + 4);
        let Some(req) = parse(&head) else {
            return respond(&mut stream, 400, "text/plain", b"bad request\n", false).await.map(|_| ());
        };
        let code = handle(&mut stream, &req, &shared).await?;
        log_problem(&shared, peer, &req, code);
        if !req.keep_alive {
            return Ok(());
        }
    }
}

/// Logs a refused or failed request (the path only: queries carry tokens), but for not-found
/// answers to pxelinux's config search.
fn log_problem(shared: &Shared, peer: SocketAddr, req: &Request, code: u16) {
    let searched = req.path.strip_prefix("/tftpboot/").is_some_and(super::log::config_search);
    if code < 400 || (code == 404 && searched) {
        return;
    }
    shared.problems.report(format!("{} {}", peer.ip(), req.path), || {
        format!("oxcatd: HTTP: {} {} {}: {code} {}", peer.ip(), req.method, req.path, reason(code))
    });
}

/// Sends a whole response; the status code sent.
async fn respond(s: &mut TcpStream, code: u16, ctype: &str, body: &[u8], keep: bool) -> std::io::Result<u16> {
    let head = format!(
        "HTTP/1.1 {code} {}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: {}\r\n\r\n",
        reason(code),
        body.len(),
        if keep { "keep-alive" } else { "close" }
    );
    s.write_all(head.as_bytes()).await?;
    s.write_all(body).await?;
    Ok(code)
}

fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        206 => "Partial Content",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
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

/// Answers one request; the status code sent.
async fn handle(s: &mut TcpStream, req: &Request, shared: &Arc<Shared>) -> std::io::Result<u16> {
    let keep = req.keep_alive;
    if req.method != "GET" && req.method != "HEAD" && !(req.method == "POST" && req.path == "/status") {
        return respond(s, 405, "text/plain", b"method not allowed\n", keep).await;
    }
    if req.path == "/status" {
        let (code, msg) = status(req, shared).await;
        return respond(s, code, "text/plain", msg.as_bytes(), keep).await;
    }
    if let Some(node) = req.path.strip_prefix("/mypostscript/") {
        let (code, body) = mypostscript(req, node.to_string(), shared).await;
        return respond(s, code, "text/plain", body.as_bytes(), keep).await;
    }
    let site = |k: &'static str| {
        let shared = shared.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                let st = shared.store.lock().expect("store lock");
                store::site_value(st.conn(), k).ok().flatten()
            })
            .await
            .ok()
            .flatten()
        }
    };
    let (root, rel) = if let Some(rel) = req.path.strip_prefix("/install/") {
        (PathBuf::from(site("installdir").await.unwrap_or_else(|| "/install".into())), rel)
    } else if let Some(rel) = req.path.strip_prefix("/tftpboot/") {
        (PathBuf::from(site("tftpdir").await.unwrap_or_else(|| "/tftpboot".into())), rel)
    } else if let Some(rel) = req.path.strip_prefix("/postscripts/") {
        (shared.postscripts.clone(), rel)
    } else {
        return respond(s, 404, "text/plain", b"not found\n", keep).await;
    };
    let Some(path) = under(&root, rel) else {
        // No file: a node's boot config, rendered from its recorded state.
        if req.path.starts_with("/tftpboot/") {
            let (shared, rel) = (shared.clone(), rel.to_string());
            let rendered = tokio::task::spawn_blocking(move || {
                let st = shared.store.lock().expect("store lock");
                let r = crate::boot::nodeset::render_path(st.conn(), &rel);
                if let Err(e) = &r {
                    shared.problems.report(format!("render {rel}"), || format!("oxcatd: HTTP: /tftpboot/{rel}: {e}"));
                }
                r
            })
            .await;
            if let Ok(Ok(Some(text))) = rendered {
                let body = if req.method == "HEAD" { Vec::new() } else { text.clone().into_bytes() };
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: {}\r\n\r\n",
                    text.len(),
                    if keep { "keep-alive" } else { "close" }
                );
                s.write_all(head.as_bytes()).await?;
                return s.write_all(&body).await.map(|_| 200);
            }
        }
        return respond(s, 404, "text/plain", b"not found\n", keep).await;
    };
    let mut file = tokio::fs::File::open(&path).await?;
    let len = file.metadata().await?.len();
    let ctype = if rel.ends_with(".ipxe") || rel.contains("cfg") || rel.ends_with(".sh") {
        "text/plain"
    } else {
        "application/octet-stream"
    };
    let (code, start, count, extra) = match byte_range(req.range.as_deref(), len) {
        Ok(None) => (200, 0, len, String::new()),
        Ok(Some((a, b))) => (206, a, b - a + 1, format!("Content-Range: bytes {a}-{b}/{len}\r\n")),
        Err(()) => {
            let head =
                format!("HTTP/1.1 416 {}\r\nContent-Range: bytes */{len}\r\nContent-Length: 0\r\n\r\n", reason(416));
            return s.write_all(head.as_bytes()).await.map(|_| 416);
        }
    };
    let head = format!(
        "HTTP/1.1 {code} {}\r\nContent-Type: {ctype}\r\nContent-Length: {count}\r\nAccept-Ranges: bytes\r\n{extra}Connection: {}\r\n\r\n",
        reason(code),
        if keep { "keep-alive" } else { "close" }
    );
    s.write_all(head.as_bytes()).await?;
    if req.method == "HEAD" {
        return Ok(code);
    }
    file.seek(std::io::SeekFrom::Start(start)).await?;
    // Large reads: each read of a tokio file is a trip to the blocking thread pool.
    let mut reader = tokio::io::BufReader::with_capacity(1 << 20, file.take(count));
    let copied = tokio::io::copy_buf(&mut reader, s).await?;
    if copied != count {
        return Err(std::io::Error::other("file shrank while being sent"));
    }
    Ok(code)
}

/// True when `token` is the one nodeset gave `node` (chain.token).
fn token_ok(conn: &rusqlite::Connection, node: &str, token: &str) -> bool {
    let chain = schema::table("chain").expect("chain");
    let (col, _) = chain.column("token").expect("token");
    let want = store::get_row(conn, chain, &[node]).ok().flatten().and_then(|r| r[col].clone());
    // Compare digests, so the time taken says nothing about how much of the token matched.
    let digest = |t: &str| Sha256::digest(t.as_bytes());
    want.is_some_and(|w| !token.is_empty() && digest(&w) == digest(token))
}

/// The node's mypostscript, for the holder of its token.
async fn mypostscript(req: &Request, node: String, shared: &Arc<Shared>) -> (u16, String) {
    let Some(token) = req.query.iter().find(|(k, _)| k == "token").map(|(_, v)| v.clone()) else {
        return (400, "give token\n".into());
    };
    let shared = shared.clone();
    tokio::task::spawn_blocking(move || {
        let st = shared.store.lock().expect("store lock");
        if !token_ok(st.conn(), &node, &token) {
            return (403, "unknown node or wrong token\n".to_string());
        }
        match crate::postscript::mypostscript(st.conn(), &node) {
            Ok(Some(text)) => (200, text),
            Ok(None) => (404, "no such node\n".to_string()),
            Err(e) => (500, format!("{e}\n")),
        }
    })
    .await
    .unwrap_or((500, "internal error\n".to_string()))
}

/// Checks the node's token and records its status.
async fn status(req: &Request, shared: &Arc<Shared>) -> (u16, String) {
    let q = |k: &str| req.query.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone());
    let (Some(node), Some(token), Some(status)) = (q("node"), q("token"), q("status")) else {
        return (400, "give node, token and status\n".into());
    };
    if !STATUSES.contains(&status.as_str()) {
        return (400, format!("status must be one of: {}\n", STATUSES.join(", ")));
    }
    let shared = shared.clone();
    tokio::task::spawn_blocking(move || {
        let mut st = shared.store.lock().expect("store lock");
        if !token_ok(st.conn(), &node, &token) {
            return (403, "unknown node or wrong token\n".to_string());
        }
        if store::site_value(st.conn(), "nodestatus")
            .ok()
            .flatten()
            .is_some_and(|v| matches!(v.as_str(), "n" | "no" | "0"))
        {
            return (200, "ok (site.nodestatus=n: not recorded)\n".to_string());
        }
        let nodelist = schema::table("nodelist").expect("nodelist");
        let r = st.write(|c| {
            let now: String = c.query_row("SELECT strftime('%Y-%m-%dT%H:%M:%SZ', 'now')", [], |r| r.get(0))?;
            store::upsert(c, nodelist, &[&node], &[("status", Some(&status)), ("statustime", Some(&now))])
        });
        match r {
            Ok(()) => (200, "ok\n".to_string()),
            Err(e) => (500, format!("{e}\n")),
        }
    })
    .await
    .unwrap_or((500, "internal error\n".to_string()))
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
    fn requests_and_decoding() {
        let r = parse("GET /status?node=n1&token=a%20b&status=booted HTTP/1.1\r\nHost: x\r\nRange: bytes=1-2").unwrap();
        assert_eq!((r.method.as_str(), r.path.as_str()), ("GET", "/status"));
        assert_eq!(r.query[1], ("token".to_string(), "a b".to_string()));
        assert_eq!(r.range.as_deref(), Some("bytes=1-2"));
        assert!(r.keep_alive);
        assert!(!parse("GET / HTTP/1.0").unwrap().keep_alive);
        assert!(parse("GET /%zz HTTP/1.1").is_none());
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
