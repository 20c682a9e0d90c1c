//! The node side of discovery: the machine's inventory as Linux shows it under `/sys` and
//! `/proc` (DMI, CPUs, memory, disks, NICs), the report [`super::Report`] the agent posts.

use super::{Cpu, Nic, Report};
use std::path::Path;

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).map(|s| s.trim().to_string()).unwrap_or_default()
}

/// The inventory under `root` (`/` on a node; tests pass a directory laid out the same way).
/// `bootmac` is the NIC the machine booted from (BOOTIF), if known; else the first NIC with a link.
pub fn collect(root: &Path, bootmac: Option<&str>) -> Report {
    let dmi = root.join("sys/class/dmi/id");
    let nics = nics(root);
    let bootmac = bootmac
        .and_then(|m| crate::node::parse_mac(m).ok())
        .or_else(|| nics.iter().find(|n| n.carrier).or(nics.first()).map(|n| n.mac.clone()))
        .unwrap_or_default();
    let uuid = read(&dmi.join("product_uuid")).to_ascii_lowercase();
    // A machine without a DMI UUID is keyed by its boot MAC.
    let uuid = if super::check_uuid(&uuid).is_ok() {
        uuid
    } else {
        format!("00000000-0000-0000-0000-{}", bootmac.replace(':', ""))
    };
    Report {
        uuid,
        serial: read(&dmi.join("product_serial")),
        mtm: read(&dmi.join("product_name")),
        vendor: read(&dmi.join("sys_vendor")),
        arch: std::env::consts::ARCH.to_string(),
        bootmac,
        cpu: cpu(root),
        memory_mb: memory_mb(root),
        disks: crate::deploy::disks::list(&root.join("sys")).unwrap_or_default(),
        nics,
        bmc: None,
    }
}

/// The CPU model (the first `model name`) and the number of logical CPUs of /proc/cpuinfo.
fn cpu(root: &Path) -> Cpu {
    let text = read(&root.join("proc/cpuinfo"));
    let field = |l: &str, k: &str| l.split_once(':').filter(|(a, _)| a.trim() == k).map(|(_, v)| v.trim().to_string());
    let count = text.lines().filter(|l| field(l, "processor").is_some()).count() as u32;
    let model = text.lines().find_map(|l| field(l, "model name")).unwrap_or_default();
    Cpu { model, count: count.max(1) }
}

/// Installed memory in MiB: the sizes of the SMBIOS memory devices (type 17), which is what the
/// machine has (what QEMU's -m says); without them /proc/meminfo's MemTotal, which is less (the
/// kernel's own share is not counted).
fn memory_mb(root: &Path) -> u64 {
    let mut total = 0u64;
    if let Ok(dir) = std::fs::read_dir(root.join("sys/firmware/dmi/entries")) {
        for e in dir.flatten() {
            if !e.file_name().to_string_lossy().starts_with("17-") {
                continue;
            }
            let raw = std::fs::read(e.path().join("raw")).unwrap_or_default();
            total += smbios17_mib(&raw).unwrap_or(0);
        }
    }
    if total > 0 {
        return total;
    }
    let kb = read(&root.join("proc/meminfo"))
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:").and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok()))
        .unwrap_or(0);
    (kb / 1024).max(1)
}

/// The size (MiB) of an SMBIOS type 17 structure: the word at 0x0C (bit 15 set: KiB; 0x7FFF: the
/// extended size, MiB, at 0x1C; 0 or 0xFFFF: empty or unknown).
pub fn smbios17_mib(raw: &[u8]) -> Option<u64> {
    if raw.first() != Some(&17) {
        return None;
    }
    let size = u16::from_le_bytes([*raw.get(0x0C)?, *raw.get(0x0D)?]);
    match size {
        0 | 0xFFFF => None,
        0x7FFF => raw.get(0x1C..0x20).map(|b| u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) & 0x7FFF_FFFF)),
        s if s & 0x8000 != 0 => Some(u64::from(s & 0x7FFF) / 1024),
        s => Some(u64::from(s)),
    }
}

/// The physical NICs (those with a device behind them), sorted by name.
fn nics(root: &Path) -> Vec<Nic> {
    let base = root.join("sys/class/net");
    let mut out = Vec::new();
    for e in std::fs::read_dir(&base).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let dir = base.join(&name);
        if name == "lo" || !dir.join("device").exists() {
            continue;
        }
        let Ok(mac) = crate::node::parse_mac(&read(&dir.join("address"))) else { continue };
        let carrier = read(&dir.join("carrier")) == "1";
        let speed = read(&dir.join("speed")).parse::<i64>().ok().filter(|s| *s > 0).map(|s| s as u32);
        out.push(Nic { name, mac, carrier, speed });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smbios_memory_device_sizes() {
        let mut raw = vec![0u8; 0x22];
        raw[0] = 17;
        raw[0x0C..0x0E].copy_from_slice(&512u16.to_le_bytes());
        assert_eq!(smbios17_mib(&raw), Some(512));
        raw[0x0C..0x0E].copy_from_slice(&0x7FFFu16.to_le_bytes());
        raw[0x1C..0x20].copy_from_slice(&65536u32.to_le_bytes());
        assert_eq!(smbios17_mib(&raw), Some(65536));
        raw[0x0C..0x0E].copy_from_slice(&(0x8000u16 | 2048).to_le_bytes());
        assert_eq!(smbios17_mib(&raw), Some(2));
        raw[0x0C..0x0E].copy_from_slice(&0u16.to_le_bytes());
        assert_eq!(smbios17_mib(&raw), None);
        raw[0] = 16;
        assert_eq!(smbios17_mib(&raw), None);
    }

    #[test]
    fn collects_from_a_sysfs_tree() {
        let d = tempfile::tempdir().unwrap();
        let w = |rel: &str, text: &str| {
            let p = d.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        w("sys/class/dmi/id/product_uuid", "0A1B2C3D-0000-1111-2222-333344445555\n");
        w("sys/class/dmi/id/product_serial", "SN123\n");
        w("sys/class/dmi/id/product_name", "Standard PC\n");
        w(
            "proc/cpuinfo",
            "processor\t: 0\nmodel name\t: QEMU Virtual CPU\n\nprocessor\t: 1\nmodel name\t: QEMU Virtual CPU\n",
        );
        w("proc/meminfo", "MemTotal:        1000000 kB\n");
        w("sys/class/net/eth0/address", "52:54:00:AA:BB:01\n");
        w("sys/class/net/eth0/carrier", "1\n");
        w("sys/class/net/eth0/device/x", "");
        w("sys/class/net/lo/address", "00:00:00:00:00:00\n");
        w("sys/block/vda/size", "131072\n");
        w("sys/block/vda/queue/rotational", "0\n");
        w("sys/block/vda/serial", "OXD\n");
        let r = collect(d.path(), None);
        assert_eq!(r.uuid, "0a1b2c3d-0000-1111-2222-333344445555");
        assert_eq!((r.serial.as_str(), r.mtm.as_str()), ("SN123", "Standard PC"));
        assert_eq!(r.cpu, Cpu { model: "QEMU Virtual CPU".into(), count: 2 });
        assert_eq!(r.memory_mb, 976);
        assert_eq!(r.bootmac, "52:54:00:aa:bb:01");
        assert_eq!(r.nics.len(), 1);
        assert_eq!((r.disks[0].name.as_str(), r.disks[0].size, r.disks[0].serial.as_str()), ("vda", 64 << 20, "OXD"));
        r.check().unwrap();
    }
}
