//! Whole network boots: a QEMU VM (SeaBIOS, its iPXE ROM, Debian's cloud kernel and a busybox
//! initramfs built by tests/lab/vmimage.sh) boots from oxcatd inside a network namespace of the
//! test's own: DHCP, the per-node iPXE script rendered from `nodeset`, kernel and initrd over HTTP
//! from the image store, then `postscripts/oxcatpost` fetched and run by the node, which runs the
//! node's postscripts and reports its status, and the node's pxelinux config over TFTP. No
//! traffic leaves the namespaces.

use crate::harness::{ip, peers, Daemon, Lab, Netns};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

static NEXT: AtomicU32 = AtomicU32::new(0);
const MAC: &str = "52:54:00:12:34:01";

pub(crate) fn unique() -> String {
    format!("{}{}", std::process::id() % 100_000, NEXT.fetch_add(1, Ordering::SeqCst))
}

fn available() -> bool {
    peers(
        &["qemu-system-x86_64", "cpio", "apt-get", "busybox", "ip"],
        "qemu-system-x86, ipxe-qemu, cpio, busybox, iproute2",
    )
}

/// The guest kernel and initramfs, built once per target directory.
fn guest() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("vmlab");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/lab/vmimage.sh");
    // Tests run in parallel: one builds, the others wait on the lock.
    static BUILD: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _g = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let o = Command::new("sh").arg(script).arg(&dir).output().unwrap();
    assert!(o.status.success(), "vmimage.sh: {}", String::from_utf8_lossy(&o.stderr));
    dir
}

/// A lab whose node n1 (MAC above, serial console on ttyS0) is set to net-boot the guest image,
/// with `postscripts` in the served postscripts directory beside oxcatpost.
fn lab_with_node(postscripts: &[(&str, &str)], list: &str) -> Lab {
    let lab = Lab::new();
    let guest = guest();
    let post = lab.path("postscripts");
    std::fs::create_dir_all(&post).unwrap();
    std::fs::copy(concat!(env!("CARGO_MANIFEST_DIR"), "/postscripts/oxcatpost"), post.join("oxcatpost")).unwrap();
    for (name, body) in postscripts {
        std::fs::write(post.join(name), body).unwrap();
    }
    let tftp = lab.path("tftp");
    std::fs::create_dir_all(&tftp).unwrap();
    lab.run("chdef", &["-t", "site", "master=10.99.0.1", &format!("tftpdir={}", tftp.display())]).ok();
    lab.run("mkdef", &["-t", "network", "-o", "vmnet", "net=10.99.0.0", "mask=255.255.255.0"]).ok();
    let mac = format!("mac={MAC}");
    let ps = format!("postscripts={list}");
    lab.run("mkdef", &["n1", "groups=compute", &mac, "ip=10.99.0.11", "serialport=0", &ps]).ok();
    let (k, i) = (guest.join("vmlinuz"), guest.join("initrd.img"));
    lab.run("addimage", &["guest", "--kernel", k.to_str().unwrap(), "--initrd", i.to_str().unwrap()]).ok();
    lab.run("nodeset", &["n1", "osimage=guest"]).ok().stdout_is("n1: netboot guest\n");
    lab
}

/// oxcatd in `ns`, HTTP and TFTP on 10.99.0.1, DHCP (or proxyDHCP) tied to `iface`.
pub(crate) fn start_oxcatd(lab: &Lab, ns: &Netns, iface: &str, proxy: bool) -> Daemon {
    start_oxcatd_with_ra(lab, ns, iface, proxy, None)
}

/// As `start_oxcatd`, with `[dhcp] ipv6_ra` set to `ipv6_ra` ("empty" or "off") when given.
pub(crate) fn start_oxcatd_with_ra(lab: &Lab, ns: &Netns, iface: &str, proxy: bool, ipv6_ra: Option<&str>) -> Daemon {
    let mut config = format!(
        "postscripts = \"{}\"\n[http]\nlisten = [\"10.99.0.1:80\"]\n[tftp]\nlisten = [\"10.99.0.1:69\"]\n\
         [dhcp]\nenable = true\nproxy = {proxy}\ninterfaces = [\"{iface}\"]\n",
        lab.path("postscripts").display()
    );
    if let Some(ra) = ipv6_ra {
        config.push_str(&format!("ipv6_ra = \"{ra}\"\n"));
    }
    lab.write("oxcat.toml", &config);
    let mut cmd = ns.exec(lab.path("bin/oxcatd"));
    cmd.arg("--config").arg(lab.path("oxcat.toml")).env("OXCAT_DB", lab.db());
    Daemon::start(cmd)
}

