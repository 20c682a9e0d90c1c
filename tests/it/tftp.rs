//! oxcatd's TFTP server and log under hostile clients on 127.0.0.0/8, from Rust UDP sockets: what
//! a request may cost it, how long it holds one that is never answered, and what it logs.

use crate::harness::{Daemon, Lab};
use std::net::UdpSocket;
use std::time::{Duration, Instant};

/// The server's limits (src/daemon/tftp.rs and log.rs), as the tests rely on them.
const PER_CLIENT: usize = 32;
const TRANSFERS: usize = 256;
const RETRIES: usize = 5;
const LINES_PER_SEC: f64 = 200.0;
const BURST_LINES: f64 = 2_000.0;

/// A lab with `files` in its TFTP root and oxcatd serving TFTP only, on 127.0.0.1.
fn start(files: &[(&str, usize)]) -> (Lab, Daemon, String) {
    let lab = Lab::new();
    let root = lab.path("tftp");
    std::fs::create_dir_all(&root).unwrap();
    for (name, size) in files {
        let data: Vec<u8> = (0..*size as u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        std::fs::write(root.join(name), data).unwrap();
    }
    lab.write(
        "oxcat.toml",
        &format!("[http]\nenable = false\n[tftp]\nlisten = [\"127.0.0.1:0\"]\nroot = \"{}\"\n", root.display()),
    );
    let mut cmd = lab.cmd("oxcatd");
    cmd.args(["--config", "oxcat.toml"]);
    let d = Daemon::start(cmd);
    let addr = d.addr("TFTP");
    (lab, d, addr)
}

fn rrq(file: &[u8], options: &[(&str, &str)]) -> Vec<u8> {
    let mut p = vec![0, 1];
    p.extend(file);
    p.extend(b"\0octet\0");
    for (k, v) in options {
        p.extend(k.as_bytes());
        p.push(0);
        p.extend(v.as_bytes());
        p.push(0);
    }
    p
}

/// A client socket on `ip` (any port), reading with a short timeout.
fn client(ip: &str) -> UdpSocket {
    let s = UdpSocket::bind((ip, 0)).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    s
}

/// The next datagram and where it came from, waiting up to `wait`.
fn recv(s: &UdpSocket, wait: Duration) -> Option<(Vec<u8>, std::net::SocketAddr)> {
    let deadline = Instant::now() + wait;
    let mut buf = vec![0u8; 70_000];
    while Instant::now() < deadline {
        if let Ok((n, from)) = s.recv_from(&mut buf) {
            return Some((buf[..n].to_vec(), from));
        }
    }
    None
}

fn opcode(p: &[u8]) -> u16 {
    u16::from_be_bytes([p[0], p[1]])
}

/// Distinct block sizes for one 20 MB file: each transfer reads the file as it sends it, so 40 of
/// them cost buffers, not 40 framed copies (1 GB before).
#[test]
fn tftp_memory_stays_bounded_whatever_block_sizes_are_asked() {
    let (_lab, d, addr) = start(&[("big.bin", 20_000_000)]);
    let before = d.rss();
    // 40 transfers from 2 addresses (32 from the first, the most per client), each at its own block size,
    // each taken to its first block and left there.
    let mut held = Vec::new();
    for i in 0..40 {
        let s = client(&format!("127.0.0.{}", 1 + i / PER_CLIENT));
        let blksize = (1000 + i * 7).to_string();
        s.send_to(&rrq(b"big.bin", &[("blksize", &blksize), ("tsize", "0")]), &addr).unwrap();
        let (oack, tid) = recv(&s, Duration::from_secs(10)).expect("an OACK");
        assert_eq!(opcode(&oack), 6, "{oack:?}");
        s.send_to(&[0, 4, 0, 0], tid).unwrap();
        let (data, _) = recv(&s, Duration::from_secs(10)).expect("block 1");
        assert_eq!((opcode(&data), data.len()), (3, 4 + 1000 + i * 7));
        held.push(s);
    }
    let grown = d.rss().saturating_sub(before);
    assert!(grown < 200_000_000, "oxcatd grew by {} MB for 40 transfers of one 20 MB file", grown / 1_000_000);
}

/// Past 32 transfers one client's requests are not answered (other clients still are), and a
/// transfer whose OACK is never acknowledged ends after 5 sends a second apart, although the
/// request asked for a timeout of 255 s: its slot is free again.
#[test]
fn tftp_limits_transfers_per_client_and_frees_unacknowledged_ones() {
    let (_lab, d, addr) = start(&[("f.bin", 5000)]);
    let ask = |s: &UdpSocket| s.send_to(&rrq(b"f.bin", &[("timeout", "255"), ("tsize", "0")]), &addr).unwrap();
    let sockets: Vec<UdpSocket> = (0..PER_CLIENT + 4).map(|_| client("127.0.0.1")).collect();
    for s in &sockets {
        s.set_read_timeout(Some(Duration::from_millis(1))).unwrap();
        ask(s);
    }
    let other = client("127.0.0.2");
    ask(&other);
    // Every OACK each socket gets until the server gives up on all of them.
    let mut oacks = vec![0usize; sockets.len()];
    let deadline = Instant::now() + Duration::from_secs(RETRIES as u64 + 3);
    while Instant::now() < deadline {
        for (i, s) in sockets.iter().enumerate() {
            while let Some((p, _)) = recv(s, Duration::from_millis(1)) {
                assert_eq!(opcode(&p), 6);
                oacks[i] += 1;
            }
        }
    }
    assert!(recv(&other, Duration::from_millis(100)).is_some(), "another client is answered");
    let answered: Vec<usize> = oacks.iter().copied().filter(|n| *n > 0).collect();
    assert_eq!(answered, vec![RETRIES; PER_CLIENT], "OACKs per socket: {oacks:?}");
    d.log_line(&format!(
        "oxcatd: TFTP: 127.0.0.1 asked for f.bin: not answered ({PER_CLIENT} transfers to this client running"
    ));
    d.log_line("oxcatd: TFTP: 127.0.0.1 asked for f.bin: abandoned: the options were not acknowledged (5 tries)");
    // Given up on, the transfers left their slots: the client is answered again.
    let again = client("127.0.0.1");
    again.send_to(&rrq(b"f.bin", &[]), &addr).unwrap();
    let (p, _) = recv(&again, Duration::from_secs(5)).expect("answered once the unacknowledged transfers ended");
    assert_eq!((opcode(&p), p.len()), (3, 516));
}

/// With every slot held by requests never acknowledged (as forged ones are), a new client is
/// still served: its request displaces the oldest of them.
#[test]
fn tftp_unacknowledged_requests_cannot_keep_a_client_out() {
    let (_lab, d, addr) = start(&[("f.bin", 5000)]);
    let held: Vec<UdpSocket> = (0..TRANSFERS).map(|i| client(&format!("127.0.0.{}", 1 + i / PER_CLIENT))).collect();
    for s in &held {
        s.send_to(&rrq(b"f.bin", &[("tsize", "0")]), &addr).unwrap();
    }
    for s in &held {
        let (p, _) = recv(s, Duration::from_secs(5)).expect("an OACK");
        assert_eq!(opcode(&p), 6);
    }
    let s = client("127.0.0.100");
    s.send_to(&rrq(b"f.bin", &[]), &addr).unwrap();
    let (p, _) = recv(&s, Duration::from_secs(3)).expect("block 1, all slots taken by unacknowledged transfers");
    assert_eq!((opcode(&p), p.len()), (3, 516));
    d.log_line("oxcatd: TFTP: 127.0.0.1 asked for f.bin: abandoned: displaced by a newer request (256 transfers");
}

/// An option asked for twice is answered once, at its first value, and used.
#[test]
fn tftp_answers_a_duplicated_option_once() {
    let (_lab, _d, addr) = start(&[("f.bin", 3000)]);
    let s = client("127.0.0.1");
    let opts = [("blksize", "1024"), ("BLKSIZE", "2048"), ("tsize", "0"), ("tsize", "0"), ("blksize", "512")];
    s.send_to(&rrq(b"f.bin", &opts), &addr).unwrap();
    let (oack, tid) = recv(&s, Duration::from_secs(5)).expect("an OACK");
    assert_eq!(oack, b"\x00\x06blksize\x001024\x00tsize\x003000\x00", "{}", String::from_utf8_lossy(&oack));
    s.send_to(&[0, 4, 0, 0], tid).unwrap();
    let (data, _) = recv(&s, Duration::from_secs(5)).expect("block 1");
    assert_eq!(data.len(), 4 + 1024);
}

/// A client that asks and then closes its socket: the first DATA packet draws an ICMP port
/// unreachable, and the transfer ends with a line that says so.
#[test]
fn tftp_logs_a_transfer_whose_client_port_closed() {
    let (_lab, d, addr) = start(&[("f.bin", 5000)]);
    let s = client("127.0.0.1");
    s.send_to(&rrq(b"f.bin", &[]), &addr).unwrap();
    drop(s);
    d.log_line(
        "oxcatd: TFTP: 127.0.0.1 asked for f.bin: abandoned at block 1: the client's port is closed (ICMP port unreachable)",
    );
}

/// A flood of requests for distinct missing files: each would be a line, but the log takes a
/// burst and then its rate, and says how many lines it held back.
#[test]
fn log_flood_is_held_to_its_budget_and_summarised() {
    let (_lab, d, addr) = start(&[]);
    let s = client("127.0.0.1");
    let flood = 6_000;
    let t0 = Instant::now();
    for i in 0..flood {
        s.send_to(&rrq(format!("miss-{i}").as_bytes(), &[]), &addr).unwrap();
        let (p, _) = recv(&s, Duration::from_secs(5)).expect("an ERROR");
        assert_eq!(opcode(&p), 5);
    }
    let elapsed = t0.elapsed().as_secs_f64();
    // Every request is accounted for: written, or counted in a summary.
    let deadline = Instant::now() + Duration::from_secs(15);
    let (written, suppressed) = loop {
        let log = d.log();
        let written = log.lines().filter(|l| l.contains(": not found")).count();
        let suppressed: usize = log
            .lines()
            .filter_map(|l| {
                l.strip_prefix("oxcatd: ")?.split_once(" log lines suppressed in the last ")?.0.parse::<usize>().ok()
            })
            .sum();
        if written + suppressed >= flood || Instant::now() > deadline {
            break (written, suppressed);
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(written + suppressed, flood, "{written} lines written, {suppressed} counted as suppressed");
    let allowed = BURST_LINES + LINES_PER_SEC * (elapsed + 1.0);
    assert!((written as f64) <= allowed, "{written} lines in {elapsed:.1} s (budget {allowed})");
}

/// Control characters a client puts in a file name are escaped: one line, no terminal escapes.
#[test]
fn log_escapes_control_characters_from_clients() {
    let (_lab, d, addr) = start(&[]);
    let s = client("127.0.0.1");
    s.send_to(&rrq(b"a\nFORGED: line\x1b[2J\\x", &[]), &addr).unwrap();
    recv(&s, Duration::from_secs(5)).expect("an ERROR");
    d.log_line(r"oxcatd: TFTP: 127.0.0.1 asked for a\x0aFORGED: line\x1b[2J\\x: not found");
    let log = d.log();
    assert!(!log.lines().any(|l| l.starts_with("FORGED")) && !log.contains('\x1b'), "{log:?}");
}

/// A whole windowed transfer at a tiny block size, from a client written here: a window of 64
/// segments of 20 bytes goes out as one segmented send, read with one read.
#[test]
fn tftp_serves_tiny_blocks_in_windows_byte_exact() {
    let (lab, _d, addr) = start(&[("f.bin", 50_000)]);
    let want = std::fs::read(lab.path("tftp/f.bin")).unwrap();
    let s = client("127.0.0.1");
    s.send_to(&rrq(b"f.bin", &[("blksize", "16"), ("windowsize", "64")]), &addr).unwrap();
    let (oack, tid) = recv(&s, Duration::from_secs(5)).expect("an OACK");
    assert_eq!(oack, b"\x00\x06blksize\x0016\x00windowsize\x0064\x00");
    let mut got: Vec<u8> = Vec::new();
    let mut last = 0u16;
    s.send_to(&[0, 4, 0, 0], tid).unwrap();
    loop {
        let (p, _) = recv(&s, Duration::from_secs(5)).expect("DATA");
        assert_eq!(opcode(&p), 3);
        let block = u16::from_be_bytes([p[2], p[3]]);
        if block != last.wrapping_add(1) {
            continue;
        }
        last = block;
        got.extend(&p[4..]);
        let end = p.len() < 4 + 16;
        if end || last % 64 == 0 {
            s.send_to(&[0, 4, (last >> 8) as u8, last as u8], tid).unwrap();
        }
        if end {
            break;
        }
    }
    assert!(got == want, "{} bytes of {} arrived, or they differ", got.len(), want.len());
}
