//! oxcatd: the provisioning daemon (HTTP and TFTP for network-booting nodes).

use super::{Ctx, Status};
use crate::daemon::{self, config::Config};
use crate::error::Result;
use clap::{Arg, ArgMatches, Command};

pub const ABOUT: &str = "Serve network-booting nodes: DHCP, HTTP (boot scripts, images, status reports) and TFTP";

pub fn command() -> Command {
    Command::new("oxcatd").arg(
        Arg::new("config")
            .long("config")
            .value_name("FILE")
            .help("Bootstrap settings (default: $OXCAT_CONFIG, else /etc/oxcat/oxcat.toml)"),
    )
}

pub fn run(ctx: &mut Ctx, m: &ArgMatches) -> Result<Status> {
    let mut cfg = Config::load(m.get_one::<String>("config").map(String::as_str))?;
    if let Some(db) = ctx.db_flag() {
        cfg.db = Some(db.into());
    }
    daemon::run(cfg, ctx.out.as_mut())?;
    Ok(Status::Ok)
}
