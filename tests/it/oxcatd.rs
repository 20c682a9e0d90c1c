//! oxcatd's HTTP and TFTP servers on 127.0.0.1, with curl and atftp as the clients.

use crate::harness::{Daemon, Lab};
use std::process::{Command, Stdio};

struct Running {
    daemon: Daemon,
    http: String,
    tftp: String,
}

fn tool(name: &str) -> bool {
    let ok = Command::new(name).arg("--help").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok();
    if !ok {
        assert!(std::env::var_os("CI").is_none(), "{name} missing: .ci/run must install it");
        eprintln!("skipped: {name} is not installed");
    }
    ok
}

/// A lab with one net-booted node (n1 at 127.0.0.1), a 3 MB image file, and oxcatd running on
/// ephemeral ports.
fn start() -> Option<(Lab, Running)> {
    start_with("", &[])
}

/// start(), with more `[http]` settings, and oxcatd run through `wrapper` (e.g. prlimit).
fn start_with(http: &str, wrapper: &[&str]) -> Option<(Lab, Running)> {
    if !tool("curl") || !tool("atftp") {
        return None;
    }
    let lab = Lab::new();
    let tftp = lab.path("tftp");
    lab.run("chdef", &["-t", "site", &format!("tftpdir={}", tftp.display()), "master=127.0.0.1"]).ok();
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    std::fs::write(lab.path("vmlinuz"), &big).unwrap();
    lab.write("initrd.img", "initrd");
    lab.run("addimage", &["img", "--kernel", "vmlinuz", "--initrd", "initrd.img"]).ok();
    lab.enroll("n1").ok();
    // On loopback's network, as site.master: a node's master is the server's address on its
    // network, so an address of this machine's own networks would make MASTER depend on it.
    lab.run("chdef", &["n1", "ip=127.0.0.11"]).ok();
    lab.run("nodeset", &["n1", "osimage=img"]).ok();
    std::fs::create_dir_all(&tftp).unwrap();
    std::fs::write(tftp.join("big.bin"), &big).unwrap();
    std::fs::write(lab.path("secret"), "top secret").unwrap();
    std::os::unix::fs::symlink(lab.path("secret"), tftp.join("escape")).unwrap();
    lab.write("oxcat.toml", &format!("[http]\nlisten = [\"127.0.0.1:0\"]\n{http}[tftp]\nlisten = [\"127.0.0.1:0\"]\n"));
    let mut cmd = match wrapper.split_first() {
        None => lab.cmd("oxcatd"),
        Some((program, args)) => {
            let mut c = Command::new(program);
            c.args(args).arg(lab.path("bin/oxcatd")).env("OXCAT_DB", lab.db()).current_dir(lab.path(""));
            c
        }
    };
    cmd.args(["--config", "oxcat.toml"]);
    let daemon = Daemon::start(cmd);
    let (http, tftp) = (daemon.addr("HTTP"), daemon.addr("TFTP"));
    Some((lab, Running { daemon, http, tftp }))
}

/// The node's boot token, as the store keeps it.
fn token_of(lab: &Lab, node: &str) -> String {
    let out = lab.run("nodels", &[node, "chain.token", "--show-secrets"]).ok().stdout;
    out.trim().rsplit(' ').next().unwrap().to_string()
}

/// The node's address (n1's hosts.ip), which the daemon answers what needs n1's token to.
const NODE_ADDR: &str = "127.0.0.11";

/// curl from the node's address (a later --interface wins).
fn curl(args: &[&str]) -> (i32, Vec<u8>) {
    let o =
        Command::new("curl").args(["-s", "--max-time", "20", "--interface", NODE_ADDR]).args(args).output().unwrap();
    (o.status.code().unwrap_or(-1), o.stdout)
}

#[test]
fn http_serves_boot_scripts_images_and_ranges() {
    let Some((lab, d)) = start() else { return };
    let (_, script) = curl(&[&format!("http://{}/tftpboot/ipxe/n1.ipxe", d.http)]);
    assert!(script.starts_with(b"#!ipxe oxcat nodeset: netboot img\n"));
    let big = std::fs::read(lab.path("vmlinuz")).unwrap();
    let (code, body) = curl(&[&format!("http://{}/install/images/img/kernel", d.http)]);
    assert_eq!(code, 0);
    assert!(body == big, "image bytes differ");
    let (_, part) = curl(&["-r", "1000-1999", &format!("http://{}/install/images/img/kernel", d.http)]);
    assert_eq!(part, big[1000..2000]);
    let (_, tail) = curl(&["-r", "-10", &format!("http://{}/install/images/img/kernel", d.http)]);
    assert_eq!(tail, big[big.len() - 10..]);
    let (_, head) = curl(&["-I", &format!("http://{}/install/images/img/kernel", d.http)]);
    let head = String::from_utf8_lossy(&head);
    assert!(
        head.contains("200 OK") && head.contains("Content-Length: 3000000") && head.contains("Accept-Ranges: bytes"),
        "{head}"
    );
    let code_of = |args: &[&str]| {
        String::from_utf8(curl(&[&["-o", "/dev/null", "-w", "%{http_code}"], args].concat()).1).unwrap()
    };
    assert_eq!(code_of(&["-r", "3000000-", &format!("http://{}/install/images/img/kernel", d.http)]), "416");
    assert_eq!(code_of(&["--path-as-is", &format!("http://{}/install/../oxcat.db", d.http)]), "404");
    assert_eq!(code_of(&[&format!("http://{}/tftpboot/escape", d.http)]), "404");
    assert_eq!(code_of(&[&format!("http://{}/nothing", d.http)]), "404");
    assert_eq!(code_of(&["-X", "DELETE", &format!("http://{}/tftpboot/big.bin", d.http)]), "405");
    // '+' is a space only in a query: packages such as gcc-c++ keep their names in a path.
    std::fs::write(lab.path("tftp/gcc-c++-8.5.0.rpm"), "rpm").unwrap();
    assert_eq!(curl(&[&format!("http://{}/tftpboot/gcc-c++-8.5.0.rpm", d.http)]).1, b"rpm");
}

