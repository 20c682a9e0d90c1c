//! The connection loop of the HTTP server: it reads each request's head itself (httparse, as
//! hyper does), sends a plain file under /install or /tftpboot with `sendfile(2)` (the kernel moves
//! page-cache pages to the socket: no copy through user space, one system call per socket buffer),
//! and hands every other request, with the bytes already read, to hyper for exactly that request
//! (its body included), then takes the connection back for the next one. So a node that asks for
//! its deploy plan and then its image on one kept-alive connection gets the image by sendfile too.
//!
//! Limits as with hyper alone: `header_timeout` for each request head (and between kept-alive
//! requests), `idle_timeout` for a send that moves nothing (a client that stopped reading), and an
//! idle connection gives way when the cap is reached (`Conn::close`).

use super::{byte_range, decode, reason, under, Busy, Conn, HttpLimits, Req, Shared};
use bytes::{Buf, BytesMut};
use hyper::Method;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, Interest, ReadBuf};
use tokio::net::TcpStream;

/// The largest request head read here; a longer one goes to hyper, which refuses it (431).
const MAX_HEAD: usize = 64 * 1024;

/// Headers parsed here; a request with more goes to hyper.
const MAX_HEADERS: usize = 64;

/// Bytes per sendfile call at most (the kernel moves what the socket buffer takes anyway).
const SEND_MAX: usize = 1 << 30;

/// What the loop needs of a request head.
struct Head {
    len: usize,
    method: Method,
    /// The target as sent (path and query).
    target: String,
    http11: bool,
    close: bool,
    range: Option<String>,
    /// Content-Length of the body (0 when absent); None for a body of unknown length (chunked).
    body: Option<u64>,
}

enum Parsed {
    Head(Head),
    Partial,
    /// Not for this loop (malformed, too many headers): hyper answers it.
    Hyper,
}

fn parse(buf: &[u8]) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(_) => return Parsed::Hyper,
    };
    let (Some(method), Some(target), Some(version)) = (req.method, req.path, req.version) else {
        return Parsed::Hyper;
    };
    let Ok(method) = Method::from_bytes(method.as_bytes()) else { return Parsed::Hyper };
    let mut head = Head {
        len,
        method,
        target: target.to_string(),
        http11: version == 1,
        close: false,
        range: None,
        body: Some(0),
    };
    for h in req.headers.iter() {
        let value = std::str::from_utf8(h.value).map(str::trim);
        if h.name.eq_ignore_ascii_case("connection") {
            head.close |= value.is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")));
        } else if h.name.eq_ignore_ascii_case("range") {
            head.range = value.ok().map(str::to_string);
        } else if h.name.eq_ignore_ascii_case("content-length") {
            match value.ok().and_then(|v| v.parse::<u64>().ok()) {
                Some(n) if head.body.is_none_or(|b| b == 0 || b == n) => head.body = Some(n),
                _ => return Parsed::Hyper, // two lengths, or one that is not a number: hyper refuses it
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            head.body = None;
        }
    }
    Parsed::Head(head)
}

/// Serves one accepted connection until the client closes it, a timeout, or eviction.
pub(super) async fn serve(
    mut stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    limits: &HttpLimits,
    conn: Arc<Conn>,
) {
    let mut buf = BytesMut::with_capacity(4096);
    loop {
        // The whole head within header_timeout (a client sending it a byte at a time included).
        let deadline = tokio::time::Instant::now() + limits.header_timeout;
        let head = loop {
            match parse(&buf) {
                Parsed::Head(h) => break h,
                Parsed::Hyper => {
                    return super::serve(Rewind { buf: buf.freeze(), io: stream }, peer, shared, limits, conn).await
                }
                Parsed::Partial if buf.len() >= MAX_HEAD => {
                    return super::serve(Rewind { buf: buf.freeze(), io: stream }, peer, shared, limits, conn).await
                }
                Parsed::Partial => {}
            }
            buf.reserve(4096);
            let read = tokio::select! {
                r = tokio::time::timeout_at(deadline, stream.read_buf(&mut buf)) => r,
                // Idle (no request in hand): give way when the cap is reached.
                _ = conn.close.notified() => return,
            };
            match read {
                Ok(Ok(n)) if n > 0 => {}
                _ => return, // closed, failed, or no head in time
            }
        };
        // HTTP/1.0 (its own keep-alive rules) and bodies of unknown length: hyper, to the end.
        let Some(body) = head.body.filter(|_| head.http11) else {
            return super::serve(Rewind { buf: buf.freeze(), io: stream }, peer, shared, limits, conn).await;
        };
        if body == 0 && (head.method == Method::GET || head.method == Method::HEAD) {
            if let Some(file) = plain_file(&head, &shared).await {
                buf.advance(head.len);
                let busy = Busy::new(&conn);
                let kept = send_file(&mut stream, &head, file, peer, &shared, limits).await;
                drop(busy);
                if !kept || head.close {
                    return;
                }
                continue;
            }
        }
        // One request (head and body) for hyper; the connection comes back after its response.
        let in_buf = (head.len as u64).saturating_add(body).min(buf.len() as u64) as usize;
        let from_socket = (head.len as u64).saturating_add(body) - in_buf as u64;
        let one = Rewind { buf: buf.split_to(in_buf).freeze(), io: Limited { io: stream, left: from_socket } };
        let Some(back) = super::serve_one(one, peer, shared.clone(), limits, conn.clone()).await else { return };
        if head.close || back.io.left > 0 || back.buf.has_remaining() {
            return; // hyper closed, or did not read its whole request: the stream is out of step
        }
        stream = back.io.io;
    }
}

