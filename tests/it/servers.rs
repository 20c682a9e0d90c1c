//! noderes.xcatmaster, tftpserver and nfsserver decide the server each node is told about, as in
//! xCAT: in its boot configs and kernel arguments (nodeset) and in its DHCP answers (oxcatd,
//! against busybox udhcpc). One server namespace on two networks, one client namespace on each,
//! joined by veth pairs the test creates and removes.

use crate::harness::{ip, Daemon, Lab, Netns};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// The server namespace with 10.77.0.1/24 towards client A and 10.78.0.1/24 towards client B.
struct TwoNets {
    server: Netns,
    clients: [(Netns, String); 2],
    server_ifs: [String; 2],
}

impl TwoNets {
    fn new() -> TwoNets {
        let id = format!("{}{}", std::process::id() % 100_000, NEXT.fetch_add(1, Ordering::SeqCst));
        let server = Netns::new(format!("oxsv{id}"));
        let mut clients = Vec::new();
        let mut server_ifs = Vec::new();
        for (side, addr) in [("a", "10.77.0.1/24"), ("b", "10.78.0.1/24")] {
            let client = Netns::new(format!("oxc{side}{id}"));
            let (sif, cif) = (format!("vs{side}{id}"), format!("vc{side}{id}"));
            ip(&["link", "add", &sif, "type", "veth", "peer", "name", &cif]);
            ip(&["link", "set", &sif, "netns", &server.0]);
            ip(&["link", "set", &cif, "netns", &client.0]);
            server.ip(&["addr", "add", addr, "dev", &sif]);
            server.ip(&["link", "set", &sif, "up"]);
            client.ip(&["link", "set", &cif, "up"]);
            clients.push((client, cif));
            server_ifs.push(sif);
        }
        let clients: [(Netns, String); 2] = clients.try_into().unwrap_or_else(|_| unreachable!());
        let server_ifs: [String; 2] = server_ifs.try_into().unwrap_or_else(|_| unreachable!());
        TwoNets { server, clients, server_ifs }
    }

    fn client_mac(&self, k: usize) -> String {
        let (ns, link) = &self.clients[k];
        let o = Command::new("ip").args(["-n", &ns.0, "-o", "link", "show", link]).output().unwrap();
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        text.split_whitespace().skip_while(|w| *w != "link/ether").nth(1).unwrap().to_string()
    }

    /// oxcatd's DHCP server in the server namespace, on both links.
    fn dhcp(&self, lab: &Lab) -> Daemon {
        lab.write(
            "dhcp.toml",
            &format!(
                "[http]\nenable = false\n[tftp]\nenable = false\n[dhcp]\nenable = true\ninterfaces = [\"{}\", \"{}\"]\n",
                self.server_ifs[0], self.server_ifs[1]
            ),
        );
        let mut cmd = self.server.exec(lab.path("bin/oxcatd"));
        cmd.args(["--config", lab.path("dhcp.toml").to_str().unwrap()]).env("OXCAT_DB", lab.db());
        Daemon::start(cmd)
    }

    /// busybox udhcpc once in client `k`'s namespace as an iPXE client: (siaddr, boot_file).
    fn ipxe_answer(&self, lab: &Lab, k: usize) -> (String, String) {
        let env = self.answer(lab, k);
        (value(&env, "siaddr"), value(&env, "boot_file"))
    }

    /// busybox udhcpc once in client `k`'s namespace as an iPXE client: what its script saw.
    fn answer(&self, lab: &Lab, k: usize) -> String {
        let (ns, link) = &self.clients[k];
        let out = lab.path(&format!("lease-{}", ns.0));
        let _ = std::fs::remove_file(&out);
        let script = lab.write("udhcpc.sh", "#!/bin/sh\n[ \"$1\" = bound ] && env > \"$LEASE_OUT\"\nexit 0\n");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let st = ns
            .exec("busybox")
            .args(["udhcpc", "-i", link, "-n", "-q", "-t", "3", "-T", "1", "-s"])
            .arg(&script)
            .args(["-V", "PXEClient", "-x", "0x4d:69505845"])
            .env("LEASE_OUT", &out)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success(), "client {k} got no answer");
        std::fs::read_to_string(&out).unwrap()
    }
}

