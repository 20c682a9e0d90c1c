//! Streaming a disk image from HTTP to the target: resumed with Range after a dropped connection,
//! decompressed on the fly, hashed (SHA-256 of the uncompressed bytes) and written in large chunks,
//! never held in memory whole.

use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::time::Duration;

/// How many times a dropped transfer is resumed in a row (without bytes in between) before giving up.
pub const MAX_RETRIES: u32 = 10;
/// Bytes per write to the target.
const CHUNK: usize = 4 << 20;
/// Chunks in flight between the reading, hashing and writing threads.
const CHUNKS: usize = 4;
/// What the wipe zeroes at each end.
const WIPE: u64 = 1 << 20;

/// How what the URL serves is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Raw,
    Gz,
    Zst,
    Xz,
}

impl Format {
    pub fn parse(s: &str) -> Result<Format, String> {
        match s {
            "raw" | "" => Ok(Format::Raw),
            "gz" => Ok(Format::Gz),
            "zst" => Ok(Format::Zst),
            "xz" => Ok(Format::Xz),
            _ => Err(format!("image format '{s}' is not one of raw, gz, zst, xz")),
        }
    }

    /// A reader of the uncompressed stream.
    fn decoder<'a>(self, r: impl Read + 'a) -> io::Result<Box<dyn Read + 'a>> {
        let r = io::BufReader::with_capacity(1 << 20, r);
        Ok(match self {
            Format::Raw => Box::new(r),
            // Multi-member gzip and xz (pigz/pxz output) are one stream each.
            Format::Gz => Box::new(flate2::bufread::MultiGzDecoder::new(r)),
            Format::Zst => Box::new(zstd::stream::read::Decoder::with_buffer(r)?),
            Format::Xz => Box::new(liblzma::bufread::XzDecoder::new_multi_decoder(r)),
        })
    }
}

/// An HTTP GET of a URL as a reader that, when the connection drops or a read fails, asks again
/// for the rest (`Range: bytes=OFFSET-`), with a backoff of 1, 2, 4... (at most 10) seconds.
pub struct Download<'a> {
    agent: ureq::Agent,
    url: String,
    /// Bytes delivered so far.
    offset: u64,
    /// The whole body's length, once a response said it.
    total: Option<u64>,
    body: Option<ureq::BodyReader<'static>>,
    /// Failures since the last bytes arrived.
    failures: u32,
    log: &'a mut (dyn FnMut(String) + Send),
}

impl<'a> Download<'a> {
    /// Starts the GET; a failure to get a first response is retried like a dropped connection.
    pub fn open(url: &str, log: &'a mut (dyn FnMut(String) + Send)) -> io::Result<Download<'a>> {
        let config = ureq::Agent::config_builder()
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_recv_response(Some(Duration::from_secs(30)))
            // A connection that stops moving (a rebooted switch, a dead server) counts as dropped.
            .timeout_per_read(Some(Duration::from_secs(30)))
            .http_status_as_error(false)
            .build();
        let mut d = Download {
            agent: ureq::Agent::new_with_config(config),
            url: url.to_string(),
            offset: 0,
            total: None,
            body: None,
            failures: 0,
            log,
        };
        d.connect()?;
        Ok(d)
    }

    /// Bytes of the (compressed) body received so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Makes `self.body` a response from `self.offset` on, retrying what may pass.
    fn connect(&mut self) -> io::Result<()> {
        loop {
            match self.request() {
                Ok(body) => {
                    self.body = Some(body);
                    return Ok(());
                }
                Err(Failure::Final(e)) => return Err(e),
                Err(Failure::Retry(e)) => self.back_off(e)?,
            }
        }
    }

    /// Counts a failure and sleeps before the next try, or gives up after [`MAX_RETRIES`].
    fn back_off(&mut self, e: io::Error) -> io::Result<()> {
        self.failures += 1;
        if self.failures > MAX_RETRIES {
            return Err(io::Error::new(e.kind(), format!("{}: {e} (gave up after {MAX_RETRIES} retries)", self.url)));
        }
        let wait = (1u64 << (self.failures - 1).min(4)).min(10);
        (self.log)(format!("download interrupted at byte {}: {e}; retry {} in {wait} s", self.offset, self.failures));
        std::thread::sleep(Duration::from_secs(wait));
        Ok(())
    }

    fn request(&mut self) -> Result<ureq::BodyReader<'static>, Failure> {
        let mut req = self.agent.get(&self.url);
        if self.offset > 0 {
            req = req.header("Range", format!("bytes={}-", self.offset));
        }
        let resp = req.call().map_err(|e| Failure::Retry(io::Error::other(e.to_string())))?;
        let status = resp.status().as_u16();
        let header = |name: &str| resp.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        let what = |m: String| io::Error::other(format!("{}: {m}", self.url));
        match (self.offset, status) {
            (0, 200) => {
                self.total = header("content-length").and_then(|l| l.parse().ok());
            }
            (_, 206) => {
                // `bytes START-END/TOTAL`: the rest must start where we stopped.
                let range = header("content-range").unwrap_or_default();
                let start = range.strip_prefix("bytes ").and_then(|r| r.split('-').next()).and_then(|s| s.parse().ok());
                if start != Some(self.offset) {
                    return Err(Failure::Final(what(format!(
                        "asked for bytes from {}, got Content-Range '{range}': cannot resume",
                        self.offset
                    ))));
                }
                (self.log)(format!("download resumed at byte {} (206 Partial Content)", self.offset));
                self.total = range.rsplit('/').next().and_then(|t| t.parse().ok()).or(self.total);
            }
            (o, 200) if o > 0 => {
                return Err(Failure::Final(what(format!(
                    "the server ignored Range (200 instead of 206): cannot resume at byte {o}"
                ))))
            }
            (_, s) if s >= 500 => return Err(Failure::Retry(what(format!("HTTP status {s}")))),
            (_, s) => return Err(Failure::Final(what(format!("HTTP status {s}")))),
        }
        Ok(resp.into_body().into_reader())
    }
}

