//! The test lab: a temp directory with a fresh store, an image store, and a `bin/` of links named
//! after every command pointing at the real binary, so each test also exercises busybox dispatch.

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub struct Lab {
    pub dir: tempfile::TempDir,
}

#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    #[track_caller]
    pub fn ok(self) -> Out {
        assert_eq!(
            self.code, 0,
            "expected success, got {}\nstdout:\n{}\nstderr:\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }
    #[track_caller]
    pub fn fails(self, code: i32) -> Out {
        assert_eq!(self.code, code, "expected exit {code}\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        self
    }
    #[track_caller]
    pub fn stdout_is(self, want: &str) -> Out {
        assert_eq!(self.stdout, want, "stdout differs\nstderr:\n{}", self.stderr);
        self
    }
    #[track_caller]
    pub fn stderr_is(self, want: &str) -> Out {
        assert_eq!(self.stderr, want, "stderr differs\nstdout:\n{}", self.stdout);
        self
    }
}

/// A running oxcatd, killed on drop.
pub struct Daemon {
    child: std::process::Child,
    /// What it printed before "oxcatd: ready" (one line per service and bound address).
    pub lines: Vec<String>,
    /// Where its standard error (its log) goes.
    log: tempfile::NamedTempFile,
}

impl Daemon {
    /// Spawns `cmd` (an oxcatd invocation) and waits for its "oxcatd: ready" line.
    pub fn start(mut cmd: Command) -> Daemon {
        use std::io::BufRead;
        let log = tempfile::NamedTempFile::new().expect("log file");
        let stderr = log.reopen().expect("log file");
        let mut child = cmd.stdout(Stdio::piped()).stderr(stderr).spawn().expect("oxcatd starts");
        let mut lines = Vec::new();
        let mut ready = false;
        for line in std::io::BufReader::new(child.stdout.take().expect("piped")).lines().map_while(Result::ok) {
            if line == "oxcatd: ready" {
                ready = true;
                break;
            }
            lines.push(line);
        }
        let d = Daemon { child, lines, log };
        assert!(ready, "oxcatd did not start: {:?}", d.lines);
        d
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its resident memory (VmRSS), in bytes.
    pub fn rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("oxcatd runs");
        let kb = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).expect("VmRSS");
        kb.trim().trim_end_matches("kB").trim().parse::<u64>().expect("VmRSS in kB") * 1024
    }

    /// True while it runs (it has not exited).
    pub fn running(&mut self) -> bool {
        self.child.try_wait().expect("oxcatd's status").is_none()
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    /// Waits (up to 10 s: a thread of the daemon's writes its log) for a log line that starts
    /// with `prefix`; the line, or the whole log in the panic message.
    #[track_caller]
    pub fn log_line(&self, prefix: &str) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let log = self.log();
            if let Some(l) = log.lines().find(|l| l.starts_with(prefix)) {
                return l.to_string();
            }
            assert!(std::time::Instant::now() < deadline, "no log line {prefix:?} in:\n{log}");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// The address printed for a service ("HTTP", "TFTP", "DHCP", "proxyDHCP").
    pub fn addr(&self, service: &str) -> String {
        let prefix = format!("oxcatd: {service} on ");
        let line = self
            .lines
            .iter()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no {service} in {:?}", self.lines));
        line.split_whitespace().next().unwrap_or("").to_string()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn oxcat_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_oxcat"))
}

impl Lab {
    pub fn new() -> Lab {
        let dir = tempfile::tempdir().expect("tempdir");
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let st = Command::new(oxcat_bin()).arg("--install-links").arg(&bin).status().unwrap();
        assert!(st.success());
        let lab = Lab { dir };
        let install = lab.path("install");
        lab.run("chdef", &["-t", "site", &format!("installdir={}", install.display())]).ok();
        lab
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn db(&self) -> PathBuf {
        self.path("oxcat.db")
    }

    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.path(rel);
        std::fs::write(&p, text).unwrap();
        p
    }

    /// A command through its link (`bin/NAME`), with OXCAT_DB pointing at the lab's store.
    pub fn cmd(&self, name: &str) -> Command {
        let mut c = Command::new(self.path("bin").join(name));
        c.env("OXCAT_DB", self.db()).current_dir(self.dir.path());
        c
    }

    /// `sh -c SCRIPT` in the lab, with the command links first on PATH.
    pub fn sh(&self, script: &str) -> Command {
        let mut c = Command::new("sh");
        let path = format!("{}:{}", self.path("bin").display(), std::env::var("PATH").unwrap_or_default());
        c.arg("-c").arg(script).env("PATH", path).env("OXCAT_DB", self.db()).current_dir(self.dir.path());
        c
    }

    pub fn run(&self, name: &str, args: &[&str]) -> Out {
        self.run_stdin(name, args, "")
    }

    /// `input` is bytes, so a test can feed what is not UTF-8 too.
    pub fn run_stdin(&self, name: &str, args: &[&str], input: impl AsRef<[u8]>) -> Out {
        let mut child = self
            .cmd(name)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input.as_ref()).unwrap();
        let o = child.wait_with_output().unwrap();
        Out {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    /// Every table but auditlog, as tabdump prints it with secrets: for "nothing changed" checks.
    pub fn snapshot(&self) -> String {
        let store = oxcat::store::Store::open(&self.db()).unwrap();
        let mut s = String::new();
        for t in oxcat::store::schema::TABLES.iter().filter(|t| t.name != "auditlog") {
            for row in oxcat::store::all_rows(store.conn(), t).unwrap() {
                s.push_str(&format!("{}: {:?}\n", t.name, row));
            }
        }
        s
    }

    /// oxcatd with HTTP only, on a port of 127.0.0.1 it picks, serving the postscripts in
    /// `postscripts` when given: the daemon and its HTTP address.
    pub fn http_oxcatd(&self, postscripts: Option<&Path>) -> (Daemon, String) {
        let post = postscripts.map(|p| format!("postscripts = \"{}\"\n", p.display())).unwrap_or_default();
        self.write("oxcat.toml", &format!("{post}[http]\nlisten = [\"127.0.0.1:0\"]\n[tftp]\nenable = false\n"));
        let mut cmd = self.cmd("oxcatd");
        cmd.args(["--config", "oxcat.toml"]);
        let daemon = Daemon::start(cmd);
        let http = daemon.addr("HTTP");
        (daemon, http)
    }

    /// Enrolls `range` with per-node values from the number in the name (N=300: BMC 10.1.1.44, MAC 52:54:00:00:01:2c).
    pub fn enroll(&self, range: &str) -> Out {
        self.write("bmc.pw", "secret\n");
        self.run(
            "addbmnode",
            &[
                range,
                "--bmc",
                "|\\D+(\\d+)|10.1.($1/256).($1%256)|",
                "--bmc-user",
                "admin",
                "--bmc-password-file",
                "bmc.pw",
                "--mac",
                "|\\D+(\\d+)|52:54:00:00:(sprintf('%02x',$1/256)):(sprintf('%02x',$1%256))|",
                "--groups",
                "compute",
            ],
        )
    }
}

/// `ip ARGS`, which must succeed.
#[track_caller]
pub fn ip(args: &[&str]) {
    let o = Command::new("ip").args(args).output().expect("ip runs");
    assert!(o.status.success(), "ip {}: {}", args.join(" "), String::from_utf8_lossy(&o.stderr));
}

/// A network namespace of the test's own, with loopback up; deleted (with its links) on drop.
pub struct Netns(pub String);

impl Netns {
    pub fn new(name: String) -> Netns {
        // Leftovers of a crashed run with the same name go first.
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        ip(&["netns", "add", &name]);
        ip(&["-n", &name, "link", "set", "lo", "up"]);
        Netns(name)
    }

    /// `ip -n NS ARGS`.
    #[track_caller]
    pub fn ip(&self, args: &[&str]) {
        let mut all = vec!["-n", self.0.as_str()];
        all.extend_from_slice(args);
        ip(&all);
    }

    /// A command run inside the namespace.
    pub fn exec(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.0]).arg(program);
        c
    }
}

impl Netns {
    /// Runs `f` on a thread inside the namespace: sockets it opens belong to the namespace (and
    /// stay there when used from elsewhere).
    pub fn enter<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let ns = std::fs::File::open(format!("/var/run/netns/{}", self.0)).expect("netns file");
        std::thread::scope(|s| {
            s.spawn(|| {
                nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
                f()
            })
            .join()
            .expect("thread in the namespace")
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

/// True when every program in `programs` can be run. Where one is missing, the test is skipped
/// with a line naming it, except under CI, where `.ci/run` must have installed `packages`: there
/// a missing peer fails the test instead of letting it pass without checking anything.
pub fn peers(programs: &[&str], packages: &str) -> bool {
    let missing: Vec<&str> = programs
        .iter()
        .copied()
        .filter(|p| Command::new(p).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_err())
        .collect();
    if missing.is_empty() {
        return true;
    }
    assert!(std::env::var_os("CI").is_none(), "{} missing: .ci/run must install {packages}", missing.join(", "));
    eprintln!("skipped: {} missing (install {packages})", missing.join(", "));
    false
}

/// How to run a command in a new network namespace (loopback only): `unshare -n` as root, else
/// `unshare -rn` where user namespaces allow it. None (a developer's machine without either) runs
/// such commands in the machine's own namespace; under CI that is a failure.
pub fn own_netns() -> Option<&'static str> {
    let root = std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false);
    let unshare = if root { "unshare -n" } else { "unshare -rn" };
    let works = Command::new("sh")
        .arg("-c")
        .arg(format!("{unshare} ip link set lo up"))
        .output()
        .is_ok_and(|o| o.status.success());
    if works {
        return Some(unshare);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "'{unshare}' does not work: tests that must not see this machine's network need it"
    );
    eprintln!("note: '{unshare}' does not work here; running in this machine's network namespace");
    None
}