/// The boot network: a namespace whose tap (for the VM) holds 10.99.0.1, where oxcatd serves
/// DHCP, HTTP and TFTP.
pub(crate) fn boot_network(lab: &Lab) -> (Netns, String, Daemon) {
    let ns = Netns::new(format!("oxvm{}", unique()));
    let tap_name = format!("tap{}", unique());
    tap(&ns, &tap_name);
    ns.ip(&["addr", "add", "10.99.0.1/24", "dev", &tap_name]);
    let daemon = start_oxcatd(lab, &ns, &tap_name, false);
    (ns, tap_name, daemon)
}

/// A tap device in `ns` for QEMU to open.
pub(crate) fn tap(ns: &Netns, name: &str) {
    ns.ip(&["tuntap", "add", name, "mode", "tap"]);
    ns.ip(&["link", "set", name, "up"]);
}

/// QEMU's arguments for the node: 256 MiB, serial console into `console`, its NIC on `tap`, first
/// boot device the network (SeaBIOS then runs the NIC's iPXE ROM), powered off by a reboot.
fn qemu_args(console: &std::path::Path, tap: &str) -> Vec<String> {
    let mut args: Vec<String> =
        ["-accel", "tcg", "-m", "256", "-display", "none", "-vga", "none", "-nodefaults", "-no-user-config"]
            .map(String::from)
            .into();
    args.push("-serial".into());
    args.push(format!("file:{}", console.display()));
    // SeaBIOS and iPXE write to the serial log through sga as well.
    args.extend(["-device", "sga", "-boot", "order=n", "-no-reboot"].map(String::from));
    args.extend(["-netdev".into(), format!("tap,id=n0,ifname={tap},script=no,downscript=no")]);
    args.extend(["-device".into(), format!("virtio-net-pci,netdev=n0,mac={MAC}")]);
    args
}

/// The serial log without terminal escapes (sga draws iPXE's banner with them).
pub(crate) fn console_text(console: &std::path::Path) -> String {
    let raw = std::fs::read(console).unwrap_or_default();
    let text = String::from_utf8_lossy(&raw);
    let escapes = regex::Regex::new(r"\x1b\[[0-9;?]*[A-Za-z]").unwrap();
    // What is left of cursor movement (carriage returns, backspaces) goes too.
    escapes.replace_all(&text, "").chars().filter(|c| *c == '\n' || !c.is_control()).collect()
}

/// A QEMU VM whose serial console goes to a file; killed on drop.
pub(crate) struct Vm {
    child: Child,
    pub(crate) console: PathBuf,
    pub(crate) started: Instant,
}

impl Vm {
    /// Starts `cmd` (QEMU with its arguments, writing its serial console into `console`).
    pub(crate) fn spawn(mut cmd: Command, console: PathBuf) -> Vm {
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        Vm { child: cmd.spawn().expect("qemu starts"), console, started: Instant::now() }
    }

