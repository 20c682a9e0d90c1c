//! The table store: one SQLite file (rusqlite, bundled) that holds xCAT's tables.
//!
//! Every change a command makes is one `BEGIN IMMEDIATE` transaction ([`Store::write`]): WAL plus a
//! busy timeout alone still fails at once with "database is locked" when a deferred transaction
//! upgrades its read lock, so writers take the write lock up front and wait their turn instead.

pub mod networks;
pub mod objects;
pub mod regexval;
pub mod schema;
pub mod tabcsv;
pub mod view;

use crate::error::{Error, Result};
use rusqlite::{params_from_iter, Connection, OptionalExtension, TransactionBehavior};
use schema::{Table, TABLES};
use std::fs::{self, OpenOptions};
use std::io;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the store lives unless `--db` or `OXCAT_DB` say otherwise.
pub const DEFAULT_DB: &str = "/var/lib/oxcat/oxcat.db";

/// Schema version written to `PRAGMA user_version`; each step in [`MIGRATIONS`] raises it by one.
/// Columns added to `schema.rs` later are added to existing stores by [`reconcile`], so a migration
/// is needed only when existing data must change.
const MIGRATIONS: &[fn(&Connection) -> rusqlite::Result<()>] = &[migrate_v1_site_defaults, migrate_v2_changes];

pub struct Store {
    conn: Connection,
    path: PathBuf,
}

/// A row as stored: one value per schema column, None where unset.
pub type Row = Vec<Option<String>>;

impl Store {
    /// Resolves the store's path: `--db`, else `OXCAT_DB`, else [`DEFAULT_DB`].
    pub fn locate(flag: Option<&str>) -> PathBuf {
        flag.map(PathBuf::from)
            .or_else(|| std::env::var_os("OXCAT_DB").filter(|v| !v.is_empty()).map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DB))
    }

    /// Opens the store, creating it (file 0600; for [`DEFAULT_DB`] also its directory, 0700) and
    /// bringing its schema up to date. A store that group or others can read is made 0600 (with
    /// its `-wal` and `-shm`) and a notice printed on stderr.
    pub fn open(path: &Path) -> Result<Store> {
        let fail = |e: &dyn std::fmt::Display| Error::Store(format!("cannot open store {}: {e}", path.display()));
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            match fs::metadata(dir) {
                Ok(md) if md.is_dir() => {}
                Ok(_) => return Err(fail(&format_args!("{} is not a directory", dir.display()))),
                // Only the default's directory is created: a mistyped --db or OXCAT_DB would
                // otherwise become a new, empty store.
                Err(e) if e.kind() == io::ErrorKind::NotFound && path == Path::new(DEFAULT_DB) => {
                    fs::create_dir_all(dir).map_err(|e| fail(&e))?;
                    fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(|e| fail(&e))?;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Err(fail(&format_args!("directory {} does not exist", dir.display())))
                }
                Err(e) => return Err(fail(&e)),
            }
        }
        create_private(path).map_err(|e| fail(&e))?;
        keep_private(path).map_err(|e| fail(&e))?;
        let conn = Connection::open(path).map_err(|e| fail(&e))?;
        conn.busy_timeout(Duration::from_secs(60)).map_err(|e| fail(&e))?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(|e| fail(&e))?;
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(|e| fail(&e))?;
        let mut store = Store { conn, path: path.to_path_buf() };
        store.migrate()?;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Read access for queries outside a write transaction.
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction: all of it lands, or (on any error) none of it.
    pub fn write<T>(&mut self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    fn migrate(&mut self) -> Result<()> {
        let version = self.conn.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))? as usize;
        if version > MIGRATIONS.len() {
            return Err(Error::Store(format!(
                "store {} has schema version {version}, newer than this oxcat understands ({}); upgrade oxcat",
                self.path.display(),
                MIGRATIONS.len()
            )));
        }
        if version == MIGRATIONS.len() && schema_matches(&self.conn)? {
            return Ok(());
        }
        self.write(|c| {
            // Re-read inside the write lock: another process may have migrated meanwhile.
            let version = c.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))? as usize;
            reconcile(c)?;
            for (i, step) in MIGRATIONS.iter().enumerate().skip(version) {
                step(c)?;
                c.pragma_update(None, "user_version", (i + 1) as i64)?;
            }
            Ok(())
        })
    }
}

