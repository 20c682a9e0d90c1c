//! xdsh, xdcp, updatenode, nodestat, makeknownhosts, xdshbak, xcoll against a real OpenSSH sshd
//! the test starts on loopback: one sshd listens on several 127.0.0.x addresses, one per "node".

use crate::harness::{peers, Lab, Netns};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SSHD: &str = "/usr/sbin/sshd";

/// A running sshd, killed on drop.
pub struct Sshd {
    child: Child,
    pub port: u16,
    dir: PathBuf,
}

/// The user the test runs as (sshd without root only lets that user in).
fn user() -> String {
    let o = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// True when sshd and ssh-keygen can run (under CI they must: .ci/run installs openssh-server).
pub fn available() -> bool {
    if !Path::new(SSHD).exists() {
        assert!(std::env::var_os("CI").is_none(), "sshd missing: .ci/run must install openssh-server");
        eprintln!("skipped: sshd missing (install openssh-server)");
        return false;
    }
    peers(&["ssh-keygen"], "openssh-client")
}

impl Sshd {
    /// Starts sshd on `addrs` (127.0.0.x) with a new ed25519 host key in `lab/NAME/`, letting in
    /// the lab's cluster key (generated here if it does not exist yet).
    pub fn start(lab: &Lab, name: &str, addrs: &[&str]) -> Sshd {
        let dir = lab.path(name);
        std::fs::create_dir_all(&dir).unwrap();
        let key = dir.join("ssh_host_ed25519_key");
        if !key.exists() {
            let st =
                Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-f"]).arg(&key).status().unwrap();
            assert!(st.success());
        }
        let mut store = oxcat::store::Store::open(&lab.db()).unwrap();
        let cluster = oxcat::remote::keys::ensure(&mut store).unwrap();
        std::fs::write(dir.join("authorized_keys"), format!("{}\n", cluster.public)).unwrap();
        let _ = std::fs::create_dir_all("/run/sshd");
        for _ in 0..5 {
            // A free port now; sshd binds it on every address (a rare clash is retried).
            let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let mut config = String::new();
            for a in addrs {
                config.push_str(&format!("ListenAddress {a}:{port}\n"));
            }
            config.push_str(&format!(
                "HostKey {}\nAuthorizedKeysFile {}\nPidFile {}\nStrictModes no\nUsePAM no\nUseDNS no\n\
                 PermitRootLogin yes\nMaxStartups 2000\nMaxSessions 100\nLogLevel ERROR\n",
                key.display(),
                dir.join("authorized_keys").display(),
                dir.join("sshd.pid").display()
            ));
            std::fs::write(dir.join("sshd_config"), config).unwrap();
            let mut child = Command::new(SSHD)
                .args(["-D", "-e", "-f"])
                .arg(dir.join("sshd_config"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if std::net::TcpStream::connect((addrs[0], port)).is_ok() {
                    return Sshd { child, port, dir };
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("sshd did not start");
    }

    /// Its host public key as `TYPE BASE64`.
    pub fn host_key(&self) -> String {
        let k = std::fs::read_to_string(self.dir.join("ssh_host_ed25519_key.pub")).unwrap();
        k.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
    }

    /// The sshd processes serving sessions now (children of the listener).
    pub fn sessions(&self) -> usize {
        let o = Command::new("pgrep").args(["-P", &self.child.id().to_string()]).output().unwrap();
        String::from_utf8_lossy(&o.stdout).lines().count()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A lab with nodes `n1..` at the given addresses, site.sshport set to the sshd's.
fn nodes(lab: &Lab, addrs: &[&str], port: u16) {
    let names: Vec<String> = (1..=addrs.len()).map(|i| format!("n{i}")).collect();
    lab.run("nodeadd", &[&names.join(","), "groups=compute"]).ok();
    for (n, a) in names.iter().zip(addrs) {
        lab.run("chdef", &[n, &format!("ip={a}")]).ok();
    }
    lab.run("chdef", &["-t", "site", &format!("sshport={port}")]).ok();
}

/// Records the sshd's key as the nodes' host key (what oxcatd does when they report it).
fn trust(lab: &Lab, nodes: &str, key: &str) {
    for n in oxcat::noderange::expand_names(nodes).unwrap() {
        lab.run("chtab", &[&format!("node={n}"), &format!("hostkeys.keys={key}")]).ok();
    }
}

/// The lines of `text`, sorted.
fn sorted(text: &str) -> String {
    let mut l: Vec<&str> = text.lines().collect();
    l.sort();
    l.iter().map(|l| format!("{l}\n")).collect()
}

/// Lines of `text` that contain `what`.
fn grep(text: &str, what: &str) -> Vec<String> {
    text.lines().filter(|l| l.contains(what)).map(String::from).collect()
}

#[test]
fn xdsh_runs_beside_a_dead_node_and_a_hanging_command_and_reports_exit_codes() {
    if !available() {
        return;
    }
    let lab = Lab::new();
    let sshd = Sshd::start(&lab, "sshd", &["127.0.0.2", "127.0.0.3"]);
    // n3 is dead: something holds its port but never speaks SSH.
    let _dead = std::net::TcpListener::bind(("127.0.0.4", sshd.port)).unwrap();
    nodes(&lab, &["127.0.0.2", "127.0.0.3", "127.0.0.4"], sshd.port);
    trust(&lab, "n1,n2,n3", &sshd.host_key());
    let u = user();
    // A sleep of this test run's own (no other run's leftover can match it).
    let secs = 300 + std::process::id() % 1000;
    let start = Instant::now();
    let o = lab.run(
        "xdsh",
        &[
            "n1,n2,n3",
            "-l",
            &u,
            "-t",
            "3",
            &format!(
                "case $SSH_CONNECTION in *127.0.0.3*) echo before; sleep {secs};; esac; echo \"hello from $NODE_NAME\"; echo oops >&2"
            ),
        ],
    );
    let took = start.elapsed();
    assert_eq!(o.code, 1, "{o:?}");
    assert_eq!(o.stdout, "n1: hello from \nn2: before\n", "{o:?}");
    assert!(o.stderr.contains("n1: oops\n"), "{o:?}");
    assert!(o.stderr.contains("n2: Error: no output for 3 s: the command was stopped\n"), "{o:?}");
    assert!(o.stderr.contains(&format!("n3: Error: no SSH session to 127.0.0.4:{} within 3 s\n", sshd.port)), "{o:?}");
    // In parallel: one timeout, not the sum.
    assert!(took < Duration::from_secs(20), "took {took:?}");
    // The hanging command was stopped on the node, and its session closed (sshd acts on the
    // closed channel a moment after xdsh has gone: waited for, not slept on).
    let pattern = format!("^sleep {secs}$");
    let running = || !Command::new("pgrep").args(["-f", &pattern]).output().unwrap().stdout.is_empty();
    let deadline = Instant::now() + Duration::from_secs(10);
    while running() || sshd.sessions() > 0 {
        if Instant::now() > deadline {
            let ps = Command::new("ps").args(["-eo", "pid,ppid,pgid,sid,etime,args"]).output().unwrap();
            let ps = String::from_utf8_lossy(&ps.stdout);
            let near: Vec<&str> = ps.lines().filter(|l| l.contains("sleep") || l.contains("sshd")).collect();
            panic!("left behind: sleep {secs} {}, {} sessions:\n{}", running(), sshd.sessions(), near.join("\n"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // -z: each node's exit status; any non-zero one makes xdsh fail.
    let o = lab.run("xdsh", &["n1,n2", "-l", &u, "-z", "case $SSH_CONNECTION in *127.0.0.3*) exit 3;; esac"]);
    assert_eq!(o.code, 1);
    // (Each node's output comes when it finishes: sorted here.)
    assert_eq!(sorted(&o.stdout), "n1: Remote_command_rc = 0\nn2: Remote_command_rc = 3\n");
    let o = lab.run("xdsh", &["n1,n2", "-l", &u, "-z", "true"]).ok();
    assert_eq!(sorted(&o.stdout), "n1: Remote_command_rc = 0\nn2: Remote_command_rc = 0\n");
    // --json: one record per node.
    let o = lab.run("xdsh", &["n1", "-l", &u, "--json", "echo a; echo b"]).ok();
    assert_eq!(o.stdout, "{\"node\":\"n1\",\"ok\":true,\"stdout\":[\"a\",\"b\"],\"stderr\":[],\"rc\":0}\n");
    // -e: a local script with its arguments, run from a temporary file on each node.
    lab.write("script.sh", "#!/bin/sh\necho \"script $1 $2\"\n");
    let o = lab.run("xdsh", &["n1,n2", "-l", &u, "-e", "script.sh", "a b", "c"]).ok();
    assert_eq!(sorted(&o.stdout), "n1: script a b c\nn2: script a b c\n");
    // -s streams lines as they come.
    lab.run("xdsh", &["n2", "-l", &u, "-s", "echo one; printf two"]).ok().stdout_is("n2: one\nn2: two\n");
}

#[test]
fn host_keys_are_verified_never_trusted_on_first_use() {
    if !available() {
        return;
    }
    let lab = Lab::new();
    let sshd = Sshd::start(&lab, "sshd", &["127.0.0.5", "127.0.0.6"]);
    nodes(&lab, &["127.0.0.5", "127.0.0.6"], sshd.port);
    let u = user();
    // No key recorded: refused, with the way out.
    let o = lab.run("xdsh", &["n1", "-l", &u, "true"]).fails(1);
    let line = o.stderr.trim_end();
    assert!(line.starts_with("n1: Error: no host key recorded for n1 (it presented ssh-ed25519 SHA256:"), "{line}");
    assert!(line.ends_with("or accept and record this one with --accept-hostkey"), "{line}");
    assert_eq!(o.stderr.lines().count(), 1);
    // A recorded key that differs: refused, naming makeknownhosts.
    trust(&lab, "n2", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOc9p4YV0xDyz2gT1SK7kEBfZxoqyUXvfDmlcpLDIKRV");
    let o = lab.run("xdsh", &["n1,n2", "-l", &u, "--accept-hostkey", "echo ran"]).fails(1);
    assert_eq!(o.stdout, "n1: ran\n");
    let mismatch = grep(&o.stderr, "n2: Error: host key mismatch: n2 presented ssh-ed25519 SHA256:");
    assert_eq!(mismatch.len(), 1, "{o:?}");
    assert!(mismatch[0].contains("run 'makeknownhosts n2 -r'"), "{o:?}");
    // --accept-hostkey recorded n1's key: it is verified from now on.
    let dump = lab.run("tabdump", &["hostkeys"]).ok().stdout;
    assert!(dump.contains(&format!("\"n1\",\"{}\",", sshd.host_key())), "{dump}");
    lab.run("xdsh", &["n1", "-l", &u, "echo again"]).ok().stdout_is("n1: again\n");
    // makeknownhosts writes the managed known_hosts; OpenSSH accepts the node with it.
    lab.run("makeknownhosts", &["n1"]).ok();
    let kh = lab.path("ssh/known_hosts");
    let text = std::fs::read_to_string(&kh).unwrap();
    assert_eq!(text, format!("n1,127.0.0.5 {}\n", sshd.host_key()));
    let o = Command::new("ssh")
        .args(["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o"])
        .arg(format!("UserKnownHostsFile={}", kh.display()))
        .arg("-i")
        .arg(lab.path("ssh/id_ed25519"))
        .args(["-p", &sshd.port.to_string(), &format!("{u}@127.0.0.5"), "echo openssh"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout), "openssh\n", "{}", String::from_utf8_lossy(&o.stderr));
    // After a reinstall: -r forgets the key (table and file); the next xdsh is refused again.
    lab.run("makeknownhosts", &["n1", "-r"]).ok();
    assert_eq!(std::fs::read_to_string(&kh).unwrap(), "");
    lab.run("xdsh", &["n1", "-l", &u, "true"]).fails(1);
}

/// The host key a booting node reports (oxcatpost with its boot token, over oxcatd's HTTP) is the
/// one xdsh then verifies against; a new host key on the same node is refused.
#[test]
fn host_key_reported_at_boot_is_verified_and_a_changed_one_refused() {
    if !available() || !peers(&["curl"], "curl") {
        return;
    }
    let lab = Lab::new();
    let mut sshd = Sshd::start(&lab, "sshd", &["127.0.0.7"]);
    nodes(&lab, &["127.0.0.7"], sshd.port);
    lab.run("nodech", &["n1", "chain.token=tok-0123456789abcdef"]).ok();
    let post = lab.path("postscripts");
    std::fs::create_dir_all(&post).unwrap();
    let (_daemon, http) = lab.http_oxcatd(Some(&post));
    // The node: oxcatpost, curl talking from the node's address, its /etc/ssh is the sshd's dir.
    let shim = lab.path("shim");
    std::fs::create_dir_all(&shim).unwrap();
    std::fs::write(shim.join("curl"), "#!/bin/sh\nexec /usr/bin/curl --interface 127.0.0.7 \"$@\"\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(shim.join("curl"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let boot = |lab: &Lab, token: &str| {
        Command::new("sh")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/postscripts/oxcatpost"))
            .arg("postscripts")
            .env("PATH", format!("{}:{}", shim.display(), std::env::var("PATH").unwrap_or_default()))
            .env("OXCAT_SERVER", format!("http://{http}"))
            .env("NODE", "n1")
            .env("OXCAT_TOKEN", token)
            .env("OXCATPOST_DIR", lab.path("node/post"))
            .env("OXCATPOST_LOG", lab.path("node/oxcatpost.log"))
            .env("OXCATPOST_SSHDIR", lab.path("sshd"))
            .env("OXCATPOST_ROOTSSH", lab.path("node/root-ssh"))
            .output()
            .unwrap()
    };
    let o = boot(&lab, "tok-0123456789abcdef");
    assert!(o.status.success(), "{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    // The cluster key went into root's authorized_keys (once, however often it boots).
    let mut store = oxcat::store::Store::open(&lab.db()).unwrap();
    let cluster = oxcat::remote::keys::ensure(&mut store).unwrap().public;
    let ak = lab.path("node/root-ssh/authorized_keys");
    assert_eq!(std::fs::read_to_string(&ak).unwrap(), format!("{cluster}\n"));
    let dump = lab.run("tabdump", &["hostkeys"]).ok().stdout;
    assert!(dump.contains(&format!("\"n1\",\"{}\",", sshd.host_key())), "{dump}");
    assert!(dump.contains(" boot\","), "{dump}");
    let u = user();
    lab.run("xdsh", &["n1", "-l", &u, "hostname >/dev/null && echo verified"]).ok().stdout_is("n1: verified\n");
    // The token is spent (booted): a report now is refused, and so is a wrong token.
    let (code, _) = curl(&format!("http://{http}/hostkeys?node=n1&token=tok-0123456789abcdef"), &sshd.host_key());
    assert_eq!(code, "403");
    // The node is reinstalled with new host keys but its report never arrived: refused.
    drop(sshd);
    std::fs::remove_file(lab.path("sshd/ssh_host_ed25519_key")).unwrap();
    sshd = Sshd::start(&lab, "sshd", &["127.0.0.7"]);
    lab.run("chdef", &["-t", "site", &format!("sshport={}", sshd.port)]).ok();
    let o = lab.run("xdsh", &["n1", "-l", &u, "echo ran"]).fails(1);
    assert_eq!(o.stdout, "");
    assert!(o.stderr.starts_with("n1: Error: host key mismatch: n1 presented ssh-ed25519 SHA256:"), "{o:?}");
    // --accept-hostkey does not override a mismatch.
    lab.run("xdsh", &["n1", "-l", &u, "--accept-hostkey", "echo ran"]).fails(1);
    // Its next boot reports the new key (nodeset drew a new token): verified again.
    lab.run("nodech", &["n1", "chain.token=tok-fedcba9876543210"]).ok();
    let o = boot(&lab, "tok-fedcba9876543210");
    assert!(o.status.success());
    assert_eq!(std::fs::read_to_string(&ak).unwrap(), format!("{cluster}\n"));
    lab.run("xdsh", &["n1", "-l", &u, "echo ran"]).ok().stdout_is("n1: ran\n");
    // A report from another address, or with a bad key line, is refused.
    let (code, _) = curl(&format!("http://{http}/hostkeys?node=n1&token=tok-fedcba9876543210"), &sshd.host_key());
    assert_eq!(code, "403");
}

/// POSTs `body` to `url` from 127.0.0.1: (HTTP code, body).
fn curl(url: &str, body: &str) -> (String, String) {
    let o = Command::new("curl")
        .args(["-s", "--max-time", "20", "-w", "\n%{http_code}", "--data-binary", body, url])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let (body, code) = out.rsplit_once('\n').unwrap();
    (code.to_string(), body.to_string())
}

#[test]
fn xdcp_copies_directories_with_modes_and_pulls_per_node() {
    if !available() {
        return;
    }
    let lab = Lab::new();
    let sshd = Sshd::start(&lab, "sshd", &["127.0.0.8", "127.0.0.9"]);
    nodes(&lab, &["127.0.0.8", "127.0.0.9"], sshd.port);
    trust(&lab, "n1,n2", &sshd.host_key());
    let u = user();
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let src = lab.path("src/conf");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    std::fs::write(src.join("a.txt"), "alpha\n").unwrap();
    std::fs::write(src.join("sub/secret"), "s3cret").unwrap();
    std::fs::set_permissions(src.join("sub/secret"), std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::set_permissions(src.join("a.txt"), std::fs::Permissions::from_mode(0o751)).unwrap();
    std::fs::set_permissions(src.join("sub"), std::fs::Permissions::from_mode(0o710)).unwrap();
    let old = std::time::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    std::fs::File::options().write(true).open(src.join("a.txt")).unwrap().set_modified(old).unwrap();
    let dst = lab.path("node1");
    std::fs::create_dir_all(&dst).unwrap();
    lab.run("xdcp", &["n1", "-l", &u, "-r", "-p", &src.display().to_string(), &dst.display().to_string()]).ok();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    assert_eq!(std::fs::read_to_string(dst.join("conf/a.txt")).unwrap(), "alpha\n");
    assert_eq!(std::fs::read_to_string(dst.join("conf/sub/secret")).unwrap(), "s3cret");
    assert_eq!(mode(&dst.join("conf/a.txt")), 0o751);
    assert_eq!(mode(&dst.join("conf/sub/secret")), 0o600);
    assert_eq!(mode(&dst.join("conf/sub")), 0o710);
    assert_eq!(std::fs::metadata(dst.join("conf/a.txt")).unwrap().mtime(), 1_000_000_000);
    // A directory without -r is refused before anything is copied.
    let o = lab.run("xdcp", &["n1", "-l", &u, &src.display().to_string(), "/tmp"]).fails(2);
    assert!(o.stderr.contains("is a directory (copy it with -r)"), "{o:?}");
    // -P: each node's file comes back as NAME._NODE.
    let pulled = lab.path("pulled");
    std::fs::create_dir_all(&pulled).unwrap();
    lab.run(
        "xdcp",
        &["n1,n2", "-l", &u, "-P", &dst.join("conf/a.txt").display().to_string(), &pulled.display().to_string()],
    )
    .ok();
    assert_eq!(std::fs::read_to_string(pulled.join("a.txt._n1")).unwrap(), "alpha\n");
    assert_eq!(std::fs::read_to_string(pulled.join("a.txt._n2")).unwrap(), "alpha\n");
    // -P -r -p: a directory from each node, as conf._NODE, with the modes and times it has there.
    std::fs::set_permissions(dst.join("conf"), std::fs::Permissions::from_mode(0o750)).unwrap();
    std::fs::File::open(dst.join("conf/sub")).unwrap().set_modified(old).unwrap();
    let conf = dst.join("conf").display().to_string();
    lab.run("xdcp", &["n1,n2", "-l", &u, "-P", "-r", "-p", &conf, &pulled.display().to_string()]).ok();
    for n in ["n1", "n2"] {
        let top = pulled.join(format!("conf._{n}"));
        assert_eq!(std::fs::read_to_string(top.join("a.txt")).unwrap(), "alpha\n");
        assert_eq!(std::fs::read_to_string(top.join("sub/secret")).unwrap(), "s3cret");
        assert_eq!(mode(&top), 0o750);
        assert_eq!(mode(&top.join("a.txt")), 0o751);
        assert_eq!(mode(&top.join("sub")), 0o710);
        assert_eq!(mode(&top.join("sub/secret")), 0o600);
        assert_eq!(std::fs::metadata(top.join("a.txt")).unwrap().mtime(), 1_000_000_000);
        assert_eq!(std::fs::metadata(top.join("sub")).unwrap().mtime(), 1_000_000_000);
    }
    // A missing file on the node is that node's error.
    let o = lab.run("xdcp", &["n1", "-l", &u, "-P", "/nonexistent/file", &pulled.display().to_string()]).fails(1);
    assert!(o.stderr.starts_with("n1: Error: "), "{o:?}");
    assert!(o.stderr.contains("No such file"), "{o:?}");
}

#[test]
fn updatenode_runs_the_postscripts_oxcatpost_runs_and_records_status() {
    if !available() {
        return;
    }
    let lab = Lab::new();
    let sshd = Sshd::start(&lab, "sshd", &["127.0.0.10", "127.0.0.11"]);
    nodes(&lab, &["127.0.0.10", "127.0.0.11"], sshd.port);
    trust(&lab, "n1,n2", &sshd.host_key());
    let u = user();
    let post = lab.path("postscripts");
    std::fs::create_dir_all(&post).unwrap();
    let out = lab.path("ran");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(
        post.join("first"),
        format!(
            "#!/bin/sh\necho \"first $1 on $NODE, UPDATENODE=$UPDATENODE\"\necho $NODE >> {}/first\n",
            out.display()
        ),
    )
    .unwrap();
    std::fs::write(
        post.join("second"),
        format!(
            "#!/bin/sh\necho second >> {}/order.$NODE\n[ \"$NODE\" != n2 ] || exit 4\necho second ok\n",
            out.display()
        ),
    )
    .unwrap();
    lab.write("oxcat.toml", &format!("postscripts = \"{}\"\n", post.display()));
    lab.run("chtab", &["node=compute", "postscripts.postscripts=first arg1,second"]).ok();
    lab.run("chdef", &["-t", "site", &format!("nodepostdir={}", lab.path("nodepost").display())]).ok();
    // One node at a time: both "nodes" are this machine, staging in the same directory.
    let o = lab
        .cmd("updatenode")
        .args(["n1,n2", "-l", &u, "-f", "1"])
        .env("OXCAT_CONFIG", lab.path("oxcat.toml"))
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert_eq!(o.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("n1: first: first arg1 on n1, UPDATENODE=1\n"), "{stdout}");
    assert!(stdout.contains("n1: second: second ok\n"), "{stdout}");
    assert!(stdout.contains("n1: oxcatpost: second: ok\n"), "{stdout}");
    assert!(stdout.contains("n2: oxcatpost: second: failed with exit status 4\n"), "{stdout}");
    assert!(stdout.contains("n1: Running of postscripts has completed.\n"), "{stdout}");
    assert!(stderr.contains("n2: Error: "), "{stderr}");
    // Same order as at boot, first then second, on both nodes.
    let firsts = std::fs::read_to_string(out.join("first")).unwrap();
    assert_eq!(firsts.lines().count(), 2);
    assert_eq!(std::fs::read_to_string(out.join("order.n1")).unwrap(), "second\n");
    // The statuses they reported, and xCAT's updatestatus.
    let ls = lab.run("nodels", &["n1,n2", "nodelist.status", "nodelist.updatestatus"]).ok().stdout;
    assert_eq!(
        ls,
        "n1: nodelist.status: booted\nn1: nodelist.updatestatus: synced\nn2: nodelist.status: failed\nn2: nodelist.updatestatus: failed\n"
    );
    // -P: only the scripts named.
    std::fs::remove_file(out.join("first")).unwrap();
    let o = lab
        .cmd("updatenode")
        .args(["n1", "-l", &u, "-P", "first"])
        .env("OXCAT_CONFIG", lab.path("oxcat.toml"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read_to_string(out.join("first")).unwrap(), "n1\n");
    assert_eq!(std::fs::read_to_string(out.join("order.n1")).unwrap(), "second\n");
    // -F: the files the node's osimage synclist names, with their modes, into directories made
    // for them; a node whose osimage has none is that node's error.
    let sync = lab.path("sync");
    std::fs::create_dir_all(&sync).unwrap();
    use std::os::unix::fs::PermissionsExt;
    for (name, body, mode) in [("ntp.conf", "server mn\n", 0o640), ("a", "A", 0o755), ("b", "B", 0o600)] {
        std::fs::write(sync.join(name), body).unwrap();
        std::fs::set_permissions(sync.join(name), std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let (s, d) = (sync.display(), lab.path("synced").display().to_string());
    let list =
        lab.write("synclist", &format!("# n1's files\n{s}/ntp.conf -> {d}/etc/ntp.conf\n{s}/a {s}/b -> {d}/opt/\n"));
    lab.run("mkdef", &["-t", "osimage", "img", &format!("synclists={}", list.display())]).ok();
    lab.run("chdef", &["n1", "provmethod=img"]).ok();
    let o = lab.cmd("updatenode").args(["n1,n2", "-l", &u, "-F"]).output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert_eq!(o.status.code(), Some(1), "{stdout}{stderr}");
    assert_eq!(stdout, "n1: File synchronization has completed.\n");
    assert_eq!(stderr, "n2: Error: no synclist: set synclists on the node's osimage (nodetype.provmethod is empty)\n");
    let synced = lab.path("synced");
    let mode = |p: &str| std::fs::metadata(synced.join(p)).unwrap().permissions().mode() & 0o7777;
    assert_eq!(std::fs::read_to_string(synced.join("etc/ntp.conf")).unwrap(), "server mn\n");
    assert_eq!((mode("etc/ntp.conf"), mode("opt/a"), mode("opt/b")), (0o640, 0o755, 0o600));
    assert_eq!(std::fs::read_to_string(synced.join("opt/b")).unwrap(), "B");
    // The postscripts did not run: -F alone only syncs.
    assert_eq!(std::fs::read_to_string(out.join("order.n1")).unwrap(), "second\n");
}

#[test]
fn ctrl_c_stops_every_remote_command_and_closes_every_session() {
    if !available() {
        return;
    }
    let lab = Lab::new();
    let sshd = Sshd::start(&lab, "sshd", &["127.0.0.12", "127.0.0.13"]);
    nodes(&lab, &["127.0.0.12", "127.0.0.13"], sshd.port);
    trust(&lab, "n1,n2", &sshd.host_key());
    let u = user();
    let marker = format!("sleep {}", 4000 + std::process::id() % 1000);
    let count = || {
        let o = Command::new("pgrep").args(["-f", &format!("^{marker}$")]).output().unwrap();
        String::from_utf8_lossy(&o.stdout).lines().count()
    };
    let mut child = lab
        .cmd("xdsh")
        .args(["n1,n2", "-l", &u, &marker])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while count() < 2 {
        assert!(Instant::now() < deadline, "the remote commands did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
    let o = child.wait_with_output_timeout();
    assert_eq!(o.0, Some(1));
    assert!(o.1.contains("n1: Error: interrupted (Ctrl-C)"), "{}", o.1);
    assert!(o.1.ends_with("Error: Caught SIGINT - terminating the child processes.\n"), "{}", o.1);
    let deadline = Instant::now() + Duration::from_secs(5);
    while count() > 0 || sshd.sessions() > 0 {
        assert!(Instant::now() < deadline, "left behind: {} commands, {} sessions", count(), sshd.sessions());
        std::thread::sleep(Duration::from_millis(50));
    }
}

trait WaitTimeout {
    fn wait_with_output_timeout(&mut self) -> (Option<i32>, String);
}

impl WaitTimeout for Child {
    /// Waits up to 20 s for the exit: (code, stderr).
    fn wait_with_output_timeout(&mut self) -> (Option<i32>, String) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(st) = self.try_wait().unwrap() {
                let mut err = String::new();
                use std::io::Read;
                self.stderr.take().unwrap().read_to_string(&mut err).unwrap();
                return (st.code(), err);
            }
            assert!(Instant::now() < deadline, "xdsh did not end after SIGINT");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[test]
fn nodestat_probes_sshd_and_reads_the_status_table() {
    if !available() {
        return;
    }
    let lab = Lab::new();
    let sshd = Sshd::start(&lab, "sshd", &["127.0.0.14"]);
    // n1: sshd; n2: up, nothing on the port; n3: deploying; n4: booted but no sshd yet.
    nodes(&lab, &["127.0.0.14", "127.0.0.15", "127.0.0.14", "127.0.0.16"], sshd.port);
    lab.run("chdef", &["n3", "status=installing 37%"]).ok();
    lab.run("chdef", &["n4", "status=booted"]).ok();
    lab.run("nodestat", &["n1-n4"]).ok().stdout_is("n1: sshd\nn2: ping\nn3: installing 37%\nn4: booted\n");
    let o = lab.run("nodestat", &["n1", "--json"]).ok();
    assert_eq!(o.stdout, "{\"node\":\"n1\",\"state\":\"sshd\"}\n");
    lab.run("nodestat", &["n1,n2", "-u"]).ok();
    lab.run("nodels", &["n1,n2", "nodelist.status"]).ok().stdout_is("n1: sshd\nn2: ping\n");
}

/// ICMP beside the TCP probe: a node that is up but whose sshd does not answer (its listen queue
/// is full: a hung sshd) shows ping; an address where nothing answers shows noping. In a namespace
/// of the test's own, on a veth pair: v0 holds 10.77.0.1, nothing answers for 10.77.0.9.
#[test]
fn nodestat_tells_a_node_with_a_hung_sshd_from_a_dead_one_by_icmp() {
    if !peers(&["ip"], "iproute2") {
        return;
    }
    let lab = Lab::new();
    let ns = Netns::new(format!("oxstat{}", crate::netboot::unique()));
    ns.ip(&["link", "add", "v0", "type", "veth", "peer", "name", "v1"]);
    ns.ip(&["addr", "add", "10.77.0.1/24", "dev", "v0"]);
    ns.ip(&["link", "set", "v0", "up"]);
    ns.ip(&["link", "set", "v1", "up"]);
    // The hung sshd: a listener never accepting, its queue (backlog 0: one connection) filled, so
    // further SYNs are dropped.
    let (_listener, _held, port) = ns.enter(|| {
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        s.bind(&"10.77.0.1:0".parse::<std::net::SocketAddr>().unwrap().into()).unwrap();
        s.listen(0).unwrap();
        let addr = s.local_addr().unwrap().as_socket().unwrap();
        let held: Vec<_> = (0..2)
            .filter_map(|_| std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(300)).ok())
            .collect();
        assert!(std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(300)).is_err(), "the queue is full");
        (s, held, addr.port())
    });
    lab.run("nodeadd", &["n1,n2", "groups=compute"]).ok();
    lab.run("chdef", &["n1", "ip=10.77.0.1"]).ok();
    lab.run("chdef", &["n2", "ip=10.77.0.9"]).ok();
    lab.run("chdef", &["-t", "site", &format!("sshport={port}")]).ok();
    let o = ns.enter(|| lab.run("nodestat", &["n1,n2", "-t", "2"])).ok();
    assert_eq!(o.stdout, "n1: ping\nn2: noping\n");
}

#[test]
fn xdshbak_and_xcoll_collapse_identical_output() {
    let lab = Lab::new();
    let mut input = String::new();
    for i in (1..=40).rev() {
        input.push_str(&format!("node{i:02}: Linux\n"));
    }
    input.push_str("node07: extra\nlogin: Darwin\n");
    let o = lab.run_stdin("xdshbak", &["-c"], &input).ok();
    let hosts = "HOSTS -------------------------------------------------------------------------";
    let rule = "-------------------------------------------------------------------------------";
    assert_eq!(
        o.stdout,
        format!(
            "{hosts}\nlogin\n{rule}\nDarwin\n\n{hosts}\nnode[01-06],node[08-40]\n{rule}\nLinux\n\n{hosts}\nnode07\n{rule}\nLinux\nextra\n\n"
        )
    );
    let o = lab.run_stdin("xdshbak", &[], "b: 2\na: 1\nb: 3\n").ok();
    assert_eq!(o.stdout, format!("{hosts}\na\n{rule}\n1\n\n{hosts}\nb\n{rule}\n2\n3\n\n"));
    lab.run_stdin("xdshbak", &["-x"], "b: 2\na: 1\nb: 3\n").ok().stdout_is("a: 1\nb: 2\nb: 3\n");
    lab.run_stdin("xdshbak", &["-x", "-b"], "b: 2\na: 1\n").ok().stdout_is("1\n2\n");
    let sep = "====================================";
    lab.run_stdin("xcoll", &[], "n2: up\nn1: up\nn3: down\n")
        .ok()
        .stdout_is(&format!("{sep}\nn1,n2\n{sep}\nup\n\n{sep}\nn3\n{sep}\ndown\n\n"));
    let o = lab.run_stdin("xcoll", &[], "no prefix here\n").fails(2);
    assert_eq!(o.stderr, "Error: line 1: not 'node: text': no prefix here\n");
}
