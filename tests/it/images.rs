//! addimage: files copied with their SHA-256; refusals leave neither rows nor files.

use crate::harness::Lab;
use sha2::{Digest, Sha256};

fn sha(data: &[u8]) -> String {
    Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

fn lab_with_files() -> Lab {
    let lab = Lab::new();
    lab.write("vmlinuz", "kernel bytes");
    lab.write("initrd.img", "initrd bytes");
    lab.write("root.cpio.gz", "root bytes");
    lab
}

#[test]
fn registers_copies_and_removes_an_image() {
    let lab = lab_with_files();
    let images = lab.path("install/images");
    let o = lab
        .run(
            "addimage",
            &[
                "rocky9",
                "--kernel",
                "vmlinuz",
                "--initrd",
                "initrd.img",
                "--rootimg",
                "root.cpio.gz",
                "--kcmdline",
                "console=ttyS0",
                "--arch",
                "x86_64",
            ],
        )
        .ok();
    let dir = images.join("rocky9");
    assert_eq!(
        o.stdout,
        format!(
            "rocky9: kernel: {d}/kernel (12 bytes, sha256 {k})\nrocky9: initrd: {d}/initrd (12 bytes, sha256 {i})\nrocky9: rootimg: {d}/rootimg.cpio.gz (10 bytes, sha256 {r})\n",
            d = dir.display(),
            k = sha(b"kernel bytes"),
            i = sha(b"initrd bytes"),
            r = sha(b"root bytes")
        )
    );
    assert_eq!(std::fs::read(dir.join("kernel")).unwrap(), b"kernel bytes");
    let l = lab.run("lsdef", &["-t", "osimage", "rocky9"]).ok().stdout;
    for want in [
        "    addkcmdline=console=ttyS0\n",
        "    osarch=x86_64\n",
        "    provmethod=netboot\n",
        &format!("    kernelsha256={}\n", sha(b"kernel bytes")),
    ] {
        assert!(l.contains(want), "{want} not in {l}");
    }
    // -n copies a registered image under a new name.
    lab.run("addimage", &["rocky9", "-n", "rocky9-debug", "--kcmdline", "debug"]).ok();
    assert_eq!(std::fs::read(images.join("rocky9-debug/initrd")).unwrap(), b"initrd bytes");
    lab.run("lsdef", &["-t", "osimage", "rocky9-debug", "-i", "addkcmdline,osarch", "-c"])
        .ok()
        .stdout_is("rocky9-debug: addkcmdline=debug\nrocky9-debug: osarch=x86_64\n");
    lab.run("rmdef", &["-t", "osimage", "rocky9"]).ok().stdout_is("1 object definitions have been removed.\n");
    assert!(!dir.exists());
    lab.run("lsdef", &["-t", "osimage"]).ok().stdout_is("rocky9-debug  (osimage)\n");
}

#[test]
fn refusals_leave_nothing_behind() {
    let lab = lab_with_files();
    lab.run("addimage", &["img1", "--kernel", "vmlinuz", "--initrd", "initrd.img"]).ok();
    let before = lab.snapshot();
    let listing = || {
        let mut v: Vec<String> = std::fs::read_dir(lab.path("install/images"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    lab.run("addimage", &["img2", "--kernel", "missing-vmlinuz", "--initrd", "initrd.img"])
        .fails(2)
        .stderr_is("Error: --kernel: cannot read missing-vmlinuz: No such file or directory (os error 2)\n");
    lab.run("addimage", &["img2", "--kernel", "vmlinuz"])
        .fails(2)
        .stderr_is("Error: --initrd: missing (give --initrd PATH)\n");
    lab.run("addimage", &["img2", "--kernel", "install", "--initrd", "initrd.img"])
        .fails(2)
        .stderr_is("Error: --kernel: install is not a regular file\n");
    lab.run("addimage", &["img1", "--kernel", "vmlinuz", "--initrd", "initrd.img"])
        .fails(2)
        .stderr_is("Error: osimage 'img1' already exists (rmdef -t osimage img1 removes it)\n");
    lab.run("addimage", &["img/2", "--kernel", "vmlinuz", "--initrd", "initrd.img"])
        .fails(2)
        .stderr_is("Error: invalid name 'img/2': only letters, digits, '-', '_' and '.' are allowed\n");
    lab.run("addimage", &["img2", "--kernel", "vmlinuz", "--initrd", "initrd.img", "--type", "diskless"])
        .fails(2)
        .stderr_is("Error: --type: 'diskless' is not allowed (allowed: netboot, install)\n");
    assert_eq!(lab.snapshot(), before);
    assert_eq!(listing(), vec!["img1"]);
    // An unreadable file (as a non-root user would see it) is refused too.
    use std::os::unix::fs::PermissionsExt;
    let locked = lab.write("locked", "x");
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    let o = lab.run("addimage", &["img3", "--kernel", "locked", "--initrd", "initrd.img"]);
    // root can read mode-000 files; anyone else is refused with the file named.
    if o.code != 0 {
        assert!(o.stderr.starts_with("Error: --kernel: cannot read locked: Permission denied"), "{}", o.stderr);
        assert_eq!(listing(), vec!["img1"]);
    }
}
