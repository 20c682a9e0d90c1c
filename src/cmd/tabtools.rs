//! chtab, gettab, tabedit, nodech, nodeadd, noderm: xCAT's table-level tools.

use super::{flag, secrets_arg, values, Ctx, Status};
use crate::error::{Error, Result};
use crate::noderange;
use crate::output::{self, shown};
use crate::store::schema::{self, Table};
use crate::store::view::NodeView;
use crate::store::{self, tabcsv};
use crate::tables::{self, Change};
use clap::{Arg, ArgAction, ArgMatches, Command};
use std::io::Write;

pub const CHTAB_ABOUT: &str = "Add, change or delete table rows picked by key column values";
pub const GETTAB_ABOUT: &str = "Print table columns of the rows picked by key column values";
pub const TABEDIT_ABOUT: &str = "Edit a table as CSV in $TABEDITOR or $EDITOR, then restore it";
pub const NODECH_ABOUT: &str = "Change or delete the table rows of nodes";
pub const NODEADD_ABOUT: &str = "Add nodes with their groups and table values";
pub const NODERM_ABOUT: &str = "Remove nodes from every table";

fn store_write<T>(ctx: &mut Ctx, range: &str, f: impl FnOnce(&rusqlite::Connection) -> Result<T>) -> Result<T> {
    let mut st = ctx.store()?;
    let args = ctx.redacted_args();
    let cmd = ctx.name;
    st.write(|c| {
        let out = f(c)?;
        store::audit(c, cmd, range, &args)?;
        Ok(out)
    })
}

fn table_named(name: &str) -> Result<&'static Table> {
    schema::table(name).ok_or_else(|| Error::Input(format!("Table {name} does not exist.")))
}

pub fn chtab_command() -> Command {
    Command::new("chtab")
        .long_about(
            "Sets table.column values on the rows whose key columns have the given values (key=value,...: any \
             columns), or adds a row when none has them (the keys, or the values, must then include the table's \
             key). table.column+=value adds to a comma list once. -d deletes the rows from the tables named. \
             Values are checked as mkdef checks them and a ******** (a masked password) is refused; all of it is \
             one transaction, recorded in the auditlog with passwords replaced.",
        )
        .arg(
            Arg::new("delete")
                .short('d')
                .long("delete")
                .action(ArgAction::SetTrue)
                .help("Delete the rows from the tables named after the keys"),
        )
        .arg(
            Arg::new("keys")
                .required(true)
                .value_name("KEYCOL=VALUE[,...]")
                .help("The key column values that pick the rows"),
        )
        .arg(
            Arg::new("changes")
                .required(true)
                .num_args(1..)
                .value_name("TABLE.COLUMN=VALUE|TABLE.COLUMN+=VALUE|TABLE")
                .help("New values (+= adds to a comma list); with -d, the tables"),
        )
}

pub fn chtab(ctx: &mut Ctx, m: &ArgMatches) -> Result<Status> {
    let keys = tables::parse_keys(m.get_one::<String>("keys").expect("required"))?;
    let rest = values(m, "changes");
    if flag(m, "delete") {
        let tabs: Vec<&'static Table> = rest.iter().map(|t| table_named(t)).collect::<Result<_>>()?;
        store_write(ctx, "", |c| tables::chtab_delete(c, &keys, &tabs))?;
    } else {
        let changes: Vec<Change> =
            rest.iter().map(|a| tables::parse_change(a, true, false, false, false)).collect::<Result<_>>()?;
        store_write(ctx, "", |c| tables::chtab(c, &keys, &changes))?;
    }
    Ok(Status::Ok)
}

pub fn gettab_command() -> Command {
    Command::new("gettab")
        .long_about(
            "Prints table.column of the first row of each table whose key columns have the given values \
             (key=value,...: any columns, as in xCAT). One column prints bare, several as 'table.column: value'. \
             Unlike xCAT's gettab, a password column (ipmi.password, passwd.password, switches.password, ...) \
             prints as ******** unless --show-secrets is given, and cannot be a key (that would confirm a guess).",
        )
        .arg(
            Arg::new("with-fieldname")
                .short('H')
                .long("with-fieldname")
                .action(ArgAction::SetTrue)
                .help("Always print 'table.column: value'"),
        )
        .arg(secrets_arg())
        .arg(
            Arg::new("keys")
                .required(true)
                .value_name("KEYCOL=VALUE[,...]")
                .help("The key column values that pick the row"),
        )
        .arg(Arg::new("columns").required(true).num_args(1..).value_name("TABLE.COLUMN").help("What to print"))
}

