//! The cloud-init NoCloud seed: a FAT filesystem labelled CIDATA (what cloud-init's NoCloud
//! datasource looks for) holding the plan's seed files, made inside the seed partition.

use super::gpt::Region;
use std::collections::BTreeMap;
use std::io::{self, Read, Seek, SeekFrom, Write};

/// The volume label, padded to FAT's 11 bytes.
const LABEL: &[u8; 11] = b"CIDATA     ";

/// A window onto `region` of a larger device, as the filesystem code sees a whole volume.
struct Slice<'a, D> {
    disk: &'a mut D,
    region: Region,
    pos: u64,
}

impl<D: Seek> Slice<'_, D> {
    fn sync_position(&mut self) -> io::Result<()> {
        self.disk.seek(SeekFrom::Start(self.region.offset + self.pos)).map(drop)
    }

    fn room(&self, want: usize) -> usize {
        (self.region.len.saturating_sub(self.pos)).min(want as u64) as usize
    }
}

impl<D: Read + Seek> Read for Slice<'_, D> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.room(buf.len());
        self.sync_position()?;
        let n = self.disk.read(&mut buf[..n])?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl<D: Write + Seek> Write for Slice<'_, D> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.room(buf.len());
        if n == 0 && !buf.is_empty() {
            return Err(io::Error::new(io::ErrorKind::WriteZero, "write past the end of the seed partition"));
        }
        self.sync_position()?;
        let n = self.disk.write(&buf[..n])?;
        self.pos += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.disk.flush()
    }
}

impl<D: Seek> Seek for Slice<'_, D> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let pos = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.region.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = pos.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the partition"))?;
        Ok(self.pos)
    }
}

/// Formats `region` of `disk` as FAT labelled CIDATA and writes `files` (name -> text) into its
/// root directory.
pub fn write<D: Read + Write + Seek>(disk: &mut D, region: Region, files: &BTreeMap<String, String>) -> io::Result<()> {
    if let Some(bad) = files.keys().find(|n| n.is_empty() || n.contains(['/', '\\', '\0'])) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("seed file name '{bad}' is not a plain file name"),
        ));
    }
    // fatfs formats quickly (no zeroing): clear the region so nothing of the image's old bytes
    // shows through as directory entries.
    disk.seek(SeekFrom::Start(region.offset))?;
    let zeros = vec![0u8; 1 << 20];
    let mut left = region.len;
    while left > 0 {
        let n = left.min(zeros.len() as u64) as usize;
        disk.write_all(&zeros[..n])?;
        left -= n as u64;
    }
    let sector = u16::try_from(region.sector).map_err(|_| io::Error::other("sector size over 32 KiB"))?;
    let options = fatfs::FormatVolumeOptions::new().volume_label(*LABEL).bytes_per_sector(sector);
    fatfs::format_volume(Slice { disk: &mut *disk, region, pos: 0 }, options)?;
    let fs = fatfs::FileSystem::new(Slice { disk: &mut *disk, region, pos: 0 }, fatfs::FsOptions::new())?;
    {
        let root = fs.root_dir();
        for (name, text) in files {
            let mut f = root.create_file(name)?;
            f.truncate()?;
            f.write_all(text.as_bytes())?;
            f.flush()?;
        }
    }
    fs.unmount()?;
    disk.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn tool(name: &str, package: &str) -> bool {
        let ok = Command::new(name).arg("--version").output().is_ok();
        if !ok {
            assert!(std::env::var_os("CI").is_none(), "{name} missing: .ci/run must install {package}");
            eprintln!("skipped: {name} is not installed");
        }
        ok
    }

    #[test]
    fn seed_is_a_cidata_fat_volume_that_blkid_and_mtools_read() {
        if !tool("blkid", "util-linux") || !tool("mtype", "mtools") {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("disk.img");
        // Old bytes around and inside the region: the seed must not leak into or out of it.
        std::fs::write(&path, vec![0x5a; 16 << 20]).unwrap();
        let mut disk = std::fs::OpenOptions::new().read(true).write(true).open(&path).unwrap();
        let region = Region { offset: 4 << 20, len: 8 << 20, sector: 512 };
        let files: BTreeMap<String, String> = [
            ("meta-data", "instance-id: oxcat-n1-0123456789ab\nlocal-hostname: n1\n".to_string()),
            ("user-data", "#cloud-config\nhostname: n1\n".to_string()),
            ("oxcat-firstboot.sh", "#!/bin/sh\n".repeat(2000)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        write(&mut disk, region, &files).unwrap();
        drop(disk);
        let bytes = std::fs::read(&path).unwrap();
        assert!(bytes[..4 << 20].iter().chain(&bytes[12 << 20..]).all(|&b| b == 0x5a), "wrote outside the region");
        let o = Command::new("blkid").args(["-p", "-O", "4194304", "-o", "export"]).arg(&path).output().unwrap();
        let probe = String::from_utf8_lossy(&o.stdout);
        assert!(probe.contains("LABEL=CIDATA\n") && probe.contains("TYPE=vfat\n"), "blkid: {probe}");
        for (name, text) in &files {
            let o = Command::new("mtype")
                .arg("-i")
                .arg(format!("{}@@4194304", path.display()))
                .arg(format!("::{name}"))
                .output()
                .unwrap();
            assert!(o.status.success(), "mtype {name}: {}", String::from_utf8_lossy(&o.stderr));
            assert_eq!(String::from_utf8_lossy(&o.stdout), *text, "{name}");
        }
        let mut bad = BTreeMap::new();
        bad.insert("../x".to_string(), String::new());
        let mut f = std::fs::OpenOptions::new().read(true).write(true).open(&path).unwrap();
        assert!(write(&mut f, region, &bad).unwrap_err().to_string().contains("'../x' is not a plain file name"));
    }
}