    /// Waits for the guest to power off (the guests' inits end with `poweroff -f`); the console
    /// text. Past `limit` the VM is killed and the test fails with its console.
    pub(crate) fn wait(&mut self, limit: Duration) -> String {
        while self.child.try_wait().unwrap().is_none() {
            if self.started.elapsed() > limit {
                let _ = self.child.kill();
                panic!("the VM did not power off within {limit:?}; console:\n{}", self.console_text());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        // The boot time under TCG, for the record (`--nocapture` shows it).
        eprintln!("powered off after {:.1} s", self.started.elapsed().as_secs_f64());
        self.console_text()
    }

    /// Stops the VM (one that does not power off by itself); the console text.
    pub(crate) fn stop(&mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.console_text()
    }

    pub(crate) fn console_text(&self) -> String {
        console_text(&self.console)
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A VM that network-boots from `tap` in `ns`.
fn boot_vm(lab: &Lab, ns: &Netns, tap: &str) -> Vm {
    let console = lab.path("console.log");
    let mut cmd = ns.exec("qemu-system-x86_64");
    cmd.args(qemu_args(&console, tap));
    Vm::spawn(cmd, console)
}

/// Boots may take minutes on a loaded 2-core machine (TCG, no KVM).
const BOOT_LIMIT: Duration = Duration::from_secs(480);

#[track_caller]
pub(crate) fn assert_lines(console: &str, wanted: &[&str]) {
    for w in wanted {
        assert!(console.lines().any(|l| l.trim() == *w), "no line {w:?} on the console:\n{console}");
    }
}

fn status_of(lab: &Lab) -> String {
    lab.run("lsdef", &["n1", "-i", "status", "-c"]).ok().stdout
}

/// A postscript that shows what mypostscript gave it.
const HELLO: &str = "#!/bin/sh\necho \"hello from $NODE, image $PROVMETHOD, server $MASTER\"\n";

#[test]
fn vm_boots_from_oxcatd_runs_its_postscripts_and_reports_booted() {
    if !available() {
        return;
    }
    let lab = lab_with_node(&[("hello", HELLO)], "hello");
    let (ns, tap_name, _daemon) = boot_network(&lab);

    let mut vm = boot_vm(&lab, &ns, &tap_name);
    let console = vm.wait(BOOT_LIMIT);
    assert_lines(
        &console,
        &[
            // iPXE got its reservation and, being iPXE, the node's script rendered from nodeset.
            "net0: 10.99.0.11/255.255.255.0",
            "Filename: http://10.99.0.1:80/tftpboot/ipxe/n1.ipxe",
            "oxcat: n1: netboot guest",
            // Linux's own DHCP client got the same reservation.
            "oxcat-lab: lease 10.99.0.11",
            "oxcatpost: hello: running",
            "hello: hello from n1, image guest, server 10.99.0.1",
            "oxcatpost: hello: ok",
            "oxcatpost: n1: booted",
            "oxcat-lab: oxcatpost exit 0",
            // busybox tftp on the node, across the boot network, gets the config oxcatd renders,
            // until the node reports booted: then its token is spent.
            "oxcat-lab: tftp pxelinux.cfg/01-52-54-00-12-34-01: #oxcat nodeset: netboot guest",
            "oxcat-lab: after the boot, tftp pxelinux.cfg/01-52-54-00-12-34-01 failed",
        ],
    );
    for file in ["kernel", "initrd"] {
        // iPXE shows progress ("98%") before "ok" when a download takes a while.
        let url = format!("http://10.99.0.1:80/install/images/guest/{file}...");
        assert!(
            console.lines().any(|l| l.trim().starts_with(&url) && l.trim().ends_with(" ok")),
            "{file} was not fetched from the image store:\n{console}"
        );
    }
    assert_eq!(status_of(&lab), "n1: status=booted\n");
}

#[test]
fn vm_boots_through_proxy_dhcp_beside_another_dhcp_server_and_reports_a_failed_postscript() {
    if !available() {
        return;
    }
    let broken = "#!/bin/sh\necho 'cannot configure the frobnicator' >&2\nexit 3\n";
    let lab = lab_with_node(&[("hello", HELLO), ("broken", broken)], "broken,hello");
    // The boot network is a bridge: the VM's tap and a veth to the namespace of the site's own
    // DHCP server (busybox udhcpd), which hands out addresses and knows nothing of booting.
    let id = unique();
    let ns = Netns::new(format!("oxvm{id}"));
    let other = Netns::new(format!("oxdh{id}"));
    let (br, tap_name, vs, vd) = (format!("br{id}"), format!("tap{id}"), format!("vs{id}"), format!("vd{id}"));
    ns.ip(&["link", "add", &br, "type", "bridge"]);
    ns.ip(&["addr", "add", "10.99.0.1/24", "dev", &br]);
    ns.ip(&["link", "set", &br, "up"]);
    tap(&ns, &tap_name);
    ns.ip(&["link", "set", &tap_name, "master", &br]);
    ip(&["link", "add", &vs, "type", "veth", "peer", "name", &vd]);
    ip(&["link", "set", &vs, "netns", &ns.0]);
    ip(&["link", "set", &vd, "netns", &other.0]);
    ns.ip(&["link", "set", &vs, "master", &br]);
    ns.ip(&["link", "set", &vs, "up"]);
    other.ip(&["addr", "add", "10.99.0.2/24", "dev", &vd]);
    other.ip(&["link", "set", &vd, "up"]);
    let conf = lab.write(
        "udhcpd.conf",
        &format!(
            "start 10.99.0.100\nend 10.99.0.150\ninterface {vd}\nlease_file {}\npidfile {}\n\
             option subnet 255.255.255.0\noption lease 600\n",
            lab.path("udhcpd.leases").display(),
            lab.path("udhcpd.pid").display()
        ),
    );
    std::fs::write(lab.path("udhcpd.leases"), b"").unwrap();
    struct Killed(Child);
    impl Drop for Killed {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _udhcpd = Killed(
        other
            .exec("busybox")
            .args(["udhcpd", "-f"])
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let daemon = start_oxcatd(&lab, &ns, &br, true);
    assert!(daemon.lines.iter().any(|l| l.starts_with("oxcatd: proxyDHCP on ")), "{:?}", daemon.lines);

    let mut vm = boot_vm(&lab, &ns, &tap_name);
    let console = vm.wait(BOOT_LIMIT);
    // The address is udhcpd's (from its range, not the node's reservation); the next server and
    // boot file are oxcatd's proxyDHCP answer (udhcpd names neither).
    let addr = console
        .lines()
        .find_map(|l| l.trim().strip_prefix("net0: 10.99.0.").and_then(|r| r.strip_suffix("/255.255.255.0")))
        .unwrap_or_else(|| panic!("iPXE got no address:\n{console}"));
    let host: u8 = addr.parse().unwrap();
    assert!((100..=150).contains(&host), "address 10.99.0.{host} is not from udhcpd's range");
    assert_lines(
        &console,
        &[
            "Next server: 10.99.0.1",
            "Filename: http://10.99.0.1:80/tftpboot/ipxe/n1.ipxe",
            "oxcat: n1: netboot guest",
            // A failing postscript is reported, the next still runs, and the node is marked failed.
            "broken: cannot configure the frobnicator",
            "oxcatpost: broken: failed with exit status 3",
            "oxcatpost: hello: ok",
            "oxcatpost: n1: failed (see /var/log/oxcat/oxcatpost.log)",
            "oxcat-lab: oxcatpost exit 1",
        ],
    );
    assert_eq!(status_of(&lab), "n1: status=failed\n");
}

/// chassis_control for a BMC whose server is a QEMU VM (LAB.md): the power state is whether the
/// VM's process is alive; power on starts `DIR/qemu.sh` (QEMU daemonized, pid in DIR/qemu.pid),
/// power off, reset and soft-off stop it (the guest has no ACPI handler, and reset is off then on).
/// The boot device is kept for qemu.sh, which boots from the network either way.
pub(crate) const VM_CHASSIS_CONTROL: &str = r#"#!/bin/sh
dir=$1; shift
op=$1; shift
alive() {
	[ -f "$dir/qemu.pid" ] && read -r pid <"$dir/qemu.pid" && kill -0 "$pid" 2>/dev/null
}
stop() {
	alive || return 0
	kill "$pid"
	for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do alive || return 0; sleep 0.1; done
	kill -9 "$pid"
}
case "$op" in
get)
	for what in "$@"; do
		case $what in
		power) if alive; then echo "power:1"; else echo "power:0"; fi ;;
		boot) b=default; [ -f "$dir/boot" ] && read -r b <"$dir/boot"; echo "boot:$b" ;;
		esac
	done ;;
set)
	while [ $# -ge 2 ]; do
		case $1 in
		power) if [ "$2" = 1 ]; then alive || sh "$dir/qemu.sh"; else stop; fi ;;
		boot) echo "$2" >"$dir/boot" ;;
		reset) stop; sh "$dir/qemu.sh" ;;
		shutdown) stop ;;
		esac
		shift 2
	done ;;
