//! mknb: put the network boot programs (iPXE, pxelinux, GRUB) into the TFTP root.

use super::{Ctx, Status};
use crate::boot::{mknb, nodeset};
use crate::error::{Error, Result};
use crate::output;
use clap::{Arg, ArgMatches, Command};
use std::io::Write;
use std::path::PathBuf;

pub const ABOUT: &str =
    "Put the network boot programs (iPXE, pxelinux, GRUB) from Debian's packages into the TFTP root";

pub fn command() -> Command {
    Command::new("mknb")
        .arg(Arg::new("tftpdir").long("tftpdir").value_name("DIR").help("The TFTP root (default: site.tftpdir)"))
}

pub fn run(ctx: &mut Ctx, m: &ArgMatches) -> Result<Status> {
    let dir = match m.get_one::<String>("tftpdir") {
        Some(d) => PathBuf::from(d),
        None => nodeset::tftpdir(ctx.store()?.conn())?,
    };
    let lines = mknb::run(&dir).map_err(|v| Error::Inputs(v.into_iter().map(|l| format!("Error: {l}")).collect()))?;
    for l in lines {
        writeln!(ctx.out, "mknb: {l}").map_err(output::io)?;
    }
    Ok(Status::Ok)
}
