//! The test OS that disk deploys write: tests/lab/diskimage.sh assembles a whole-disk image from
//! Debian's packages without loop devices or mounts. A QEMU VM (TCG) boots a copy of
//! it straight from its virtio disk, with SeaBIOS (syslinux through gptmbr.bin) and with OVMF
//! (GRUB as \EFI\BOOT\BOOTX64.EFI), and once with a NoCloud seed partition (CIDATA) added the way
//! the node agent adds it, whose hostname and first-boot script the test OS picks up (its NIC on
//! QEMU's user network with restrict=on, inside a network namespace of the test's own: nothing
//! leaves the VM but its DHCP request to QEMU).

use crate::harness::{peers, Lab};
use crate::netboot::{assert_lines, Vm};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The programs diskimage.sh and these tests run, and OVMF's firmware files.
fn available() -> bool {
    peers(
        &["qemu-system-x86_64", "cpio", "apt-get", "sfdisk", "mkfs.vfat", "mcopy", "syslinux", "grub-mkstandalone"],
        "qemu-system-x86, cpio, fdisk, dosfstools, mtools, syslinux, syslinux-common, grub-common, grub-efi-amd64-bin",
    ) && ovmf().is_some()
}

/// OVMF's code and the variable store that goes with it (each VM gets a copy of the latter).
pub(crate) fn ovmf() -> Option<(PathBuf, PathBuf)> {
    let pairs = [("OVMF_CODE_4M.fd", "OVMF_VARS_4M.fd"), ("OVMF_CODE.fd", "OVMF_VARS.fd")];
    let dir = Path::new("/usr/share/OVMF");
    let found = pairs.iter().map(|(c, v)| (dir.join(c), dir.join(v))).find(|(c, v)| c.exists() && v.exists());
    if found.is_none() {
        assert!(std::env::var_os("CI").is_none(), "/usr/share/OVMF is missing: .ci/run must install ovmf");
        eprintln!("skipped: /usr/share/OVMF is missing (install ovmf)");
    }
    found
}

/// `tests/lab/diskimage.sh DIR [SIZE_MIB]` with DIR under the target directory; the Debian
/// packages it downloads are kept in one place for all sizes.
pub(crate) fn build(dir: &str, size_mib: Option<&str>) -> PathBuf {
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let mut cmd = Command::new("sh");
    cmd.arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/lab/diskimage.sh")).arg(tmp.join(dir)).args(size_mib);
    let o = cmd.env("OXCAT_LAB_DOWNLOADS", tmp.join("lab-downloads")).output().unwrap();
    assert!(o.status.success(), "diskimage.sh: {}", String::from_utf8_lossy(&o.stderr));
    tmp.join(dir).join("disk.raw")
}

/// The test OS's disk image, built once per target directory.
pub(crate) fn test_os() -> PathBuf {
    // Tests run in parallel: one builds, the others wait on the lock.
    static BUILD: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _g = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    build("disklab", None)
}

#[derive(Clone, Copy, Debug)]
pub(crate) enum Firmware {
    Bios,
    Uefi,
}

/// QEMU's firmware arguments: none for SeaBIOS (QEMU's default); for UEFI OVMF's code read-only
/// and a copy of its variable store in `dir` (one per VM: the firmware writes boot entries there).
pub(crate) fn firmware_args(firmware: Firmware, dir: &Path) -> Vec<String> {
    let Firmware::Uefi = firmware else { return Vec::new() };
    let (code, vars) = ovmf().expect("OVMF");
    let own_vars = dir.join("OVMF_VARS.fd");
    std::fs::copy(vars, &own_vars).unwrap();
    vec![
        "-drive".into(),
        format!("if=pflash,format=raw,unit=0,readonly=on,file={}", code.display()),
        "-drive".into(),
        format!("if=pflash,format=raw,unit=1,file={}", own_vars.display()),
    ]
}

