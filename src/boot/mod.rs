//! Network boot: `nodeset` renders each node's pxelinux, iPXE and GRUB config from templates.

pub mod genesis;
pub mod mknb;
pub mod nodeset;
pub mod render;
pub mod servers;

/// Where mknb puts genesis, the node ramdisk (kernel, initramfs), relative to the TFTP root; served
/// over TFTP and over HTTP under /tftpboot/.
pub fn genesis_files(arch: &str) -> (String, String) {
    (format!("genesis/{arch}/vmlinuz"), format!("genesis/{arch}/initrd.img"))
}

/// The URL path under which oxcatd serves a file of the image store: `file` is an absolute path
/// under `installdir`, or one relative to it, and never climbs out of it.
pub fn install_url_path(installdir: &std::path::Path, file: &str) -> Result<String, String> {
    let p = std::path::Path::new(file);
    let rel = if p.is_absolute() { p.strip_prefix(installdir).ok() } else { Some(p) };
    match rel {
        Some(rel)
            if !rel.as_os_str().is_empty()
                && rel.components().all(|c| matches!(c, std::path::Component::Normal(_))) =>
        {
            Ok(format!("/install/{}", rel.display()))
        }
        _ => Err(format!("{file} is not under site.installdir {}", installdir.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_paths_stay_in_the_image_store() {
        let root = std::path::Path::new("/install");
        let ok = |f: &str| install_url_path(root, f).ok();
        assert_eq!(ok("/install/images/d/disk.raw").as_deref(), Some("/install/images/d/disk.raw"));
        assert_eq!(ok("images/d/disk.raw.zst").as_deref(), Some("/install/images/d/disk.raw.zst"));
        assert_eq!(
            install_url_path(root, "/srv/disk.raw").unwrap_err(),
            "/srv/disk.raw is not under site.installdir /install"
        );
        assert_eq!(ok("/install/../etc/shadow"), None);
        assert_eq!(ok("/install"), None);
    }
}