/// Creates an empty store file at `path`, 0600 from the first byte (SQLite gives the `-wal` and
/// `-shm` files the database file's mode), unless something is there already.
///
/// The database file itself is never opened outside SQLite: closing any descriptor of it drops
/// every POSIX lock this process holds on it (fcntl locks belong to the process and the inode),
/// including those of SQLite connections open on it, and then another client's close deletes the
/// WAL from under them. So the file is made under a name of its own and linked into place; a
/// link never replaces an existing store.
fn create_private(path: &Path) -> io::Result<()> {
    if fs::symlink_metadata(path).is_ok() {
        return Ok(());
    }
    let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
    let fresh = path.with_file_name(format!(".{name}.new-{}-{nanos}", std::process::id()));
    OpenOptions::new().write(true).create_new(true).mode(0o600).open(&fresh)?;
    let linked = fs::hard_link(&fresh, path);
    let _ = fs::remove_file(&fresh);
    match linked {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => Err(e),
        _ => Ok(()),
    }
}

/// Checks that the store is a regular file, and makes it and its `-wal` and `-shm` 0600 where
/// group or others could read them (it holds BMC passwords), with a notice on stderr. chmod by
/// path: no descriptor is opened (see [`create_private`]), and open connections are not disturbed.
fn keep_private(path: &Path) -> io::Result<()> {
    let md = fs::metadata(path)?;
    if !md.is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    let mut files = vec![path.to_path_buf()];
    for suffix in ["-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        files.push(PathBuf::from(p));
    }
    for file in files {
        let mode = match fs::metadata(&file) {
            Ok(md) => md.permissions().mode() & 0o777,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        if mode & 0o077 == 0 {
            continue;
        }
        fs::set_permissions(&file, fs::Permissions::from_mode(mode & 0o700)).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "{} is readable by group or others (mode {mode:04o}) and cannot be made private: {e}",
                    file.display()
                ),
            )
        })?;
        eprintln!(
            "oxcat: {} was readable by group or others (mode {mode:04o}); made it {:04o}",
            file.display(),
            mode & 0o700
        );
    }
    Ok(())
}

/// True when every table and column of `schema.rs` exists (the common case: nothing to do).
fn schema_matches(conn: &Connection) -> Result<bool> {
    let want: usize = TABLES.iter().map(|t| t.columns.len()).sum();
    let names: Vec<String> = TABLES.iter().map(|t| format!("'{}'", t.name)).collect();
    let have: i64 = conn.query_row(
        &format!(
            "SELECT count(*) FROM sqlite_schema s, pragma_table_info(s.name) p
             WHERE s.type = 'table' AND s.name IN ({})",
            names.join(",")
        ),
        [],
        |r| r.get(0),
    )?;
    Ok(have as usize == want)
}

/// Creates missing tables and adds missing columns, so the SQL schema follows `schema.rs`.
fn reconcile(conn: &Connection) -> rusqlite::Result<()> {
    for t in TABLES {
        let existing: Vec<String> = conn
            .prepare(&format!("SELECT name FROM pragma_table_info('{}')", t.name))?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        if existing.is_empty() {
            conn.execute_batch(&create_sql(t))?;
        } else {
            for c in t.columns.iter().filter(|c| !existing.iter().any(|e| e == c.name)) {
                conn.execute_batch(&format!("ALTER TABLE \"{}\" ADD COLUMN \"{}\" TEXT", t.name, c.name))?;
            }
        }
    }
    Ok(())
}

