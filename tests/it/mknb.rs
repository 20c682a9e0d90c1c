//! mknb: boot programs from Debian's packages into the TFTP root, and genesis, the node ramdisk.

use crate::harness::{peers, Lab};
use std::process::Command;

#[test]
fn boot_programs_land_in_the_tftp_root() {
    let lab = Lab::new();
    let tftp = lab.path("tftp");
    lab.run("chdef", &["-t", "site", &format!("tftpdir={}", tftp.display())]).ok();
    let o = lab.run("mknb", &["--loaders-only"]);
    if o.code == 2 {
        assert!(
            std::env::var_os("CI").is_none(),
            ".ci/run must install ipxe pxelinux syslinux-common grub-efi-amd64-bin: {}",
            o.stderr
        );
        eprintln!("skipped: {}", o.stderr);
        return;
    }
    let o = o.ok();
    assert_eq!(o.stdout.lines().count(), 5, "{}", o.stdout);
    for (src, _, name) in oxcat::boot::mknb::FILES {
        assert!(std::fs::read(tftp.join(name)).unwrap() == std::fs::read(src).unwrap(), "{name} differs from {src}");
    }
    let grub = std::fs::read(tftp.join("grub2/grubx64.efi")).unwrap();
    assert_eq!(&grub[..2], b"MZ", "not an EFI executable");
    assert!(tftp.join("grub2/x86_64-efi/normal.mod").exists());
    assert!(!tftp.join("genesis").exists(), "--loaders-only built genesis");
    // A fresh run over the same root just rewrites the files.
    lab.run("mknb", &["--loaders-only", "--tftpdir", tftp.to_str().unwrap()]).ok();
}

/// genesis's initramfs, unpacked by cpio: /init, busybox and its links, the drivers with a
/// modules.dep and modules.alias busybox's modprobe can use, and the oxcat binary with what it
/// links, enough to run it in a chroot of the initramfs.
#[test]
fn genesis_holds_init_busybox_the_drivers_and_a_runnable_oxcat() {
    if !peers(&["apt-get", "dpkg", "strip", "cpio", "chroot"], "dpkg, binutils, cpio, coreutils") {
        return;
    }
    let built = crate::genesis::genesis();
    let (kernel, initrd) = oxcat::boot::genesis_files("x86_64");
    assert_eq!(&std::fs::read(built.join(&kernel)).unwrap()[0x202..0x206], b"HdrS", "not a bzImage");
    let lab = Lab::new();
    let root = lab.path("root");
    std::fs::create_dir(&root).unwrap();
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!("gzip -dc '{}' | cpio -idm --quiet", built.join(&initrd).display()))
        .current_dir(&root)
        .output()
        .unwrap();
    assert!(o.status.success(), "cpio: {}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read_to_string(root.join("init")).unwrap(), oxcat::boot::genesis::INIT);
    let busybox = root.join("bin/busybox").canonicalize().unwrap();
    assert_eq!(root.join("bin/sh").canonicalize().unwrap(), busybox);
    assert!(
        root.join("sbin/udhcpc").symlink_metadata().is_ok() || root.join("usr/sbin/udhcpc").symlink_metadata().is_ok()
    );
    let kver: Vec<_> = std::fs::read_dir(root.join("lib/modules")).unwrap().flatten().map(|e| e.path()).collect();
    assert_eq!(kver.len(), 1, "{kver:?}");
    let mods = &kver[0];
    let dep = std::fs::read_to_string(mods.join("modules.dep")).unwrap();
    // Every wanted driver is there (Debian's kernel has them all as modules).
    for m in oxcat::boot::genesis::MODULES {
        let file = format!("/{}.ko:", m.replace('_', "[-_]"));
        let re = regex::Regex::new(&file).unwrap();
        assert!(dep.lines().any(|l| re.is_match(l)), "{m} not in modules.dep:\n{dep}");
    }
    // Dependencies transitively, to be loaded from the end of the list: virtio_ring before virtio.
    let line = dep.lines().find(|l| l.starts_with("kernel/drivers/net/virtio_net.ko:")).unwrap();
    let needs: Vec<&str> = line.split_whitespace().skip(1).collect();
    let at =
        |m: &str| needs.iter().position(|p| p.ends_with(&format!("/{m}.ko"))).unwrap_or_else(|| panic!("{m}: {line}"));
    assert!(at("virtio") < at("virtio_ring") && at("net_failover") < at("failover"), "{line}");
    for path in dep.lines().flat_map(|l| l.split_whitespace()).map(|p| p.trim_end_matches(':')) {
        let elf = std::fs::read(mods.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(&elf[..4], b"\x7fELF", "{path} is not stored uncompressed");
    }
    let alias = std::fs::read_to_string(mods.join("modules.alias")).unwrap();
    assert!(alias.lines().any(|l| l == "alias virtio:d00000002v* virtio_blk"), "{alias}");
    assert!(alias.lines().any(|l| l.starts_with("alias pci:v00008086d000010D3") && l.ends_with(" e1000e")));
    // The oxcat binary runs with only what genesis holds: its libraries and loader were copied.
    let o = Command::new("chroot").arg(&root).args(["/bin/oxcat", "--version"]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout), format!("oxcat {}\n", env!("CARGO_PKG_VERSION")), "{o:?}");
    let stripped = std::fs::metadata(root.join("bin/oxcat")).unwrap().len();
    assert!(stripped < std::fs::metadata(crate::harness::oxcat_bin()).unwrap().len(), "debug info not stripped");
    let console = std::fs::metadata(root.join("dev/console"));
    assert!(console.is_ok_and(|m| std::os::unix::fs::FileTypeExt::is_char_device(&m.file_type())));
}

