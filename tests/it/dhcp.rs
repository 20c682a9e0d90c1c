//! oxcatd's DHCP server against busybox udhcpc, in two network namespaces joined by a veth pair
//! that each test creates with its own names and removes on drop. No traffic leaves them.

use crate::harness::{ip, Daemon, Lab, Netns};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A server namespace and a client namespace joined by a veth pair: server end 10.77.0.1/24.
struct Pair {
    server: Netns,
    client: Netns,
    client_if: String,
    daemon: Option<Daemon>,
}

impl Pair {
    fn new() -> Pair {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let id = format!("{}{n}", std::process::id() % 100_000);
        let (server, client) = (Netns::new(format!("oxs{id}")), Netns::new(format!("oxc{id}")));
        let (sif, cif) = (format!("vs{id}"), format!("vc{id}"));
        ip(&["link", "add", &sif, "type", "veth", "peer", "name", &cif]);
        ip(&["link", "set", &sif, "netns", &server.0]);
        ip(&["link", "set", &cif, "netns", &client.0]);
        server.ip(&["addr", "add", "10.77.0.1/24", "dev", &sif]);
        server.ip(&["link", "set", &sif, "up"]);
        client.ip(&["link", "set", &cif, "up"]);
        // Broadcast replies leave through the only link.
        server.ip(&["route", "add", "default", "dev", &sif]);
        Pair { server, client, client_if: cif, daemon: None }
    }

    /// Starts oxcatd (DHCP only) in the server namespace and waits until it is ready.
    fn start_daemon(&mut self, lab: &Lab) {
        self.start_daemon_with(lab, "");
    }

    /// Like start_daemon, with extra lines for the [dhcp] section.
    fn start_daemon_with(&mut self, lab: &Lab, dhcp_extra: &str) {
        lab.write(
            "dhcp.toml",
            &format!("[http]\nenable = false\n[tftp]\nenable = false\n[dhcp]\nenable = true\n{dhcp_extra}"),
        );
        let mut cmd = self.server.exec(lab.path("bin/oxcatd"));
        cmd.args(["--config", lab.path("dhcp.toml").to_str().unwrap()]).env("OXCAT_DB", lab.db());
        self.daemon = Some(Daemon::start(cmd));
    }

    fn client_mac(&self) -> String {
        let o =
            Command::new("ip").args(["-n", &self.client.0, "-o", "link", "show", &self.client_if]).output().unwrap();
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        text.split_whitespace().skip_while(|w| *w != "link/ether").nth(1).unwrap().to_string()
    }

    /// Runs udhcpc once in the client namespace; the environment its script saw on "bound".
    fn udhcpc(&self, lab: &Lab, extra: &[&str]) -> Option<String> {
        let out = lab.path(&format!("lease-{}", self.client.0));
        let _ = std::fs::remove_file(&out);
        let script =
            lab.write("udhcpc.sh", &format!("#!/bin/sh\n[ \"$1\" = bound ] && env > {}\nexit 0\n", out.display()));
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let st = self
            .client
            .exec("busybox")
            .args(["udhcpc", "-i", &self.client_if, "-n", "-q", "-t", "3", "-T", "1", "-s"])
            .arg(&script)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        st.success().then(|| std::fs::read_to_string(&out).unwrap_or_default())
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        // The daemon goes before its namespace.
        self.daemon.take();
    }
}

fn env_value<'a>(env: &'a str, key: &str) -> Option<&'a str> {
    env.lines().find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
}

fn available() -> bool {
    let ok = Command::new("busybox").arg("udhcpc").arg("--help").output().is_ok()
        && Command::new("ip").arg("-V").output().is_ok();
    if !ok {
        assert!(std::env::var_os("CI").is_none(), "busybox or iproute2 missing: .ci/run must install them");
        eprintln!("skipped: busybox udhcpc or ip missing");
    }
    ok
}

