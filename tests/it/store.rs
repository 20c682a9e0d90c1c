//! The store file under a running oxcatd and ordinary SQLite clients (Debian's `sqlite3` CLI and
//! Python's `sqlite3`), its permissions, and where it may be created.

use crate::harness::{peers, Daemon, Lab};
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

fn curl(url: &str) -> String {
    let o = Command::new("curl").args(["-s", "--max-time", "20", url]).output().unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Opens the store with the stock sqlite3 CLI, reads, and closes it.
fn sqlite3_cli(db: &std::path::Path, sql: &str) -> String {
    let o = Command::new("sqlite3").arg(db).arg(sql).output().unwrap();
    assert!(o.status.success(), "sqlite3: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// The same with Python's sqlite3 module.
fn python_sqlite3(db: &std::path::Path, sql: &str) -> String {
    let script = "import sqlite3, sys\nc = sqlite3.connect(sys.argv[1])\nprint(c.execute(sys.argv[2]).fetchall()[0][0])\nc.close()\n";
    let o = Command::new("python3").args(["-c", script]).arg(db).arg(sql).output().unwrap();
    assert!(o.status.success(), "python3: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// oxcatd (HTTP and TFTP, so it holds several connections) keeps the store while sqlite3 clients
/// come and go: their closing must not take the WAL away from under it, so every status report it
/// answers `ok` lands, every nodeset is seen, and the store stays sound. (Whether oxcatd holds a
/// lock on the database file at a given moment depends on whether a statement is running: idle WAL
/// connections keep only the -shm's, so /proc/locks is not checked here; the unit test
/// store::tests::opening_again_keeps_the_locks_of_open_connections checks the locks themselves.)
#[test]
fn sqlite_clients_opening_and_closing_the_store_change_nothing_under_oxcatd() {
    if !peers(&["sqlite3", "python3", "curl"], "sqlite3 python3 curl") {
        return;
    }
    let lab = Lab::new();
    let tftp = lab.path("tftp");
    std::fs::create_dir_all(&tftp).unwrap();
    lab.run("chdef", &["-t", "site", &format!("tftpdir={}", tftp.display()), "master=127.0.0.1"]).ok();
    lab.write("vmlinuz", "kernel");
    lab.write("initrd.img", "initrd");
    lab.run("addimage", &["img1", "--kernel", "vmlinuz", "--initrd", "initrd.img"]).ok();
    lab.run("addimage", &["img2", "--kernel", "vmlinuz", "--initrd", "initrd.img"]).ok();
    lab.enroll("n1").ok();
    // The node's address is the client's: oxcatd answers what needs n1's token to n1 only.
    lab.run("chdef", &["n1", "ip=127.0.0.1"]).ok();
    lab.run("nodeset", &["n1", "osimage=img1"]).ok();
    lab.write("oxcat.toml", "[http]\nlisten = [\"127.0.0.1:0\"]\n[tftp]\nlisten = [\"127.0.0.1:0\"]\n");
    let mut cmd = lab.cmd("oxcatd");
    cmd.args(["--config", "oxcat.toml"]);
    let d = Daemon::start(cmd);
    let http = d.addr("HTTP");
    let db = lab.db();
    let (wal, shm) = (lab.path("oxcat.db-wal"), lab.path("oxcat.db-shm"));
    let statuses = ["installing", "netbooting", "booting", "booted"];
    for round in 0..8 {
        let image = ["img1", "img2"][round % 2];
        lab.run("nodeset", &["n1", &format!("osimage={image}")]).ok();
        let token = lab.run("nodels", &["n1", "chain.token", "--show-secrets"]).ok().stdout;
        let token = token.trim().rsplit(' ').next().unwrap().to_string();
        assert!(wal.exists() && shm.exists(), "round {round}: no -wal/-shm");
        // A stock client opens the store, reads, closes; then Python's.
        assert_eq!(sqlite3_cli(&db, "SELECT count(*) FROM nodelist;"), "1");
        assert_eq!(python_sqlite3(&db, "SELECT count(*) FROM nodelist"), "1");
        assert!(wal.exists() && shm.exists(), "round {round}: a client's close deleted the -wal/-shm");
        // The script first: once the node reports booted, its token opens no config.
        let script = curl(&format!("http://{http}/tftpboot/ipxe/n1.ipxe"));
        assert!(script.starts_with(&format!("#!ipxe oxcat nodeset: netboot {image}\n")), "round {round}: {script}");
        let status = statuses[round % statuses.len()];
        let answer = curl(&format!("http://{http}/status?node=n1&token={token}&status={status}"));
        assert_eq!(answer, "ok\n", "round {round}");
        lab.run("nodels", &["n1", "nodelist.status"]).ok().stdout_is(&format!("n1: {status}\n"));
    }
    // Now the clients come and go while status reports stream in: every one answered `ok` lands
    // (a new nodeset: the last round's booted spent the token, which chain.token keeps as a digest).
    lab.run("nodeset", &["n1", "osimage=img1"]).ok();
    let token = lab.run("nodels", &["n1", "chain.token", "--show-secrets"]).ok().stdout;
    let token = token.trim().rsplit(' ').next().unwrap().to_string();
    let reporter = std::thread::spawn(move || {
        for i in 0..40 {
            let status = statuses[i % statuses.len()];
            assert_eq!(curl(&format!("http://{http}/status?node=n1&token={token}&status={status}")), "ok\n");
        }
    });
    for _ in 0..5 {
        sqlite3_cli(&db, "SELECT count(*) FROM nodelist;");
        python_sqlite3(&db, "SELECT count(*) FROM nodelist");
    }
    reporter.join().unwrap();
    assert!(wal.exists() && shm.exists());
    lab.run("nodels", &["n1", "nodelist.status"]).ok().stdout_is("n1: booted\n");
    drop(d);
    assert_eq!(sqlite3_cli(&db, "PRAGMA integrity_check;"), "ok");
    assert_eq!(python_sqlite3(&db, "PRAGMA integrity_check"), "ok");
    lab.run("nodels", &["n1", "nodelist.status"]).ok().stdout_is("n1: booted\n");
}

fn mode(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// A mistyped `--db` or `OXCAT_DB` is an error, not a new empty store; an existing directory gets a
/// private store, and --db wins over OXCAT_DB.
#[test]
fn an_explicit_store_needs_an_existing_directory() {
    let lab = Lab::new();
    let typo = lab.path("deep/er/oxcat.db");
    let want = format!(
        "Error: cannot open store {}: directory {} does not exist\n",
        typo.display(),
        lab.path("deep/er").display()
    );
    let o = Command::new(crate::harness::oxcat_bin()).env("OXCAT_DB", &typo).args(["nodels"]).output().unwrap();
    assert_eq!((o.status.code(), String::from_utf8_lossy(&o.stderr).into_owned()), (Some(1), want.clone()));
    lab.run("nodels", &["--db", typo.to_str().unwrap()]).fails(1).stderr_is(&want);
    lab.run("mkdef", &["--db", typo.to_str().unwrap(), "n1", "groups=all"]).fails(1).stderr_is(&want);
    assert!(!lab.path("deep").exists());
    let other = lab.path("other.db");
    lab.run("nodels", &["--db", other.to_str().unwrap()]).ok().stdout_is("");
    assert_eq!(mode(&other), 0o600);
    assert_eq!(mode(&lab.db()), 0o600);
}

/// A store that group or others can read (made by a copy, a restore or sqlite3 under umask 022)
/// is made 0600, with its -wal and -shm, before BMC passwords go in, and says so once.
#[test]
fn a_store_others_can_read_is_made_private_before_secrets_go_in() {
    let lab = Lab::new();
    let db = lab.db();
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    lab.enroll("n1")
        .ok()
        .stderr_is(&format!("oxcat: {} was readable by group or others (mode 0644); made it 0600\n", db.display()));
    assert_eq!(mode(&db), 0o600);
    lab.run("nodels", &["n1"]).ok().stderr_is("");
    // With oxcatd running, its -wal and -shm stay; they are made private too.
    let (d, _) = lab.http_oxcatd(None);
    let files = [db.clone(), lab.path("oxcat.db-wal"), lab.path("oxcat.db-shm")];
    for f in &files {
        std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let o = lab.run("chdef", &["n1", "bmcpassword=other"]).ok();
    for f in &files {
        assert_eq!(mode(f), 0o600, "{}", f.display());
        assert!(
            o.stderr.contains(&format!(
                "oxcat: {} was readable by group or others (mode 0644); made it 0600\n",
                f.display()
            )),
            "{}",
            o.stderr
        );
    }
    assert_eq!(o.stderr.lines().count(), 3, "{}", o.stderr);
    drop(d);
}
