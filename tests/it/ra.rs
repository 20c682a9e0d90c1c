//! oxcatd's empty router advertisements ([dhcp] ipv6_ra) against rdisc6 (ndisc6), in two network
//! namespaces joined by a veth pair the test creates and removes. No traffic leaves them.

use crate::harness::{ip, peers, Daemon, Lab, Netns};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// oxcatd (DHCP on the server end, with `extra` in [dhcp]) and the client's namespace and link.
struct Link {
    server: Netns,
    client: Netns,
    sif: String,
    cif: String,
    _lab: Lab,
    daemon: Daemon,
}

/// Waits until `dev` in `ns` has a link-local address that is no longer tentative (DAD done).
fn link_local_ready(ns: &Netns, dev: &str) {
    for _ in 0..100 {
        let o =
            Command::new("ip").args(["-n", &ns.0, "-6", "addr", "show", "dev", dev, "scope", "link"]).output().unwrap();
        let text = String::from_utf8_lossy(&o.stdout);
        if text.contains("fe80::") && !text.contains("tentative") {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("{dev} in {} got no link-local address", ns.0);
}

fn link(extra: &str) -> Option<Link> {
    if !peers(&["rdisc6", "ip"], "ndisc6, iproute2") {
        return None;
    }
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let id = format!("{}{n}", std::process::id() % 100_000);
    let (server, client) = (Netns::new(format!("oxrs{id}")), Netns::new(format!("oxrc{id}")));
    let (sif, cif) = (format!("vrs{id}"), format!("vrc{id}"));
    ip(&["link", "add", &sif, "type", "veth", "peer", "name", &cif]);
    ip(&["link", "set", &sif, "netns", &server.0]);
    ip(&["link", "set", &cif, "netns", &client.0]);
    server.ip(&["addr", "add", "10.78.0.1/24", "dev", &sif]);
    server.ip(&["link", "set", &sif, "up"]);
    client.ip(&["link", "set", &cif, "up"]);
    link_local_ready(&server, &sif);
    link_local_ready(&client, &cif);
    let lab = Lab::new();
    lab.write(
        "ra.toml",
        &format!(
            "[http]\nenable = false\n[tftp]\nenable = false\n[dhcp]\nenable = true\nserver = \"10.78.0.1\"\ninterfaces = [\"{sif}\"]\n{extra}"
        ),
    );
    let mut cmd = server.exec(lab.path("bin/oxcatd"));
    cmd.args(["--config", lab.path("ra.toml").to_str().unwrap()]).env("OXCAT_DB", lab.db());
    let daemon = Daemon::start(cmd);
    Some(Link { server, client, sif, cif, _lab: lab, daemon })
}

impl Link {
    /// rdisc6 on the client's link: one answer, up to `tries` solicitations a second apart.
    fn rdisc6(&self, tries: &str) -> Output {
        self.client.exec("rdisc6").args(["-1", "-w", "1000", "-r", tries, &self.cif]).output().unwrap()
    }

    /// The server end's link-local address.
    fn server_link_local(&self) -> String {
        let o = Command::new("ip")
            .args(["-n", &self.server.0, "-6", "-o", "addr", "show", "dev", &self.sif, "scope", "link"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        let addr = text.split_whitespace().skip_while(|w| *w != "inet6").nth(1).unwrap();
        addr.split('/').next().unwrap().to_string()
    }
}

/// rdisc6's value for `field` (the text after the colon).
fn field<'a>(out: &'a str, name: &str) -> &'a str {
    out.lines()
        .find(|l| l.trim_start().starts_with(name))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim())
        .unwrap_or_else(|| panic!("no {name} in rdisc6's output:\n{out}"))
}

#[test]
fn router_solicitations_get_an_advertisement_that_configures_nothing() {
    let Some(l) = link("") else { return };
    assert!(
        l.daemon.lines.iter().any(|x| x == &format!("oxcatd: IPv6 RA on {} (empty)", l.sif)),
        "{:?}",
        l.daemon.lines
    );
    let o = l.rdisc6("5");
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "no advertisement: {out}{}", String::from_utf8_lossy(&o.stderr));
    // rdisc6 takes only advertisements with hop limit 255 and a valid checksum.
    assert_eq!(field(&out, "Hop limit"), "undefined (      0x00)");
    assert_eq!(field(&out, "Stateful address conf."), "No");
    assert_eq!(field(&out, "Stateful other conf."), "No");
    assert_eq!(field(&out, "Router lifetime"), "0 (0x00000000) seconds");
    assert!(!out.contains("Prefix"), "{out}");
    let mac = Command::new("ip").args(["-n", &l.server.0, "-o", "link", "show", &l.sif]).output().unwrap();
    let mac = String::from_utf8_lossy(&mac.stdout)
        .split_whitespace()
        .skip_while(|w| *w != "link/ether")
        .nth(1)
        .unwrap()
        .to_string();
    assert_eq!(field(&out, "Source link-layer address").to_lowercase(), mac);
    let from = out.lines().find_map(|x| x.trim().strip_prefix("from ")).unwrap_or_else(|| panic!("{out}"));
    assert_eq!(from.split('%').next().unwrap(), l.server_link_local());
    l.daemon.log_line(&format!("oxcatd: RA: empty router advertisement on {} from fe80::", l.sif));
}

#[test]
fn ipv6_ra_off_answers_no_solicitation() {
    let Some(l) = link("ipv6_ra = \"off\"\n") else { return };
    assert!(!l.daemon.lines.iter().any(|x| x.contains("RA")), "{:?}", l.daemon.lines);
    let o = l.rdisc6("2");
    assert!(!o.status.success(), "an advertisement came: {}", String::from_utf8_lossy(&o.stdout));
}

/// Where another router advertises, oxcatd stops answering on that link and says so.
#[test]
fn another_router_on_the_link_silences_the_advertisements() {
    let Some(l) = link("") else { return };
    // A router's advertisement from the client's side (lifetime 1800 s), hop limit 255.
    let script = format!(
        "import socket\ns = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)\n\
         s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)\n\
         s.sendto(bytes([134, 0, 0, 0, 64, 0, 0x07, 0x08] + [0] * 8), ('ff02::1', 0, 0, socket.if_nametoindex('{}')))\n",
        l.cif
    );
    let o = l.client.exec("python3").args(["-c", &script]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let line = l.daemon.log_line(&format!("oxcatd: RA: {}: router fe80::", l.sif));
    assert!(
        line.ends_with("advertises on this network: not answering router solicitations there ([dhcp] ipv6_ra)"),
        "{line}"
    );
    let o = l.rdisc6("2");
    let out = String::from_utf8_lossy(&o.stdout);
    // rdisc6 may see nothing, never an advertisement of oxcatd's.
    assert!(!o.status.success(), "oxcatd still answered: {out}");
}