enum Failure {
    /// Worth another try (a connection refused or dropped, a 5xx).
    Retry(io::Error),
    /// Will not get better (a 404, a server that cannot resume).
    Final(io::Error),
}

impl Read for Download<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.body.is_none() {
                self.connect()?;
            }
            let body = self.body.as_mut().expect("connected");
            let err = match body.read(buf) {
                Ok(0) if self.total.is_some_and(|t| self.offset < t) => {
                    io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed early")
                }
                Ok(n) => {
                    if n > 0 {
                        self.offset += n as u64;
                        self.failures = 0;
                    }
                    return Ok(n);
                }
                Err(e) => e,
            };
            self.body = None;
            self.back_off(err)?;
        }
    }
}

/// What was written: the uncompressed size and its SHA-256 (hex).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub size: u64,
    pub sha256: String,
}

/// Decompresses `source` (as `format`) into `target` from its start, hashing what it writes;
/// `progress` gets the bytes written so far after each chunk. More than `max` uncompressed bytes
/// is an error before they are written (they would not fit, or are not the image recorded).
///
/// Three stages, each on its own thread, so the network and the decompressor, the hash and the
/// disk all keep going at once (a deploy runs at the slowest one's speed, not their sum): a thread
/// fills chunks from the source, one hashes them, this one writes them and hands them back; a few
/// chunks circulate (bounded memory, no allocation per chunk).
pub fn write_image(
    source: impl Read + Send,
    format: Format,
    target: &mut File,
    max: u64,
    progress: &mut dyn FnMut(u64),
) -> io::Result<Written> {
    type Chunk = io::Result<(Vec<u8>, usize)>;
    /// The last message of a stream of chunks: the end (0 bytes) or an error.
    fn last(c: &Chunk) -> bool {
        !matches!(c, Ok((_, n)) if *n > 0)
    }
    target.seek(SeekFrom::Start(0))?;
    std::thread::scope(|s| {
        let (to_hash, hash_rx) = std::sync::mpsc::sync_channel::<Chunk>(CHUNKS);
        let (to_write, write_rx) = std::sync::mpsc::sync_channel::<Chunk>(CHUNKS);
        let (empty, empty_rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(CHUNKS);
        for _ in 0..CHUNKS {
            empty.send(vec![0u8; CHUNK]).expect("room for every chunk");
        }
        // Each stage ends after the last message, or when the next one is gone (the writer failed).
        s.spawn(move || {
            let mut input = match format.decoder(source) {
                Ok(i) => i,
                Err(e) => return drop(to_hash.send(Err(e))),
            };
            while let Ok(mut buf) = empty_rx.recv() {
                let chunk = fill(&mut input, &mut buf).map(|n| (buf, n));
                let end = last(&chunk);
                if to_hash.send(chunk).is_err() || end {
                    return;
                }
            }
        });
        let hasher = s.spawn(move || {
            let mut hash = Sha256::new();
            for chunk in hash_rx {
                if let Ok((buf, n)) = &chunk {
                    hash.update(&buf[..*n]);
                }
                let end = last(&chunk);
                if to_write.send(chunk).is_err() || end {
                    break;
                }
            }
            hex(&hash.finalize())
        });
        let mut written = 0u64;
        for chunk in write_rx {
            let (buf, n) = chunk?;
            if n == 0 {
                break;
            }
            if written + n as u64 > max {
                return Err(io::Error::other(format!("the image is larger than its recorded size ({max} bytes)")));
            }
            target.write_all(&buf[..n])?;
            written += n as u64;
            progress(written);
            let _ = empty.send(buf);
        }
        let sha256 = hasher.join().map_err(|_| io::Error::other("the hashing thread panicked"))?;
        Ok(Written { size: written, sha256 })
    })
}

/// Reads until `buf` is full or the input ends (decoders hand out small reads; large writes are
/// what disks like); the bytes read.
fn fill(input: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match input.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Whether what was written is the image: an error says what differs.
pub fn verify(written: &Written, size: u64, sha256: &str) -> Result<(), String> {
    if written.size != size {
        return Err(format!("size mismatch (expected {size} bytes, got {})", written.size));
    }
    if !written.sha256.eq_ignore_ascii_case(sha256) {
        return Err(format!("checksum mismatch (expected {sha256}, got {})", written.sha256));
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The target's size in bytes: a block device's capacity, a regular file's length.
pub fn size_of(target: &mut File) -> io::Result<u64> {
    use std::os::unix::fs::FileTypeExt;
    if target.metadata()?.file_type().is_block_device() {
        target.seek(SeekFrom::End(0))
    } else {
        Ok(target.metadata()?.len())
    }
}

/// Zeroes the first and last MiB of a target of `size` bytes (old partition tables, RAID and LVM
/// signatures live there, and a disk without them does not boot), then syncs.
pub fn wipe_ends(target: &mut File, size: u64) -> io::Result<()> {
    let zeros = vec![0u8; WIPE as usize];
    for start in [0, size.saturating_sub(WIPE)] {
        let len = WIPE.min(size - start) as usize;
        target.seek(SeekFrom::Start(start))?;
        target.write_all(&zeros[..len])?;
    }
    target.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image() -> Vec<u8> {
        (0..9_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8).collect()
    }

    fn sha(b: &[u8]) -> String {
        hex(&Sha256::digest(b))
    }

    #[test]
    fn every_format_decompresses_byte_exact_with_its_hash() {
        let raw = image();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        // Two members, as pigz writes.
        gz.write_all(&raw[..1000]).unwrap();
        let mut two = gz.finish().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&raw[1000..]).unwrap();
        two.extend(gz.finish().unwrap());
        let zst = zstd::encode_all(&raw[..], 1).unwrap();
        let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 1);
        xz.write_all(&raw).unwrap();
        let xz = xz.finish().unwrap();
        for (format, bytes) in [(Format::Raw, raw.clone()), (Format::Gz, two), (Format::Zst, zst), (Format::Xz, xz)] {
            let mut target = tempfile::tempfile().unwrap();
            let mut seen = Vec::new();
            let w = write_image(&bytes[..], format, &mut target, raw.len() as u64, &mut |n| seen.push(n)).unwrap();
            assert_eq!(w, Written { size: raw.len() as u64, sha256: sha(&raw) }, "{format:?}");
            assert_eq!(seen, [4 << 20, 8 << 20, 9_000_000], "{format:?}: one progress call per chunk");
            let mut back = Vec::new();
            target.seek(SeekFrom::Start(0)).unwrap();
            target.read_to_end(&mut back).unwrap();
            assert!(back == raw, "{format:?}");
            assert_eq!(verify(&w, raw.len() as u64, &sha(&raw).to_uppercase()), Ok(()));
        }
    }

    #[test]
    fn mismatches_and_oversize_are_errors() {
        let raw = image();
        let mut target = tempfile::tempfile().unwrap();
        let w = write_image(&raw[..], Format::Raw, &mut target, u64::MAX, &mut |_| {}).unwrap();
        let zero = "0".repeat(64);
        assert_eq!(
            verify(&w, 9_000_000, &zero),
            Err(format!("checksum mismatch (expected {zero}, got {})", sha(&raw)))
        );
        assert_eq!(verify(&w, 9_000_001, &w.sha256), Err("size mismatch (expected 9000001 bytes, got 9000000)".into()));
        let e = write_image(&raw[..], Format::Raw, &mut target, 5 << 20, &mut |_| {}).unwrap_err();
        assert_eq!(e.to_string(), "the image is larger than its recorded size (5242880 bytes)");
        assert!(Format::parse("bz2").is_err());
    }

    #[test]
    fn wipe_zeroes_both_ends_only() {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(&vec![0xaa; 3 << 20]).unwrap();
        assert_eq!(size_of(&mut f).unwrap(), 3 << 20);
        wipe_ends(&mut f, 3 << 20).unwrap();
        let mut back = Vec::new();
        f.seek(SeekFrom::Start(0)).unwrap();
        f.read_to_end(&mut back).unwrap();
        assert!(back[..1 << 20].iter().all(|&b| b == 0) && back[2 << 20..].iter().all(|&b| b == 0));
        assert!(back[1 << 20..2 << 20].iter().all(|&b| b == 0xaa));
        // Smaller than a MiB: all of it.
        let mut small = tempfile::tempfile().unwrap();
        small.write_all(&[1; 1000]).unwrap();
        wipe_ends(&mut small, 1000).unwrap();
        assert_eq!(size_of(&mut small).unwrap(), 1000);
    }
}