pub fn gettab(ctx: &mut Ctx, m: &ArgMatches) -> Result<Status> {
    let keys = tables::parse_keys(m.get_one::<String>("keys").expect("required"))?;
    let columns: Vec<(&'static Table, usize)> =
        values(m, "columns").iter().map(|c| tables::column_of(c, false, false)).collect::<Result<_>>()?;
    let labelled = columns.len() > 1 || flag(m, "with-fieldname");
    let store = ctx.store()?;
    let show = flag(m, "show-secrets");
    for ((t, col), v) in tables::gettab(store.conn(), &keys, &columns)? {
        let c = &t.columns[col];
        let v = if v.is_empty() { "" } else { shown(&v, c.secret, show) };
        if labelled {
            writeln!(ctx.out, "{}.{}: {v}", t.name, c.name).map_err(output::io)?;
        } else {
            writeln!(ctx.out, "{v}").map_err(output::io)?;
        }
    }
    Ok(Status::Ok)
}

pub fn tabedit_command() -> Command {
    Command::new("tabedit")
        .long_about(
            "Dumps the table as xCAT CSV into a private temporary directory, runs $TABEDITOR (else $EDITOR, \
             else vi) on it, and when the file changed restores it as tabrestore does, in one transaction. \
             Passwords show as ********; a ******** left in a row keeps the password stored under the same key, \
             so editing other columns never loses a password (--show-secrets shows them to edit). \
             The auditlog cannot be edited.",
        )
        .arg(
            secrets_arg()
                .help("Show passwords in the file instead of ******** (a ******** left in a row keeps its password)"),
        )
        .arg(Arg::new("table").required(true).value_name("TABLE").help("The table to edit"))
}

pub fn tabedit(ctx: &mut Ctx, m: &ArgMatches) -> Result<Status> {
    let name = m.get_one::<String>("table").expect("required");
    if name == "auditlog" {
        return Err(Error::Input(
            "The auditlog and eventlog tables may not be edited. Editing will cause index regeneration.".into(),
        ));
    }
    let t = table_named(name)?;
    let editor = ["TABEDITOR", "EDITOR"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|e| !e.trim().is_empty()))
        .unwrap_or_else(|| "vi".to_string());
    let show = flag(m, "show-secrets");
    let before = {
        let store = ctx.store()?;
        let mut text = tabcsv::header(&t.column_names().collect::<Vec<_>>());
        text.push('\n');
        for row in store::all_rows(store.conn(), t)? {
            let cells: Vec<Option<&str>> =
                row.iter().zip(t.columns).map(|(v, c)| v.as_deref().map(|v| shown(v, c.secret, show))).collect();
            text.push_str(&tabcsv::encode_row(&cells));
            text.push('\n');
        }
        text
    };
    // A private directory: the file may hold passwords (--show-secrets).
    let dir = PrivateDir::new()?;
    let path = dir.0.join(format!("{}.csv", t.name));
    std::fs::write(&path, &before).map_err(|e| Error::io(path.display(), e))?;
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(&path)
        .status()
        .map_err(|e| Error::io(format!("editor {editor}"), e))?;
    if !status.success() {
        return Err(Error::Input(format!("the editor ({editor}) failed ({status}); the table is unchanged")));
    }
    let after = Error::text(path.display(), std::fs::read(&path).map_err(|e| Error::io(path.display(), e))?)?;
    if after == before {
        writeln!(ctx.out, "No file modifications detected, not restoring.").map_err(output::io)?;
        return Ok(Status::Ok);
    }
    let source = format!("{}.csv", t.name);
    let restore = tables::parse_restore(t, &source, &after, true)?;
    store_write(ctx, "", |c| tables::restore(c, &restore, false))?;
    Ok(Status::Ok)
}

