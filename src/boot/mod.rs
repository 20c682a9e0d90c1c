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