#[test]
fn status_reports_need_the_nodes_token() {
    let Some((lab, d)) = start() else { return };
    let token = token_of(&lab, "n1");
    let report = |node: &str, token: &str, status: &str| {
        let (_, b) = curl(&[
            "-w",
            " %{http_code}",
            &format!("http://{}/status?node={node}&token={token}&status={status}", d.http),
        ]);
        String::from_utf8(b).unwrap()
    };
    assert_eq!(report("n1", "0123456789abcdef0123456789abcdef", "booted"), "unknown node or wrong token\n 403");
    // Logged without the query, which holds the token.
    d.daemon.log_line("oxcatd: HTTP: 127.0.0.11 GET /status: 403 Forbidden");
    assert!(!d.daemon.log().contains("0123456789abcdef"), "{}", d.daemon.log());
    lab.run("nodels", &["n1", "nodelist.status"]).ok().stdout_is("n1: defined\n");
    assert_eq!(report("n1", &token, "installing"), "ok\n 200");
    lab.run("nodels", &["n1", "nodelist.status"]).ok().stdout_is("n1: installing\n");
    assert_eq!(report("n1", &token, "booted"), "ok\n 200");
    lab.run("nodels", &["n1", "nodelist.status"]).ok().stdout_is("n1: booted\n");
    assert!(report("n1", &token, "dancing").ends_with(" 400"));
    assert!(report("n9", &token, "booted").ends_with(" 403"));
    // A new nodeset gives a new token: the old one stops working.
    lab.run("nodeset", &["n1", "osimage=img"]).ok();
    assert!(report("n1", &token, "booted").ends_with(" 403"));
}

#[test]
fn tftp_serves_byte_exact_with_options_and_refuses_escapes() {
    let Some((lab, d)) = start() else { return };
    let big = std::fs::read(lab.path("tftp/big.bin")).unwrap();
    for blksize in ["512", "1468", "8192"] {
        let (code, body) = curl(&["--tftp-blksize", blksize, &format!("tftp://{}/big.bin", d.tftp)]);
        assert_eq!(code, 0, "blksize {blksize}");
        assert!(body == big, "blksize {blksize}: bytes differ");
    }
    let (host, port) = d.tftp.rsplit_once(':').unwrap();
    let out = lab.path("got.bin");
    let atftp = |remote: &str, opts: &[&str]| {
        let _ = std::fs::remove_file(&out);
        let mut c = Command::new("atftp");
        for o in opts {
            c.args(["--option", o]);
        }
        c.args(["-g", "-r", remote, "-l", out.to_str().unwrap(), host, port])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap()
    };
    // Windows go out as one segmented send (UDP GSO), split where a window passes 60,000 bytes.
    for (blksize, window) in [("1428", "8"), ("8192", "16"), ("65464", "4")] {
        assert!(
            atftp("big.bin", &[&format!("blksize {blksize}"), &format!("windowsize {window}"), "tsize 0"]).success()
        );
        assert!(std::fs::read(&out).unwrap() == big, "atftp blksize {blksize} windowsize {window}: bytes differ");
    }
    assert!(!atftp("../oxcat.db", &[]).success());
    assert!(!atftp("escape", &[]).success());
    assert!(!atftp("/etc/passwd", &[]).success());
    assert!(!out.exists() || std::fs::read(&out).unwrap().is_empty());
    let (code, _) = curl(&["--path-as-is", &format!("tftp://{}/../oxcat.db", d.tftp)]);
    assert_ne!(code, 0);
    // Writes are refused.
    lab.write("up.txt", "x");
    let put = Command::new("atftp")
        .args(["-p", "-l", lab.path("up.txt").to_str().unwrap(), "-r", "up.txt", host, port])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(!put.success());
    assert!(!lab.path("tftp/up.txt").exists());
    // Each refusal is in the log, once however often it is asked.
    for line in [
        "oxcatd: TFTP: 127.0.0.1 asked for ../oxcat.db: refused (outside the TFTP root)",
        "oxcatd: TFTP: 127.0.0.1 asked for escape: refused (outside the TFTP root)",
        "oxcatd: TFTP: 127.0.0.1 asked for /etc/passwd: refused (outside the TFTP root)",
        "oxcatd: TFTP: 127.0.0.1 tried to write a file: refused (read-only server)",
    ] {
        d.daemon.log_line(line);
    }
    assert!(!atftp("escape", &[]).success());
    let log = d.daemon.log();
    assert_eq!(log.matches("asked for escape").count(), 1, "{log}");
}

