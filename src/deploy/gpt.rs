//! The partition table after an image is written to a larger disk: GPT keeps a backup header and
//! entry array in the disk's last sectors, so an image's backup sits mid-disk until it is moved to
//! the end; then a small partition for the cloud-init seed goes at the end of the free space.
//! Hand-rolled (a few fixed-layout sectors) so the node needs no sgdisk/sfdisk.

use std::io::{self, Read, Seek, SeekFrom, Write};

/// The seed partition's size.
pub const SEED_SIZE: u64 = 8 << 20;
/// Partitions start on MiB boundaries, as partitioning tools place them.
const ALIGN: u64 = 1 << 20;
/// GPT type "Microsoft basic data" (EBD0A0A2-B9E5-4433-87C0-68B6B72699C7), on-disk byte order:
/// what FAT partitions carry and cloud-init's NoCloud looks for by label.
const BASIC_DATA: [u8; 16] =
    [0xa2, 0xa0, 0xd0, 0xeb, 0xe5, 0xb9, 0x33, 0x44, 0x87, 0xc0, 0x68, 0xb6, 0xb7, 0x26, 0x99, 0xc7];
/// MBR type of a FAT32 (LBA) partition, which FAT12/16 volumes may also carry.
const MBR_FAT_LBA: u8 = 0x0c;
const MBR_PROTECTIVE: u8 = 0xee;
pub const SEED_NAME: &str = "cidata";

/// A byte range of the disk, and the disk's logical sector size (the filesystem made there must
/// not use smaller sectors: Linux does not mount those on 4Kn disks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    pub offset: u64,
    pub len: u64,
    pub sector: u64,
}

/// What [`fix`] did: log lines, and where the seed partition is (None: no room or no table).
#[derive(Debug, Default)]
pub struct Outcome {
    pub lines: Vec<String>,
    pub seed: Option<Region>,
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}
fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}
fn put_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

fn read_at<D: Read + Seek>(disk: &mut D, offset: u64, len: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    disk.seek(SeekFrom::Start(offset))?;
    disk.read_exact(&mut buf)?;
    Ok(buf)
}

fn write_at<D: Write + Seek>(disk: &mut D, offset: u64, bytes: &[u8]) -> io::Result<()> {
    disk.seek(SeekFrom::Start(offset))?;
    disk.write_all(bytes)
}

/// The GPT header's fields (offsets from the UEFI specification, 5.3.2).
mod hdr {
    pub const SIGNATURE: &[u8; 8] = b"EFI PART";
    pub const SIZE: usize = 12;
    pub const CRC: usize = 16;
    pub const MY_LBA: usize = 24;
    pub const ALTERNATE_LBA: usize = 32;
    pub const FIRST_USABLE: usize = 40;
    pub const LAST_USABLE: usize = 48;
    pub const ENTRIES_LBA: usize = 72;
    pub const ENTRIES: usize = 80;
    pub const ENTRY_SIZE: usize = 84;
    pub const ENTRIES_CRC: usize = 88;
}

/// The header's CRC32 over its first `header size` bytes with the CRC field zeroed.
fn header_crc(h: &[u8]) -> u32 {
    let size = (u32_at(h, hdr::SIZE) as usize).clamp(92, h.len());
    let mut copy = h[..size].to_vec();
    put_u32(&mut copy, hdr::CRC, 0);
    crc32fast::hash(&copy)
}

/// Moves the backup GPT to the end of a disk of `disk_size` bytes if it is not there, and adds the
/// seed partition at the end of the free space (GPT: a new entry; MBR: a free primary slot).
pub fn fix<D: Read + Write + Seek>(disk: &mut D, disk_size: u64) -> io::Result<Outcome> {
    if disk_size < 2 * 4096 {
        return Ok(Outcome { lines: vec!["no partition table: no seed partition".into()], seed: None });
    }
    // The header is at LBA 1: byte 512 on 512-byte-sector disks, 4096 on 4Kn ones.
    for sector in [512u64, 4096] {
        let h = read_at(disk, sector, sector as usize)?;
        if &h[..8] == hdr::SIGNATURE {
            return fix_gpt(disk, disk_size, sector, h);
        }
    }
    fix_mbr(disk, disk_size)
}