esac
"#;

#[test]
fn rpower_on_boots_the_vm_through_its_bmc_and_the_node_reports_booted() {
    if !available() || !crate::bmcsim::available() {
        return;
    }
    let lab = lab_with_node(&[("hello", HELLO)], "hello");
    let (ns, tap_name, _daemon) = boot_network(&lab);
    // The node's BMC is a simulated one (on loopback) whose power control runs the VM.
    let bmc = crate::bmcsim::Bmc::start_controlling(lab.dir.path(), Some(VM_CHASSIS_CONTROL));
    let console = bmc.dir.join("console.log");
    let _off = vm_behind_bmc(&lab, &bmc, &ns.0, qemu_args(&console, &tap_name), &[]);

    lab.run("rpower", &["n1", "stat"]).ok().stdout_is("n1: off\n");
    lab.run("rsetboot", &["n1", "net"]).ok().stdout_is("n1: Network\n");
    lab.run("rpower", &["n1", "on"]).ok().stdout_is("n1: on\n");
    // The node boots, runs its postscripts, reports, and powers itself off; the BMC sees it go.
    let start = Instant::now();
    loop {
        let power = lab.run("rpower", &["n1", "stat"]).ok().stdout;
        if power == "n1: off\n" {
            break;
        }
        assert_eq!(power, "n1: on\n");
        assert!(start.elapsed() < BOOT_LIMIT, "still on after {BOOT_LIMIT:?}; console:\n{}", console_text(&console));
        std::thread::sleep(Duration::from_secs(1));
    }
    let text = console_text(&console);
    assert_lines(
        &text,
        &["oxcat: n1: netboot guest", "hello: hello from n1, image guest, server 10.99.0.1", "oxcatpost: n1: booted"],
    );
    assert_eq!(status_of(&lab), "n1: status=booted\n");
}

