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

/// `sha256sum FILE` (the peer's word on a file's sum).
fn sha256sum(lab: &Lab, file: &str) -> String {
    let o = lab.sh(&format!("sha256sum {file}")).output().unwrap();
    assert!(o.status.success(), "sha256sum {file}");
    String::from_utf8_lossy(&o.stdout).split_whitespace().next().unwrap().to_string()
}

/// A 3 MiB raw disk image (whole sectors, as qcow2 keeps them) with its gzip, zstd, xz and qcow2 forms, made by the real tools.
fn lab_with_disks() -> Option<Lab> {
    if !crate::harness::peers(&["gzip", "zstd", "xz", "qemu-img"], "gzip zstd xz-utils qemu-utils") {
        return None;
    }
    let lab = Lab::new();
    let st = lab
        .sh("head -c 3145728 /dev/urandom > disk.img \
             && gzip -c disk.img > disk.img.gz && zstd -q -c disk.img > disk.img.zst && xz -c disk.img > disk.img.xz \
             && qemu-img convert -f raw -O qcow2 disk.img disk.qcow2")
        .status()
        .unwrap();
    assert!(st.success());
    Some(lab)
}

#[test]
fn disk_images_are_stored_as_they_come_with_the_uncompressed_sum() {
    let Some(lab) = lab_with_disks() else { return };
    let images = lab.path("install/images");
    let sum = sha256sum(&lab, "disk.img");
    let size = std::fs::metadata(lab.path("disk.img")).unwrap().len();
    for (img, file, stored, format) in [
        ("raw", "disk.img", "disk.raw", "raw"),
        ("gz", "disk.img.gz", "disk.raw.gz", "gz"),
        ("zst", "disk.img.zst", "disk.raw.zst", "zst"),
        ("xz", "disk.img.xz", "disk.raw.xz", "xz"),
    ] {
        let o = lab.run("addimage", &[img, "--disk", file, "--arch", "x86_64"]).ok();
        let path = images.join(img).join(stored);
        let tail = if format == "raw" {
            String::new()
        } else {
            format!("; stored {format}: {} bytes", std::fs::metadata(lab.path(file)).unwrap().len())
        };
        assert_eq!(o.stdout, format!("{img}: disk: {} ({size} bytes, sha256 {sum}{tail})\n", path.display()));
        // Stored byte for byte as given: the node decompresses while writing.
        assert_eq!(std::fs::read(&path).unwrap(), std::fs::read(lab.path(file)).unwrap(), "{img}");
        lab.run("lsdef", &["-t", "osimage", img, "-i", "diskimage,diskimageformat,diskimagesha256,diskimagesize,provmethod", "-c"])
            .ok()
            .stdout_is(&format!(
                "{img}: diskimage={}\n{img}: diskimageformat={format}\n{img}: diskimagesha256={sum}\n{img}: diskimagesize={size}\n{img}: provmethod=disk\n",
                path.display()
            ));
    }
    // qcow2 (told by its magic) is converted once, to raw, byte-identical to the original.
    let o = lab.run("addimage", &["q", "--disk", "disk.qcow2", "--rootdevice", "serial=S1,size>=1"]).ok();
    let raw = images.join("q/disk.raw");
    assert_eq!(o.stdout, format!("q: disk: {} ({size} bytes, sha256 {sum})\n", raw.display()));
    assert_eq!(std::fs::read(&raw).unwrap(), std::fs::read(lab.path("disk.img")).unwrap());
    lab.run("lsdef", &["-t", "osimage", "q", "-i", "diskimageformat,rootdevice", "-c"])
        .ok()
        .stdout_is("q: diskimageformat=raw\nq: rootdevice=serial=S1,size>=1\n");
    // --format qcow2 says the same.
    lab.run("addimage", &["q2", "--disk", "disk.qcow2", "--format", "qcow2"]).ok();
    assert_eq!(sha256sum(&lab, "install/images/q2/disk.raw"), sum);
    // User data is copied in as user-data; -n copies a disk image with it.
    lab.write("ud.yaml", "#cloud-config\nhostname: x\n");
    lab.run("addimage", &["ud", "--disk", "disk.img.zst", "--userdata", "ud.yaml"]).ok();
    lab.run("addimage", &["ud", "-n", "ud2"]).ok().stdout_is(&format!(
        "ud2: disk: {d}/disk.raw.zst ({size} bytes, sha256 {sum}; stored zst: {z} bytes)\nud2: userdata: {d}/user-data (26 bytes, sha256 {u})\n",
        d = images.join("ud2").display(),
        z = std::fs::metadata(lab.path("disk.img.zst")).unwrap().len(),
        u = sha(b"#cloud-config\nhostname: x\n"),
    ));
    assert_eq!(std::fs::read(images.join("ud2/user-data")).unwrap(), b"#cloud-config\nhostname: x\n");
    lab.run("lsdef", &["-t", "osimage", "ud2", "-i", "userdata,provmethod,diskimagesha256", "-c"]).ok().stdout_is(
        &format!(
            "ud2: diskimagesha256={sum}\nud2: provmethod=disk\nud2: userdata={}\n",
            images.join("ud2/user-data").display()
        ),
    );
    lab.run("rmdef", &["-t", "osimage", "ud2"]).ok();
    assert!(!images.join("ud2").exists() && images.join("ud/disk.raw.zst").exists());
}