/// Without the tools genesis is built with, one line each names the package to install, and the
/// TFTP root is left as it was.
#[test]
fn genesis_names_each_missing_tool_and_its_package() {
    let lab = Lab::new();
    let tftp = lab.path("tftp");
    let empty = lab.path("empty");
    std::fs::create_dir(&empty).unwrap();
    let o = lab
        .cmd("mknb")
        .args(["--genesis-only", "--tftpdir", tftp.to_str().unwrap()])
        .env("PATH", &empty)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "Error: dpkg is missing (apt-get install dpkg)\nError: ldd is missing (apt-get install libc-bin)\n"
    );
    assert!(!tftp.exists());
    // With dpkg and ldd but no apt lists and no cached kernel package: what to do about it.
    if !peers(&["dpkg", "ldd"], "dpkg, libc-bin") {
        return;
    }
    let bin = lab.path("somebin");
    std::fs::create_dir(&bin).unwrap();
    for tool in ["dpkg", "ldd"] {
        let at =
            String::from_utf8(Command::new("sh").arg("-c").arg(format!("command -v {tool}")).output().unwrap().stdout)
                .unwrap();
        std::os::unix::fs::symlink(at.trim(), bin.join(tool)).unwrap();
    }
    let debs = lab.path("debs");
    let o = lab
        .cmd("mknb")
        .args(["--genesis-only", "--tftpdir", tftp.to_str().unwrap(), "--debdir", debs.to_str().unwrap()])
        .env("PATH", &bin)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        format!(
            "Error: no linux-image-amd64 in apt's lists and no kernel package in {} (run apt-get update)\n",
            debs.display()
        )
    );
    assert!(!tftp.exists());
}

#[test]
fn genesis_is_built_for_x86_64_only() {
    let lab = Lab::new();
    let o = lab.run("mknb", &["--genesis-only", "--tftpdir", "tftp", "--arch", "aarch64"]).fails(2);
    assert_eq!(o.stderr, "Error: genesis for arch 'aarch64' is not supported (allowed: x86_64)\n");
}