#[test]
fn known_macs_get_their_reservation_and_boot_file() {
    if !available() {
        return;
    }
    let lab = Lab::new();
    let mut pair = Pair::new();
    let mac = pair.client_mac();
    lab.run("mkdef", &["n1", "groups=compute", &format!("mac={mac}"), "ip=10.77.0.11"]).ok();
    lab.run(
        "mkdef",
        &[
            "-t",
            "network",
            "-o",
            "lab",
            "net=10.77.0.0",
            "mask=255.255.255.0",
            "gateway=10.77.0.254",
            "nameservers=10.77.0.53",
            "domain=lab.example",
        ],
    )
    .ok();
    lab.run("chdef", &["-t", "site", "master=10.77.0.1", "dhcplease=600"]).ok();
    pair.start_daemon(&lab);

    let env = pair
        .udhcpc(&lab, &["-V", "PXEClient:Arch:00000:UNDI:002001", "-x", "0x5d:0000"])
        .expect("a lease for a known MAC");
    assert_eq!(env_value(&env, "ip"), Some("10.77.0.11"));
    assert_eq!(env_value(&env, "subnet"), Some("255.255.255.0"));
    assert_eq!(env_value(&env, "router"), Some("10.77.0.254"));
    assert_eq!(env_value(&env, "dns"), Some("10.77.0.53"));
    assert_eq!(env_value(&env, "domain"), Some("lab.example"));
    assert_eq!(env_value(&env, "lease"), Some("600"));
    assert_eq!(env_value(&env, "serverid"), Some("10.77.0.1"));
    assert_eq!(env_value(&env, "siaddr"), Some("10.77.0.1"));
    assert_eq!(env_value(&env, "boot_file"), Some("undionly.kpxe"));
    let daemon = pair.daemon.as_ref().unwrap();
    let offer = daemon.log_line("oxcatd: DHCP: OFFER");
    assert_eq!(offer, format!("oxcatd: DHCP: OFFER 10.77.0.11 to {mac} (n1), boot undionly.kpxe"));
    daemon.log_line(&format!("oxcatd: DHCP: ACK 10.77.0.11 to {mac} (n1), boot undionly.kpxe"));
    // UEFI x64 gets iPXE for UEFI; once iPXE runs (user class iPXE), its per-node script.
    let env = pair.udhcpc(&lab, &["-V", "PXEClient:Arch:00007:UNDI:003016", "-x", "0x5d:0007"]).unwrap();
    assert_eq!(env_value(&env, "boot_file"), Some("ipxe.efi"));
    let env = pair.udhcpc(&lab, &["-V", "PXEClient", "-x", "0x4d:69505845"]).unwrap();
    assert_eq!(env_value(&env, "boot_file"), Some("http://10.77.0.1:80/tftpboot/ipxe/n1.ipxe"));
    // The store is read again after a change, without a restart: (l)pxelinux for netboot=pxe.
    lab.run("chdef", &["n1", "netboot=pxe"]).ok();
    let env = pair.udhcpc(&lab, &["-V", "PXEClient:Arch:00000:UNDI:002001", "-x", "0x5d:0000"]).unwrap();
    assert_eq!(env_value(&env, "boot_file"), Some("lpxelinux.0"));
    // A plain client (no PXE class) gets an address and no boot file.
    let env = pair.udhcpc(&lab, &[]).unwrap();
    assert_eq!(env_value(&env, "ip"), Some("10.77.0.11"));
    assert_eq!(env_value(&env, "boot_file"), None);
    // An unknown MAC gets no answer at all...
    lab.run("chdef", &["n1", "mac=52:54:00:99:99:99"]).ok();
    assert!(pair.udhcpc(&lab, &[]).is_none(), "an unknown MAC was answered");
    // ...and says so in the log, once (udhcpc asked three times).
    let unknown = format!(
        "oxcatd: DHCP: DISCOVER from {mac} not answered: MAC not in the mac table and no discovery range (networks.dynamicrange) for its network"
    );
    let daemon = pair.daemon.as_ref().unwrap();
    daemon.log_line(&unknown);
    assert_eq!(daemon.log().lines().filter(|l| *l == unknown).count(), 1, "{}", daemon.log());
    // ...unless its network has a discovery range; its address then outlives a restart.
    lab.run("chdef", &["-t", "network", "lab", "dynamicrange=10.77.0.200-10.77.0.210"]).ok();
    let env = pair.udhcpc(&lab, &["-V", "PXEClient:Arch:00000:UNDI:002001"]).expect("a discovery lease");
    assert_eq!(env_value(&env, "ip"), Some("10.77.0.200"));
    // A machine no node has network-boots genesis in discovery mode: iPXE first, then its script.
    assert_eq!(env_value(&env, "boot_file"), Some("undionly.kpxe"));
    let env = pair.udhcpc(&lab, &["-V", "PXEClient", "-x", "0x4d:69505845"]).expect("a discovery lease");
    assert_eq!(env_value(&env, "boot_file"), Some("http://10.77.0.1:80/discover/boot.ipxe"));
    drop(pair.daemon.take());
    lab.run("chdef", &["-t", "network", "lab", "dynamicrange=10.77.0.199-10.77.0.210"]).ok();
    pair.start_daemon(&lab);
    let env = pair.udhcpc(&lab, &[]).unwrap();
    assert_eq!(env_value(&env, "ip"), Some("10.77.0.200"), "the lease did not survive the restart");
    let leases = lab.run("tabdump", &["dhcplease"]).ok().stdout;
    assert!(leases.contains(&format!("\"{mac}\",\"10.77.0.200\"")), "{leases}");
}