/// Issue 10 on a real boot: the guest (booted with `oxcat.lab.ssh`) starts dropbear with a new
/// host key; oxcatpost reports that key with the node's boot token and installs the cluster key
/// (made by nodeset). xdsh and updatenode, from the boot network, then verify the node against
/// the recorded key with no --accept-hostkey; a stored key that no longer matches is refused.
#[test]
fn vm_s_dropbear_host_key_is_recorded_at_boot_then_xdsh_and_updatenode_verify_it() {
    if !available() {
        return;
    }
    let lab = lab_with_node(&[("hello", HELLO)], "hello");
    lab.run("chdef", &["n1", "addkcmdline=oxcat.lab.ssh"]).ok();
    lab.run("nodeset", &["n1", "osimage=guest"]).ok();
    let (ns, tap_name, _daemon) = boot_network(&lab);
    let mut vm = boot_vm(&lab, &ns, &tap_name);
    while !vm.console_text().lines().any(|l| l.trim() == "oxcat-lab: up until /tmp/poweroff") {
        assert!(vm.started.elapsed() < BOOT_LIMIT, "the VM did not come up; console:\n{}", vm.console_text());
        std::thread::sleep(Duration::from_millis(500));
    }
    let console = vm.console_text();
    assert_lines(&console, &["oxcatpost: hello: ok", "oxcatpost: n1: booted"]);
    let key = console
        .lines()
        .find_map(|l| l.trim().strip_prefix("oxcat-lab: dropbear "))
        .unwrap_or_else(|| panic!("dropbear did not start; console:\n{console}"))
        .to_string();
    assert!(key.starts_with("ssh-ed25519 AAAA"), "{key}");
    // The key the node reported at boot is the one its dropbear serves.
    let dump = lab.run("tabdump", &["hostkeys"]).ok().stdout;
    assert!(dump.contains(&format!("\"n1\",\"{key}\",")), "{dump}");
    assert!(dump.contains(" boot\","), "{dump}");

    let xdsh = |args: &[&str]| ns.enter(|| lab.run("xdsh", args));
    let o = xdsh(&["n1", "-t", "120", "-z", "ls /etc/dropbear; exit 3"]).fails(1);
    assert_eq!(o.stdout, "n1: dropbear_ed25519_host_key\nn1: Remote_command_rc = 3\n");
    // updatenode re-runs the node's postscript over the same verified session, as oxcatpost does.
    let o = ns.enter(|| {
        lab.cmd("updatenode").args(["n1", "-t", "120"]).env("OXCAT_CONFIG", lab.path("oxcat.toml")).output().unwrap()
    });
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{stdout}{}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout.contains("n1: hello: hello from n1, image guest, server 10.99.0.1\n"), "{stdout}");
    assert!(stdout.contains("n1: oxcatpost: hello: ok\n"), "{stdout}");
    assert_eq!(status_of(&lab), "n1: status=booted\n");
    // A node running without the cluster key: refused, until -K logs in with root's password
    // (DSH_REMOTE_PASSWORD; the guest's is oxcat-lab) and installs it; updatenode -k likewise.
    let store = oxcat::store::Store::open(&lab.db()).unwrap();
    let cluster = oxcat::remote::keys::public_line(store.conn()).unwrap().expect("nodeset made the cluster key");
    xdsh(&["n1", "cat /root/.ssh/authorized_keys"]).ok().stdout_is(&format!("n1: {cluster}\n"));
    for setup in [["xdsh", "-K"], ["updatenode", "-k"]] {
        xdsh(&["n1", "rm /root/.ssh/authorized_keys"]).ok();
        let o = xdsh(&["n1", "true"]).fails(1);
        assert!(o.stderr.contains("refused the cluster key: install it with 'xdsh n1 -K'"), "{o:?}");
        let o = ns.enter(|| {
            lab.cmd(setup[0])
                .args(["n1", setup[1], "-t", "120"])
                .env("DSH_REMOTE_PASSWORD", "oxcat-lab")
                .output()
                .unwrap()
        });
        assert!(o.status.success(), "{setup:?}: {}", String::from_utf8_lossy(&o.stderr));
        xdsh(&["n1", "cat /root/.ssh/authorized_keys"]).ok().stdout_is(&format!("n1: {cluster}\n"));
    }
    // A stored key that is not the one the node presents (a reinstall whose report was lost): refused.
    let other = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIByr1GwFaYuUKCwDKJuhAoSLO10UtO+/y2NToKF3OPM1";
    lab.run("chtab", &["node=n1", &format!("hostkeys.keys={other}")]).ok();
    let o = xdsh(&["n1", "-t", "120", "touch /tmp/poweroff"]).fails(1);
    assert!(o.stderr.starts_with("n1: Error: host key mismatch: n1 presented ssh-ed25519 SHA256:"), "{o:?}");
    // The right key again: verified, and the node is told to power off.
    lab.run("chtab", &["node=n1", &format!("hostkeys.keys={key}")]).ok();
    xdsh(&["n1", "-t", "120", "touch /tmp/poweroff && echo bye"]).ok().stdout_is("n1: bye\n");
    vm.wait(BOOT_LIMIT);
}