fn create_sql(t: &Table) -> String {
    if t.name == "auditlog" {
        let cols: Vec<String> = t.columns[1..].iter().map(|c| format!("\"{}\" TEXT", c.name)).collect();
        return format!("CREATE TABLE auditlog (recid INTEGER PRIMARY KEY AUTOINCREMENT, {});", cols.join(", "));
    }
    let cols: Vec<String> = t.columns.iter().map(|c| format!("\"{}\" TEXT", c.name)).collect();
    let keys: Vec<String> = t.keys.iter().map(|k| format!("\"{k}\"")).collect();
    let mut sql = format!("CREATE TABLE \"{}\" ({}, PRIMARY KEY ({}));", t.name, cols.join(", "), keys.join(", "));
    if t.name == "networks" {
        sql.push_str("CREATE UNIQUE INDEX networks_netname ON networks(netname);");
    }
    sql
}

/// The tables whose changes are journalled in `changes`: what oxcatd keeps in memory (the DHCP
/// index) is derived from them.
pub const JOURNALLED: &[&str] = &["nodelist", "hosts", "mac", "noderes", "networks", "site", "nodegroup"];

/// How many journal entries are kept; a reader further behind starts over from the tables.
const JOURNAL_KEEP: i64 = 100_000;

/// The change journal: one row per inserted, updated or deleted row of a [`JOURNALLED`] table
/// (table, first key column), written by triggers, so every writer is covered and a long-running
/// reader can bring what it keeps up to date row by row instead of re-reading the cluster.
/// nodelist's status columns are left out: nodes report status all the time and nothing kept in
/// memory depends on it.
fn migrate_v2_changes(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(&format!(
        "CREATE TABLE changes (seq INTEGER PRIMARY KEY AUTOINCREMENT, tab TEXT NOT NULL, key TEXT);
         CREATE TRIGGER changes_prune AFTER INSERT ON changes WHEN NEW.seq % 1000 = 0
         BEGIN DELETE FROM changes WHERE seq <= NEW.seq - {JOURNAL_KEEP}; END;"
    ))?;
    for name in JOURNALLED {
        let t = schema::table(name).expect("journalled tables are in the schema");
        let key = t.keys[0];
        let update_of = if *name == "nodelist" { " OF node, groups, disable" } else { "" };
        conn.execute_batch(&format!(
            "CREATE TRIGGER changes_{name}_i AFTER INSERT ON \"{name}\"
             BEGIN INSERT INTO changes (tab, key) VALUES ('{name}', NEW.\"{key}\"); END;
             CREATE TRIGGER changes_{name}_u AFTER UPDATE{update_of} ON \"{name}\"
             BEGIN INSERT INTO changes (tab, key) VALUES ('{name}', OLD.\"{key}\");
                   INSERT INTO changes (tab, key) SELECT '{name}', NEW.\"{key}\" WHERE NEW.\"{key}\" IS NOT OLD.\"{key}\"; END;
             CREATE TRIGGER changes_{name}_d AFTER DELETE ON \"{name}\"
             BEGIN INSERT INTO changes (tab, key) VALUES ('{name}', OLD.\"{key}\"); END;"
        ))?;
    }
    Ok(())
}

/// The newest journal entry (0 when there is none).
pub fn journal_head(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row("SELECT coalesce(max(seq), 0) FROM changes", [], |r| r.get(0))?)
}

/// A journal entry: the table and the changed row's first key (node, group, network or site key).
pub type Change = (String, Option<String>);

/// What changed after journal entry `seq`: the newest entry and the changes, or None when the
/// journal no longer reaches back to `seq` (the reader must start over).
pub fn changes_since(conn: &Connection, seq: i64) -> Result<Option<(i64, Vec<Change>)>> {
    let oldest: Option<i64> = conn.query_row("SELECT min(seq) FROM changes", [], |r| r.get(0))?;
    if oldest.is_some_and(|o| o > seq + 1) {
        return Ok(None);
    }
    let mut stmt = conn.prepare_cached("SELECT seq, tab, key FROM changes WHERE seq > ?1 ORDER BY seq")?;
    let mut head = seq;
    let mut out = Vec::new();
    for row in stmt.query_map([seq], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get(2)?)))? {
        let (s, tab, key) = row?;
        head = s;
        out.push((tab, key));
    }
    Ok(Some((head, out)))
}