#[test]
fn startup_errors_are_clear() {
    let lab = Lab::new();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    lab.write("busy.toml", &format!("[http]\nlisten = [\"127.0.0.1:{port}\"]\n[tftp]\nenable = false\n"));
    let o = lab.run("oxcatd", &["--config", "busy.toml"]).fails(1);
    assert!(
        o.stderr.starts_with(&format!("Error: cannot listen on 127.0.0.1:{port} for HTTP: Address")),
        "{}",
        o.stderr
    );
    lab.write("bad.toml", "[http]\nlisten = [\"nowhere\"]\n");
    lab.run("oxcatd", &["--config", "bad.toml"]).fails(2).stderr_is(
        "Error: bad.toml: http.listen: 'nowhere' is not an address:port (allowed: 0.0.0.0:80, 10.0.0.1:69, [::]:80)\n",
    );
    lab.write("off.toml", "[http]\nenable = false\n[tftp]\nenable = false\n");
    lab.run("oxcatd", &["--config", "off.toml"]).fails(2);
    lab.run("oxcatd", &["--config", "missing.toml"]).fails(2);
}

#[test]
fn mypostscript_is_posix_sh_for_the_token_holder() {
    let Some((lab, d)) = start() else { return };
    lab.write("postscripts.csv", "#node,postscripts,postbootscripts,comments,disable\n\"xcatdefaults\",\"syslog,remoteshell\",\"otherpkgs\",,\n\"n1\",\"ntp,syslog\",,,\n");
    lab.run("tabrestore", &["postscripts.csv"]).ok();
    lab.run("chdef", &["-t", "site", "domain=it's.example"]).ok();
    let token = token_of(&lab, "n1");
    let url = |t: &str| format!("http://{}/mypostscript/n1?token={t}", d.http);
    let (_, denied) = curl(&["-w", " %{http_code}", &url("00000000000000000000000000000000")]);
    assert_eq!(String::from_utf8(denied).unwrap(), "unknown node or wrong token\n 403");
    let (_, body) = curl(&[&url(&token)]);
    let body = String::from_utf8(body).unwrap();
    let file = lab.write("mypostscript", &body);
    // Sourced by busybox sh, as a node would.
    let o = Command::new("busybox")
        .args([
            "sh",
            "-c",
            &format!(
                ". {} && echo \"$NODE|$MASTER|$POSTSCRIPTS|$POSTBOOTSCRIPTS|$SITEDOMAIN|$PROVMETHOD|$IPADDR\"",
                file.display()
            ),
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "n1|127.0.0.1|syslog,remoteshell,ntp|otherpkgs|it's.example|img|127.0.0.11\n",
        "{body}"
    );
}

#[test]
fn boot_configs_are_rendered_on_request_from_the_recorded_state() {
    let Some((lab, d)) = start() else { return };
    assert!(!lab.path("tftp/ipxe/n1.ipxe").exists() && !lab.path("tftp/pxelinux.cfg").exists(), "nodeset wrote files");
    let token = token_of(&lab, "n1");
    let (_, ipxe) = curl(&[&format!("http://{}/tftpboot/ipxe/n1.ipxe", d.http)]);
    let ipxe = String::from_utf8(ipxe).unwrap();
    assert!(
        ipxe.starts_with("#!ipxe oxcat nodeset: netboot img\n") && ipxe.contains(&format!("oxcat.token={token}")),
        "{ipxe}"
    );
    // By MAC over TFTP, as pxelinux and GRUB ask.
    let (code, pxe) = curl(&[&format!("tftp://{}/pxelinux.cfg/01-52-54-00-00-00-01", d.tftp)]);
    assert_eq!(code, 0);
    assert!(String::from_utf8(pxe).unwrap().starts_with("#oxcat nodeset: netboot img\n"));
    let (_, grub) = curl(&[&format!("tftp://{}/grub2/grub.cfg-01-52-54-00-00-00-01", d.tftp)]);
    assert!(String::from_utf8(grub).unwrap().starts_with("# oxcat nodeset: netboot img\n"));
    // A MAC that no row spells out, from a regex value on a group row, is found too.
    lab.run("mkdef", &["-t", "group", "rackx", "mac=|n(\\d+)|52:54:00:00:01:(sprintf('%02x',$1))|"]).ok();
    lab.run("mkdef", &["n7", "groups=rackx", "ip=127.0.0.7"]).ok();
    lab.run("nodeset", &["n7", "osimage=img"]).ok();
    let (code, pxe) =
        curl(&["--interface", "127.0.0.7", &format!("tftp://{}/pxelinux.cfg/01-52-54-00-00-01-07", d.tftp)]);
    assert_eq!(code, 0);
    let pxe = String::from_utf8(pxe).unwrap();
    assert!(pxe.starts_with("#oxcat nodeset: netboot img\n") && pxe.contains("oxcat.node=n7 "), "{pxe}");
    // A new state is served at once; offline serves nothing; an unknown MAC gets nothing.
    lab.run("nodeset", &["n1", "boot"]).ok();
    let (_, ipxe) = curl(&[&format!("http://{}/tftpboot/ipxe/n1.ipxe", d.http)]);
    assert!(String::from_utf8(ipxe).unwrap().starts_with("#!ipxe oxcat nodeset: boot\n"));
    lab.run("nodeset", &["n1", "offline"]).ok();
    let code_of = |url: String| String::from_utf8(curl(&["-o", "/dev/null", "-w", "%{http_code}", &url]).1).unwrap();
    assert_eq!(code_of(format!("http://{}/tftpboot/ipxe/n1.ipxe", d.http)), "404");
    let (code, _) = curl(&[&format!("tftp://{}/pxelinux.cfg/01-52-54-00-00-00-99", d.tftp)]);
    assert_ne!(code, 0);
    // That miss is pxelinux's config search, not logged; a missing file elsewhere is (and is
    // logged after it, so the log is complete up to there).
    assert_ne!(curl(&[&format!("tftp://{}/nosuch.bin", d.tftp)]).0, 0);
    d.daemon.log_line("oxcatd: TFTP: 127.0.0.11 asked for nosuch.bin: not found");
    assert!(!d.daemon.log().contains("pxelinux.cfg/01-52-54-00-00-00-99"), "{}", d.daemon.log());
}

/// Where a segment would not fit the link (blksize 8192 over an MTU of 1500, which plain sends
/// pass as IP fragments), the kernel refuses the segmented send and the transfer goes on one
/// packet at a time.
#[test]
fn tftp_windows_fall_back_to_single_sends_where_segments_exceed_the_mtu() {
    if !tool("atftp") {
        return;
    }
    let lab = Lab::new();
    let tftp = lab.path("tftp");
    std::fs::create_dir_all(&tftp).unwrap();
    let data: Vec<u8> = (0..500_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8).collect();
    std::fs::write(tftp.join("f.bin"), &data).unwrap();
    let ns = crate::harness::Netns::new(format!("oxtf{}", std::process::id() % 100_000));
    ns.ip(&["link", "set", "lo", "mtu", "1500"]);
    lab.write(
        "oxcat.toml",
        &format!("[http]\nenable = false\n[tftp]\nlisten = [\"127.0.0.1:69\"]\nroot = \"{}\"\n", tftp.display()),
    );
    let mut cmd = ns.exec(lab.path("bin/oxcatd"));
    cmd.arg("--config").arg(lab.path("oxcat.toml")).env("OXCAT_DB", lab.db());
    let _d = Daemon::start(cmd);
    let out = lab.path("got.bin");
    let ok = ns
        .exec("atftp")
        .args(["--option", "blksize 8192", "--option", "windowsize 8", "-g", "-r", "f.bin", "-l"])
        .arg(&out)
        .args(["127.0.0.1", "69"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success();
    assert!(ok && std::fs::read(&out).unwrap() == data, "blksize 8192 over MTU 1500: transfer failed or bytes differ");
}

/// A raw HTTP client: sends `bytes` on a new connection and reads until the server closes it (or
/// nothing comes for 10 s).
fn raw(http: &str, bytes: &[u8]) -> String {
    use std::io::{Read, Write};
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.bind(&std::net::SocketAddr::new(NODE_ADDR.parse().unwrap(), 0).into()).unwrap();
    sock.connect(&http.parse::<std::net::SocketAddr>().unwrap().into()).unwrap();
    let mut s: std::net::TcpStream = sock.into();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    s.write_all(bytes).unwrap();
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    String::from_utf8_lossy(&got).into_owned()
}

/// The status lines of the responses in `text`.
fn status_lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| l.starts_with("HTTP/1.")).collect()
}

#[test]
fn lf_only_requests_are_answered() {
    let Some((_lab, d)) = start() else { return };
    let got = raw(&d.http, b"GET /tftpboot/big.bin HTTP/1.1\nHost: x\nRange: bytes=0-3\nConnection: close\n\n");
    assert_eq!(status_lines(&got), ["HTTP/1.1 206 Partial Content"], "{got}");
}

/// A body (by length or chunked) is the request's, never the next request, even when the
/// handler does not read it.
#[test]
fn request_bodies_are_never_run_as_the_next_request() {
    let Some((lab, d)) = start() else { return };
    let token = token_of(&lab, "n1");
    let smuggled = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
    let by_length = format!(
        "POST /status?node=n1&token={token}&status=booting HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{smuggled}\
         GET /tftpboot/big.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=0-0\r\nConnection: close\r\n\r\n",
        smuggled.len()
    );
    let chunked = format!(
        "POST /status?node=n1&token={token}&status=booting HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
         {:x}\r\n{smuggled}\r\n0\r\n\r\n\
         GET /tftpboot/big.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=0-0\r\nConnection: close\r\n\r\n",
        smuggled.len()
    );
    for req in [by_length, chunked] {
        let got = raw(&d.http, req.as_bytes());
        let lines = status_lines(&got);
        assert_eq!(lines.first(), Some(&"HTTP/1.1 200 OK"), "{got}");
        assert!(!lines.iter().any(|l| l.contains("404")), "the body was run as a request:\n{got}");
        assert!(lines.len() <= 2, "{got}");
    }
    lab.run("nodels", &["n1", "nodelist.status"]).ok().stdout_is("n1: booting\n");
    // The log is complete up to a later miss; no request for /smuggled is in it.
    curl(&[&format!("http://{}/marker", d.http)]);
    d.daemon.log_line("oxcatd: HTTP: 127.0.0.11 GET /marker: 404");
    assert!(!d.daemon.log().contains("/smuggled"), "{}", d.daemon.log());
}

/// A client that sends its request head a byte at a time is closed when the header timeout
/// (here 1 s) runs out; so is one that sends nothing after a request.
#[test]
fn slow_request_heads_and_idle_connections_are_closed() {
    use std::io::{Read, Write};
    let Some((_lab, d)) = start_with("header_timeout = 1\nidle_timeout = 2\n", &[]) else { return };
    let mut slow = std::net::TcpStream::connect(&d.http).unwrap();
    slow.set_read_timeout(Some(std::time::Duration::from_millis(200))).unwrap();
    let head = b"GET /tftpboot/big.bin HTTP/1.1\r\nHost: x\r\nX-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
    let mut closed = false;
    for b in head.iter().cycle().take(100) {
        if slow.write_all(&[*b]).is_err() {
            closed = true;
            break;
        }
        let mut buf = [0u8; 256];
        match slow.read(&mut buf) {
            Ok(_) => {
                closed = true;
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => {
                closed = true;
                break;
            }
        }
    }
    assert!(closed, "a connection sending its head for 20 s is still open");
    // A kept-alive connection that sends nothing more is closed too.
    let mut idle = std::net::TcpStream::connect(&d.http).unwrap();
    idle.set_read_timeout(Some(std::time::Duration::from_secs(15))).unwrap();
    idle.write_all(b"GET /tftpboot/big.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=0-0\r\n\r\n").unwrap();
    let mut got = Vec::new();
    let end = idle.read_to_end(&mut got);
    assert!(end.is_ok(), "an idle kept-alive connection was not closed: {end:?}");
    assert!(String::from_utf8_lossy(&got).starts_with("HTTP/1.1 206"));
}

/// CPU time (user + system, in clock ticks) a process has used.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// 1,100 idle connections against a daemon allowed 300 descriptors: HTTP still serves (the
/// connection idle longest makes room), TFTP still serves, and the daemon does not spin.
#[test]
fn idle_connections_beyond_the_descriptor_limit_take_nothing_down() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if !tool("prlimit") {
        return;
    }
    // This test's own connections need descriptors too.
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    if soft < 2000 {
        assert!(hard >= 1300, "the test needs 1,300 descriptors; the hard limit is {hard}");
        setrlimit(Resource::RLIMIT_NOFILE, hard.min(4096), hard).unwrap();
    }
    let Some((lab, d)) = start_with("", &["prlimit", "--nofile=300:300", "--"]) else { return };
    let mut held = Vec::new();
    for i in 0..1100 {
        let addr = d.http.parse().unwrap();
        // A server that accepts nothing more leaves connections in its listen queue until that
        // is full: stop there.
        let Ok(mut s) = std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(1)) else { break };
        use std::io::Write;
        if i % 2 == 0 {
            let _ = s.write_all(b"GET /tftpboot/big.bin HTTP/1.1\r\n");
        }
        held.push(s);
    }
    // Each was accepted (and the ones idle longest closed to make room for the next).
    assert_eq!(held.len(), 1100, "the daemon stopped accepting connections");
    let big = std::fs::read(lab.path("vmlinuz")).unwrap();
    let (code, body) = curl(&[&format!("http://{}/install/images/img/kernel", d.http)]);
    assert!(code == 0 && body == big, "HTTP: curl exit {code}, {} bytes\n{}", body.len(), d.daemon.log());
    let (code, body) = curl(&[&format!("tftp://{}/big.bin", d.tftp)]);
    assert!(code == 0 && body == big, "TFTP: curl exit {code}, {} bytes", body.len());
    let before = cpu_ticks(d.daemon.pid());
    std::thread::sleep(std::time::Duration::from_secs(2));
    let used = cpu_ticks(d.daemon.pid()) - before;
    // A spinning accept loop uses a whole core: ~200 ticks in 2 s.
    assert!(used < 60, "the daemon used {used} ticks of CPU in 2 s while idle");
    drop(held);
}