#[test]
fn makedhcp_shows_networks_and_explains_delete() {
    let lab = Lab::new();
    lab.run("mkdef", &["-t", "network", "-o", "mgmt", "net=10.0.0.0", "mask=255.255.255.0", "gateway=10.0.0.254"]).ok();
    lab.run("makedhcp", &["-n"]).ok().stdout_is(
        "mgmt: net = 10.0.0.0, mask = 255.255.255.0, gateway = 10.0.0.254, dynamic range = none (known MACs only)\n",
    );
    let o = lab.run("makedhcp", &["-d", "all"]).fails(2);
    assert!(o.stderr.starts_with("Error: oxcatd answers from the mac and hosts tables"), "{}", o.stderr);
    lab.run("makedhcp", &[]).fails(2);
    // -q needs site.master (the next-server it names).
    lab.enroll("n1").ok();
    lab.run("chdef", &["n1", "ip=10.0.0.5"]).ok();
    lab.run("makedhcp", &["-q", "n1"])
        .fails(2)
        .stderr_is("Error: DHCP needs the server's address: set site.master or dhcp.server in the config\n");
}

#[test]
fn proxy_dhcp_answers_pxe_clients_with_boot_information_only() {
    use dhcproto::v4::{DhcpOption, Message, MessageType, OptionCode};
    use dhcproto::{Decodable, Decoder, Encodable, Encoder};
    let lab = Lab::new();
    lab.run("mkdef", &["n1", "groups=compute", "mac=52:54:00:00:00:01", "ip=10.0.0.11"]).ok();
    lab.run("chdef", &["-t", "site", "master=127.0.0.1", "httpport=8080"]).ok();
    lab.write("proxy.toml", "[http]\nenable = false\n[tftp]\nenable = false\n[dhcp]\nenable = true\nproxy = true\nlisten = [\"127.0.0.1:0\"]\n");
    let mut cmd = lab.cmd("oxcatd");
    cmd.args(["--config", "proxy.toml"]);
    let daemon = Daemon::start(cmd);
    let port = daemon.addr("proxyDHCP");
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(std::time::Duration::from_millis(500))).unwrap();
    let ask = |mac: [u8; 6], class: Option<&[u8]>| -> Option<Message> {
        let mut req = oxcat::daemon::dhcp::sample_discover(&mac, class, Some(7), None);
        req.set_ciaddr([127, 0, 0, 1]);
        req.opts_mut().insert(DhcpOption::MessageType(MessageType::Request));
        let mut buf = Vec::new();
        req.encode(&mut Encoder::new(&mut buf)).unwrap();
        sock.send_to(&buf, &port).unwrap();
        let mut r = [0u8; 1500];
        let n = sock.recv(&mut r).ok()?;
        Some(Message::decode(&mut Decoder::new(&r[..n])).unwrap())
    };
    let ack = ask([0x52, 0x54, 0, 0, 0, 1], Some(b"PXEClient:Arch:00007")).expect("an answer on the proxy port");
    assert_eq!(ack.opts().msg_type(), Some(MessageType::Ack));
    assert!(ack.yiaddr().is_unspecified(), "a proxy gives no address");
    assert!(ack.opts().get(OptionCode::AddressLeaseTime).is_none());
    match ack.opts().get(OptionCode::BootfileName) {
        Some(DhcpOption::BootfileName(f)) => assert_eq!(f.as_slice(), b"ipxe.efi"),
        other => panic!("no boot file: {other:?}"),
    }
    assert!(ask([0x52, 0x54, 0, 0, 0, 1], None).is_none(), "a non-PXE client was answered");
    assert!(ask([0x52, 0x54, 0, 0, 0, 9], Some(b"PXEClient")).is_none(), "an unknown MAC was answered");
}