/// The file a GET or HEAD names, when it is a plain file under /install or /tftpboot (not a boot
/// config: those are rendered or scoped to their node, by hyper's path).
async fn plain_file(head: &Head, shared: &Arc<Shared>) -> Option<(PathBuf, String)> {
    let path = decode(head.target.split('?').next().unwrap_or(""), false)?;
    let (key, default, rel) = if let Some(rel) = path.strip_prefix("/install/") {
        ("installdir", "/install", rel)
    } else if let Some(rel) = path.strip_prefix("/tftpboot/") {
        if crate::boot::nodeset::names_a_config(rel) {
            return None;
        }
        ("tftpdir", "/tftpboot", rel)
    } else {
        return None;
    };
    let root = shared.read(move |_, c| crate::store::site_value(c, key).ok()).await.flatten()?;
    let root = PathBuf::from(root.unwrap_or_else(|| default.into()));
    let rel2 = rel.to_string();
    // canonicalize and stat may wait on a slow mount: not on a worker.
    let found = tokio::task::spawn_blocking(move || under(&root, &rel2)).await.ok().flatten()?;
    Some((found, rel.to_string()))
}

/// Sends the head and (for GET) the file's bytes; false when the connection must close (a write
/// failed or timed out, the file shrank).
async fn send_file(
    stream: &mut TcpStream,
    head: &Head,
    (path, rel): (PathBuf, String),
    peer: SocketAddr,
    shared: &Shared,
    limits: &HttpLimits,
) -> bool {
    let opened = match tokio::fs::File::open(&path).await {
        Ok(f) => f.into_std().await,
        Err(_) => return write_head(stream, head, 404, "text/plain", 10, &[], b"not found\n", limits).await,
    };
    let file = Arc::new(opened);
    let meta = {
        let f = file.clone();
        tokio::task::spawn_blocking(move || f.metadata()).await
    };
    let Ok(Ok(meta)) = meta else {
        return write_head(stream, head, 500, "text/plain", 21, &[], b"cannot read the file\n", limits).await;
    };
    let len = meta.len();
    let ctype = if rel.ends_with(".ipxe") || rel.contains("cfg") || rel.ends_with(".sh") {
        "text/plain"
    } else {
        "application/octet-stream"
    };
    let (code, start, count, extra) = match byte_range(head.range.as_deref(), len) {
        Ok(None) => (200, 0, len, vec![]),
        Ok(Some((a, b))) => (206, a, b - a + 1, vec![format!("Content-Range: bytes {a}-{b}/{len}")]),
        Err(()) => {
            let r = Req {
                method: head.method.clone(),
                path: head.target.split('?').next().unwrap_or("").to_string(),
                query: vec![],
                range: head.range.clone(),
                peer,
                host: None,
                body: None,
            };
            super::log_problem(shared, &r, 416);
            return write_head(
                stream,
                head,
                416,
                "text/plain",
                0,
                &[format!("Content-Range: bytes */{len}")],
                b"",
                limits,
            )
            .await;
        }
    };
    let mut extra = extra;
    extra.push("Accept-Ranges: bytes".into());
    // Corked (nginx's tcp_nopush): the head goes out with the first bytes of the file, and each
    // sendfile chunk fills whole segments instead of ending in a small one (the connection is
    // TCP_NODELAY, for hyper's small responses).
    let sock = socket2::SockRef::from(&*stream);
    let corked = head.method == Method::GET && sock.set_tcp_cork(true).is_ok();
    let sent = write_head(stream, head, code, ctype, count, &extra, b"", limits).await
        && (head.method == Method::HEAD || send_body(stream, &file, start, count, &path, peer, shared, limits).await);
    // Uncorking sends what is left at once.
    if corked && socket2::SockRef::from(&*stream).set_tcp_cork(false).is_err() {
        return false;
    }
    sent
}

