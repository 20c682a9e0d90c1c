//! tabdump: print a table in xCAT's CSV format (or list the tables).

use super::{flag, secrets_arg, values, Ctx, Status};
use crate::error::{Error, Result};
use crate::output::{self, shown};
use crate::store::schema::{self, TABLES};
use crate::store::{self, tabcsv};
use clap::{Arg, ArgAction, ArgMatches, Command};
use std::io::Write;

pub const ABOUT: &str = "Print a table in xCAT's CSV format, or list the tables";

pub fn command() -> Command {
    Command::new("tabdump")
        .arg(
            Arg::new("describe")
                .short('d')
                .action(ArgAction::SetTrue)
                .help("Describe the table's columns (or, without a table, every table)"),
        )
        .arg(Arg::new("file").short('f').value_name("FILE").help("Write the CSV to FILE instead of standard output"))
        .arg(
            Arg::new("where")
                .short('w')
                .value_name("COL==VAL")
                .action(ArgAction::Append)
                .help("Only the rows that match: ==, !=, =~ and !~ (SQL LIKE: % is the wildcard), <, <=, >, >=; not on a password column"),
        )
        .arg(
            Arg::new("lines")
                .short('n')
                .long("lines")
                .value_name("N")
                .value_parser(clap::value_parser!(u64).range(1..))
                .conflicts_with_all(["describe", "where", "file"])
                .help("The N newest records of the auditlog"),
        )
        .arg(secrets_arg())
        .arg(Arg::new("table").value_name("TABLE").help("The table to dump"))
}

pub fn run(ctx: &mut Ctx, m: &ArgMatches) -> Result<Status> {
    let Some(name) = m.get_one::<String>("table") else {
        for t in TABLES {
            if flag(m, "describe") {
                writeln!(ctx.out, "{}: {}", t.name, t.desc).map_err(output::io)?;
            } else {
                writeln!(ctx.out, "{}", t.name).map_err(output::io)?;
            }
        }
        return Ok(Status::Ok);
    };
    let t = schema::table(name).ok_or_else(|| {
        Error::Input(format!("table '{name}' does not exist (tabdump with no argument lists the tables)"))
    })?;
    if flag(m, "describe") {
        writeln!(ctx.out, "{}: {}", t.name, t.desc).map_err(output::io)?;
        for c in t.columns {
            writeln!(ctx.out, "  {}:  {}", c.name, c.desc).map_err(output::io)?;
        }
        return Ok(Status::Ok);
    }
    let store = ctx.store()?;
    let show = flag(m, "show-secrets");
    let mut text = tabcsv::header(&t.column_names().collect::<Vec<_>>());
    text.push('\n');
    let rows = match m.get_one::<u64>("lines") {
        Some(_) if t.name != "auditlog" => {
            return Err(Error::Input(format!(
                "{name} table is not supported in tabdump -n. You may only use this option on the auditlog or the eventlog."
            )))
        }
        Some(&n) => store::newest_audit_rows(store.conn(), n)?,
        None => store::rows_where(store.conn(), t, &values(m, "where"))?,
    };
    for row in rows {
        let cells: Vec<Option<&str>> =
            row.iter().zip(t.columns).map(|(v, c)| v.as_deref().map(|v| shown(v, c.secret, show))).collect();
        text.push_str(&tabcsv::encode_row(&cells));
        text.push('\n');
    }
    match m.get_one::<String>("file") {
        Some(path) => {
            std::fs::write(path, text).map_err(|e| Error::io(path, e))?;
        }
        None => ctx.out.write_all(text.as_bytes()).map_err(output::io)?,
    }
    Ok(Status::Ok)
}