#[test]
fn dhcp_tied_to_an_interface_answers_out_of_it_whatever_the_routes() {
    if !available() {
        return;
    }
    let lab = Lab::new();
    let mut pair = Pair::new();
    // A second link whose network holds the server's default route: broadcast replies follow
    // that route unless the DHCP socket is tied to the client's interface.
    let other = Netns::new(format!("{}b", pair.client.0));
    let (obs, obc) = (format!("{}b", pair.client_if.replacen("vc", "vs", 1)), format!("{}b", pair.client_if));
    ip(&["link", "add", &obs, "type", "veth", "peer", "name", &obc]);
    ip(&["link", "set", &obs, "netns", &pair.server.0]);
    ip(&["link", "set", &obc, "netns", &other.0]);
    pair.server.ip(&["addr", "add", "10.88.0.1/24", "dev", &obs]);
    pair.server.ip(&["link", "set", &obs, "up"]);
    other.ip(&["link", "set", &obc, "up"]);
    pair.server.ip(&["route", "replace", "default", "dev", &obs]);
    let mac = pair.client_mac();
    lab.run("mkdef", &["n1", "groups=compute", &format!("mac={mac}"), "ip=10.77.0.11"]).ok();
    lab.run("chdef", &["-t", "site", "master=10.77.0.1"]).ok();
    // Control: untied, the reply leaves by the default route and the client never sees it.
    pair.start_daemon(&lab);
    assert!(pair.udhcpc(&lab, &[]).is_none(), "the control run got an answer: the test would prove nothing");
    drop(pair.daemon.take());
    // Tied to the client's interface: answered.
    pair.start_daemon_with(&lab, &format!("interfaces = [\"{}\"]\n", pair.client_if.replacen("vc", "vs", 1)));
    let env = pair.udhcpc(&lab, &[]).expect("an answer out of the tied interface");
    assert_eq!(env_value(&env, "ip"), Some("10.77.0.11"));
    drop(pair.daemon.take());
    // Untied and with no route for broadcasts, replies cannot leave: the log says so and why.
    pair.server.ip(&["route", "del", "default"]);
    pair.start_daemon(&lab);
    assert!(pair.udhcpc(&lab, &[]).is_none());
    pair.daemon.as_ref().unwrap().log_line(
        "oxcatd: DHCP: cannot send OFFER for n1 to 255.255.255.255:68: Network is unreachable (os error 101) \
         (no route for broadcast replies: tie DHCP to the boot network's interface with [dhcp] interfaces)",
    );
    drop(pair.daemon.take());
    // A missing interface is a clear startup error.
    lab.write(
        "bad.toml",
        "[http]\nenable = false\n[tftp]\nenable = false\n[dhcp]\nenable = true\ninterfaces = [\"nosuch0\"]\n",
    );
    let o = pair
        .server
        .exec(lab.path("bin/oxcatd"))
        .args(["--config", lab.path("bad.toml").to_str().unwrap()])
        .env("OXCAT_DB", lab.db())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&o.stderr), "Error: DHCP: no such interface 'nosuch0'\n");
}