fn fix_gpt<D: Read + Write + Seek>(disk: &mut D, disk_size: u64, ss: u64, mut h: Vec<u8>) -> io::Result<Outcome> {
    let mut out = Outcome::default();
    let bad =
        |why: String| Ok(Outcome { lines: vec![format!("GPT {why}: left as it is, no seed partition")], seed: None });
    if header_crc(&h) != u32_at(&h, hdr::CRC) {
        return bad("header CRC is wrong".into());
    }
    let (count, entry_size) = (u32_at(&h, hdr::ENTRIES) as u64, u32_at(&h, hdr::ENTRY_SIZE) as u64);
    if !(128..=4096).contains(&entry_size) || count == 0 || count * entry_size > 1 << 20 {
        return bad(format!("entry array of {count} x {entry_size} bytes is unusual"));
    }
    let entry_bytes = count * entry_size;
    let entry_sectors = entry_bytes.div_ceil(ss);
    let mut entries = read_at(disk, u64_at(&h, hdr::ENTRIES_LBA) * ss, entry_bytes as usize)?;
    if crc32fast::hash(&entries) != u32_at(&h, hdr::ENTRIES_CRC) {
        return bad("entry array CRC is wrong".into());
    }
    let last_lba = disk_size / ss - 1;
    let old_backup = u64_at(&h, hdr::ALTERNATE_LBA);
    if old_backup > last_lba {
        return bad(format!("backup header at LBA {old_backup} is beyond the disk's end (LBA {last_lba})"));
    }
    let backup_entries = last_lba - entry_sectors;
    let moved = old_backup != last_lba;
    if moved {
        put_u64(&mut h, hdr::ALTERNATE_LBA, last_lba);
        put_u64(&mut h, hdr::LAST_USABLE, backup_entries - 1);
        out.lines.push(format!("GPT: backup header moved from LBA {old_backup} to the disk's end (LBA {last_lba})"));
    }

    // The seed partition: a free entry, at the end of the free space after the last partition.
    let first_usable = u64_at(&h, hdr::FIRST_USABLE);
    let last_usable = u64_at(&h, hdr::LAST_USABLE);
    let used = |e: &[u8]| e[..16].iter().any(|&b| b != 0);
    let mut end_of_used = first_usable.saturating_sub(1);
    let mut free_slot = None;
    for (i, e) in entries.chunks(entry_size as usize).enumerate() {
        if used(e) {
            end_of_used = end_of_used.max(u64_at(e, 40));
        } else if free_slot.is_none() {
            free_slot = Some(i);
        }
    }
    let seed_sectors = SEED_SIZE / ss;
    let start = ((last_usable + 1).saturating_sub(seed_sectors) * ss / ALIGN * ALIGN) / ss;
    match free_slot {
        None => out.lines.push(format!("GPT: all {count} entries are used: no seed partition")),
        Some(_) if start <= end_of_used || start < first_usable => out
            .lines
            .push(format!("GPT: less than {} MiB free after the last partition: no seed partition", SEED_SIZE >> 20)),
        Some(slot) => {
            let e = &mut entries[slot * entry_size as usize..(slot + 1) * entry_size as usize];
            e.fill(0);
            e[..16].copy_from_slice(&BASIC_DATA);
            e[16..32].copy_from_slice(&random_guid()?);
            put_u64(e, 32, start);
            put_u64(e, 40, start + seed_sectors - 1);
            for (i, unit) in SEED_NAME.encode_utf16().enumerate() {
                e[56 + 2 * i..58 + 2 * i].copy_from_slice(&unit.to_le_bytes());
            }
            out.lines.push(format!(
                "GPT: partition {} '{SEED_NAME}' added at LBA {start} ({} MiB)",
                slot + 1,
                SEED_SIZE >> 20
            ));
            out.seed = Some(Region { offset: start * ss, len: SEED_SIZE, sector: ss });
        }
    }
    if !moved && out.seed.is_none() {
        return Ok(out);
    }

    put_u32(&mut h, hdr::ENTRIES_CRC, crc32fast::hash(&entries));
    let crc = header_crc(&h);
    put_u32(&mut h, hdr::CRC, crc);
    // The backup: the same header seen from the end (its own LBA, the primary as alternate, its
    // entries before it).
    let mut backup = h.clone();
    put_u64(&mut backup, hdr::MY_LBA, last_lba);
    put_u64(&mut backup, hdr::ALTERNATE_LBA, 1);
    put_u64(&mut backup, hdr::ENTRIES_LBA, backup_entries);
    let crc = header_crc(&backup);
    put_u32(&mut backup, hdr::CRC, crc);
    write_at(disk, backup_entries * ss, &entries)?;
    write_at(disk, last_lba * ss, &backup)?;
    write_at(disk, u64_at(&h, hdr::ENTRIES_LBA) * ss, &entries)?;
    write_at(disk, ss, &h)?;
    if moved {
        // A stale backup mid-disk would confuse tools that look for one.
        write_at(disk, old_backup * ss, &vec![0u8; ss as usize])?;
        fix_protective_mbr(disk, last_lba, &mut out)?;
    }
    Ok(out)
}