fn migrate_v1_site_defaults(conn: &Connection) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare("INSERT OR IGNORE INTO site (key, value) VALUES (?1, ?2)")?;
    for (k, v) in schema::SITE_DEFAULTS {
        stmt.execute([k, v])?;
    }
    Ok(())
}

fn quoted_columns(t: &Table) -> String {
    t.columns.iter().map(|c| format!("\"{}\"", c.name)).collect::<Vec<_>>().join(", ")
}

/// True when a row's `disable` column comments it out (xCAT: `yes` or `1`).
pub fn is_disabled(t: &Table, row: &Row) -> bool {
    matches!(row[t.columns.len() - 1].as_deref(), Some("yes" | "1"))
}

/// Every row of a table in key order, disabled rows included (tabdump shows them).
pub fn all_rows(conn: &Connection, t: &Table) -> Result<Vec<Row>> {
    let order: Vec<String> = t.keys.iter().map(|k| format!("\"{k}\"")).collect();
    let sql = format!("SELECT {} FROM \"{}\" ORDER BY {}", quoted_columns(t), t.name, order.join(", "));
    let mut stmt = conn.prepare_cached(&sql)?;
    let n = t.columns.len();
    let rows = stmt.query_map([], |r| (0..n).map(|i| cell(r, i)).collect::<rusqlite::Result<Row>>())?;
    Ok(rows.collect::<rusqlite::Result<Vec<Row>>>()?)
}

/// A cell as text: every column is TEXT except auditlog's INTEGER recid.
fn cell(r: &rusqlite::Row, i: usize) -> rusqlite::Result<Option<String>> {
    use rusqlite::types::ValueRef;
    Ok(match r.get_ref(i)? {
        ValueRef::Null => None,
        ValueRef::Integer(v) => Some(v.to_string()),
        ValueRef::Real(v) => Some(v.to_string()),
        ValueRef::Text(t) | ValueRef::Blob(t) => Some(String::from_utf8_lossy(t).into_owned()),
    })
}

/// The rows of a table that match every `-w` selection of xCAT's tabdump (Table.pm's
/// buildWhereClause): `col==val`, `col!=val`, `col=~pattern` (SQL LIKE, `%` is the wildcard),
/// `col!~pattern` (NOT LIKE), `col<val`, `col<=val`, `col>val`, `col>=val`, compared as text
/// (auditlog.recid as a number); an unset column matches none of them, as in xCAT's SQL.
pub fn rows_where(conn: &Connection, t: &Table, wheres: &[String]) -> Result<Vec<Row>> {
    let mut conds = Vec::with_capacity(wheres.len());
    let mut params = Vec::with_capacity(wheres.len());
    for w in wheres {
        // The operators in buildWhereClause's order, each found left of any other '='.
        let found = [
            ("==", "="),
            ("=~", "LIKE"),
            ("!=", "!="),
            ("!~", "NOT LIKE"),
            ("<=", "<="),
            ("<", "<"),
            (">=", ">="),
            (">", ">"),
        ]
        .into_iter()
        .find_map(|(op, sql)| w.split_once(op).filter(|(c, _)| !c.contains('=')).map(|(c, v)| (c, v, op, sql)));
        let Some((col, value, op, sql)) = found else {
            return Err(Error::Usage(format!("Unsupported operator:{w} on -w flag input")));
        };
        match t.column(col) {
            None => return Err(Error::Input(format!("No column \"{col}\" in table \"{}\"", t.name))),
            // A selection on a password would confirm a guess without printing it.
            Some((_, c)) if c.secret => {
                return Err(Error::Input(view::secret_criterion(&format!("{}.{col}", t.name))));
            }
            Some(_) => {}
        }
        let value = if op.ends_with('~') { value.trim_start_matches('/').trim_end_matches('/') } else { value };
        // The column itself, as xCAT's SQL: an unset value matches no selection (not even !=), and
        // auditlog's integer recid compares as a number.
        conds.push(format!("\"{col}\" {sql} ?{}", params.len() + 1));
        params.push(value.to_string());
    }
    let order: Vec<String> = t.keys.iter().map(|k| format!("\"{k}\"")).collect();
    let sql = format!(
        "SELECT {} FROM \"{}\" WHERE {} ORDER BY {}",
        quoted_columns(t),
        t.name,
        if conds.is_empty() { "1".to_string() } else { conds.join(" AND ") },
        order.join(", ")
    );
    let n = t.columns.len();
    let mut stmt = conn.prepare(&sql)?;
    let rows =
        stmt.query_map(params_from_iter(&params), |r| (0..n).map(|i| cell(r, i)).collect::<rusqlite::Result<Row>>())?;
    Ok(rows.collect::<rusqlite::Result<Vec<Row>>>()?)
}