/// `sent packets` and `received packets` of each exchange in perfdhcp's report, in its order
/// (DISCOVER-OFFER, then REQUEST-ACK).
fn perfdhcp_counts(report: &str) -> Vec<(u64, u64)> {
    let field = |l: &str, name: &str| l.trim().strip_prefix(name).and_then(|v| v.trim().parse::<u64>().ok());
    let sent: Vec<u64> = report.lines().filter_map(|l| field(l, "sent packets:")).collect();
    let received: Vec<u64> = report.lines().filter_map(|l| field(l, "received packets:")).collect();
    sent.into_iter().zip(received).collect()
}

#[test]
fn perfdhcp_clients_all_get_their_reservations_and_unknown_ones_nothing() {
    if !available() {
        return;
    }
    if !crate::harness::peers(&["perfdhcp"], "kea-admin") {
        return;
    }
    let lab = Lab::new();
    let mut pair = Pair::new();
    // perfdhcp acts as a relay: it sends from its own address with giaddr set to it, and the
    // server answers the relay, choosing the network by giaddr.
    pair.client.ip(&["addr", "add", "10.77.0.2/24", "dev", &pair.client_if]);
    lab.write("pw", "secret\n");
    // perfdhcp's clients are MAC 00:0c:01:00:00:00 plus 0..N-1 in the last bytes.
    lab.run(
        "addbmnode",
        &[
            "p[0-199]",
            "--bmc",
            "|p(\\d+)|10.1.0.($1+1)|",
            "--bmc-user",
            "admin",
            "--bmc-password-file",
            "pw",
            "--mac",
            "|p(\\d+)|00:0c:01:00:00:(sprintf('%02x',$1))|",
            "--ip",
            "|p(\\d+)|10.77.0.($1+20)|",
        ],
    )
    .ok();
    lab.run("mkdef", &["-t", "network", "-o", "lab", "net=10.77.0.0", "mask=255.255.255.0"]).ok();
    lab.run("chdef", &["-t", "site", "master=10.77.0.1"]).ok();
    pair.start_daemon(&lab);
    let perfdhcp = |base: &str| {
        let o = pair
            .client
            .exec("perfdhcp")
            .args(["-4", "-l", &pair.client_if, "-R", "200", "-r", "100", "-p", "4", "-b", base])
            .output()
            .unwrap();
        let report = String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
        (perfdhcp_counts(&report), report)
    };
    let (counts, report) = perfdhcp("mac=00:0c:01:00:00:00");
    assert_eq!(counts.len(), 2, "no DISCOVER-OFFER and REQUEST-ACK counts in:\n{report}");
    for (sent, received) in &counts {
        assert!(*sent >= 100, "perfdhcp sent only {sent}:\n{report}");
        assert_eq!(sent, received, "some exchanges went unanswered:\n{report}");
    }
    // Clients the mac table does not know (another base MAC) get no answer at all.
    let (counts, report) = perfdhcp("mac=00:0d:01:00:00:00");
    assert!(counts.first().is_some_and(|(sent, received)| *sent >= 100 && *received == 0), "{report}");
}

/// A DISCOVER (or REQUEST asking for `asked`) from `mac` as relayed by 10.77.0.2: answered to
/// that address, port 67, so a plain socket in the client namespace sees the answer.
fn relayed(mac: [u8; 6], xid: u32, asked: Option<&str>) -> Vec<u8> {
    use dhcproto::v4::{DhcpOption, MessageType};
    use dhcproto::{Encodable, Encoder};
    let mut m = oxcat::daemon::dhcp::sample_discover(&mac, Some(b"PXEClient:Arch:00000"), Some(0), None);
    m.set_xid(xid).set_giaddr([10, 77, 0, 2]);
    if let Some(a) = asked {
        m.opts_mut().insert(DhcpOption::MessageType(MessageType::Request));
        m.opts_mut().insert(DhcpOption::RequestedIpAddress(a.parse().unwrap()));
    }
    let mut out = Vec::new();
    m.encode(&mut Encoder::new(&mut out)).unwrap();
    out
}

