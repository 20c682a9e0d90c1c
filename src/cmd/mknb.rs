//! mknb: put the network boot programs (iPXE, pxelinux, GRUB) and genesis, the node ramdisk,
//! into the TFTP root.

use super::{Ctx, Status};
use crate::boot::{genesis, mknb, nodeset};
use crate::error::{Error, Result};
use crate::output;
use clap::{Arg, ArgAction, ArgMatches, Command};
use std::io::Write;
use std::path::PathBuf;

pub const ABOUT: &str =
    "Put the network boot programs (iPXE, pxelinux, GRUB) and genesis, the node ramdisk, into the TFTP root";

const LONG_ABOUT: &str = "Put the network boot programs (iPXE, pxelinux, GRUB) and genesis, the node ramdisk, into the TFTP root.

The boot programs are copied from Debian's packages ipxe, pxelinux, syslinux-common and grub-efi-amd64-bin (GRUB's network image is made by grub-mknetdir).

genesis is built from Debian's packages, downloaded with apt-get download (nothing is installed): the kernel linux-image-amd64 depends on now and busybox-static. Its initramfs holds busybox, the drivers servers boot with (virtio, nvme, ahci, sd, common NICs: e1000, e1000e, igb, ixgbe, i40e, ice, mlx5_core, bnxt_en, tg3, r8169; vfat; ipmi) with the modules they need and a modules.dep and modules.alias for busybox modprobe, and the oxcat binary itself, without its debug info, with the libraries it links: genesis runs `oxcat nodeagent deploy` to write a disk image. The results are TFTPDIR/genesis/x86_64/vmlinuz and initrd.img (written as .part, renamed once complete). Its /init loads drivers by modalias, runs DHCP on the boot NIC (oxcat.mac= or BOOTIF=, else every NIC with a link), sets the hostname from oxcat.node=, then by oxcat.mode=: deploy runs the node agent and reboots when it succeeds (else a shell on the console); shell (the default) starts a shell on the console. Each step prints a line starting \"oxcat genesis:\".";

pub fn command() -> Command {
    Command::new("mknb")
        .long_about(LONG_ABOUT)
        .arg(Arg::new("tftpdir").long("tftpdir").value_name("DIR").help("The TFTP root (default: site.tftpdir)"))
        .arg(
            Arg::new("arch")
                .long("arch")
                .value_name("ARCH")
                .default_value("x86_64")
                .help("genesis's architecture (x86_64)"),
        )
        .arg(Arg::new("debdir").long("debdir").value_name("DIR").help(
            "Where the .deb files are taken from, and downloaded to when missing (default: a temporary directory)",
        ))
        .arg(
            Arg::new("oxcat")
                .long("oxcat")
                .value_name("PATH")
                .help("The oxcat binary installed in genesis (default: this one)"),
        )
        .arg(
            Arg::new("loaders-only")
                .long("loaders-only")
                .action(ArgAction::SetTrue)
                .conflicts_with("genesis-only")
                .help("Only the boot programs, not genesis"),
        )
        .arg(
            Arg::new("genesis-only")
                .long("genesis-only")
                .action(ArgAction::SetTrue)
                .help("Only genesis, not the boot programs"),
        )
}

pub fn run(ctx: &mut Ctx, m: &ArgMatches) -> Result<Status> {
    let dir = match m.get_one::<String>("tftpdir") {
        Some(d) => PathBuf::from(d),
        None => nodeset::tftpdir(ctx.store()?.conn())?,
    };
    let errors = |v: Vec<String>| Error::Inputs(v.into_iter().map(|l| format!("Error: {l}")).collect());
    if !m.get_flag("genesis-only") {
        for l in mknb::run(&dir).map_err(errors)? {
            writeln!(ctx.out, "mknb: {l}").map_err(output::io)?;
        }
    }
    if !m.get_flag("loaders-only") {
        let oxcat = match m.get_one::<String>("oxcat") {
            Some(p) => PathBuf::from(p),
            None => std::env::current_exe().map_err(|e| Error::Io(format!("the oxcat binary: {e}")))?,
        };
        let opts = genesis::Options {
            tftpdir: dir,
            arch: m.get_one::<String>("arch").cloned().unwrap_or_default(),
            debdir: m.get_one::<String>("debdir").map(PathBuf::from),
            oxcat,
        };
        for l in genesis::build(&opts).map_err(errors)? {
            match l.strip_prefix("warning: ") {
                Some(w) => ctx.error_line(&format!("mknb: Warning: {w}"))?,
                None => writeln!(ctx.out, "mknb: {l}").map_err(output::io)?,
            }
        }
    }
    Ok(Status::Ok)
}