/// The newest `n` records of the audit log (tabdump -n): those whose recid is above the highest
/// recid minus `n`, oldest first.
pub fn newest_audit_rows(conn: &Connection, n: u64) -> Result<Vec<Row>> {
    let t = schema::table("auditlog").expect("auditlog is in the schema");
    let sql = format!(
        "SELECT {} FROM auditlog WHERE recid > (SELECT coalesce(max(recid), 0) FROM auditlog) - ?1 ORDER BY recid",
        quoted_columns(t)
    );
    let cols = t.columns.len();
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map([i64::try_from(n).unwrap_or(i64::MAX)], |r| {
        (0..cols).map(|i| cell(r, i)).collect::<rusqlite::Result<Row>>()
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<Row>>>()?)
}

/// The rows of a single-key table whose key is one of `keys`.
pub fn rows_by_key(conn: &Connection, t: &Table, keys: &[String]) -> Result<Vec<Row>> {
    let mut out = Vec::with_capacity(keys.len());
    let n = t.columns.len();
    for chunk in keys.chunks(200) {
        let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("?{i}")).collect();
        let sql = format!(
            "SELECT {} FROM \"{}\" WHERE \"{}\" IN ({})",
            quoted_columns(t),
            t.name,
            t.keys[0],
            marks.join(", ")
        );
        let mut stmt = conn.prepare(&sql)?;
        let rows =
            stmt.query_map(params_from_iter(chunk), |r| (0..n).map(|i| cell(r, i)).collect::<rusqlite::Result<Row>>())?;
        out.extend(rows.collect::<rusqlite::Result<Vec<Row>>>()?);
    }
    Ok(out)
}

/// One row by its key values (in `t.keys` order).
pub fn get_row(conn: &Connection, t: &Table, key: &[&str]) -> Result<Option<Row>> {
    let cond: Vec<String> = t.keys.iter().enumerate().map(|(i, k)| format!("\"{k}\" = ?{}", i + 1)).collect();
    let sql = format!("SELECT {} FROM \"{}\" WHERE {}", quoted_columns(t), t.name, cond.join(" AND "));
    let n = t.columns.len();
    let row = conn
        .prepare_cached(&sql)?
        .query_row(params_from_iter(key), |r| (0..n).map(|i| cell(r, i)).collect::<rusqlite::Result<Row>>())
        .optional()?;
    Ok(row)
}

