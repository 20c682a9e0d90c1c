//! tabrestore: replace (or with -a, add to) a table's rows from xCAT's CSV format.

use super::{flag, Ctx, Status};
use crate::error::{Error, Result};
use crate::output::MASK;
use crate::store::{self, restore_rows, schema, tabcsv, Row};
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
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let parsed = tabcsv::parse(&text).map_err(|e| Error::Input(format!("{path}: {e}")))?;
    let mut columns = Vec::with_capacity(parsed.columns.len());
    for c in &parsed.columns {
        let (i, _) = t.column(c).ok_or_else(|| {
            Error::Input(format!(
                "{path}: The header line indicates that column '{c}' should exist, which is not defined in the schema for '{name}'"
            ))
        })?;
        columns.push(i);
    }
    for k in t.keys {
        if !parsed.columns.iter().any(|c| c == k) && t.name != "auditlog" {
            return Err(Error::Input(format!("{path}: the header has no '{k}' column, the key of table {name}")));
        }
    }
    let mut errors = Vec::new();
    for (line, row) in &parsed.rows {
        for (v, &i) in row.iter().zip(&columns) {
            let c = &t.columns[i];
            let Some(v) = v else { continue };
            if c.secret && v == MASK {
                errors.push(format!(
                    "Error: {path}: line {line}: {}.{} is '{MASK}', a masked value from tabdump; dump with --show-secrets to move passwords",
                    t.name, c.name
                ));
            }
        }
        for k in t.keys.iter().filter(|_| t.name != "auditlog") {
            let i = parsed.columns.iter().position(|c| c == k).expect("checked above");
            if row[i].is_none() {
                errors.push(format!("Error: {path}: line {line}: the key column '{k}' is empty"));
            }
        }
    }
    if !errors.is_empty() {
        return Err(Error::Inputs(errors));
    }
    let rows: Vec<Row> = parsed.rows.into_iter().map(|(_, r)| r).collect();
    let mut st = ctx.store()?;
    let args = ctx.redacted_args();
    let cmd = ctx.name;
    st.write(|c| {
        restore_rows(c, t, &columns, &rows, flag(m, "add"))?;
        store::audit(c, cmd, "", &args)
    })?;
    Ok(Status::Ok)
}