pub fn nodech_command() -> Command {
    Command::new("nodech")
        .long_about(
            "Sets table.column values in the nodes' own rows of node tables (groups, tags and mgt are \
             shortnames). table.column,=value puts a value in front of a comma list and ^= takes it out, starting \
             from the value as the node reads it (its groups' included); =@ is a plain =. An empty value clears the \
             node's own value (xCAT writes |^.*$|| to hide a group's value instead). table.column==value (also \
             !=, =~, !~) restricts the change to the nodes that match (not on a password column). -d deletes the nodes' rows from the tables \
             named. Values are checked as chdef checks them; one transaction.",
        )
        .arg(
            Arg::new("delete")
                .short('d')
                .long("delete")
                .action(ArgAction::SetTrue)
                .help("Delete the nodes' rows from the tables named after the noderange"),
        )
        .arg(Arg::new("noderange").required(true).value_name("NODERANGE").help("The nodes"))
        .arg(
            Arg::new("changes")
                .required(true)
                .num_args(1..)
                .value_name("TABLE.COLUMN=VALUE|TABLE")
                .help("table.column=value (,= adds in front of a comma list, ^= takes out, =@ is a plain =); table.column==value (also !=, =~, !~) picks the nodes; with -d, the tables"),
        )
}

pub fn nodech(ctx: &mut Ctx, m: &ArgMatches) -> Result<Status> {
    let range = m.get_one::<String>("noderange").expect("required").clone();
    let rest = values(m, "changes");
    if flag(m, "delete") {
        if let Some(bad) = rest.iter().find(|a| a.contains(['=', '.'])) {
            return Err(Error::Usage(format!(". and = not valid in delete mode ({bad})")));
        }
        let tabs: Vec<&'static Table> = rest.iter().map(|t| table_named(t)).collect::<Result<_>>()?;
        store_write(ctx, &range, |c| {
            let view = NodeView::load(c)?;
            let nodes = noderange::expand(&range, &view)?;
            tables::nodech_delete(c, &nodes, &tabs)
        })?;
        return Ok(Status::Ok);
    }
    let mut changes = Vec::new();
    let mut criteria = Vec::new();
    for a in &rest {
        match tables::parse_criterion(a) {
            Some(c) => criteria.push(c?),
            None => changes.push(tables::parse_change(a, false, true, true, true)?),
        }
    }
    store_write(ctx, &range, |c| {
        let view = NodeView::load(c)?;
        let mut nodes = Vec::new();
        'nodes: for n in noderange::expand(&range, &view)? {
            for (t, col, cmp) in &criteria {
                if !cmp.matches(&view.value(&n, t, *col)?.map(|r| r.value).unwrap_or_default()) {
                    continue 'nodes;
                }
            }
            nodes.push(n);
        }
        drop(view);
        tables::nodech(c, &nodes, &changes)
    })?;
    Ok(Status::Ok)
}

pub fn nodeadd_command() -> Command {
    Command::new("nodeadd")
        .arg(Arg::new("noderange").required(true).value_name("NODERANGE").help("The nodes to add"))
        .arg(
            Arg::new("changes")
                .required(true)
                .num_args(1..)
                .value_name("groups=GROUPS|TABLE.COLUMN=VALUE")
                .help("groups=GROUPS (required), then table.column=value pairs"),
        )
}

pub fn nodeadd(ctx: &mut Ctx, m: &ArgMatches) -> Result<Status> {
    let range = m.get_one::<String>("noderange").expect("required").clone();
    let nodes = noderange::expand_names(&range)?;
    let changes: Vec<Change> =
        values(m, "changes").iter().map(|a| tables::parse_change(a, false, true, true, true)).collect::<Result<_>>()?;
    store_write(ctx, &range, |c| tables::nodeadd(c, &nodes, &changes))?;
    Ok(Status::Ok)
}

pub fn noderm_command() -> Command {
    Command::new("noderm").arg(Arg::new("noderange").required(true).value_name("NODERANGE").help("The nodes to remove"))
}

pub fn noderm(ctx: &mut Ctx, m: &ArgMatches) -> Result<Status> {
    let range = m.get_one::<String>("noderange").expect("required").clone();
    store_write(ctx, &range, |c| {
        let view = NodeView::load(c)?;
        let nodes = noderange::expand(&range, &view)?;
        drop(view);
        tables::noderm(c, &nodes)
    })?;
    Ok(Status::Ok)
}

/// `$TMPDIR/tabedit.PID`, mode 0700, removed when dropped (xCAT's tabedit uses /tmp/tabedit.$$).
struct PrivateDir(std::path::PathBuf);

impl PrivateDir {
    fn new() -> Result<PrivateDir> {
        use std::os::unix::fs::DirBuilderExt;
        let path = std::env::temp_dir().join(format!("tabedit.{}", std::process::id()));
        std::fs::DirBuilder::new().mode(0o700).create(&path).map_err(|e| Error::io(path.display(), e))?;
        Ok(PrivateDir(path))
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