/// Sends `count` bytes of `file` from `start` by sendfile; false when the connection must close.
#[allow(clippy::too_many_arguments)]
async fn send_body(
    stream: &mut TcpStream,
    file: &std::fs::File,
    start: u64,
    count: u64,
    path: &std::path::Path,
    peer: SocketAddr,
    shared: &Shared,
    limits: &HttpLimits,
) -> bool {
    let mut offset = start as i64;
    let mut left = count;
    while left > 0 {
        let want = left.min(SEND_MAX as u64) as usize;
        let sent = tokio::time::timeout(limits.idle_timeout, async {
            loop {
                stream.writable().await?;
                let mut moved = 0;
                let r = stream.try_io(Interest::WRITABLE, || {
                    let n = nix::sys::sendfile::sendfile64(&*stream, file, Some(&mut offset), want)?;
                    // Less than asked: the socket buffer is full (or the file ended). Like nginx,
                    // wait for the kernel to report room again (about half the buffer) instead of
                    // calling again at once: that would move one segment per call as the client
                    // frees them, hundreds of small sends per buffer.
                    if n > 0 && n < want && file.metadata().is_ok_and(|m| m.len() > offset as u64) {
                        moved = n;
                        return Err(std::io::ErrorKind::WouldBlock.into());
                    }
                    Ok(n)
                });
                match r {
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && moved > 0 => return Ok(moved),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                    r => return r,
                }
            }
        })
        .await;
        match sent {
            Ok(Ok(n)) if n > 0 => left -= n as u64,
            // 0: the file ended early (it shrank while being sent); the promised length cannot be
            // kept, so the connection closes and the client sees a short body.
            Ok(Ok(_)) => {
                shared.problems.report(format!("{} {}", peer.ip(), path.display()), || {
                    format!("oxcatd: HTTP: {}: {} shrank while being sent", peer.ip(), path.display())
                });
                return false;
            }
            Ok(Err(_)) | Err(_) => return false, // the client left, or stopped reading
        }
    }
    true
}

/// Writes a response head (and a short body); false when that failed or timed out.
#[allow(clippy::too_many_arguments)]
async fn write_head(
    stream: &mut TcpStream,
    head: &Head,
    code: u16,
    ctype: &str,
    len: u64,
    extra: &[String],
    body: &[u8],
    limits: &HttpLimits,
) -> bool {
    let mut out = format!("HTTP/1.1 {code} {}\r\nContent-Type: {ctype}\r\nContent-Length: {len}\r\n", reason(code));
    for h in extra {
        out.push_str(h);
        out.push_str("\r\n");
    }
    if head.close {
        out.push_str("Connection: close\r\n");
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    if head.method != Method::HEAD {
        bytes.extend_from_slice(body);
    }
    matches!(tokio::time::timeout(limits.idle_timeout, stream.write_all(&bytes)).await, Ok(Ok(())))
}

/// `impl AsyncWrite` for a reading wrapper whose writes go straight to its `io` field.
macro_rules! write_through {
    ([$($g:tt)*] $t:ty) => {
        impl<$($g)*> AsyncWrite for $t {
            fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, b: &[u8]) -> Poll<std::io::Result<usize>> {
                Pin::new(&mut self.io).poll_write(cx, b)
            }

            fn poll_write_vectored(
                mut self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> Poll<std::io::Result<usize>> {
                Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
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
    };
}

/// An IO that yields `buf` before reading from `io` (the bytes this loop read ahead).
pub(super) struct Rewind<IO> {
    pub(super) buf: bytes::Bytes,
    pub(super) io: IO,
}

impl<IO: AsyncRead + Unpin> AsyncRead for Rewind<IO> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, out: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        if self.buf.has_remaining() {
            let n = self.buf.len().min(out.remaining());
            out.put_slice(&self.buf[..n]);
            self.buf.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.io).poll_read(cx, out)
    }
}

write_through!([IO: AsyncWrite + Unpin] Rewind<IO>);

/// A stream that reads at most `left` more bytes, then reports the end: hyper sees exactly one
/// request, and the next one stays in the socket for this loop.
pub(super) struct Limited {
    pub(super) io: TcpStream,
    pub(super) left: u64,
}

impl AsyncRead for Limited {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, out: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        if self.left == 0 {
            return Poll::Ready(Ok(()));
        }
        // Through a small buffer of our own: `ReadBuf` gives no safe way to mark bytes a borrowed
        // part of it received as filled. Only request heads and small bodies pass here.
        let mut tmp = [0u8; 8192];
        let cap = self.left.min(out.remaining().min(tmp.len()) as u64) as usize;
        let mut part = ReadBuf::new(&mut tmp[..cap]);
        let r = Pin::new(&mut self.io).poll_read(cx, &mut part);
        if let Poll::Ready(Ok(())) = r {
            let n = part.filled().len();
            out.put_slice(part.filled());
            self.left -= n as u64;
        }
        r
    }
}

write_through!([] Limited);