/// Another process's long write transaction (the sqlite3 CLI) does not hold up files or boot
/// configs; a status report waits for it and lands once it commits.
#[test]
fn file_serving_does_not_wait_for_a_store_writer() {
    if !tool("sqlite3") {
        return;
    }
    let Some((lab, d)) = start() else { return };
    let token = token_of(&lab, "n1");
    let (locked, release) = (lab.path("locked"), lab.path("release"));
    let script = format!(
        "BEGIN IMMEDIATE;\nINSERT INTO site (key, value) VALUES ('writer', 'x');\n.shell touch {}\n\
         .shell while [ ! -e {} ]; do sleep 0.05; done\nCOMMIT;\n",
        locked.display(),
        release.display()
    );
    let mut writer = Command::new("sqlite3").arg(lab.db()).stdin(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap();
    {
        use std::io::Write;
        writer.stdin.take().unwrap().write_all(script.as_bytes()).unwrap();
    }
    while !locked.exists() {
        assert!(writer.try_wait().unwrap().is_none(), "sqlite3 ended early");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let report = {
        let url = format!("http://{}/status?node=n1&token={token}&status=booted", d.http);
        std::thread::spawn(move || curl(&["--max-time", "120", &url]))
    };
    std::thread::sleep(std::time::Duration::from_millis(300));
    let big = std::fs::read(lab.path("vmlinuz")).unwrap();
    let (code, body) = curl(&[&format!("http://{}/install/images/img/kernel", d.http)]);
    assert!(code == 0 && body == big, "image: curl exit {code}");
    let (_, script) = curl(&[&format!("http://{}/tftpboot/ipxe/n1.ipxe", d.http)]);
    assert!(script.starts_with(b"#!ipxe oxcat nodeset: netboot img\n"));
    // Both came while the writer still holds its lock.
    assert!(writer.try_wait().unwrap().is_none() && !report.is_finished(), "the writer let go too early");
    std::fs::write(&release, "").unwrap();
    assert!(writer.wait().unwrap().success());
    assert_eq!(report.join().unwrap().1, b"ok\n");
    lab.run("nodels", &["n1", "nodelist.status"]).ok().stdout_is("n1: booted\n");
}

/// What carries or needs a node's token goes to the node's own address only (here 127.0.0.11;
/// the other client is 127.0.0.2).
#[test]
fn boot_configs_and_tokens_are_for_the_nodes_own_address() {
    let Some((lab, d)) = start() else { return };
    let token = token_of(&lab, "n1");
    let code_from = |from: &str, url: String| {
        String::from_utf8(curl(&["--interface", from, "-o", "/dev/null", "-w", "%{http_code}", &url]).1).unwrap()
    };
    let urls = [
        format!("http://{}/tftpboot/ipxe/n1.ipxe", d.http),
        format!("http://{}/mypostscript/n1?token={token}", d.http),
        format!("http://{}/status?node=n1&token={token}&status=booting", d.http),
    ];
    for url in &urls {
        assert_eq!(code_from("127.0.0.2", url.clone()), "403", "{url}");
    }
    let (code, _) =
        curl(&["--interface", "127.0.0.2", &format!("tftp://{}/pxelinux.cfg/01-52-54-00-00-00-01", d.tftp)]);
    assert_ne!(code, 0, "TFTP gave n1's config to another address");
    d.daemon.log_line(
        "oxcatd: TFTP: 127.0.0.2 asked for pxelinux.cfg/01-52-54-00-00-00-01: refused (the boot config of n1, served to its own address only)",
    );
    for url in &urls {
        assert_eq!(code_from(NODE_ADDR, url.clone()), "200", "{url}");
    }
    let (code, _) = curl(&[&format!("tftp://{}/pxelinux.cfg/01-52-54-00-00-00-01", d.tftp)]);
    assert_eq!(code, 0);
}

/// Configs written by `nodeset --files` (for other TFTP servers) hold the token too: oxcatd
/// serves those files to the node only, like the configs it renders.
#[test]
fn configs_written_by_nodeset_files_are_for_the_node_only() {
    let Some((lab, d)) = start() else { return };
    lab.run("nodeset", &["n1", "osimage=img", "--files"]).ok();
    assert!(lab.path("tftp/ipxe/n1.ipxe").is_file() && lab.path("tftp/pxelinux.cfg/01-52-54-00-00-00-01").is_file());
    let ipxe = format!("http://{}/tftpboot/ipxe/n1.ipxe", d.http);
    let pxe = format!("tftp://{}/pxelinux.cfg/01-52-54-00-00-00-01", d.tftp);
    let code = |from: &str| {
        String::from_utf8(curl(&["--interface", from, "-o", "/dev/null", "-w", "%{http_code}", &ipxe]).1).unwrap()
    };
    assert_eq!(code("127.0.0.2"), "403");
    assert_ne!(curl(&["--interface", "127.0.0.2", &pxe]).0, 0, "TFTP gave n1's written config to another address");
    assert_eq!(code(NODE_ADDR), "200");
    let (status, body) = curl(&[&pxe]);
    assert_eq!(status, 0);
    assert!(String::from_utf8_lossy(&body).contains("oxcat.token="));
}

/// Once the node reports the end of its boot, its token reports status and opens nothing else
/// (mypostscript, its boot config) until the next nodeset; chain.token keeps only a digest.
#[test]
fn a_spent_token_only_reports_status() {
    let Some((lab, d)) = start() else { return };
    let token = token_of(&lab, "n1");
    let code_of = |url: String| String::from_utf8(curl(&["-o", "/dev/null", "-w", "%{http_code}", &url]).1).unwrap();
    let status = |s: &str| code_of(format!("http://{}/status?node=n1&token={token}&status={s}", d.http));
    let mypostscript = || code_of(format!("http://{}/mypostscript/n1?token={token}", d.http));
    let config = || code_of(format!("http://{}/tftpboot/ipxe/n1.ipxe", d.http));
    assert_eq!((status("booting"), mypostscript(), config()), ("200".into(), "200".into(), "200".into()));
    assert_eq!(status("booted"), "200");
    assert_eq!((mypostscript(), config()), ("403".into(), "404".into()));
    let (code, _) = curl(&[&format!("tftp://{}/pxelinux.cfg/01-52-54-00-00-00-01", d.tftp)]);
    assert_ne!(code, 0);
    let stored = token_of(&lab, "n1");
    assert!(stored.starts_with("sha256:") && !stored.contains(&token), "{stored}");
    assert_eq!(status("failed"), "200");
    lab.run("nodels", &["n1", "nodelist.status"]).ok().stdout_is("n1: failed\n");
    // The next nodeset gives a new token that opens everything again.
    lab.run("nodeset", &["n1", "osimage=img"]).ok();
    let fresh = token_of(&lab, "n1");
    assert_eq!(code_of(format!("http://{}/mypostscript/n1?token={fresh}", d.http)), "200");
    assert_eq!(config(), "200");
}

/// Splits pipelined responses: (status line, headers, body) each, bodies by Content-Length (none
/// after a HEAD: `heads` names which responses answer one).
fn responses(mut got: &[u8], heads: &[usize]) -> Vec<(String, String, Vec<u8>)> {
    let mut out = Vec::new();
    while let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
        let head = String::from_utf8_lossy(&got[..end]).into_owned();
        let len: usize =
            head.lines().find_map(|l| l.strip_prefix("Content-Length: ")).map_or(0, |n| n.trim().parse().unwrap());
        let len = if heads.contains(&out.len()) { 0 } else { len };
        let body = got[end + 4..(end + 4 + len).min(got.len())].to_vec();
        got = &got[(end + 4 + len).min(got.len())..];
        let (status, headers) = head.split_once("\r\n").unwrap_or((&head, ""));
        out.push((status.to_string(), headers.to_string(), body));
    }
    out
}

/// Images leave by sendfile(2) (seen with strace), whole, by range and as HEAD, on one kept-alive
/// connection that also carries a request hyper answers (a status report) in between; escapes
/// are still refused.
#[test]
fn images_are_sent_with_sendfile_on_kept_alive_connections() {
    use std::io::{Read, Write};
    if !tool("strace") {
        return;
    }
    let Some((lab, d)) = start() else { return };
    let token = token_of(&lab, "n1");
    let big = std::fs::read(lab.path("vmlinuz")).unwrap();
    let url = "/install/images/img/kernel";
    let reqs = format!(
        "GET {url} HTTP/1.1\r\nHost: x\r\n\r\n\
         GET {url} HTTP/1.1\r\nHost: x\r\nRange: bytes=1000-1999\r\n\r\n\
         HEAD {url} HTTP/1.1\r\nHost: x\r\n\r\n\
         POST /status?node=n1&token={token}&status=booting HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n\
         GET {url} HTTP/1.1\r\nHost: x\r\nRange: bytes=-10\r\n\r\n\
         GET /install/%2e%2e/oxcat.db HTTP/1.1\r\nHost: x\r\n\r\n\
         GET {url} HTTP/1.1\r\nHost: x\r\nRange: bytes=3000000-\r\nConnection: close\r\n\r\n"
    );
    let (got, trace) = sendfile_traced(&lab.path("strace.out"), d.daemon.pid(), || {
        let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        sock.bind(&std::net::SocketAddr::new(NODE_ADDR.parse().unwrap(), 0).into()).unwrap();
        sock.connect(&d.http.parse::<std::net::SocketAddr>().unwrap().into()).unwrap();
        let mut s: std::net::TcpStream = sock.into();
        s.set_read_timeout(Some(std::time::Duration::from_secs(20))).unwrap();
        s.write_all(reqs.as_bytes()).unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        got
    });
    let r = responses(&got, &[2]);
    let status: Vec<&str> = r.iter().map(|(s, _, _)| s.as_str()).collect();
    assert_eq!(
        status,
        [
            "HTTP/1.1 200 OK",
            "HTTP/1.1 206 Partial Content",
            "HTTP/1.1 200 OK",
            "HTTP/1.1 200 OK",
            "HTTP/1.1 206 Partial Content",
            "HTTP/1.1 404 Not Found",
            "HTTP/1.1 416 Range Not Satisfiable"
        ]
    );
    assert!(r[0].2 == big, "image bytes differ");
    assert_eq!(r[1].2, big[1000..2000]);
    assert!(r[1].1.contains("Content-Range: bytes 1000-1999/3000000"), "{}", r[1].1);
    assert!(r[2].1.contains("Content-Length: 3000000") && r[2].1.contains("Accept-Ranges: bytes"), "{}", r[2].1);
    assert_eq!(r[3].2, b"ok\n");
    assert_eq!(r[4].2, big[big.len() - 10..]);
    assert!(r[6].1.contains("Content-Range: bytes */3000000"), "{}", r[6].1);
    lab.run("nodels", &["n1", "nodelist.status"]).ok().stdout_is("n1: booting\n");
    let sent: usize = trace
        .lines()
        .filter(|l| l.contains("sendfile("))
        .filter_map(|l| l.rsplit_once("= ").and_then(|(_, n)| n.trim().parse::<usize>().ok()))
        .sum();
    assert_eq!(sent, 3_000_000 + 1000 + 10, "bytes moved by sendfile, per strace:\n{trace}");
}

/// When the socket buffer is full, the sendfile path waits for the kernel to report room (as
/// nginx does) instead of calling sendfile again at once: no call finds the buffer full (EAGAIN;
/// one is allowed for a race), so none is spent trickling out the few segments a slow client has
/// just taken.
#[test]
fn sendfile_waits_for_room_when_the_socket_buffer_is_full() {
    if !tool("strace") {
        return;
    }
    let Some((lab, d)) = start() else { return };
    large_file(&lab, "slow.bin");
    // A client slower than the daemon: the socket buffer fills again and again.
    let ((code, body), trace) = sendfile_traced(&lab.path("strace-slow.out"), d.daemon.pid(), || {
        curl(&["--limit-rate", "32M", &format!("http://{}/tftpboot/slow.bin", d.http)])
    });
    assert_eq!((code, body.len()), (0, 64 << 20));
    let calls = trace.lines().filter(|l| l.contains("sendfile(")).count();
    let full = trace.lines().filter(|l| l.contains("EAGAIN")).count();
    assert!(calls > 0, "no sendfile seen:\n{trace}");
    assert!(full <= 1, "{full} of {calls} sendfile calls found the socket buffer full:\n{trace}");
}

/// Runs `f` while strace records the sendfile calls of process `pid` into `trace`; what `f`
/// returned and the trace.
fn sendfile_traced<T>(trace: &std::path::Path, pid: u32, f: impl FnOnce() -> T) -> (T, String) {
    let mut strace = Command::new("strace")
        .args(["-f", "-qq", "-e", "trace=sendfile", "-o"])
        .arg(trace)
        .args(["-p", &pid.to_string()])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // strace is attached once it has written its first line or the daemon's threads are traced.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let out = f();
    let _ = Command::new("kill").arg(strace.id().to_string()).status();
    strace.wait().unwrap();
    (out, std::fs::read_to_string(trace).unwrap())
}

/// A 64 MiB file of the pattern `i as u8` under the lab's tftp root, named `name`.
fn large_file(lab: &crate::harness::Lab, name: &str) -> std::path::PathBuf {
    let p = lab.path(&format!("tftp/{name}"));
    let data: Vec<u8> = (0..64u32 << 20).map(|i| i as u8).collect();
    std::fs::write(&p, data).unwrap();
    p
}

/// A file that shrinks while being sent: the client gets what there was and the connection
/// closes (the promised length cannot be kept), and the daemon serves on.
#[test]
fn a_file_that_shrinks_while_being_sent_closes_the_connection() {
    use std::io::{Read, Write};
    let Some((lab, d)) = start() else { return };
    let p = large_file(&lab, "shrinks.bin");
    let mut s = std::net::TcpStream::connect(&d.http).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(20))).unwrap();
    s.write_all(b"GET /tftpboot/shrinks.bin HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut first = vec![0u8; 1 << 20];
    s.read_exact(&mut first).unwrap();
    std::fs::OpenOptions::new().write(true).open(&p).unwrap().set_len(2 << 20).unwrap();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).expect("the connection is closed, not left hanging");
    let total = first.len() + rest.len();
    assert!(total < (64 << 20), "a shrunk file cannot be sent whole: {total} bytes came");
    let log = d.daemon.log_line("oxcatd: HTTP: 127.0.0.1:");
    assert!(log.contains("shrank while being sent"), "{log}");
    let (code, body) = curl(&[&format!("http://{}/tftpboot/shrinks.bin", d.http)]);
    assert_eq!((code, body.len()), (0, 2 << 20));
}

/// A client that stops reading its download is closed once nothing moved for idle_timeout
/// (here 2 s), by the sendfile path as by hyper's.
#[test]
fn a_client_that_stops_reading_is_closed_after_the_idle_timeout() {
    use std::io::{Read, Write};
    let Some((lab, d)) = start_with("idle_timeout = 2\n", &[]) else { return };
    large_file(&lab, "stalled.bin");
    let mut s = std::net::TcpStream::connect(&d.http).unwrap();
    s.write_all(b"GET /tftpboot/stalled.bin HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    std::thread::sleep(std::time::Duration::from_secs(5));
    s.set_read_timeout(Some(std::time::Duration::from_secs(20))).unwrap();
    let mut got = Vec::new();
    let end = s.read_to_end(&mut got);
    assert!(end.is_ok(), "a stalled download was not closed: {end:?}");
    assert!(got.len() < 64 << 20, "all of it came: {} bytes", got.len());
    assert!(String::from_utf8_lossy(&got[..16]).starts_with("HTTP/1.1 200 OK"));
}