/// Sets `cols` (name, value; None or "" clears) on the row with key `key`, creating the row if needed.
pub fn upsert(conn: &Connection, t: &Table, key: &[&str], cols: &[(&str, Option<&str>)]) -> Result<()> {
    let mut names: Vec<&str> = t.keys.to_vec();
    names.extend(cols.iter().map(|(c, _)| *c));
    for c in &names {
        if t.column(c).is_none() {
            return Err(Error::Input(format!("table {} has no column '{c}'", t.name)));
        }
    }
    let placeholders: Vec<String> = (1..=names.len()).map(|i| format!("?{i}")).collect();
    let quoted: Vec<String> = names.iter().map(|c| format!("\"{c}\"")).collect();
    let conflict: Vec<String> = t.keys.iter().map(|k| format!("\"{k}\"")).collect();
    let sets: Vec<String> = cols.iter().map(|(c, _)| format!("\"{c}\" = excluded.\"{c}\"")).collect();
    let sql = if sets.is_empty() {
        format!(
            "INSERT INTO \"{}\" ({}) VALUES ({}) ON CONFLICT ({}) DO NOTHING",
            t.name,
            quoted.join(", "),
            placeholders.join(", "),
            conflict.join(", ")
        )
    } else {
        format!(
            "INSERT INTO \"{}\" ({}) VALUES ({}) ON CONFLICT ({}) DO UPDATE SET {}",
            t.name,
            quoted.join(", "),
            placeholders.join(", "),
            conflict.join(", "),
            sets.join(", ")
        )
    };
    let values: Vec<Option<&str>> =
        key.iter().map(|k| Some(*k)).chain(cols.iter().map(|(_, v)| v.filter(|v| !v.is_empty()))).collect();
    conn.prepare_cached(&sql)?.execute(params_from_iter(values))?;
    Ok(())
}

/// Deletes the row with key `key`; returns whether there was one.
pub fn delete_row(conn: &Connection, t: &Table, key: &[&str]) -> Result<bool> {
    let cond: Vec<String> = t.keys.iter().enumerate().map(|(i, k)| format!("\"{k}\" = ?{}", i + 1)).collect();
    let sql = format!("DELETE FROM \"{}\" WHERE {}", t.name, cond.join(" AND "));
    Ok(conn.prepare_cached(&sql)?.execute(params_from_iter(key))? > 0)
}

/// Replaces (or with `append`, adds to) a table's rows: `tabrestore`.
pub fn restore_rows(conn: &Connection, t: &Table, columns: &[usize], rows: &[Row], append: bool) -> Result<()> {
    if !append {
        conn.execute(&format!("DELETE FROM \"{}\"", t.name), [])?;
    }
    let names: Vec<String> = columns.iter().map(|&i| format!("\"{}\"", t.columns[i].name)).collect();
    let ph: Vec<String> = (1..=columns.len()).map(|i| format!("?{i}")).collect();
    let sql = format!("INSERT OR REPLACE INTO \"{}\" ({}) VALUES ({})", t.name, names.join(", "), ph.join(", "));
    let mut stmt = conn.prepare_cached(&sql)?;
    for row in rows {
        stmt.execute(params_from_iter(row.iter().map(|v| v.as_deref().filter(|s| !s.is_empty()))))?;
    }
    Ok(())
}

/// A site setting, or None when unset.
pub fn site_value(conn: &Connection, key: &str) -> Result<Option<String>> {
    let v: Option<Option<String>> = conn
        .prepare_cached("SELECT value FROM site WHERE key = ?1 AND coalesce(disable, '') NOT IN ('yes', '1')")?
        .query_row([key], |r| r.get(0))
        .optional()?;
    Ok(v.flatten().filter(|v| !v.is_empty()))
}