/// The protective MBR's 0xEE partition covers the whole disk (or 2^32-1 sectors, its maximum).
fn fix_protective_mbr<D: Read + Write + Seek>(disk: &mut D, last_lba: u64, out: &mut Outcome) -> io::Result<()> {
    let mut mbr = read_at(disk, 0, 512)?;
    let e = 446;
    if mbr[510..512] != [0x55, 0xaa] || mbr[e + 4] != MBR_PROTECTIVE {
        return Ok(());
    }
    let want = last_lba.min(u32::MAX as u64) as u32;
    if u32_at(&mbr, e + 12) != want {
        put_u32(&mut mbr, e + 12, want);
        write_at(disk, 0, &mbr)?;
        out.lines.push("GPT: protective MBR resized to the disk".into());
    }
    Ok(())
}

/// An MBR-only disk: the seed goes into a free primary slot at the end of the disk.
fn fix_mbr<D: Read + Write + Seek>(disk: &mut D, disk_size: u64) -> io::Result<Outcome> {
    let mut mbr = read_at(disk, 0, 512)?;
    let slots: Vec<(u8, u8, u64, u64)> = (0..4)
        .map(|i| {
            let e = &mbr[446 + 16 * i..462 + 16 * i];
            (e[0], e[4], u32_at(e, 8) as u64, u32_at(e, 12) as u64)
        })
        .collect();
    // A boot sector of a bare filesystem also ends in 55 AA; its code is no table.
    let looks_like_table = mbr[510..512] == [0x55, 0xaa]
        && slots.iter().all(|&(boot, ..)| boot == 0 || boot == 0x80)
        && slots.iter().any(|&(_, kind, start, len)| kind != 0 && start > 0 && len > 0);
    if !looks_like_table {
        return Ok(Outcome { lines: vec!["no partition table: no seed partition".into()], seed: None });
    }
    let sectors = (disk_size / 512).min(u32::MAX as u64);
    let end_of_used = slots.iter().filter(|s| s.1 != 0).map(|&(_, _, start, len)| start + len).max().unwrap_or(1);
    let seed_sectors = SEED_SIZE / 512;
    let start = sectors.saturating_sub(seed_sectors) / (ALIGN / 512) * (ALIGN / 512);
    let Some(slot) = slots.iter().position(|s| s.1 == 0 && s.3 == 0) else {
        return Ok(Outcome { lines: vec!["MBR: all 4 primary slots are used: no seed partition".into()], seed: None });
    };
    if start < end_of_used {
        return Ok(Outcome {
            lines: vec![format!(
                "MBR: less than {} MiB free after the last partition: no seed partition",
                SEED_SIZE >> 20
            )],
            seed: None,
        });
    }
    let e = &mut mbr[446 + 16 * slot..462 + 16 * slot];
    // CHS fields past 8 GiB are all-ones by convention; LBA is what counts.
    e.copy_from_slice(&[0, 0xfe, 0xff, 0xff, MBR_FAT_LBA, 0xfe, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0]);
    put_u32(e, 8, start as u32);
    put_u32(e, 12, seed_sectors as u32);
    write_at(disk, 0, &mbr)?;
    Ok(Outcome {
        lines: vec![format!(
            "MBR: partition {} ({SEED_NAME}, type 0x0c) added at sector {start} ({} MiB)",
            slot + 1,
            SEED_SIZE >> 20
        )],
        seed: Some(Region { offset: start * 512, len: SEED_SIZE, sector: 512 }),
    })
}

