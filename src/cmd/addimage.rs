//! addimage: register an OS image and copy its files into the image store.

use super::{Ctx, Status};
use crate::error::Result;
use crate::image::{self, ImageSpec};
use crate::output;
use clap::{Arg, ArgMatches, Command};
use std::io::Write;
use std::path::PathBuf;

pub const ABOUT: &str =
    "Register an OS image: copy kernel, initrd and root image, or a whole-disk image, into the image store with their SHA-256";

const LONG_ABOUT: &str = "\
Register an OS image: copy its files into the image store (site.installdir/images/NAME/) with their \
SHA-256, and record it as osimage and linuximage rows, in one transaction; a failed add leaves \
neither rows nor files, and every problem with the arguments is reported at once.

A netboot or install image has --kernel and --initrd (and for netboot, maybe --rootimg). A \
whole-disk image (--disk, provmethod disk), which genesis writes to a node's disk, is stored as \
disk.raw, disk.raw.gz, disk.raw.zst or disk.raw.xz, as it comes (the compression is told by the \
file's first bytes); a qcow2 image (its magic bytes, or --format qcow2) is converted to disk.raw \
once, with qemu-img (package qemu-utils), so nodes need no qemu-img. linuximage.diskimagesha256 and \
diskimagesize are those of the uncompressed disk, which the node checks as it writes.";

pub fn command() -> Command {
    let path = |id: &'static str, help: &'static str| {
        Arg::new(id).long(id).value_name("PATH").value_parser(clap::value_parser!(PathBuf)).help(help)
    };
    Command::new("addimage")
        .long_about(LONG_ABOUT)
        .arg(
            Arg::new("name")
                .required(true)
                .value_name("NAME")
                .help("Name of the image (with -n: the registered image to copy)"),
        )
        .arg(path("kernel", "The kernel file"))
        .arg(path("initrd", "The initrd file"))
        .arg(path("rootimg", "The root image (squashfs, cpio.gz, tar.gz ...) for netboot"))
        .arg(
            Arg::new("kcmdline")
                .long("kcmdline")
                .value_name("ARGS")
                .allow_hyphen_values(true)
                .help("Extra kernel command line arguments"),
        )
        .arg(Arg::new("arch").long("arch").value_name("ARCH").help("Architecture: x86_64, aarch64 or ppc64le"))
        .arg(Arg::new("type").long("type").value_name("TYPE").help("netboot (default) or install"))
        .arg(path("disk", "A whole-disk image (raw, raw.gz, raw.zst, raw.xz or qcow2) to deploy to nodes' disks"))
        .arg(
            Arg::new("format")
                .long("format")
                .value_name("FORMAT")
                .help("With --disk: raw or qcow2 (default: told by the file's first bytes; qcow2 is converted to raw with qemu-img)"),
        )
        .arg(
            Arg::new("rootdevice")
                .long("rootdevice")
                .value_name("HINTS")
                .help("With --disk: root device hints, e.g. serial=S,size>=100 (the node's rootdevice wins)"),
        )
        .arg(path("userdata", "With --disk: cloud-init user data for the deployed nodes (copied as user-data)"))
        .arg(
            Arg::new("newname")
                .short('n')
                .value_name("NEWNAME")
                .help("Register a copy of image NAME as NEWNAME (given files replace the copied ones)"),
        )
}

pub fn run(ctx: &mut Ctx, m: &ArgMatches) -> Result<Status> {
    let name = m.get_one::<String>("name").cloned().unwrap_or_default();
    let newname = m.get_one::<String>("newname").cloned();
    let spec = ImageSpec {
        name: newname.clone().unwrap_or_else(|| name.clone()),
        kernel: m.get_one::<PathBuf>("kernel").cloned(),
        initrd: m.get_one::<PathBuf>("initrd").cloned(),
        rootimg: m.get_one::<PathBuf>("rootimg").cloned(),
        kcmdline: m.get_one::<String>("kcmdline").cloned(),
        arch: m.get_one::<String>("arch").cloned(),
        provmethod: m.get_one::<String>("type").cloned(),
        from: newname.map(|_| name),
        disk: m.get_one::<PathBuf>("disk").cloned(),
        format: m.get_one::<String>("format").cloned(),
        rootdevice: m.get_one::<String>("rootdevice").cloned(),
        userdata: m.get_one::<PathBuf>("userdata").cloned(),
    };
    let mut store = ctx.store()?;
    let args = ctx.redacted_args();
    let stored = image::add(&mut store, &spec, (ctx.name, &args))?;
    for s in &stored {
        let (name, role, path, bytes, sha) = (&spec.name, s.role, s.path.display(), s.bytes, &s.sha256);
        match s.compressed {
            // A compressed disk image: the size and sum of what the node writes, then what is stored.
            Some((how, stored)) => {
                writeln!(ctx.out, "{name}: {role}: {path} ({bytes} bytes, sha256 {sha}; stored {how}: {stored} bytes)")
            }
            None => writeln!(ctx.out, "{name}: {role}: {path} ({bytes} bytes, sha256 {sha})"),
        }
        .map_err(output::io)?;
    }
    Ok(Status::Ok)
}
