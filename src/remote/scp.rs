//! File copies over a session with the SCP protocol (the node's `scp -t` receives, `scp -f`
//! sends): what xdcp speaks, so nodes need nothing but sshd and scp (OpenSSH or dropbear).

use super::session::{Failure, Session};
use russh::client::Msg;
use russh::{Channel, ChannelMsg, Sig};
use std::collections::VecDeque;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::sync::watch;

/// `'...'` quoting for the remote shell.
pub fn quote(v: &str) -> String {
    format!("'{}'", v.replace('\'', "'\\''"))
}

/// The channel as a byte pipe with an idle timeout and the Ctrl-C flag.
struct Pipe<'a> {
    ch: Channel<Msg>,
    buf: VecDeque<u8>,
    stderr: Vec<u8>,
    eof: bool,
    idle: Duration,
    stop: &'a mut watch::Receiver<bool>,
}

impl Pipe<'_> {
    async fn fill(&mut self) -> Result<(), Failure> {
        while self.buf.is_empty() {
            if self.eof {
                let why = String::from_utf8_lossy(&self.stderr).trim().to_string();
                return Err(Failure::Ssh(if why.is_empty() { "the node's scp ended early".into() } else { why }));
            }
            let msg = tokio::select! {
                m = tokio::time::timeout(self.idle, self.ch.wait()) => m,
                _ = self.stop.changed() => {
                    let _ = self.ch.signal(Sig::TERM).await;
                    return Err(Failure::Interrupted);
                }
            };
            match msg {
                Err(_) => {
                    let _ = self.ch.signal(Sig::TERM).await;
                    return Err(Failure::Timeout(format!(
                        "no progress for {} s: the copy was stopped",
                        self.idle.as_secs_f64()
                    )));
                }
                Ok(Some(ChannelMsg::Data { data })) => self.buf.extend(data.iter()),
                Ok(Some(ChannelMsg::ExtendedData { data, .. })) => self.stderr.extend_from_slice(&data),
                Ok(Some(ChannelMsg::Eof | ChannelMsg::Close) | None) => self.eof = true,
                Ok(Some(_)) => {}
            }
        }
        Ok(())
    }

    async fn byte(&mut self) -> Result<u8, Failure> {
        self.fill().await?;
        Ok(self.buf.pop_front().expect("filled"))
    }

    async fn line(&mut self) -> Result<String, Failure> {
        let mut l = Vec::new();
        loop {
            match self.byte().await? {
                b'\n' => return Ok(String::from_utf8_lossy(&l).into_owned()),
                b => l.push(b),
            }
        }
    }

    async fn send(&mut self, data: &[u8]) -> Result<(), Failure> {
        self.ch.data(data).await.map_err(|e| Failure::Ssh(format!("SSH channel: {e}")))
    }

    /// The node's answer to what we sent: 0 is yes, 1 or 2 come with a message.
    async fn ack(&mut self) -> Result<(), Failure> {
        match self.byte().await? {
            0 => Ok(()),
            _ => Err(Failure::Ssh(format!("scp on the node: {}", self.line().await?.trim()))),
        }
    }
}

async fn open<'a>(
    sess: &Session,
    cmd: &str,
    idle: Duration,
    stop: &'a mut watch::Receiver<bool>,
) -> Result<Pipe<'a>, Failure> {
    let ssh = |e: russh::Error| Failure::Ssh(format!("SSH channel: {e}"));
    let ch = sess.handle.channel_open_session().await.map_err(ssh)?;
    ch.exec(true, cmd).await.map_err(ssh)?;
    Ok(Pipe { ch, buf: VecDeque::new(), stderr: Vec::new(), eof: false, idle, stop })
}

/// Copies local `sources` to `dest` on the node (`-r` directories, `-p` modes and times).
pub async fn push(
    sess: &Session,
    sources: &[PathBuf],
    dest: &str,
    recursive: bool,
    preserve: bool,
    idle: Duration,
    stop: &mut watch::Receiver<bool>,
) -> Result<(), Failure> {
    let mut flags = String::new();
    if recursive {
        flags.push_str(" -r");
    }
    if preserve {
        flags.push_str(" -p");
    }
    if sources.len() > 1 {
        flags.push_str(" -d");
    }
    let mut p = open(sess, &format!("scp -t{flags} -- {}", quote(dest)), idle, stop).await?;
    p.ack().await?;
    for src in sources {
        send_path(&mut p, src, recursive, preserve).await?;
    }
    let _ = p.ch.eof().await;
    Ok(())
}

fn local(path: &Path, e: std::io::Error) -> Failure {
    Failure::Ssh(format!("{}: {e}", path.display()))
}

