//! tabrestore: replace (or with -a, add to) a table's rows from xCAT's CSV format.

use super::{flag, Ctx, Status};
use crate::error::{Error, Result};
use crate::store::{self, schema};
use crate::tables;
use clap::{Arg, ArgAction, ArgMatches, Command};
use std::path::Path;

pub const ABOUT: &str = "Replace a table's rows from a CSV file (table name = file name without .csv)";

pub fn command() -> Command {
    Command::new("tabrestore")
        .arg(
            Arg::new("add")
                .short('a')
                .long("addrows")
                .action(ArgAction::SetTrue)
                .help("Add the rows instead of replacing the table"),
        )
        .arg(Arg::new("file").required(true).value_name("TABLE.csv").help("The CSV file, as written by tabdump"))
}

pub fn run(ctx: &mut Ctx, m: &ArgMatches) -> Result<Status> {
    let path = m.get_one::<String>("file").expect("required");
    let name = Path::new(path).file_name().and_then(|f| f.to_str()).unwrap_or("");
    let name = name.strip_suffix(".csv").unwrap_or(name);
    let t = schema::table(name).ok_or_else(|| {
        Error::Input(format!("{path}: '{name}' is not a table (the file name must be TABLE.csv, e.g. ipmi.csv)"))
    })?;
    let text = Error::text(path, std::fs::read(path).map_err(|e| Error::io(path, e))?)?;
    let parsed = tables::parse_restore(t, path, &text, false)?;
    let mut st = ctx.store()?;
    let args = ctx.redacted_args();
    let cmd = ctx.name;
    st.write(|c| {
        tables::restore(c, &parsed, flag(m, "add"))?;
        store::audit(c, cmd, "", &args)
    })?;
    Ok(Status::Ok)
}