/// QEMU's arguments for a VM with `firmware` that boots from `disk`, serial console into
/// `console`, powered off by a reboot, its NIC as `nic` says (`-nic`'s value).
fn qemu_args(firmware: Firmware, dir: &Path, disk: &Path, console: &Path, nic: &str) -> Vec<String> {
    let mut args: Vec<String> =
        ["-accel", "tcg", "-m", "256", "-display", "none", "-vga", "none", "-nodefaults"].map(String::from).into();
    args.extend(["-no-user-config", "-no-reboot", "-nic", nic].map(String::from));
    args.extend(["-serial".into(), format!("file:{}", console.display())]);
    args.extend(firmware_args(firmware, dir));
    args.extend(["-drive".into(), format!("file={},if=virtio,format=raw", disk.display())]);
    args
}

/// No NIC.
const NO_NIC: &str = "none";
/// A virtio NIC on QEMU's user network, cut off from everything but QEMU's own DHCP server
/// (restrict=on); its QEMU also runs in a network namespace of its own (loopback only).
const CLOSED_NIC: &str = "user,restrict=on,model=virtio-net-pci";

/// A VM booting from its disk.
fn boot(lab: &Lab, firmware: Firmware, disk: &Path, nic: &str) -> Vm {
    let console = lab.path("console.log");
    let mut cmd = match crate::harness::own_netns().filter(|_| nic != NO_NIC) {
        Some(unshare) => {
            let mut words = unshare.split_whitespace();
            let mut cmd = Command::new(words.next().unwrap());
            cmd.args(words).arg("qemu-system-x86_64");
            cmd
        }
        None => Command::new("qemu-system-x86_64"),
    };
    cmd.args(qemu_args(firmware, &lab.path(""), disk, &console, nic));
    Vm::spawn(cmd, console)
}

/// Boots may take minutes on a loaded 2-core machine (TCG, no KVM).
const BOOT_LIMIT: Duration = Duration::from_secs(480);

/// A copy of the test OS's image in the lab (the VM writes to its disk).
fn copy_of_test_os(lab: &Lab) -> PathBuf {
    let disk = lab.path("disk.raw");
    std::fs::copy(test_os(), &disk).unwrap();
    disk
}