/// The type of the answer with transaction id `xid` that reaches `sock` within half a second.
fn answer_to(sock: &std::net::UdpSocket, xid: u32) -> Option<dhcproto::v4::MessageType> {
    use dhcproto::{Decodable, Decoder};
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(500);
    let mut buf = [0u8; 1500];
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        sock.set_read_timeout(Some(left.max(std::time::Duration::from_millis(1)))).unwrap();
        let Ok(n) = sock.recv(&mut buf) else { break };
        let m = dhcproto::v4::Message::decode(&mut Decoder::new(&buf[..n])).unwrap();
        if m.xid() == xid {
            return m.opts().msg_type();
        }
    }
    None
}

#[test]
fn hostile_packets_are_dropped_and_every_service_keeps_serving() {
    if !available() || !crate::harness::peers(&["curl"], "curl") {
        return;
    }
    let lab = Lab::new();
    let mut pair = Pair::new();
    pair.client.ip(&["addr", "add", "10.77.0.2/24", "dev", &pair.client_if]);
    let mac = pair.client_mac();
    let known: Vec<u8> = mac.split(':').map(|h| u8::from_str_radix(h, 16).unwrap()).collect();
    let known: [u8; 6] = known.try_into().unwrap();
    lab.run("mkdef", &["n1", "groups=compute", &format!("mac={mac}"), "ip=10.77.0.11"]).ok();
    lab.run(
        "mkdef",
        &["-t", "network", "-o", "lab", "net=10.77.0.0", "mask=255.255.255.0", "dynamicrange=10.77.0.200-10.77.0.210"],
    )
    .ok();
    let tftp = lab.path("tftp");
    std::fs::create_dir_all(&tftp).unwrap();
    std::fs::write(tftp.join("hello.txt"), "hello\n").unwrap();
    lab.run("chdef", &["-t", "site", "master=10.77.0.1", &format!("tftpdir={}", tftp.display())]).ok();
    lab.write(
        "all.toml",
        "[http]\nlisten = [\"10.77.0.1:0\"]\n[tftp]\nlisten = [\"10.77.0.1:0\"]\n[dhcp]\nenable = true\n",
    );
    let mut cmd = pair.server.exec(lab.path("bin/oxcatd"));
    cmd.args(["--config", lab.path("all.toml").to_str().unwrap()]).env("OXCAT_DB", lab.db());
    pair.daemon = Some(Daemon::start(cmd));
    let sock = pair.client.enter(|| std::net::UdpSocket::bind("10.77.0.2:67").unwrap());
    let send = |p: &[u8]| {
        sock.send_to(p, "10.77.0.1:67").unwrap();
    };
    // Control: the known MAC, relayed, is answered (so silence below means something).
    send(&relayed(known, 1, None));
    assert_eq!(answer_to(&sock, 1), Some(dhcproto::v4::MessageType::Offer));
    // A known MAC's DISCOVER with a wrong magic cookie, or hardware type 0: not answered.
    let mut cookie = relayed(known, 3, None);
    cookie[236..240].copy_from_slice(&[1, 2, 3, 4]);
    send(&cookie);
    assert_eq!(answer_to(&sock, 3), None, "a wrong magic cookie was answered");
    let mut htype = relayed(known, 4, None);
    htype[1] = 0;
    send(&htype);
    assert_eq!(answer_to(&sock, 4), None, "htype 0 was answered");
    // The issue's reproducer: a 244-byte BOOTREQUEST with hlen 17 (dhcproto's chaddr() panicked,
    // and oxcatd exited with status 0).
    let mut long = relayed(known, 2, None);
    long[2] = 17;
    long.truncate(244);
    send(&long);
    assert_eq!(answer_to(&sock, 2), None);
    // Random bytes of every length, some starting like a BOOTREQUEST.
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for i in 0..2000 {
        let len = i % 600;
        let mut p: Vec<u8> = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect();
        if i % 2 == 0 && len > 3 {
            p[0] = 1;
        }
        send(&p);
    }
    // The daemon runs on and answers as before.
    assert!(pair.daemon.as_mut().unwrap().running(), "oxcatd exited:\n{}", pair.daemon.as_ref().unwrap().log());
    // (Retrying as clients do: the burst above may still fill the socket's buffer.)
    let answered = (5..10).any(|xid| {
        send(&relayed(known, xid, None));
        answer_to(&sock, xid) == Some(dhcproto::v4::MessageType::Offer)
    });
    assert!(answered, "the known MAC is not answered any more");
    let env = pair.udhcpc(&lab, &[]).expect("udhcpc answered after the hostile packets");
    assert_eq!(env_value(&env, "ip"), Some("10.77.0.11"));
    let daemon = pair.daemon.as_ref().unwrap();
    let curl = |url: String| {
        let o = pair.client.exec("curl").args(["-s", "--max-time", "10", &url]).output().unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    assert_eq!(curl(format!("http://{}/tftpboot/hello.txt", daemon.addr("HTTP"))), "hello\n");
    assert_eq!(curl(format!("tftp://{}/hello.txt", daemon.addr("TFTP"))), "hello\n");
    // Each kind of junk is logged once per sender, not once per packet.
    daemon.log_line("oxcatd: DHCP: packet from 10.77.0.2:67 dropped: hardware address length 17 (Ethernet's is 6)");
    daemon.log_line("oxcatd: DHCP: packet from 10.77.0.2:67 dropped: no DHCP magic cookie (99.130.83.99)");
    daemon.log_line("oxcatd: DHCP: packet from 10.77.0.2:67 dropped: hardware type ");
    let log = daemon.log();
    let dropped = log.lines().filter(|l| l.contains(" dropped: ")).count();
    assert!(dropped <= 6, "{dropped} lines for dropped packets (one per kind at most):\n{log}");
}

#[test]
fn a_naked_request_binds_no_lease_and_expired_ones_are_pruned() {
    if !available() {
        return;
    }
    let lab = Lab::new();
    let mut pair = Pair::new();
    pair.client.ip(&["addr", "add", "10.77.0.2/24", "dev", &pair.client_if]);
    lab.run(
        "mkdef",
        &["-t", "network", "-o", "lab", "net=10.77.0.0", "mask=255.255.255.0", "dynamicrange=10.77.0.200-10.77.0.210"],
    )
    .ok();
    lab.run("chdef", &["-t", "site", "master=10.77.0.1"]).ok();
    // A lease that ended in 1970, written by an older oxcatd: deleted once DHCP reads the table.
    lab.write(
        "dhcplease.csv",
        "#mac,ip,expires,state,comments,disable\n\"02:00:00:00:00:99\",\"10.77.0.201\",\"1000\",\"bound\",,\n",
    );
    lab.run("tabrestore", &["dhcplease.csv"]).ok();
    pair.start_daemon(&lab);
    let sock = pair.client.enter(|| std::net::UdpSocket::bind("10.77.0.2:67").unwrap());
    let stranger = [2, 0, 0, 0, 0, 7];
    // An address outside the range: NAKed, and nothing is written.
    sock.send_to(&relayed(stranger, 1, Some("10.77.0.99")), "10.77.0.1:67").unwrap();
    assert_eq!(answer_to(&sock, 1), Some(dhcproto::v4::MessageType::Nak));
    assert_eq!(lab.run("tabdump", &["dhcplease"]).ok().stdout, "#mac,ip,expires,state,comments,disable\n");
    // One in the range: ACKed and kept.
    sock.send_to(&relayed(stranger, 2, Some("10.77.0.205")), "10.77.0.1:67").unwrap();
    assert_eq!(answer_to(&sock, 2), Some(dhcproto::v4::MessageType::Ack));
    let rows = lab.run("tabdump", &["dhcplease"]).ok().stdout;
    assert!(rows.contains("\"02:00:00:00:00:07\",\"10.77.0.205\","), "{rows}");
}