/// The passwd table's default credentials for `key` (xCAT: key `ipmi` for BMCs): (user, password).
pub fn default_credentials(conn: &Connection, key: &str) -> Result<(Option<String>, Option<String>)> {
    let row: Option<(Option<String>, Option<String>)> = conn
        .prepare_cached(
            "SELECT username, password FROM passwd
             WHERE key = ?1 AND coalesce(disable, '') NOT IN ('yes', '1') LIMIT 1",
        )?
        .query_row([key], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    Ok(row.unwrap_or((None, None)))
}

/// Records a change in the auditlog table (inside the change's own transaction).
pub fn audit(conn: &Connection, command: &str, noderange: &str, args: &str) -> Result<()> {
    let user = std::env::var("SUDO_USER").or_else(|_| std::env::var("USER")).unwrap_or_else(|_| "root".into());
    let host = fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default();
    conn.prepare_cached(
        "INSERT INTO auditlog (audittime, userid, clientname, clienttype, command, noderange, args, status)
         VALUES (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), ?1, ?2, 'cli', ?3, ?4, ?5, 'allowed')",
    )?
    .execute([&user, &host, command, noderange, args])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("sub")).unwrap();
        let store = Store::open(&dir.path().join("sub/oxcat.db")).unwrap();
        (dir, store)
    }

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn creates_private_files_with_site_defaults() {
        let (dir, store) = temp_store();
        for f in ["oxcat.db", "oxcat.db-wal", "oxcat.db-shm"] {
            assert_eq!(mode(&dir.path().join("sub").join(f)), 0o600, "{f}");
        }
        // Nothing else is left in the directory (the file is made under another name first).
        assert_eq!(fs::read_dir(dir.path().join("sub")).unwrap().count(), 3);
        assert_eq!(site_value(store.conn(), "installdir").unwrap().as_deref(), Some("/install"));
        let v: i64 = store.conn().pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(v as usize, MIGRATIONS.len());
        let mode: String = store.conn().pragma_query_value(None, "journal_mode", |r| r.get(0)).unwrap();
        assert_eq!(mode, "wal");
    }

    #[test]
    fn reopening_adds_missing_columns_and_keeps_data() {
        let (dir, mut store) = temp_store();
        let ipmi = schema::table("ipmi").unwrap();
        store.write(|c| upsert(c, ipmi, &["n1"], &[("bmc", Some("10.0.0.1"))])).unwrap();
        store.conn().execute_batch("ALTER TABLE ipmi DROP COLUMN ciphersuite").unwrap();
        drop(store);
        let store = Store::open(&dir.path().join("sub/oxcat.db")).unwrap();
        let row = get_row(store.conn(), ipmi, &["n1"]).unwrap().unwrap();
        assert_eq!(row[1].as_deref(), Some("10.0.0.1"));
        assert!(schema_matches(store.conn()).unwrap());
    }

    /// The POSIX locks /proc/locks lists on `path`'s inode for this process.
    fn locks_on(path: &Path) -> usize {
        use std::os::unix::fs::MetadataExt;
        let md = fs::metadata(path).unwrap();
        let (pid, ino) = (std::process::id().to_string(), format!(":{}", md.ino()));
        let locks = fs::read_to_string("/proc/locks").unwrap();
        locks
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .filter(|f| f.len() >= 6 && f[1] == "POSIX" && f[4] == pid && f[5].ends_with(&ino))
            .count()
    }

    /// Opening the store once more (oxcatd does, per service) must not drop the locks that the
    /// connections already open hold: without them another client's close deletes the WAL.
    #[test]
    fn opening_again_keeps_the_locks_of_open_connections() {
        let (dir, first) = temp_store();
        let path = dir.path().join("sub/oxcat.db");
        assert!(locks_on(&path) > 0, "an open WAL store holds a lock");
        let second = Store::open(&path).unwrap();
        assert!(locks_on(&path) > 0, "opening the store again dropped the locks");
        drop(second);
        assert!(locks_on(&path) > 0, "closing the second connection dropped the first's locks");
        assert_eq!(site_value(first.conn(), "installdir").unwrap().as_deref(), Some("/install"));
    }

    #[test]
    fn a_store_others_can_read_is_made_private_with_its_wal_and_shm() {
        let (dir, store) = temp_store();
        let files: Vec<PathBuf> =
            ["oxcat.db", "oxcat.db-wal", "oxcat.db-shm"].iter().map(|f| dir.path().join("sub").join(f)).collect();
        for (f, m) in files.iter().zip([0o644, 0o640, 0o604]) {
            fs::set_permissions(f, fs::Permissions::from_mode(m)).unwrap();
        }
        let again = Store::open(&files[0]).unwrap();
        for f in &files {
            assert_eq!(mode(f), 0o600, "{}", f.display());
        }
        drop((store, again));
    }

    #[test]
    fn an_explicit_path_needs_an_existing_directory_and_a_regular_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("typo/oxcat.db");
        let err = Store::open(&path).err().unwrap().to_string();
        assert_eq!(
            err,
            format!(
                "Error: cannot open store {}: directory {} does not exist",
                path.display(),
                dir.path().join("typo").display()
            )
        );
        assert!(!dir.path().join("typo").exists());
        fs::write(dir.path().join("file"), "").unwrap();
        let err = Store::open(&dir.path().join("file/oxcat.db")).err().unwrap().to_string();
        assert!(err.ends_with(&format!("{} is not a directory", dir.path().join("file").display())), "{err}");
        let err = Store::open(dir.path()).err().unwrap().to_string();
        assert_eq!(err, format!("Error: cannot open store {}: not a regular file", dir.path().display()));
    }

    #[test]
    fn refuses_a_newer_store() {
        let (dir, store) = temp_store();
        store.conn().pragma_update(None, "user_version", 99).unwrap();
        drop(store);
        let err = Store::open(&dir.path().join("sub/oxcat.db")).err().unwrap().to_string();
        assert!(err.contains("schema version 99"), "{err}");
    }

    #[test]
    fn failed_write_leaves_nothing() {
        let (_dir, mut store) = temp_store();
        let ipmi = schema::table("ipmi").unwrap();
        let r: Result<()> = store.write(|c| {
            upsert(c, ipmi, &["n1"], &[("bmc", Some("10.0.0.1"))])?;
            Err(Error::Input("stop".into()))
        });
        assert!(r.is_err());
        assert!(get_row(store.conn(), ipmi, &["n1"]).unwrap().is_none());
    }

    #[test]
    fn upsert_updates_only_named_columns_and_clears_empty() {
        let (_dir, mut store) = temp_store();
        let ipmi = schema::table("ipmi").unwrap();
        store.write(|c| upsert(c, ipmi, &["n1"], &[("bmc", Some("10.0.0.1")), ("username", Some("admin"))])).unwrap();
        store.write(|c| upsert(c, ipmi, &["n1"], &[("username", Some(""))])).unwrap();
        let row = get_row(store.conn(), ipmi, &["n1"]).unwrap().unwrap();
        assert_eq!(row[1].as_deref(), Some("10.0.0.1"));
        assert_eq!(row[5], None);
    }

    #[test]
    fn journal_records_changed_rows_and_knows_when_it_was_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("j.db")).unwrap();
        let head = journal_head(store.conn()).unwrap();
        store
            .write(|c| {
                c.execute_batch(
                    "INSERT INTO nodelist (node, groups) VALUES ('n1', 'all');
                     UPDATE nodelist SET status = 'booted' WHERE node = 'n1';
                     UPDATE mac SET mac = 'x' WHERE node = 'nobody';
                     INSERT INTO mac (node, mac) VALUES ('n1', '52:54:00:00:00:01');
                     UPDATE hosts SET ip = '10.0.0.1';
                     INSERT INTO hosts (node, ip) VALUES ('n1', '10.0.0.1');
                     UPDATE hosts SET node = 'n2' WHERE node = 'n1';
                     DELETE FROM hosts;
                     INSERT INTO auditlog (command) VALUES ('not journalled');",
                )?;
                Ok(())
            })
            .unwrap();
        let (new_head, changes) = changes_since(store.conn(), head).unwrap().unwrap();
        let got: Vec<(&str, &str)> = changes.iter().map(|(t, k)| (t.as_str(), k.as_deref().unwrap_or(""))).collect();
        // The status update is not there; a renamed key appears under both names.
        assert_eq!(
            got,
            [("nodelist", "n1"), ("mac", "n1"), ("hosts", "n1"), ("hosts", "n1"), ("hosts", "n2"), ("hosts", "n2")]
        );
        assert_eq!(new_head, head + 6);
        assert_eq!(changes_since(store.conn(), new_head).unwrap().unwrap().1, vec![]);
        // A reader further behind than the journal keeps is told to start over.
        store
            .write(|c| {
                c.execute_batch(&format!(
                    "DELETE FROM changes WHERE seq <= {head} + 3; INSERT INTO site (key, value) VALUES ('x', 'y');"
                ))?;
                Ok(())
            })
            .unwrap();
        assert!(changes_since(store.conn(), head).unwrap().is_none());
        assert!(changes_since(store.conn(), head + 3).unwrap().is_some());
    }
}