#[track_caller]
fn sh(script: &str, args: &[&Path]) {
    let o = Command::new("sh").arg("-c").arg(script).arg("sh").args(args).output().unwrap();
    assert!(
        o.status.success(),
        "{script}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Adds a NoCloud seed to `disk` as the node agent does: the disk grows by 9 MiB, the backup GPT
/// moves to its new end, and a partition of 8 MiB after the last one holds a FAT labelled CIDATA
/// with `files` (made as a file with mkfs.vfat and mtools, then written in at its offset).
fn add_seed(lab: &Lab, disk: &Path, files: &[(&str, &str)]) {
    let old_len = std::fs::metadata(disk).unwrap().len();
    assert_eq!(old_len % (1 << 20), 0, "the image is whole MiB");
    let fat = lab.path("cidata.img");
    sh("mkfs.vfat -C -n CIDATA \"$1\" 8192 >/dev/null", &[&fat]);
    std::fs::create_dir_all(lab.path("seed")).unwrap();
    for (name, text) in files {
        let file = lab.write(&format!("seed/{name}"), text);
        sh("MTOOLS_SKIP_CHECK=1 mcopy -i \"$1\" \"$2\" ::/", &[&fat, &file]);
    }
    let f = std::fs::OpenOptions::new().write(true).open(disk).unwrap();
    f.set_len(old_len + (9 << 20)).unwrap();
    drop(f);
    let start = old_len / 512;
    let table = format!("start={start}, size=16384, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7, name=\"cidata\"");
    sh(
        &format!("sfdisk -q --no-reread --no-tell-kernel --relocate gpt-bak-std \"$1\" && echo '{table}' | sfdisk -q --no-reread --no-tell-kernel --append \"$1\""),
        &[disk],
    );
    sh(&format!("dd if=\"$1\" of=\"$2\" bs=1M seek={} conv=notrunc status=none", old_len >> 20), &[&fat, disk]);
}

#[test]
fn test_os_boots_from_its_disk_with_bios() {
    if !available() {
        return;
    }
    let lab = Lab::new();
    let disk = copy_of_test_os(&lab);
    let console = boot(&lab, Firmware::Bios, &disk, NO_NIC).wait(BOOT_LIMIT);
    // syslinux (from gptmbr.bin and the partition's boot sector) loaded the kernel, not GRUB.
    assert!(console.contains("SYSLINUX"), "syslinux did not boot:\n{console}");
    assert!(!console.contains("oxcat-testos: grub"), "GRUB booted under SeaBIOS:\n{console}");
    assert_lines(&console, &["oxcat-testos: booted from disk", "oxcat-testos: no seed", "oxcat-testos: powering off"]);
}

#[test]
fn test_os_boots_from_its_disk_with_uefi() {
    if !available() {
        return;
    }
    let lab = Lab::new();
    let disk = copy_of_test_os(&lab);
    let console = boot(&lab, Firmware::Uefi, &disk, NO_NIC).wait(BOOT_LIMIT);
    // OVMF ran \EFI\BOOT\BOOTX64.EFI, which booted from its own partition.
    assert_lines(
        &console,
        &[
            "oxcat-testos: grub on hd0,gpt1",
            "oxcat-testos: booted from disk",
            "oxcat-testos: no seed",
            "oxcat-testos: powering off",
        ],
    );
    assert!(!console.contains("SYSLINUX"), "syslinux booted under OVMF:\n{console}");
}

#[test]
fn test_os_reads_its_hostname_from_a_cidata_partition_and_runs_the_first_boot_script() {
    if !available() {
        return;
    }
    let lab = Lab::new();
    let disk = copy_of_test_os(&lab);
    // The test OS names itself after the seed before the script runs.
    let firstboot = "echo \"first boot of $(hostname)\"\nexit 3\n";
    add_seed(
        &lab,
        &disk,
        &[("meta-data", "instance-id: oxcat-n7-0123456789ab\nlocal-hostname: n7\n"), ("oxcat-firstboot.sh", firstboot)],
    );
    let console = boot(&lab, Firmware::Uefi, &disk, CLOSED_NIC).wait(BOOT_LIMIT);
    assert_lines(
        &console,
        &[
            "oxcat-testos: booted from disk",
            "oxcat-testos: seed on /dev/vda2",
            "oxcat-testos: seed hostname n7",
            // The NIC came up for the script (QEMU's DHCP server gave the lease).
            "oxcat-testos: lease 10.0.2.15",
            "first boot of n7",
            "oxcat-testos: firstboot exit 3",
            "oxcat-testos: powering off",
        ],
    );
}

#[test]
fn test_os_image_is_padded_with_random_data_to_the_size_asked_for() {
    if !available() {
        return;
    }
    let disk = build("disklab-48", Some("48"));
    let image = std::fs::read(&disk).unwrap();
    assert_eq!(image.len(), 48 << 20);
    let o = Command::new("sfdisk").arg("-d").arg(&disk).output().unwrap();
    let table = String::from_utf8_lossy(&o.stdout);
    let pad =
        table.lines().find(|l| l.contains("name=\"pad\"")).unwrap_or_else(|| panic!("no pad partition:\n{table}"));
    let start: usize = regex::Regex::new(r"start= *(\d+)").unwrap().captures(pad).unwrap()[1].parse().unwrap();
    // Random bytes: a MiB of the pad does not compress.
    let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut z, &image[start * 512..start * 512 + (1 << 20)]).unwrap();
    let compressed = z.finish().unwrap().len();
    assert!(compressed > 1 << 20, "the pad compresses to {compressed} bytes");
}
