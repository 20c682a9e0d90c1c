//! The TFTP server: async-tftp (RFC 1350, 2347-2349 options, RFC 7440 windowsize), read-only,
//! rooted at site.tftpdir. async-tftp's own directory handler serves symlinks that point out of
//! the root, so this handler resolves every path and refuses `..`, absolute paths, and anything
//! whose real path leaves the root. A node's boot config that no file holds is rendered from the
//! store (see `boot::nodeset::render_path`).

use crate::store::Store;
use async_tftp::packet;
use async_tftp::server::{Handler, TftpServerBuilder};
use blocking::{unblock, Unblock};
use std::fs::File;
use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

pub struct ReadOnlyRoot {
    root: PathBuf,
    /// Where nodes' boot configs are rendered from when no file holds them.
    store: Option<Arc<Mutex<Store>>>,
}

/// What a transfer reads: a file, or a config rendered in memory.
pub enum Content {
    File(Unblock<File>),
    Rendered(futures_lite::io::Cursor<Vec<u8>>),
}

impl futures_lite::AsyncRead for Content {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Content::File(f) => Pin::new(f).poll_read(cx, buf),
            Content::Rendered(c) => Pin::new(c).poll_read(cx, buf),
        }
    }
}

impl ReadOnlyRoot {
    pub fn new(root: &Path) -> std::io::Result<ReadOnlyRoot> {
        Ok(ReadOnlyRoot { root: std::fs::canonicalize(root)?, store: None })
    }

    pub fn with_store(root: &Path, store: Arc<Mutex<Store>>) -> std::io::Result<ReadOnlyRoot> {
        Ok(ReadOnlyRoot { store: Some(store), ..ReadOnlyRoot::new(root)? })
    }

    /// The real file a request names, if it is a regular file inside the root.
    pub fn resolve(&self, asked: &Path) -> Result<PathBuf, packet::Error> {
        if asked.is_absolute() || asked.components().any(|c| !matches!(c, Component::Normal(_) | Component::CurDir)) {
            return Err(packet::Error::PermissionDenied);
        }
        let real = std::fs::canonicalize(self.root.join(asked)).map_err(|_| packet::Error::FileNotFound)?;
        if !real.starts_with(&self.root) {
            return Err(packet::Error::PermissionDenied);
        }
        if !real.is_file() {
            return Err(packet::Error::FileNotFound);
        }
        Ok(real)
    }
}

impl Handler for ReadOnlyRoot {
    type Reader = Content;
    type Writer = Unblock<File>;

    async fn read_req_open(
        &mut self,
        _client: &SocketAddr,
        path: &Path,
    ) -> Result<(Self::Reader, Option<u64>), packet::Error> {
        let real = match self.resolve(path) {
            Ok(real) => real,
            Err(packet::Error::FileNotFound) => {
                // No file: a node's boot config (pxelinux.cfg/01-MAC, grub2/grub.cfg-01-MAC, ...).
                let Some(store) = self.store.clone() else { return Err(packet::Error::FileNotFound) };
                let rel = path.to_string_lossy().into_owned();
                let text = unblock(move || {
                    let st = store.lock().expect("store lock");
                    crate::boot::nodeset::render_path(st.conn(), &rel)
                })
                .await;
                return match text {
                    Ok(Some(t)) => {
                        let len = t.len() as u64;
                        Ok((Content::Rendered(futures_lite::io::Cursor::new(t.into_bytes())), Some(len)))
                    }
                    _ => Err(packet::Error::FileNotFound),
                };
            }
            Err(e) => return Err(e),
        };
        let (file, len) = unblock(move || -> std::io::Result<(File, u64)> {
            let f = File::open(&real)?;
            let len = f.metadata()?.len();
            Ok((f, len))
        })
        .await
        .map_err(|_| packet::Error::PermissionDenied)?;
        // Large reads: every read of an Unblock file is a trip to the blocking thread pool.
        Ok((Content::File(Unblock::with_capacity(1 << 20, file)), Some(len)))
    }

    async fn write_req_open(
        &mut self,
        _client: &SocketAddr,
        _path: &Path,
        _size: Option<u64>,
    ) -> Result<Self::Writer, packet::Error> {
        Err(packet::Error::IllegalOperation)
    }
}

/// Binds (so that a port in use is a startup error); returns the bound address and the server future.
pub async fn bind(
    addr: SocketAddr,
    root: &Path,
    store: Arc<Mutex<Store>>,
) -> Result<(SocketAddr, impl std::future::Future<Output = ()>), String> {
    let handler = ReadOnlyRoot::with_store(root, store).map_err(|e| format!("TFTP root {}: {e}", root.display()))?;
    let sock = std::net::UdpSocket::bind(addr).map_err(|e| format!("cannot listen on {addr} for TFTP: {e}"))?;
    let bound = sock.local_addr().map_err(|e| e.to_string())?;
    let server = TftpServerBuilder::with_handler(handler)
        .std_socket(sock)
        .map_err(|e| format!("TFTP on {addr}: {e}"))?
        .build()
        .await
        .map_err(|e| format!("TFTP on {addr}: {e}"))?;
    Ok((bound, async move {
        if let Err(e) = server.serve().await {
            eprintln!("oxcatd: TFTP server stopped: {e}");
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
            assert!(matches!(h.resolve(Path::new(bad)), Err(packet::Error::PermissionDenied)), "{bad}");
        }
        assert!(matches!(h.resolve(Path::new("nope")), Err(packet::Error::FileNotFound)));
        assert!(matches!(h.resolve(Path::new("sub")), Err(packet::Error::FileNotFound)));
    }
}