/// The node's serial line between QEMU and its BMC: ipmi_sim's SOL connects (once, at its start)
/// to a TCP listener on loopback; QEMU, in the boot network's namespace where that loopback is
/// not reachable, connects its serial port to a unix socket. Bytes are relayed both ways.
struct SerialRelay {
    tcp: String,
    unix: PathBuf,
}

impl SerialRelay {
    fn start(unix: PathBuf) -> SerialRelay {
        use std::io::{Read, Write};
        let bmc_side = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let tcp = format!("tcp:{}", bmc_side.local_addr().unwrap());
        let vm_side = std::os::unix::net::UnixListener::bind(&unix).unwrap();
        let bmc_conn: std::sync::Arc<std::sync::Mutex<Option<std::net::TcpStream>>> = Default::default();
        let vm_conn: std::sync::Arc<std::sync::Mutex<Option<std::os::unix::net::UnixStream>>> = Default::default();
        let (b, v) = (bmc_conn.clone(), vm_conn.clone());
        std::thread::spawn(move || {
            for s in bmc_side.incoming() {
                let Ok(mut s) = s else { return };
                *b.lock().unwrap() = Some(s.try_clone().unwrap());
                let v = v.clone();
                std::thread::spawn(move || {
                    let mut buf = [0u8; 4096];
                    while let Ok(n @ 1..) = s.read(&mut buf) {
                        if let Some(vm) = v.lock().unwrap().as_mut() {
                            let _ = vm.write_all(&buf[..n]);
                        }
                    }
                });
            }
        });
        let (b, v) = (bmc_conn, vm_conn);
        std::thread::spawn(move || {
            for s in vm_side.incoming() {
                let Ok(mut s) = s else { return };
                *v.lock().unwrap() = Some(s.try_clone().unwrap());
                let b = b.clone();
                std::thread::spawn(move || {
                    let mut buf = [0u8; 4096];
                    while let Ok(n @ 1..) = s.read(&mut buf) {
                        if let Some(bmc) = b.lock().unwrap().as_mut() {
                            let _ = bmc.write_all(&buf[..n]);
                        }
                    }
                });
            }
        });
        SerialRelay { tcp, unix }
    }
}