async fn send_path(p: &mut Pipe<'_>, root: &Path, recursive: bool, preserve: bool) -> Result<(), Failure> {
    // Depth-first without recursion: Some(path) to send, None to close a directory.
    let mut todo: Vec<Option<PathBuf>> = vec![Some(root.to_path_buf())];
    while let Some(item) = todo.pop() {
        let Some(path) = item else {
            p.send(b"E\n").await?;
            p.ack().await?;
            continue;
        };
        let md = std::fs::metadata(&path).map_err(|e| local(&path, e))?;
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| ".".into());
        if preserve {
            p.send(format!("T{} 0 {} 0\n", md.mtime(), md.atime()).as_bytes()).await?;
            p.ack().await?;
        }
        let mode = md.permissions().mode() & 0o7777;
        if md.is_dir() {
            if !recursive {
                return Err(Failure::Ssh(format!("{}: is a directory (copy it with -r)", path.display())));
            }
            p.send(format!("D{mode:04o} 0 {name}\n").as_bytes()).await?;
            p.ack().await?;
            todo.push(None);
            let mut entries: Vec<PathBuf> = std::fs::read_dir(&path)
                .map_err(|e| local(&path, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect();
            entries.sort();
            todo.extend(entries.into_iter().rev().map(Some));
            continue;
        }
        p.send(format!("C{mode:04o} {} {name}\n", md.len()).as_bytes()).await?;
        p.ack().await?;
        let mut f = tokio::fs::File::open(&path).await.map_err(|e| local(&path, e))?;
        let mut buf = vec![0u8; 32 * 1024];
        let mut left = md.len();
        while left > 0 {
            let n = f.read(&mut buf).await.map_err(|e| local(&path, e))?;
            if n == 0 {
                return Err(Failure::Ssh(format!("{}: shrank while being copied", path.display())));
            }
            let n = n.min(left as usize);
            p.send(&buf[..n]).await?;
            left -= n as u64;
        }
        p.send(&[0]).await?;
        p.ack().await?;
    }
    Ok(())
}

/// A directory being pulled: where it is, and the mode and (mtime, atime) scp sent for it.
struct OpenDir {
    path: PathBuf,
    mode: u32,
    times: Option<(i64, i64)>,
}

/// xdcp -p on a pulled file or directory: the mode and modification time scp sent.
/// The time goes first, through a descriptor opened while the mode is still the one it was made
/// with (the node's mode could forbid reading it).
fn keep_mode_and_mtime(path: &Path, mode: u32, times: Option<(i64, i64)>) -> Result<(), Failure> {
    if let Some((m, _)) = times {
        let t = std::time::UNIX_EPOCH + Duration::from_secs(m.max(0) as u64);
        let f = std::fs::File::open(path).map_err(|e| local(path, e))?;
        f.set_modified(t).map_err(|e| local(path, e))?;
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|e| local(path, e))
}

/// Copies `src` from the node into `dir` as `NAME._NODE` (xdcp -P); directories with -r.
/// Returns the local paths written at the top level.
#[allow(clippy::too_many_arguments)]
pub async fn pull(
    sess: &Session,
    node: &str,
    src: &str,
    dir: &Path,
    recursive: bool,
    preserve: bool,
    idle: Duration,
    stop: &mut watch::Receiver<bool>,
) -> Result<Vec<PathBuf>, Failure> {
    let flags = format!("{}{}", if recursive { " -r" } else { "" }, if preserve { " -p" } else { "" });
    let mut p = open(sess, &format!("scp -f{flags} -- {}", quote(src)), idle, stop).await?;
    p.send(&[0]).await?;
    let mut written = Vec::new();
    // The directories being filled, each given its mode and time when it is done (last: a
    // read-only directory could not be filled, and filling it moves its mtime).
    let mut stack: Vec<OpenDir> = Vec::new();
    let mut times: Option<(i64, i64)> = None;
    loop {
        let first = match p.byte().await {
            Ok(b) => b,
            Err(_) if p.eof && p.buf.is_empty() && p.stderr.is_empty() => break,
            Err(e) => return Err(e),
        };
        match first {
            b'T' => {
                let l = p.line().await?;
                let v: Vec<i64> = l.split_whitespace().filter_map(|w| w.parse().ok()).collect();
                times = (v.len() == 4).then(|| (v[0], v[2]));
                p.send(&[0]).await?;
            }
            b'C' | b'D' => {
                let l = p.line().await?;
                let mut w = l.splitn(3, ' ');
                let (Some(mode), Some(size), Some(name)) = (w.next(), w.next(), w.next()) else {
                    return Err(Failure::Ssh(format!("scp on the node sent '{l}'")));
                };
                if name.contains('/') || name == ".." || name == "." {
                    return Err(Failure::Ssh(format!("scp on the node sent the name '{name}'")));
                }
                let mode = u32::from_str_radix(mode, 8).unwrap_or(0o644) & 0o7777;
                let size: u64 = size.parse().map_err(|_| Failure::Ssh(format!("scp on the node sent '{l}'")))?;
                let path = match stack.last() {
                    Some(d) => d.path.join(name),
                    None => dir.join(format!("{name}._{node}")),
                };
                if stack.is_empty() {
                    written.push(path.clone());
                }
                if first == b'D' {
                    std::fs::create_dir_all(&path).map_err(|e| local(&path, e))?;
                    stack.push(OpenDir { path, mode, times: times.take() });
                    p.send(&[0]).await?;
                    continue;
                }
                let mut out = Vec::with_capacity(size.min(1 << 24) as usize);
                p.send(&[0]).await?;
                while (out.len() as u64) < size {
                    p.fill().await?;
                    let n = ((size - out.len() as u64) as usize).min(p.buf.len());
                    out.extend(p.buf.drain(..n));
                }
                p.ack().await?;
                std::fs::write(&path, &out).map_err(|e| local(&path, e))?;
                if preserve {
                    keep_mode_and_mtime(&path, mode, times.take())?;
                }
                p.send(&[0]).await?;
            }
            b'E' => {
                p.line().await?;
                if let Some(d) = stack.pop().filter(|_| preserve) {
                    keep_mode_and_mtime(&d.path, d.mode, d.times)?;
                }
                p.send(&[0]).await?;
            }
            1 | 2 => return Err(Failure::Ssh(format!("scp on the node: {}", p.line().await?.trim()))),
            b => return Err(Failure::Ssh(format!("scp on the node sent byte {b}"))),
        }
    }
    Ok(written)
}
