//! The SDR cache (xCAT's `site.ipmisdrcache`): a BMC's sensor data records are read once and kept
//! on disk, so `rvitals` costs two small requests plus the readings instead of a walk through the
//! whole repository (four or five requests per record) on every run.
//!
//! A cache entry is valid for a BMC while two answers stay the same: Get Device ID (device,
//! revision, firmware, IPMI version, manufacturer, product, auxiliary firmware) and Get SDR
//! Repository Info (version, record count, free space, most recent addition and erase timestamps).
//! Any SDR added, deleted or erased, or a firmware update, changes one of them and the records are
//! read again.
//!
//! Entries are shared between BMCs only when the repository carries a real addition timestamp: the
//! same firmware of the same product, holding the same number of records, written in the same
//! second. Without one (0 or the "unspecified" FFFFFFFFh, common on BMCs that build their SDRs at
//! boot from the hardware they find), an entry belongs to one BMC address, because two machines of
//! one model may then hold different records.

use super::cmds;
use super::session::Session;
use super::IpmiError;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The first bytes of every cache file; a file without them (or of another layout) is not used.
const MAGIC: &[u8; 8] = b"OXSDR01\n";

/// Timestamps that say "no time was recorded".
fn real_time(t: [u8; 4]) -> bool {
    let t = u32::from_le_bytes(t);
    t != 0 && t != 0xffff_ffff
}

/// Where a BMC's records are kept, and how it is told whether they are still its records.
pub struct SdrCache {
    dir: PathBuf,
}

impl SdrCache {
    /// A cache in `dir` (created 0700 on first write).
    pub fn new(dir: impl Into<PathBuf>) -> SdrCache {
        SdrCache { dir: dir.into() }
    }

    /// The cache beside the store, `<store dir>/sdrcache`, unless `site.ipmisdrcache` says no.
    pub fn for_store(store: &crate::store::Store) -> crate::error::Result<Option<SdrCache>> {
        let off = crate::store::site_value(store.conn(), "ipmisdrcache")?
            .is_some_and(|v| matches!(v.as_str(), "n" | "no" | "0"));
        let dir = store.path().parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        Ok((!off).then(|| SdrCache::new(dir.join("sdrcache"))))
    }

    /// The BMC's SDRs: from the cache when its identity is unchanged, else read from the BMC and
    /// stored. A cache that cannot be written costs only the next run's time, so write errors are
    /// not reported.
    pub async fn records(&self, s: &mut Session, bmc: SocketAddr) -> Result<Vec<Vec<u8>>, IpmiError> {
        let identity = identity(s).await?;
        let file = self.dir.join(entry_name(&identity, bmc));
        if let Some(records) = read_entry(&file, &identity) {
            return Ok(records);
        }
        let records = cmds::sdr_records(s).await?;
        let _ = self.write_entry(&file, &identity, &records);
        Ok(records)
    }

    fn write_entry(&self, file: &Path, identity: &[u8], records: &[Vec<u8>]) -> std::io::Result<()> {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&self.dir)?;
        let mut bytes = MAGIC.to_vec();
        bytes.extend((identity.len() as u16).to_le_bytes());
        bytes.extend(identity);
        bytes.extend((records.len() as u32).to_le_bytes());
        for r in records {
            bytes.extend((r.len() as u16).to_le_bytes());
            bytes.extend(r);
        }
        // Written aside and renamed: a reader sees the old entry or the new one, never half.
        let tmp = file.with_extension(format!("tmp{}", std::process::id()));
        let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
        f.write_all(&bytes)?;
        drop(f);
        std::fs::rename(&tmp, file).inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
    }
}

/// Get Device ID and Get SDR Repository Info, concatenated: what must not change for an entry to
/// stay valid.
async fn identity(s: &mut Session) -> Result<Vec<u8>, IpmiError> {
    let mut id = cmds::device_id_bytes(s).await?;
    id.extend(cmds::sdr_repository_info(s).await?);
    Ok(id)
}

/// The entry's file name: the identity's digest, plus the BMC's address unless the repository
/// carries a real addition timestamp (see the module comment).
fn entry_name(identity: &[u8], bmc: SocketAddr) -> String {
    let mut h = Sha256::new();
    h.update(identity);
    let info = identity.len().checked_sub(14).map(|start| &identity[start..]);
    let shareable = info.is_some_and(|i| real_time([i[5], i[6], i[7], i[8]]));
    if !shareable {
        h.update(bmc.to_string().as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect::<String>() + ".sdr"
}

/// The records of a cache file, if it is one of ours and was written for this identity.
fn read_entry(file: &Path, identity: &[u8]) -> Option<Vec<Vec<u8>>> {
    let bytes = std::fs::read(file).ok()?;
    let mut rest = bytes.strip_prefix(MAGIC.as_slice())?;
    let mut take = |n: usize| -> Option<&[u8]> {
        let (head, tail) = (rest.get(..n)?, rest.get(n..)?);
        rest = tail;
        Some(head)
    };
    let id_len = u16::from_le_bytes(take(2)?.try_into().ok()?) as usize;
    if take(id_len)? != identity {
        return None;
    }
    let count = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
    let mut records = Vec::with_capacity(count.min(4096));
    for _ in 0..count {
        let len = u16::from_le_bytes(take(2)?.try_into().ok()?) as usize;
        records.push(take(len)?.to_vec());
    }
    rest.is_empty().then_some(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(addition: u32) -> Vec<u8> {
        let mut id = vec![0x20, 0x01, 0x02, 0x03, 0x02, 0x9f, 0x91, 0x12, 0x00, 0x02, 0x0f];
        id.extend([0x51, 0x01, 0x00, 0xfe, 0xff]);
        id.extend(addition.to_le_bytes());
        id.extend([0, 0, 0, 0, 0x02]);
        id
    }

    #[test]
    fn entries_are_shared_only_with_a_real_addition_timestamp() {
        let a: SocketAddr = "127.0.0.2:623".parse().unwrap();
        let b: SocketAddr = "127.0.0.3:623".parse().unwrap();
        assert_eq!(entry_name(&identity(0x6b0f9bb8), a), entry_name(&identity(0x6b0f9bb8), b));
        assert_ne!(entry_name(&identity(0x6b0f9bb9), a), entry_name(&identity(0x6b0f9bb8), a));
        for unset in [0, 0xffff_ffff] {
            assert_ne!(entry_name(&identity(unset), a), entry_name(&identity(unset), b));
        }
    }

    #[test]
    fn an_entry_is_read_back_only_for_its_identity_and_only_whole() {
        let dir = tempfile::tempdir().unwrap();
        let cache = SdrCache::new(dir.path().join("c"));
        let file = dir.path().join("c").join("e.sdr");
        let records = vec![vec![1, 0, 0x51, 1, 2, 9, 9], vec![2, 0, 0x51, 2, 0]];
        cache.write_entry(&file, &identity(5), &records).unwrap();
        assert_eq!(read_entry(&file, &identity(5)), Some(records));
        assert_eq!(read_entry(&file, &identity(6)), None);
        let mut bytes = std::fs::read(&file).unwrap();
        bytes.pop();
        std::fs::write(&file, &bytes).unwrap();
        assert_eq!(read_entry(&file, &identity(5)), None, "a truncated file is not used");
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!((mode(&dir.path().join("c")), mode(&file)), (0o700, 0o600));
    }
}
