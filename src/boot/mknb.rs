//! mknb: puts the network boot programs the DHCP answers name into the TFTP root, from Debian's
//! packages: iPXE (undionly.kpxe for BIOS, ipxe.efi for UEFI), lpxelinux.0 with ldlinux.c32 (the
//! HTTP-capable pxelinux, since nodeset's configs fetch kernels over HTTP), and a GRUB network
//! image made by grub-mknetdir (grub2/grubx64.efi, modules under grub2/x86_64-efi).

use std::path::{Path, PathBuf};
use std::process::Command;

/// Files copied as they are: (source, Debian package, name in the TFTP root).
pub const FILES: &[(&str, &str, &str)] = &[
    ("/usr/lib/ipxe/undionly.kpxe", "ipxe", "undionly.kpxe"),
    ("/usr/lib/ipxe/ipxe.efi", "ipxe", "ipxe.efi"),
    ("/usr/lib/PXELINUX/lpxelinux.0", "pxelinux", "lpxelinux.0"),
    ("/usr/lib/syslinux/modules/bios/ldlinux.c32", "syslinux-common", "ldlinux.c32"),
];

const GRUB_MODULES: &str = "/usr/lib/grub/x86_64-efi";

/// Checks every source first (nothing is copied unless all are there), then copies and builds.
/// Returns a line per file written.
pub fn run(tftpdir: &Path) -> Result<Vec<String>, Vec<String>> {
    let mut missing: Vec<String> = FILES
        .iter()
        .filter(|(src, ..)| !Path::new(src).is_file())
        .map(|(src, pkg, _)| format!("{src} is missing (apt-get install {pkg})"))
        .collect();
    let mknetdir = Command::new("grub-mknetdir").arg("--version").output().is_ok();
    if !mknetdir || !Path::new(GRUB_MODULES).is_dir() {
        missing.push(format!(
            "grub-mknetdir or {GRUB_MODULES} is missing (apt-get install grub-efi-amd64-bin grub-common)"
        ));
    }
    if !missing.is_empty() {
        return Err(missing);
    }
    let fail = |what: String| vec![what];
    std::fs::create_dir_all(tftpdir).map_err(|e| fail(format!("{}: {e}", tftpdir.display())))?;
    let mut done = Vec::new();
    for (src, pkg, name) in FILES {
        let dst = tftpdir.join(name);
        std::fs::copy(src, &dst).map_err(|e| fail(format!("{}: {e}", dst.display())))?;
        done.push(format!("{} (from {pkg}: {src})", dst.display()));
    }
    let out = Command::new("grub-mknetdir")
        .arg(format!("--net-directory={}", tftpdir.display()))
        .arg("--subdir=grub2")
        .arg(format!("--directory={GRUB_MODULES}"))
        .output()
        .map_err(|e| fail(format!("grub-mknetdir: {e}")))?;
    if !out.status.success() {
        return Err(fail(format!("grub-mknetdir failed: {}", String::from_utf8_lossy(&out.stderr).trim())));
    }
    let core: PathBuf = tftpdir.join("grub2/x86_64-efi/core.efi");
    let grub = tftpdir.join("grub2/grubx64.efi");
    std::fs::copy(&core, &grub).map_err(|e| fail(format!("{}: {e}", grub.display())))?;
    done.push(format!("{} (from grub-efi-amd64-bin: grub-mknetdir, modules in grub2/x86_64-efi)", grub.display()));
    Ok(done)
}
