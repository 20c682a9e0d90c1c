//! The TFTP server: async-tftp (RFC 1350, 2347-2349 options, RFC 7440 windowsize), read-only,
//! rooted at site.tftpdir. async-tftp's own directory handler serves symlinks that point out of
//! the root, so this handler resolves every path and refuses `..`, absolute paths, and anything
//! whose real path leaves the root.

use async_tftp::packet;
use async_tftp::server::{Handler, TftpServerBuilder};
use blocking::{unblock, Unblock};
use std::fs::File;
use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};

pub struct ReadOnlyRoot {
    root: PathBuf,
}

impl ReadOnlyRoot {
    pub fn new(root: &Path) -> std::io::Result<ReadOnlyRoot> {
        Ok(ReadOnlyRoot { root: std::fs::canonicalize(root)? })
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
    type Reader = Unblock<File>;
    type Writer = Unblock<File>;

    async fn read_req_open(
        &mut self,
        _client: &SocketAddr,
        path: &Path,
    ) -> Result<(Self::Reader, Option<u64>), packet::Error> {
        let real = self.resolve(path)?;
        let (file, len) = unblock(move || -> std::io::Result<(File, u64)> {
            let f = File::open(&real)?;
            let len = f.metadata()?.len();
            Ok((f, len))
        })
        .await
        .map_err(|_| packet::Error::PermissionDenied)?;
        // Large reads: every read of an Unblock file is a trip to the blocking thread pool.
        Ok((Unblock::with_capacity(1 << 20, file), Some(len)))
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
) -> Result<(SocketAddr, impl std::future::Future<Output = ()>), String> {
    let handler = ReadOnlyRoot::new(root).map_err(|e| format!("TFTP root {}: {e}", root.display()))?;
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