/// A random (version 4) GUID in GPT's on-disk byte order.
fn random_guid() -> io::Result<[u8; 16]> {
    let mut g = [0u8; 16];
    getrandom::fill(&mut g).map_err(|e| io::Error::other(format!("random GUID: {e}")))?;
    // data3 is stored little-endian: its high nibble (the version) is in byte 7.
    g[7] = (g[7] & 0x0f) | 0x40;
    g[8] = (g[8] & 0x3f) | 0x80;
    Ok(g)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::process::Command;

    fn sfdisk_available() -> bool {
        let ok = Command::new("sfdisk").arg("--version").output().is_ok();
        if !ok {
            assert!(std::env::var_os("CI").is_none(), "sfdisk missing: .ci/run must install fdisk");
            eprintln!("skipped: sfdisk is not installed");
        }
        ok
    }

    /// A disk image of `size` bytes partitioned by sfdisk from `script`.
    fn partitioned(path: &Path, size: u64, script: &str) {
        std::fs::File::create(path).unwrap().set_len(size).unwrap();
        let mut child = Command::new("sfdisk")
            .args(["-q", "--no-reread", "--no-tell-kernel"])
            .arg(path)
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(script.as_bytes()).unwrap();
        assert!(child.wait().unwrap().success(), "sfdisk {script:?}");
    }

    /// sfdisk --verify's report (stdout and stderr).
    fn verify(path: &Path) -> String {
        let o = Command::new("sfdisk").arg("--verify").arg(path).output().unwrap();
        String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr)
    }

    fn dump(path: &Path) -> String {
        let o = Command::new("sfdisk").arg("-d").arg(path).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).to_string()
    }

    /// Grows `path` to `size` (as an image written to a larger disk) and runs [`fix`] on it.
    fn grow_and_fix(path: &Path, size: u64) -> Outcome {
        let mut f = std::fs::OpenOptions::new().read(true).write(true).open(path).unwrap();
        f.set_len(size).unwrap();
        fix(&mut f, size).unwrap()
    }

    #[test]
    fn gpt_image_on_a_larger_disk_gets_its_backup_moved_and_a_seed_partition() {
        if !sfdisk_available() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("disk.img");
        partitioned(&img, 16 << 20, "label: gpt\n,4MiB,U\n,,L\n");
        let before = dump(&img);
        let out = grow_and_fix(&img, 64 << 20);
        assert_eq!(
            out.lines,
            [
                "GPT: backup header moved from LBA 32767 to the disk's end (LBA 131071)",
                "GPT: partition 3 'cidata' added at LBA 112640 (8 MiB)",
                "GPT: protective MBR resized to the disk",
            ]
        );
        assert_eq!(out.seed, Some(Region { offset: 55 << 20, len: 8 << 20, sector: 512 }));
        let report = verify(&img);
        assert!(report.contains("No errors detected.") && !report.contains("error detected"), "{report}");
        let after = dump(&img);
        // The image's partitions are unchanged; the new one has the type, the name, its own GUID.
        for line in before.lines().filter(|l| l.contains(" : start=")) {
            assert!(after.contains(line), "{line} lost:\n{after}");
        }
        let seed = after.lines().find(|l| l.contains("name=\"cidata\"")).unwrap_or_else(|| panic!("{after}"));
        assert!(
            seed.contains("start=      112640, size=       16384, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7"),
            "{seed}"
        );
        assert!(after.contains("last-lba: 131038"), "{after}");
        // Run again: nothing to move, no room at the end.
        let again = grow_and_fix(&img, 64 << 20);
        assert_eq!(again.lines, ["GPT: less than 8 MiB free after the last partition: no seed partition"]);
        assert!(verify(&img).contains("No errors detected."));
    }

    #[test]
    fn gpt_without_room_is_only_moved() {
        if !sfdisk_available() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("disk.img");
        partitioned(&img, 16 << 20, "label: gpt\n,,L\n");
        let out = grow_and_fix(&img, 20 << 20);
        assert_eq!(out.lines[0], "GPT: backup header moved from LBA 32767 to the disk's end (LBA 40959)");
        assert_eq!(out.lines[1], "GPT: less than 8 MiB free after the last partition: no seed partition");
        assert_eq!(out.seed, None);
        let report = verify(&img);
        assert!(report.contains("No errors detected.") && !report.contains("error detected"), "{report}");
    }

    #[test]
    fn mbr_image_gets_the_seed_in_a_free_primary_slot() {
        if !sfdisk_available() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("disk.img");
        partitioned(&img, 16 << 20, "label: dos\n,8MiB,83,*\n");
        let out = grow_and_fix(&img, 40 << 20);
        assert_eq!(out.lines, ["MBR: partition 2 (cidata, type 0x0c) added at sector 65536 (8 MiB)"]);
        assert_eq!(out.seed, Some(Region { offset: 32 << 20, len: 8 << 20, sector: 512 }));
        let report = verify(&img);
        assert!(report.contains("No errors detected."), "{report}");
        assert!(dump(&img).contains("start=       65536, size=       16384, type=c"), "{}", dump(&img));
    }

    #[test]
    fn no_table_no_seed() {
        let mut blank = io::Cursor::new(vec![0u8; 1 << 20]);
        assert_eq!(fix(&mut blank, 1 << 20).unwrap().lines, ["no partition table: no seed partition"]);
        assert!(blank.get_ref().iter().all(|&b| b == 0));
    }
}
