//! mknb: boot programs from Debian's packages into the TFTP root.

use crate::harness::Lab;

#[test]
fn boot_programs_land_in_the_tftp_root() {
    let lab = Lab::new();
    let tftp = lab.path("tftp");
    lab.run("chdef", &["-t", "site", &format!("tftpdir={}", tftp.display())]).ok();
    let o = lab.run("mknb", &[]);
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
    // A fresh run over the same root just rewrites the files.
    lab.run("mknb", &["--tftpdir", tftp.to_str().unwrap()]).ok();
}
