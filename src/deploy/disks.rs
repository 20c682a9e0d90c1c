//! The node's disks as Linux's sysfs describes them (`/sys/block`): what root device hints match.

use serde::Serialize;
use std::path::{Path, PathBuf};

/// One whole disk and the fields root device hints match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Disk {
    /// The kernel's name (`sda`, `nvme0n1`, `vda`); its device is `/dev/NAME`.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    pub removable: bool,
    pub rotational: bool,
    pub model: String,
    pub vendor: String,
    pub serial: String,
    pub wwn: String,
}

impl Disk {
    pub fn path(&self) -> PathBuf {
        Path::new("/dev").join(&self.name)
    }

    /// Size in whole GiB (rounded down), the unit of the `size` hint (as Ironic's).
    pub fn size_gib(&self) -> u64 {
        self.size >> 30
    }
}

/// Block devices that are not disks a node installs to: loop, RAM and compressed-RAM disks, CD-ROMs,
/// device-mapper and software RAID volumes, network block devices, floppies.
const NOT_DISKS: &[&str] = &["loop", "ram", "zram", "sr", "dm-", "md", "nbd", "fd"];

/// The disks under `SYSFS/block`, sorted by name (`sysfs` is `/sys` on a node; tests pass a
/// directory laid out the same way).
pub fn list(sysfs: &Path) -> std::io::Result<Vec<Disk>> {
    let block = sysfs.join("block");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&block)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if NOT_DISKS.iter().any(|p| name.starts_with(p)) {
            continue;
        }
        out.push(read(&block.join(&name), name));
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// One disk's fields from its sysfs directory; a missing attribute reads as empty.
fn read(dir: &Path, name: String) -> Disk {
    let text = |rel: &str| std::fs::read_to_string(dir.join(rel)).map(|s| s.trim().to_string()).unwrap_or_default();
    // `size` counts 512-byte sectors whatever the disk's sector size.
    let sectors: u64 = text("size").parse().unwrap_or(0);
    // virtio-blk puts `serial` on the disk, SCSI/SATA and NVMe on the device (NVMe's device is the
    // controller, whose serial is the drive's); SCSI disks without it have the unit serial number
    // VPD page (0x80): a 4-byte header, then the serial in ASCII.
    let serial = ["serial", "device/serial"].iter().map(|r| text(r)).find(|s| !s.is_empty()).unwrap_or_else(|| {
        std::fs::read(dir.join("device/vpd_pg80"))
            .ok()
            .filter(|b| b.len() > 4)
            .map(|b| {
                String::from_utf8_lossy(&b[4..]).trim_matches(|c: char| c.is_whitespace() || c == '\0').to_string()
            })
            .unwrap_or_default()
    });
    let wwn = ["wwid", "device/wwid"].iter().map(|r| text(r)).find(|s| !s.is_empty()).unwrap_or_default();
    Disk {
        name,
        size: sectors * 512,
        removable: text("removable") == "1",
        rotational: text("queue/rotational") == "1",
        model: text("device/model"),
        vendor: text("device/vendor"),
        serial,
        wwn,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Writes a disk's attributes under `SYSFS/block/NAME` as the kernel lays them out.
    pub(crate) fn fake_disk(sysfs: &Path, name: &str, attrs: &[(&str, &[u8])]) {
        let dir = sysfs.join("block").join(name);
        for (rel, value) in attrs {
            let p = dir.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, value).unwrap();
        }
    }

    #[test]
    fn disks_are_read_from_sysfs_with_their_hint_fields() {
        let sys = tempfile::tempdir().unwrap();
        fake_disk(
            sys.path(),
            "sda",
            &[
                ("size", b"41943040\n"),
                ("removable", b"0\n"),
                ("queue/rotational", b"1\n"),
                ("device/model", b"QEMU HARDDISK   \n"),
                ("device/vendor", b"ATA     \n"),
                ("device/vpd_pg80", b"\0\x80\0\x0cQM00001     "),
                ("device/wwid", b"naa.5000c500a1b2c3d4\n"),
            ],
        );
        fake_disk(
            sys.path(),
            "nvme0n1",
            &[
                ("size", b"2097152\n"),
                ("removable", b"0\n"),
                ("queue/rotational", b"0\n"),
                ("device/model", b"Samsung SSD 980\n"),
                ("device/serial", b"S64DNX0R123456  \n"),
                ("wwid", b"eui.0025385b71b12345\n"),
            ],
        );
        fake_disk(sys.path(), "vda", &[("size", b"20971520\n"), ("serial", b"disk-b\n"), ("removable", b"1\n")]);
        for skipped in ["loop0", "ram0", "zram0", "sr0", "dm-0", "md127", "nbd0", "fd0"] {
            fake_disk(sys.path(), skipped, &[("size", b"100\n")]);
        }
        let disks = list(sys.path()).unwrap();
        let names: Vec<&str> = disks.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["nvme0n1", "sda", "vda"]);
        assert_eq!(
            disks[1],
            Disk {
                name: "sda".into(),
                size: 20 << 30,
                removable: false,
                rotational: true,
                model: "QEMU HARDDISK".into(),
                vendor: "ATA".into(),
                serial: "QM00001".into(),
                wwn: "naa.5000c500a1b2c3d4".into(),
            }
        );
        assert_eq!((disks[0].serial.as_str(), disks[0].wwn.as_str()), ("S64DNX0R123456", "eui.0025385b71b12345"));
        assert!(!disks[0].rotational && disks[0].size_gib() == 1);
        assert_eq!((disks[2].serial.as_str(), disks[2].removable, disks[2].size_gib()), ("disk-b", true, 10));
        assert_eq!(disks[2].path(), Path::new("/dev/vda"));
    }
}