/// A variable of udhcpc's script environment ("" when unset).
fn value(env: &str, key: &str) -> String {
    env.lines().find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('='))).unwrap_or("").to_string()
}

fn available() -> bool {
    crate::harness::peers(&["busybox", "ip"], "busybox iproute2")
}

/// The kernel arguments' server and the kernel's URL in a node's pxelinux config (`nodeset --show`).
fn boot_servers(o: &str, node: &str) -> (String, String) {
    let append = o.lines().find(|l| l.trim_start().starts_with("APPEND")).unwrap_or_else(|| panic!("{node}: {o}"));
    let kernel = o.lines().find(|l| l.trim_start().starts_with("KERNEL")).unwrap_or_else(|| panic!("{node}: {o}"));
    let server = append.split_whitespace().find_map(|w| w.strip_prefix("oxcat.server=")).unwrap_or("").to_string();
    (server, kernel.trim_start().trim_start_matches("KERNEL ").to_string())
}

fn show(lab: &Lab, node: &str) -> (String, String) {
    let o = lab.run("nodeset", &[node, "osimage=rocky9", "--show"]).ok().stdout;
    boot_servers(&o, node)
}

#[test]
fn each_node_is_told_its_own_server_in_configs_and_dhcp_answers() {
    if !available() {
        return;
    }
    let lab = Lab::new();
    let nets = TwoNets::new();
    lab.write("vmlinuz", "k");
    lab.write("initrd.img", "i");
    lab.run("addimage", &["rocky9", "--kernel", "vmlinuz", "--initrd", "initrd.img", "--arch", "x86_64"]).ok();
    let kernel = "/install/images/rocky9/kernel";
    // site.master is on network A; node b's master is the server's address on network B.
    lab.run("chdef", &["-t", "site", "master=10.77.0.1", &format!("tftpdir={}", lab.path("tftp").display())]).ok();
    let (mac_a, mac_b) = (nets.client_mac(0), nets.client_mac(1));
    lab.run("mkdef", &["a1", "groups=compute", &format!("mac={mac_a}"), "ip=10.77.0.11", "xcatmaster=10.77.0.1"]).ok();
    lab.run("mkdef", &["b1", "groups=compute", &format!("mac={mac_b}"), "ip=10.78.0.11", "xcatmaster=10.78.0.1"]).ok();

    // Boot configs: the kernel arguments and the image URLs name each node's own master.
    assert_eq!(show(&lab, "a1"), ("http://10.77.0.1:80".into(), format!("http://10.77.0.1:80{kernel}")));
    assert_eq!(show(&lab, "b1"), ("http://10.78.0.1:80".into(), format!("http://10.78.0.1:80{kernel}")));
    // `<xcatmaster>` as a network's nameserver is the server's own address on that network; as
    // its gateway, the same where the server forwards IPv4 (not in a new namespace), else none.
    for (name, net) in [("neta", "10.77.0.0"), ("netb", "10.78.0.0")] {
        let n = ["-t", "network", "-o", name, &format!("net={net}"), "mask=255.255.255.0"];
        lab.run("mkdef", &[&n[..], &["gateway=<xcatmaster>", "nameservers=<xcatmaster>,10.9.9.53"]].concat()).ok();
    }
    // DHCP: next-server and the iPXE script's URL too.
    let daemon = nets.dhcp(&lab);
    let env = nets.answer(&lab, 1);
    assert_eq!((value(&env, "dns"), value(&env, "router")), ("10.78.0.1 10.9.9.53".into(), String::new()));
    assert_eq!(nets.ipxe_answer(&lab, 0), ("10.77.0.1".into(), "http://10.77.0.1:80/tftpboot/ipxe/a1.ipxe".into()));
    assert_eq!(nets.ipxe_answer(&lab, 1), ("10.78.0.1".into(), "http://10.78.0.1:80/tftpboot/ipxe/b1.ipxe".into()));
    assert!(lab.run("makedhcp", &["-q", "b1"]).ok().stdout.contains("next-server = 10.78.0.1,"));

    // tftpserver decides next-server (read again without a restart), and the image server
    // unless nfsserver names another; `<xcatmaster>` means the node's master; the kernel
    // arguments keep naming the master.
    lab.run("chdef", &["b1", "tftpserver=10.78.0.5", "nfsserver=<xcatmaster>"]).ok();
    assert_eq!(nets.ipxe_answer(&lab, 1), ("10.78.0.5".into(), "http://10.78.0.5:80/tftpboot/ipxe/b1.ipxe".into()));
    assert_eq!(show(&lab, "b1"), ("http://10.78.0.1:80".into(), format!("http://10.78.0.5:80{kernel}")));
    lab.run("chdef", &["b1", "nfsserver=10.78.0.9", "tftpserver=<xcatmaster>"]).ok();
    assert_eq!(nets.ipxe_answer(&lab, 1), ("10.78.0.1".into(), "http://10.78.0.1:80/tftpboot/ipxe/b1.ipxe".into()));
    assert_eq!(show(&lab, "b1"), ("http://10.78.0.1:80".into(), format!("http://10.78.0.9:80{kernel}")));
    // The node's postscript environment names the same servers.
    let store = oxcat::store::Store::open(&lab.db()).unwrap();
    let env = oxcat::postscript::mypostscript(store.conn(), "b1").unwrap().unwrap();
    assert!(env.contains("\nMASTER='10.78.0.1'\n") && env.contains("\nNFSSERVER='10.78.0.9'\n"), "{env}");
    drop(store);
    // Without xcatmaster, a node's master is the server's address on its network: site.master
    // where that is on it (a1), else the server's own address there (b1: a multi-homed
    // management node, xCAT's my_ip_facing), as DHCP answers...
    lab.run("chdef", &["a1,b1", "xcatmaster=", "nfsserver=", "tftpserver="]).ok();
    assert_eq!(nets.ipxe_answer(&lab, 0).0, "10.77.0.1");
    assert_eq!(nets.ipxe_answer(&lab, 1).0, "10.78.0.1");
    drop(daemon);
    // ...and nodeset, run where those addresses are (the server namespace)...
    let in_ns = |ns: &Netns| {
        let o = ns
            .exec(lab.path("bin/nodeset"))
            .args(["a1,b1", "osimage=rocky9", "--show"])
            .env("OXCAT_DB", lab.db())
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        let server = |node: &str| {
            let key = format!("oxcat.node={node} oxcat.server=");
            text.split(key.as_str()).nth(1).and_then(|r| r.split_whitespace().next()).unwrap_or("").to_string()
        };
        (server("a1"), server("b1"))
    };
    assert_eq!(in_ns(&nets.server), ("http://10.77.0.1:80".into(), "http://10.78.0.1:80".into()));
    // ...where this machine has no address on the node's network, site.master.
    assert_eq!(in_ns(&nets.clients[0].0), ("http://10.77.0.1:80".into(), "http://10.77.0.1:80".into()));
    let st = nets.server.exec("sh").args(["-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"]).status().unwrap();
    assert!(st.success());
    let daemon = nets.dhcp(&lab);
    assert_eq!(value(&nets.answer(&lab, 0), "router"), "10.77.0.1");
    assert_eq!(value(&nets.answer(&lab, 1), "router"), "10.78.0.1");
    drop(daemon);

    // Without site.master, the server's own address on each node's network.
    lab.run("chdef", &["-t", "site", "master="]).ok();
    assert_eq!(in_ns(&nets.server), ("http://10.77.0.1:80".into(), "http://10.78.0.1:80".into()));
    // Where no address of this machine is on its network either, the node's error says what to set.
    let o = nets.clients[0]
        .0
        .exec(lab.path("bin/nodeset"))
        .args(["b1", "osimage=rocky9"])
        .env("OXCAT_DB", lab.db())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "b1: Error: no server for it: noderes.xcatmaster and site.master are not set and this machine has no \
         address on the network of 10.78.0.11 (chdef -t site master=ADDRESS, the management node's address as the \
         nodes see it)\n"
    );
}