#[test]
fn a_network_booting_vm_s_console_is_logged_by_oxcatd_through_its_bmc_s_sol() {
    if !available() || !crate::bmcsim::available() {
        return;
    }
    let lab = lab_with_node(&[("hello", HELLO)], "hello");
    let (ns, tap_name, _daemon) = boot_network(&lab);
    let relay = SerialRelay::start(lab.path("serial.sock"));
    let bmc = crate::bmcsim::Bmc::start_full(lab.dir.path(), Some(VM_CHASSIS_CONTROL), Some(&relay.tcp));
    // QEMU's serial port goes to the relay (and, as in the other tests, into console.log).
    let console = bmc.dir.join("console.log");
    let args = qemu_args(&console, &tap_name).into_iter().map(|a| {
        if a.starts_with("file:") {
            format!("chardev:s0' -chardev 'socket,id=s0,path={},logfile={}", relay.unix.display(), console.display())
        } else {
            a
        }
    });
    let _off = vm_behind_bmc(&lab, &bmc, &ns.0, args, &["cons=ipmi"]);
    // The console service: a second oxcatd, beside the BMC on the host's loopback.
    let consoles = lab.path("consoles");
    lab.write(
        "consoles.toml",
        &format!(
            "[http]\nenable = false\n[tftp]\nenable = false\n[console]\nenable = true\nlog_dir = \"{}\"\nsocket = \"{}\"\n",
            consoles.display(),
            lab.path("console.sock").display()
        ),
    );
    let mut cmd = lab.cmd("oxcatd");
    cmd.args(["--config", "consoles.toml"]);
    let _service = Daemon::start(cmd);
    let log = || std::fs::read_to_string(consoles.join("n1.log")).unwrap_or_default();
    let start = Instant::now();
    while !log().contains("[-- oxcatd: console connected --]") {
        assert!(start.elapsed() < Duration::from_secs(30), "the console service did not connect:\n{}", log());
        std::thread::sleep(Duration::from_millis(100));
    }

    lab.run("rpower", &["n1", "on"]).ok().stdout_is("n1: on\n");
    let start = Instant::now();
    while !log().contains("oxcatpost: n1: booted") {
        assert!(
            start.elapsed() < BOOT_LIMIT,
            "no boot messages in the console log after {BOOT_LIMIT:?}:\n{}\nVM console:\n{}",
            log(),
            console_text(&console)
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    // The guest's lines, each stamped with the time it began, as the VM printed them.
    let text = log();
    for want in
        ["oxcat: n1: netboot guest", "hello: hello from n1, image guest, server 10.99.0.1", "oxcatpost: n1: booted"]
    {
        assert!(
            text.lines().any(|l| l.starts_with('[') && l.trim_end().ends_with(want)),
            "no line {want:?} in the console log:\n{text}"
        );
    }
    assert!(console_text(&console).contains("oxcatpost: n1: booted"));
}

/// Powers a VM off when dropped, through its BMC's chassis control.
struct PowerOff(PathBuf);

impl Drop for PowerOff {
    fn drop(&mut self) {
        let _ =
            Command::new("sh").arg(self.0.join("chassis_control")).arg(&self.0).args(["set", "power", "0"]).status();
    }
}

/// Makes `bmc`'s chassis control run QEMU with `args` in the namespace `ns` (its `qemu.sh`, which
/// VM_CHASSIS_CONTROL starts on power on), and defines n1's BMC as `bmc` with `attrs` besides.
fn vm_behind_bmc(
    lab: &Lab,
    bmc: &crate::bmcsim::Bmc,
    ns: &str,
    args: impl IntoIterator<Item = String>,
    attrs: &[&str],
) -> PowerOff {
    let mut qemu = format!("exec ip netns exec {ns} qemu-system-x86_64");
    for a in args {
        qemu.push_str(&format!(" '{a}'"));
    }
    qemu.push_str(&format!(" -daemonize -pidfile '{}' >/dev/null 2>&1\n", bmc.dir.join("qemu.pid").display()));
    std::fs::write(bmc.dir.join("qemu.sh"), qemu).unwrap();
    let bmc_addr = format!("bmc={}", bmc.addr);
    let user = format!("bmcusername={}", crate::bmcsim::USER);
    let pw = format!("bmcpassword={}", crate::bmcsim::PASSWORD);
    let mut all = vec!["n1", "mgt=ipmi", &bmc_addr, &user, &pw];
    all.extend(attrs);
    lab.run("chdef", &all).ok();
    PowerOff(bmc.dir.clone())
}
