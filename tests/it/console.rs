//! Consoles: rcons and oxcatd's console service against ipmi_sim with Serial-over-LAN connected to a
//! TCP endpoint the test owns (the "serial port"), cross-checked with ipmitool's `sol activate`.

use crate::bmcsim::{self, Bmc, PASSWORD, USER};
use crate::harness::{Daemon, Lab};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The node's serial port: a TCP listener ipmi_sim connects to. What the BMC relays from the
/// console user is kept; `send` writes to the latest connection (ipmi_sim reconnects when restarted).
struct Serial {
    addr: String,
    conn: Arc<Mutex<Option<TcpStream>>>,
    got: Arc<Mutex<Vec<u8>>>,
    echo: bool,
}

impl Serial {
    /// Listens on a free loopback port; with `echo`, what arrives is sent back as `echo:DATA`.
    fn start(echo: bool) -> Serial {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let conn: Arc<Mutex<Option<TcpStream>>> = Arc::default();
        let got: Arc<Mutex<Vec<u8>>> = Arc::default();
        let (c, g) = (conn.clone(), got.clone());
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(mut s) = s else { return };
                *c.lock().unwrap() = Some(s.try_clone().unwrap());
                let g = g.clone();
                std::thread::spawn(move || {
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = s.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        g.lock().unwrap().extend(&buf[..n]);
                        if echo {
                            let mut reply = b"echo:".to_vec();
                            reply.extend(&buf[..n]);
                            let _ = s.write_all(&reply);
                        }
                    }
                });
            }
        });
        Serial { addr, conn, got, echo }
    }

    fn device(&self) -> String {
        format!("tcp:{}", self.addr)
    }

    /// Writes console output (as the node would), once the BMC is connected.
    fn send(&self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(s) = self.conn.lock().unwrap().as_mut() {
                if s.write_all(text.as_bytes()).is_ok() {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "the BMC never connected to the serial port");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn wait_received(&self, want: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let got = String::from_utf8_lossy(&self.got.lock().unwrap()).into_owned();
            if got.contains(want) {
                return;
            }
            assert!(Instant::now() < deadline, "the serial port never got {want:?}; got {got:?} (echo {})", self.echo);
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn available() -> bool {
    bmcsim::available() && crate::harness::peers(&["ipmitool", "python3"], "ipmitool python3")
}

/// A node's console end to end: a serial line (echoing), the simulated BMC whose SOL it is, and a
/// lab whose node n1 has that BMC. Fields drop in this order: the lab, the BMC, its directory,
/// the serial line.
struct SolLab {
    lab: Lab,
    bmc: Bmc,
    _bmc_dir: tempfile::TempDir,
    serial: Serial,
}

/// None (the test is skipped) where ipmi_sim, ipmitool or python3 is missing.
fn sol_lab() -> Option<SolLab> {
    if !available() {
        return None;
    }
    let serial = Serial::start(true);
    let _bmc_dir = tempfile::tempdir().unwrap();
    let bmc = Bmc::start_with_sol(_bmc_dir.path(), &serial.device());
    let lab = lab_with(&bmc);
    Some(SolLab { lab, bmc, _bmc_dir, serial })
}

/// A lab whose node n1 has the simulated BMC `bmc` (its console: nodehm.cons=ipmi).
fn lab_with(bmc: &Bmc) -> Lab {
    let lab = Lab::new();
    lab.run(
        "mkdef",
        &[
            "n1",
            "groups=compute",
            "mgt=ipmi",
            "cons=ipmi",
            &format!("bmc={}", bmc.addr),
            &format!("bmcusername={USER}"),
            &format!("bmcpassword={PASSWORD}"),
        ],
    )
    .ok();
    lab
}

/// Runs `cmd` in a pseudo-terminal (python3's pty module) in cooked mode with echo: waits for
/// `ready` on it, types `keys`, waits for `expect`, types `~.`; prints what the terminal showed,
/// then `TERMIOS same` when the terminal's settings after the exit equal those before.
const PTY_DRIVER: &str = r#"
import os, pty, sys, termios, time, select
ready, keys, expect = sys.argv[1], sys.argv[2].encode(), sys.argv[3]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[4], sys.argv[4:])
before = termios.tcgetattr(fd)
seen = b''
def until(text, limit=20):
    global seen
    end = time.time() + limit
    while text.encode() not in seen and time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                seen += os.read(fd, 4096)
            except OSError:
                break
    return text.encode() in seen
ok = until(ready)
during = termios.tcgetattr(fd)
os.write(fd, keys)
ok = ok and until(expect)
time.sleep(0.2)
os.write(fd, b'~.')
until('\0', 5)
_, status = os.waitpid(pid, 0)
after = termios.tcgetattr(fd)
sys.stdout.write(seen.decode(errors='replace'))
print('\nEXIT', os.waitstatus_to_exitcode(status))
print('RAW', 'yes' if not (during[3] & termios.ECHO) and not (during[3] & termios.ICANON) else 'no')
print('TERMIOS', 'same' if after == before else 'changed')
"#;

#[test]
fn rcons_round_trips_typed_text_in_raw_mode_and_restores_the_terminal() {
    let Some(SolLab { lab, bmc, _bmc_dir, serial }) = sol_lab() else { return };
    lab.write("off.toml", "");
    // ipmitool first: ipmi_sim then takes a next session's first packet, numbered as ipmitool's
    // last one, for a repetition (rcons's first packet is an empty one for that reason).
    let ipmitool = |keys: &str, echo: &str| {
        let o = Command::new("python3")
            .args(["-c", PTY_DRIVER, "SOL Session operational", keys, echo])
            .args(["ipmitool", "-I", "lanplus", "-C", "3", "-H", &bmc.addr.to_string(), "-U", USER, "-P", PASSWORD])
            .args(["sol", "activate"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let out = ipmitool("x\r", "echo:x");
    assert!(out.contains("echo:x"), "{out}");
    let o = Command::new("python3")
        .args(["-c", PTY_DRIVER, "connected", "hello console\r", "echo:hello console"])
        .arg(lab.path("bin/rcons"))
        .arg("n1")
        .env("OXCAT_DB", lab.db())
        .env("OXCAT_CONFIG", lab.path("off.toml"))
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    serial.wait_received("hello console\r");
    assert!(out.contains("[rcons n1: connected; ~. to leave, ~? for help]"), "{out}");
    assert!(out.contains("echo:hello console"), "{out}");
    assert!(out.contains("[rcons n1: closed]"), "{out}");
    assert!(out.contains("EXIT 0\nRAW yes\nTERMIOS same"), "{out}");
    // rcons deactivated SOL on leaving: ipmitool can activate it (no "already active").
    let out = ipmitool("after\r", "echo:after");
    assert!(out.contains("echo:after"), "ipmitool could not use the console after rcons:\n{out}");
}

/// Holds the console with `ipmitool sol activate` in a pty for `secs` seconds.
fn ipmitool_holding(bmc: &Bmc, secs: u32) -> std::process::Child {
    let script = format!(
        "import os, pty, time, sys\npid, fd = pty.fork()\nif pid == 0:\n    os.execvp('ipmitool', sys.argv[1:])\n\
         end = time.time() + {secs}\nwhile time.time() < end:\n    try: os.read(fd, 4096)\n    except OSError: break\n"
    );
    let child = Command::new("python3")
        .args(["-c", &script])
        .args(["ipmitool", "-I", "lanplus", "-C", "3", "-H", &bmc.addr.to_string(), "-U", USER, "-P", PASSWORD])
        .args(["sol", "activate"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    // Until ipmitool holds it: the BMC says SOL is active.
    let deadline = Instant::now() + Duration::from_secs(10);
    // Get Payload Instance Info names the session holding SOL (none: zeros).
    while bmc.ipmitool(&["raw", "0x06", "0x4b", "0x01", "0x01"]).trim().starts_with("00 00 00 00") {
        assert!(Instant::now() < deadline, "ipmitool did not activate SOL");
        std::thread::sleep(Duration::from_millis(200));
    }
    child
}

#[test]
fn rcons_names_a_taken_console_and_f_takes_it_over() {
    let Some(SolLab { lab, bmc, _bmc_dir, serial }) = sol_lab() else { return };
    lab.write("off.toml", "");
    let mut holder = ipmitool_holding(&bmc, 30);
    let o = lab.cmd("rcons").arg("n1").env("OXCAT_CONFIG", lab.path("off.toml")).stdin(Stdio::null()).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "n1: Error: the console is in use by another session (rcons -f takes it over)\n"
    );
    // -f: the console is ours; what we type reaches the serial port.
    let mut c = lab
        .cmd("rcons")
        .args(["-f", "n1"])
        .env("OXCAT_CONFIG", lab.path("off.toml"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.as_mut().unwrap().write_all(b"forced\r").unwrap();
    serial.wait_received("forced\r");
    drop(c.stdin.take());
    let o = c.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("echo:forced"));
    let _ = holder.kill();
    let _ = holder.wait();
}

#[test]
fn rcons_notices_another_session_deactivating_its_console() {
    let Some(SolLab { lab, bmc, _bmc_dir, serial }) = sol_lab() else { return };
    lab.write("quick.toml", "[console]\nkeepalive = 0.3\n");
    let mut c = lab
        .cmd("rcons")
        .arg("n1")
        .env("OXCAT_CONFIG", lab.path("quick.toml"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.as_mut().unwrap().write_all(b"mine\r").unwrap();
    serial.wait_received("mine\r");
    bmc.ipmitool(&["sol", "deactivate"]);
    let start = Instant::now();
    while c.try_wait().unwrap().is_none() {
        assert!(start.elapsed() < Duration::from_secs(10), "rcons did not notice");
        std::thread::sleep(Duration::from_millis(100));
    }
    let o = c.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.ends_with("\n[rcons n1: another session deactivated or took over the console]\n"), "{err}");
}

#[test]
fn a_break_typed_as_tilde_b_reaches_the_serial_line() {
    if !available() {
        return;
    }
    // In telnet mode ipmi_sim passes a SOL break on as telnet's BREAK (IAC BRK, FFh F3h).
    let serial = Serial::start(false);
    let lab0 = tempfile::tempdir().unwrap();
    let bmc = Bmc::start_with_sol(lab0.path(), &format!("telnet:{}", serial.addr));
    let lab = lab_with(&bmc);
    lab.write("off.toml", "");
    let mut c = lab
        .cmd("rcons")
        .arg("n1")
        .env("OXCAT_CONFIG", lab.path("off.toml"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    c.stdin.as_mut().unwrap().write_all(b"before\r~Bafter\r").unwrap();
    serial.wait_received("after\r");
    drop(c.stdin.take());
    assert!(c.wait().unwrap().success());
    let got = serial.got.lock().unwrap().clone();
    let at = got.windows(7).position(|w| w == b"before\r").expect("before") + 7;
    assert!(got[at..].windows(2).any(|w| w == [0xff, 0xf3]), "no telnet BREAK after 'before': {got:02x?}");
}

/// oxcatd with only the console service, its socket and logs in the lab; quick keep-alives.
fn console_daemon(lab: &Lab) -> Daemon {
    lab.run("chdef", &["-t", "site", "ipmitimeout=0.5", "ipmiretries=2"]).ok();
    let cfg = format!(
        "[http]\nenable = false\n[tftp]\nenable = false\n[console]\nenable = true\nkeepalive = 0.5\nstatus = [\"login:\", \"Kernel panic\"]\n\
         log_dir = \"{}\"\nsocket = \"{}\"\n",
        lab.path("consoles").display(),
        lab.path("run/console.sock").display()
    );
    lab.write("oxcat.toml", &cfg);
    let mut cmd = lab.cmd("oxcatd");
    cmd.args(["--config", "oxcat.toml"]);
    Daemon::start(cmd)
}

fn wait_for(what: &str, mut f: impl FnMut() -> Option<String>) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn log_of(lab: &Lab) -> String {
    std::fs::read_to_string(lab.path("consoles/n1.log")).unwrap_or_default()
}

/// A client attached through the service, its output collected.
struct Client {
    child: std::process::Child,
    out: Arc<Mutex<Vec<u8>>>,
}

impl Client {
    fn attach(lab: &Lab, args: &[&str]) -> Client {
        let mut child = lab
            .cmd("rcons")
            .args(args)
            .env("OXCAT_CONFIG", lab.path("oxcat.toml"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out: Arc<Mutex<Vec<u8>>> = Arc::default();
        let (mut so, mut se, o1, o2) =
            (child.stdout.take().unwrap(), child.stderr.take().unwrap(), out.clone(), out.clone());
        std::thread::spawn(move || {
            let mut b = [0u8; 4096];
            while let Ok(n) = so.read(&mut b) {
                if n == 0 {
                    break;
                }
                o1.lock().unwrap().extend(&b[..n]);
            }
        });
        std::thread::spawn(move || {
            let mut b = [0u8; 4096];
            while let Ok(n) = se.read(&mut b) {
                if n == 0 {
                    break;
                }
                o2.lock().unwrap().extend(&b[..n]);
            }
        });
        let c = Client { child, out };
        c.wait_for("connected");
        c
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().unwrap()).into_owned()
    }

    fn wait_for(&self, want: &str) {
        wait_for(want, || self.text().contains(want).then_some(String::new()));
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn oxcatd_keeps_consoles_logged_shared_and_reconnected_after_the_bmc_returns() {
    let Some(SolLab { lab, mut bmc, _bmc_dir, serial }) = sol_lab() else { return };
    let daemon = console_daemon(&lab);
    assert!(
        daemon.lines.iter().any(|l| l.starts_with("oxcatd: consoles on ") && l.contains("(1 node,")),
        "{:?}",
        daemon.lines
    );
    wait_for("the console to connect", || log_of(&lab).contains("[-- oxcatd: console connected --]").then(String::new));
    // Root only: the directory 0700, the log 0600.
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(lab.path("consoles")).unwrap().permissions().mode() & 0o777, 0o700);
    assert_eq!(std::fs::metadata(lab.path("consoles/n1.log")).unwrap().permissions().mode() & 0o777, 0o600);

    // Two readers and a writer attached at once see the same output; the writer's keys reach
    // the serial port, a reader's do not.
    let r1 = Client::attach(&lab, &["-r", "n1"]);
    let r2 = Client::attach(&lab, &["n1", "--readonly"]);
    let mut w = Client::attach(&lab, &["n1"]);
    assert!(r1.text().contains("connected, read-only"), "{}", r1.text());
    assert!(!w.text().contains("read-only"), "{}", w.text());
    serial.send("Booting node n1\r\n");
    for c in [&r1, &r2, &w] {
        c.wait_for("Booting node n1");
    }
    w.child.stdin.as_mut().unwrap().write_all(b"uname\r").unwrap();
    serial.wait_received("uname\r");
    r1.wait_for("echo:uname");
    r2.wait_for("echo:uname");
    // A second writer is told it reads only (the first one holds write access).
    let w2 = Client::attach(&lab, &["n1"]);
    assert!(w2.text().contains("connected, read-only"), "{}", w2.text());
    drop(w2);
    let before = log_of(&lab);
    assert!(before.lines().any(|l| l.starts_with('[') && l.ends_with("] Booting node n1")), "{before}");

    // The BMC disappears: the service notices, and reconnects when it is back; the log keeps
    // what came before.
    bmc.kill();
    wait_for("the loss to be logged", || log_of(&lab).contains("console lost").then(String::new));
    bmc.revive();
    wait_for("the console to reconnect", || {
        (log_of(&lab).matches("[-- oxcatd: console connected --]").count() >= 2).then(String::new)
    });
    serial.send("after the BMC came back\r\n");
    wait_for("output after the reconnect", || log_of(&lab).contains("after the BMC came back").then(String::new));
    let log = log_of(&lab);
    assert!(log.starts_with(&before), "the log lost what it had:\n{log}");
    // Clients stay attached across the reconnect.
    r1.wait_for("after the BMC came back");

    // [console] status: the last matching line, even one still waiting for input, becomes the
    // node's console status.
    serial.send("Debian GNU/Linux 12 n1 ttyS0\r\n\r\nn1 login: ");
    let want = "n1: appstatus=console=n1 login:\n";
    wait_for("the console status", || {
        let o = lab.run("lsdef", &["n1", "-i", "appstatus", "-c"]);
        (o.stdout == want).then_some(o.stdout)
    });
    serial.send("\r\n[   12.5] Kernel panic - not syncing: VFS: Unable to mount root fs\r\n");
    let want = "n1: appstatus=console=[   12.5] Kernel panic - not syncing: VFS: Unable to mount root fs\n";
    wait_for("the panic as status", || {
        let o = lab.run("lsdef", &["n1", "-i", "appstatus", "-c"]);
        (o.stdout == want).then_some(o.stdout)
    });

    // rcons --log: the tail of the log.
    let o = lab.cmd("rcons").args(["n1", "--log", "3"]).env("OXCAT_CONFIG", lab.path("oxcat.toml")).output().unwrap();
    let tail = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success());
    assert_eq!(tail.lines().count(), 3, "{tail}");
    assert!(tail.contains("] Kernel panic - not syncing"), "{tail}");
    let o = lab.cmd("rcons").args(["n2", "--log"]).env("OXCAT_CONFIG", lab.path("oxcat.toml")).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).starts_with("n2: Error: no console log at "));
    drop(daemon);
}

/// The service follows the store: makegocons and SIGHUP start the consoles of nodes selected
/// since oxcatd started and release those no longer selected, and oxcatd releases every console
/// when it stops. Released means SOL deactivated at once, free for another session, not left
/// active until the BMC times the session out.
#[test]
fn makegocons_and_sighup_follow_the_store_and_a_stopping_oxcatd_releases_its_consoles() {
    let Some(SolLab { lab, bmc, _bmc_dir, serial: _serial }) = sol_lab() else { return };
    lab.run("chdef", &["n1", "cons="]).ok();
    let mut daemon = console_daemon(&lab);
    assert!(daemon.lines.iter().any(|l| l.contains("(0 nodes,")), "{:?}", daemon.lines);
    let makegocons = || lab.cmd("makegocons").env("OXCAT_CONFIG", lab.path("oxcat.toml")).output().unwrap();
    // Get Payload Instance Info names the session holding SOL (none: zeros).
    let sol_active = || !bmc.ipmitool(&["raw", "0x06", "0x4b", "0x01", "0x01"]).trim().starts_with("00 00 00 00");
    let released_soon = |what: &str| {
        let deadline = Instant::now() + Duration::from_secs(3);
        while sol_active() {
            assert!(Instant::now() < deadline, "SOL still active 3 s after {what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };

    // A node given a console after the start: held once makegocons asks.
    lab.run("chdef", &["n1", "cons=ipmi"]).ok();
    let o = makegocons();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "n1: started\n");
    wait_for("the console to connect", || log_of(&lab).contains("[-- oxcatd: console connected --]").then(String::new));
    assert!(sol_active());
    let c = Client::attach(&lab, &["n1"]);
    // Nothing changed: nothing to say.
    let o = makegocons();
    assert!(o.status.success());
    assert_eq!(String::from_utf8_lossy(&o.stdout), "");

    // No longer a console: released, its client told.
    lab.run("chdef", &["n1", "cons="]).ok();
    let o = makegocons();
    assert_eq!(String::from_utf8_lossy(&o.stdout), "n1: stopped\n");
    c.wait_for("console released: no longer one of oxcatd's consoles");
    released_soon("makegocons");

    // SIGHUP does the same; a selected node without a usable BMC is named.
    lab.run("chdef", &["n1", "cons=ipmi"]).ok();
    lab.run("mkdef", &["n2", "groups=compute", "mgt=ipmi", "cons=ipmi"]).ok();
    assert!(Command::new("kill").args(["-HUP", &daemon.pid().to_string()]).status().unwrap().success());
    let line = daemon.log_line("oxcatd: consoles reloaded: ");
    assert_eq!(line, "oxcatd: consoles reloaded: 1 held; started [\"n1\"], restarted [], stopped []");
    assert!(daemon.log().lines().any(|l| l.starts_with("oxcatd: console n2: ")), "{}", daemon.log());
    wait_for("the console to connect again", || {
        (log_of(&lab).matches("[-- oxcatd: console connected --]").count() >= 2).then(String::new)
    });
    let o = makegocons();
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "");
    assert!(String::from_utf8_lossy(&o.stderr).starts_with("n2: Error: "), "{}", String::from_utf8_lossy(&o.stderr));
    // A console whose log cannot be opened is kept out, named; the others stay held.
    let (bmc_addr, user, pw) =
        (format!("bmc={}", bmc.addr), format!("bmcusername={USER}"), format!("bmcpassword={PASSWORD}"));
    lab.run("mkdef", &["n3", "groups=compute", "mgt=ipmi", "cons=ipmi", &bmc_addr, &user, &pw]).ok();
    std::fs::create_dir_all(lab.path("consoles/n3.log")).unwrap();
    let o = makegocons();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(&format!("n3: Error: {}: ", lab.path("consoles/n3.log").display())), "{err}");
    assert!(sol_active());
    lab.run("noderm", &["n3"]).ok();

    // Other BMC settings: the console is restarted with them (a wrong password, then the right one).
    lab.run("chdef", &["n1", "bmcpassword=wrong"]).ok();
    let o = makegocons();
    assert_eq!(String::from_utf8_lossy(&o.stdout), "n1: restarted\n");
    wait_for("the refusal", || log_of(&lab).contains("cannot connect: ").then(String::new));
    lab.run("chdef", &["n1", &format!("bmcpassword={PASSWORD}")]).ok();
    assert_eq!(String::from_utf8_lossy(&makegocons().stdout), "n1: restarted\n");
    wait_for("the console to connect a third time", || {
        (log_of(&lab).matches("[-- oxcatd: console connected --]").count() >= 3).then(String::new)
    });

    // A user who may not open the service's socket is told so, not sent to the BMC behind the
    // service's back: rcons as nobody, from a copy of the program and settings nobody can read.
    let open = tempfile::Builder::new().prefix("oxcat-nobody").tempdir_in("/tmp").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(open.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let (prog, cfg) = (open.path().join("rcons"), open.path().join("oxcat.toml"));
    std::fs::hard_link(crate::harness::oxcat_bin(), &prog)
        .or_else(|_| std::fs::copy(crate::harness::oxcat_bin(), &prog).map(|_| ()))
        .unwrap();
    std::fs::copy(lab.path("oxcat.toml"), &cfg).unwrap();
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o644)).unwrap();
    let o = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&prog)
        .arg("n1")
        .env("OXCAT_CONFIG", &cfg)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        format!(
            "n1: Error: console service: {}: permission denied (oxcatd's console service holds the consoles; its socket is root's)\n",
            lab.path("run/console.sock").display()
        )
    );

    // oxcatd stops: the console it held is free at once.
    assert!(sol_active());
    assert!(Command::new("kill").args(["-TERM", &daemon.pid().to_string()]).status().unwrap().success());
    wait_for("oxcatd to exit", || (!daemon.running()).then(String::new));
    released_soon("SIGTERM");
    // With no service, makegocons says so.
    let o = makegocons();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no console service answers on "), "{o:?}");
}