#[test]
fn bad_disk_images_are_refused_with_one_line_and_nothing_written() {
    let Some(lab) = lab_with_disks() else { return };
    lab.write("vmlinuz", "kernel bytes");
    let before = lab.snapshot();
    lab.run("addimage", &["d", "--disk", "missing.img"])
        .fails(2)
        .stderr_is("Error: --disk: cannot read missing.img: No such file or directory (os error 2)\n");
    lab.run("addimage", &["d", "--disk", "disk.img", "--kernel", "vmlinuz"]).fails(2).stderr_is(
        "Error: --disk: a disk image has no --kernel, --initrd or --rootimg (give --disk alone, or --kernel and --initrd)\n",
    );
    lab.run("addimage", &["d", "--disk", "disk.img", "--format", "vmdk"])
        .fails(2)
        .stderr_is("Error: --format: 'vmdk' is not allowed (allowed: raw, qcow2)\n");
    // Root device hints are checked where they are given, not first on the node at deploy time.
    lab.run("addimage", &["d", "--disk", "disk.img", "--rootdevice", "colour=blue"]).fails(2).stderr_is(
        "Error: --rootdevice: rootdevice hint 'colour=blue': unknown hint 'colour' (allowed: name, serial, wwn, model, vendor, size, rotational)\n",
    );
    lab.run("addimage", &["d", "--disk", "disk.img", "--format", "qcow2"])
        .fails(2)
        .stderr_is("Error: --format qcow2: disk.img is not a qcow2 image (it does not start with QFI\\xfb)\n");
    lab.run("addimage", &["d", "--kernel", "vmlinuz", "--initrd", "vmlinuz", "--userdata", "vmlinuz"])
        .fails(2)
        .stderr_is("Error: --userdata: only for disk images (give --disk FILE)\n");
    // Every error at once.
    lab.run("addimage", &["d/1", "--disk", "missing.img", "--type", "netboot"]).fails(2).stderr_is(
        "Error: invalid name 'd/1': only letters, digits, '-', '_' and '.' are allowed\n\
         Error: --disk: cannot read missing.img: No such file or directory (os error 2)\n\
         Error: --type: a disk image is provisioned as 'disk' (leave --type out with --disk)\n",
    );
    // Corrupt compressed data: refused after the copy started, and the copy is gone.
    lab.sh("head -c 100000 disk.img.gz > cut.gz").status().unwrap();
    let o = lab.run("addimage", &["d", "--disk", "cut.gz"]).fails(2);
    assert!(o.stderr.starts_with("Error: --disk: cut.gz: not a valid gz stream: "), "{}", o.stderr);
    // A qcow2 header qemu-img cannot read: its complaint, and the conversion's output is gone.
    std::fs::write(lab.path("bad.qcow2"), b"QFI\xfb\0\0\0\x03 not really qcow2").unwrap();
    let o = lab.run("addimage", &["d", "--disk", "bad.qcow2"]).fails(2);
    assert!(o.stderr.starts_with("Error: --disk: bad.qcow2: qemu-img convert failed: "), "{}", o.stderr);
    assert_eq!(o.stderr.lines().count(), 1, "{}", o.stderr);
    // qcow2 without qemu-img: the package to install is named.
    let o = lab.cmd("addimage").args(["d", "--disk", "disk.qcow2"]).env("PATH", lab.path("bin")).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "Error: --disk: disk.qcow2 is a qcow2 image: converting it to raw needs qemu-img (install the package qemu-utils)\n"
    );
    assert_eq!(lab.snapshot(), before);
    let left: Vec<_> = std::fs::read_dir(lab.path("install/images")).map(|d| d.count()).into_iter().collect();
    assert!(left.is_empty() || left == vec![0], "files left in the image store: {left:?}");
}

#[test]
fn a_nodes_root_device_hints_are_checked_by_chdef() {
    let lab = Lab::new();
    lab.run("mkdef", &["n1", "groups=all"]).ok();
    let before = lab.snapshot();
    lab.run("chdef", &["n1", "rootdevice=size=big"]).fails(2).stderr_is(
        "n1: Error: rootdevice: rootdevice hint 'size=big': size is a whole number of GiB (size=100, size>=100, size<=2000)\n",
    );
    assert_eq!(lab.snapshot(), before, "a refused chdef changed the store");
    lab.run("chdef", &["n1", "rootdevice=serial=S1,size>=100,rotational=false"]).ok();
    lab.run("lsdef", &["n1", "-i", "rootdevice", "-c"])
        .ok()
        .stdout_is("n1: rootdevice=serial=S1,size>=100,rotational=false\n");
}
