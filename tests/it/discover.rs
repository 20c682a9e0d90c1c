//! Discovery against oxcatd on 127.0.0.1, with curl and the real node agent (`nodeagent discover`
//! reading a sysfs/proc tree the test lays out) as the clients: the boot script's one-time token,
//! matching by serial, in sequence, and by hand (nodediscoverdef), and the reports refused
//! (discovery stopped, oversized, malformed, from another address, replayed), each logged,
//! none changing the store.

use crate::harness::{Daemon, Lab};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn curl_ok() -> bool {
    let ok = Command::new("curl").arg("--help").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok();
    if !ok {
        assert!(std::env::var_os("CI").is_none(), "curl missing: .ci/run must install it");
    }
    ok
}

/// A lab whose TFTP root holds (placeholder) genesis files, and oxcatd's HTTP on 127.0.0.1.
fn start() -> (Lab, Daemon, String) {
    let lab = Lab::new();
    let tftp = lab.path("tftp");
    let (k, i) = oxcat::boot::genesis_files("x86_64");
    for f in [k, i] {
        std::fs::create_dir_all(tftp.join(&f).parent().unwrap()).unwrap();
        std::fs::write(tftp.join(&f), "placeholder").unwrap();
    }
    lab.run("chdef", &["-t", "site", &format!("tftpdir={}", tftp.display()), "master=127.0.0.1"]).ok();
    lab.write("oxcat.toml", "[http]\nlisten = [\"127.0.0.1:0\"]\n[tftp]\nlisten = [\"127.0.0.1:0\"]\n");
    let mut cmd = lab.cmd("oxcatd");
    cmd.args(["--config", "oxcat.toml"]);
    let daemon = Daemon::start(cmd);
    let http = daemon.addr("HTTP");
    (lab, daemon, http)
}

/// curl from `from`: (HTTP code, body).
fn curl(from: &str, args: &[&str]) -> (String, String) {
    let o = Command::new("curl")
        .args(["-s", "--max-time", "20", "--interface", from, "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (code.to_string(), body.to_string())
}

/// The token of a discovery boot script fetched from `from`.
fn token(http: &str, from: &str) -> String {
    let (code, script) = curl(from, &[&format!("http://{http}/discover/boot.ipxe")]);
    assert_eq!(code, "200", "{script}");
    assert!(script.contains("oxcat.mode=discover"), "{script}");
    assert!(script.contains(&format!("oxcat.server=http://{http} ")), "{script}");
    let t = script.split("oxcat.token=").nth(1).unwrap().split_whitespace().next().unwrap();
    t.to_string()
}

/// A machine's /sys and /proc as the agent reads them: DMI `uuid` and `serial`, 2 CPUs, 768 MiB
/// in one SMBIOS memory device, a virtio NIC with `mac` and a 64 MiB disk.
fn machine(lab: &Lab, name: &str, uuid: &str, serial: &str, mac: &str) -> PathBuf {
    let root = lab.path(name);
    let w = |rel: &str, data: &[u8]| {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    };
    w("sys/class/dmi/id/product_uuid", format!("{uuid}\n").as_bytes());
    w("sys/class/dmi/id/product_serial", format!("{serial}\n").as_bytes());
    w("sys/class/dmi/id/product_name", b"Standard PC (i440FX + PIIX, 1996)\n");
    w("proc/cpuinfo", b"processor\t: 0\nmodel name\t: QEMU Virtual CPU version 2.5+\n\nprocessor\t: 1\nmodel name\t: QEMU Virtual CPU version 2.5+\n");
    w("proc/meminfo", b"MemTotal:  700000 kB\n");
    let mut smbios = vec![0u8; 0x28];
    smbios[0] = 17;
    smbios[0x0C..0x0E].copy_from_slice(&768u16.to_le_bytes());
    w("sys/firmware/dmi/entries/17-0/raw", &smbios);
    w("sys/class/net/eth0/address", format!("{mac}\n").as_bytes());
    w("sys/class/net/eth0/carrier", b"1\n");
    w("sys/class/net/eth0/device/vendor", b"0x1af4\n");
    w("sys/block/vda/size", b"131072\n");
    w("sys/block/vda/serial", b"OXDISK\n");
    w("sys/block/vda/queue/rotational", b"0\n");
    w("proc/cmdline", format!("BOOTIF=01-{}\n", mac.replace(':', "-")).as_bytes());
    root
}

/// `nodeagent discover` on `root` against the server: (exit code, its log).
fn agent(lab: &Lab, http: &str, token: &str, root: &Path) -> (i32, String) {
    let o = lab
        .cmd("nodeagent")
        .args(["discover", "--server", &format!("http://{http}"), "--token", token, "--root"])
        .arg(root)
        .args(["--ipmi", "/nonexistent/ipmi0", "--log", "/dev/null", "--reply"])
        .arg(root.join("reply.json"))
        .output()
        .unwrap();
    (o.status.code().unwrap_or(-1), String::from_utf8_lossy(&o.stderr).into_owned())
}

fn attr(lab: &Lab, node: &str, attr: &str) -> String {
    let out = lab.run("lsdef", &[node, "-i", attr, "-c"]).ok().stdout;
    out.trim_end().strip_prefix(&format!("{node}: {attr}=")).unwrap_or("").to_string()
}

const UUID1: &str = "11111111-2222-3333-4444-000000000001";
const UUID2: &str = "11111111-2222-3333-4444-000000000002";
const UUID3: &str = "11111111-2222-3333-4444-000000000003";
const UUID4: &str = "11111111-2222-3333-4444-000000000004";

#[test]
fn machines_are_matched_by_serial_in_sequence_and_by_hand() {
    if !curl_ok() {
        return;
    }
    let (lab, daemon, http) = start();
    lab.run("mkdef", &["byserial", "groups=compute", "serial=SN-0042"]).ok();
    lab.run("nodediscoverstatus", &[])
        .ok()
        .stdout_is("Sequential Discovery is stopped.\nProfile Discovery is stopped.\n");
    lab.run("nodediscoverstart", &["noderange=rack1n[01-02]", "groups=rack1"])
        .ok()
        .stdout_is("Sequential Discovery: Started:\n    Number of free node names: 2\n");
    lab.run("nodediscoverstatus", &[]).ok().stdout_is(
        "Sequential discovery is running.\n    The parameters used for discovery: noderange=rack1n[01-02],groups=rack1\n",
    );
    // A second start is refused while one runs.
    lab.run("nodediscoverstart", &["noderange=x[1-2]"]).fails(1);

    // By serial: the predefined node gets the machine's MAC and inventory.
    let m1 = machine(&lab, "m1", UUID1, "SN-0042", "52:54:00:dd:00:01");
    let (code, log) = agent(&lab, &http, &token(&http, "127.0.0.1"), &m1);
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("discovered: this machine is byserial (matched by mtms)"), "{log}");
    assert_eq!(attr(&lab, "byserial", "mac"), "52:54:00:dd:00:01");
    assert_eq!(attr(&lab, "byserial", "cpucount"), "2");
    assert_eq!(attr(&lab, "byserial", "memory"), "768");
    assert_eq!(attr(&lab, "byserial", "cputype"), "QEMU Virtual CPU version 2.5+");
    assert_eq!(attr(&lab, "byserial", "mtm"), "Standard PC (i440FX + PIIX, 1996)");
    daemon
        .log_line(&format!("oxcatd: discovery: {UUID1} (52:54:00:dd:00:01, 127.0.0.1) is byserial (matched by mtms)"));

    // In sequence: the first free name of the noderange, created in groups=.
    let m2 = machine(&lab, "m2", UUID2, "SN-OTHER", "52:54:00:dd:00:02");
    let (code, log) = agent(&lab, &http, &token(&http, "127.0.0.1"), &m2);
    assert_eq!(code, 0, "{log}");
    assert_eq!(attr(&lab, "rack1n01", "mac"), "52:54:00:dd:00:02");
    assert_eq!(attr(&lab, "rack1n01", "groups"), "rack1");
    assert_eq!(attr(&lab, "rack1n01", "serial"), "SN-OTHER");
    let ls = lab.run("nodediscoverls", &[]).ok().stdout;
    assert_eq!(
        ls,
        format!(
            "Discovered 1 node.\n  {:<40}{:<20}{:<15}{:<10}{:<13}\n  {UUID2:<40}{:<20}{:<15}{:<10}{:<13}\n",
            "UUID",
            "NODE",
            "METHOD",
            "MTM",
            "SERIAL",
            "rack1n01",
            "sequential",
            "Standard PC (i440FX + PIIX, 1996)",
            "SN-OTHER"
        )
    );
    lab.run("nodediscoverstop", &[]).ok();
    // Stopped: a report changes nothing (and is logged).
    let m3 = machine(&lab, "m3", UUID3, "", "52:54:00:dd:00:03");
    let t3 = token(&http, "127.0.0.1");
    let before = lab.snapshot();
    let (code, log) = agent(&lab, &http, &t3, &m3);
    assert_eq!(code, 1, "{log}");
    assert!(log.contains("HTTP 409: discovery is stopped"), "{log}");
    assert_eq!(lab.snapshot(), before, "a report while discovery is stopped changed the store");
    daemon.log_line("oxcatd: discovery: report from 127.0.0.1 refused: discovery is stopped");

    // Running without a noderange: no match, kept undefined; then defined by hand.
    lab.run("nodediscoverstart", &[]).ok().stdout_is("Discovery: Started (matching by MAC and by serial/mtm)\n");
    let (code, log) = agent(&lab, &http, &t3, &m3);
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("no node matches this machine"), "{log}");
    let undef = lab.run("nodediscoverls", &["-t", "undef"]).ok().stdout;
    assert!(undef.contains(&format!("  {UUID3:<40}{:<20}{:<15}", "undef", "undef")), "{undef}");
    lab.run("mkdef", &["byhand", "groups=compute"]).ok();
    lab.run("nodediscoverdef", &["-u", UUID3, "-n", "byhand"])
        .ok()
        .stdout_is(&format!("Defined [{UUID3}] to node byhand.\n"));
    assert_eq!(attr(&lab, "byhand", "mac"), "52:54:00:dd:00:03");
    assert_eq!(attr(&lab, "byhand", "disksize"), "0");
    let long = lab.run("nodediscoverls", &["-u", UUID3, "-l"]).ok().stdout;
    assert!(long.starts_with(&format!("Object uuid: {UUID3}\n    node=byhand\n    method=manual\n")), "{long}");
    assert!(long.contains("    disks=vda!64MB!!OXDISK!\n"), "{long}");
    lab.run("nodediscoverdef", &["-u", UUID3, "-n", "nosuchnode"])
        .fails(1)
        .stderr_is("Error: The node [nosuchnode] should be a valid xCAT node.\n");
    lab.run("nodediscoverdef", &["-r", "-t", "all"]).ok().stdout_is("Removing discovery entries finished.\n");
    lab.run("nodediscoverls", &[]).ok().stdout_is("");
    lab.run("nodediscoverstop", &[]).ok().stdout_is("Discovery: Stopped.\n");
    lab.run("nodediscoverstop", &[])
        .fails(1)
        .stderr_is("Error: Sequential Discovery is stopped.\nError: Profile Discovery is stopped.\n");
}

#[test]
fn oversized_malformed_foreign_and_replayed_reports_are_refused_and_logged() {
    if !curl_ok() {
        return;
    }
    let (lab, daemon, http) = start();
    lab.run("nodediscoverstart", &["noderange=n[1-5]"]).ok();
    // What the agent on a machine would post (its --dry-run prints it).
    let report_of = |name: &str, uuid: &str, serial: &str, mac: &str| {
        let m = machine(&lab, name, uuid, serial, mac);
        let o = Command::new(crate::harness::oxcat_bin())
            .args(["nodeagent", "discover", "--dry-run", "--log", "/dev/null", "--ipmi", "/nonexistent", "--root"])
            .arg(&m)
            .output()
            .unwrap();
        assert!(o.status.success());
        String::from_utf8(o.stdout).unwrap()
    };
    let good = report_of("m", UUID1, "SN1", "52:54:00:dd:00:09");
    let report: serde_json::Value = serde_json::from_str(&good).unwrap();
    assert_eq!(report["memory_mb"], 768);
    std::fs::write(lab.path("good.json"), &good).unwrap();
    let post_to = |http: &str, from: &str, token: &str, file: &str| {
        let url = format!("http://{http}/discover?token={token}");
        curl(from, &["-H", "Content-Type: application/json", "--data-binary", &format!("@{file}"), &url])
    };
    let post = |from: &str, token: &str, file: &str| post_to(&http, from, token, file);
    let tok = token(&http, "127.0.0.1");
    let before = lab.snapshot();
    // Oversized: 70,000 bytes.
    let big = good.replacen("\"vendor\": \"\"", &format!("\"vendor\": \"{}\"", "x".repeat(70_000)), 1);
    assert!(big.len() > 65_536);
    std::fs::write(lab.path("big.json"), &big).unwrap();
    let (code, body) = post("127.0.0.1", &tok, &lab.path("big.json").display().to_string());
    assert_eq!((code.as_str(), body.as_str()), ("413", "a discovery report is at most 65536 bytes\n"));
    // Malformed: not JSON, an unknown field, a bad MAC, a long text.
    for (name, text, why) in [
        ("notjson", "{\"uuid\": ".to_string(), "malformed discovery report"),
        ("unknown", good.replacen('{', "{\"extra\": 1,", 1), "malformed discovery report: unknown field `extra`"),
        ("badmac", good.replace("52:54:00:dd:00:09", "52:54:00:dd:00:zz"), "bootmac: "),
        (
            "longserial",
            good.replace("\"SN1\"", &format!("\"{}\"", "S".repeat(200))),
            "serial is at most 128 bytes (got 200)",
        ),
        ("baduuid", good.replace(UUID1, "not-a-uuid"), "uuid 'not-a-uuid' is not a UUID"),
    ] {
        std::fs::write(lab.path(name), text).unwrap();
        let (code, body) = post("127.0.0.1", &tok, &lab.path(name).display().to_string());
        assert_eq!(code, "400", "{name}: {body}");
        assert!(body.starts_with(why), "{name}: {body}");
    }
    // From another address than the one the token was given to; without a token.
    let (code, _) = post("127.0.0.2", &tok, &lab.path("good.json").display().to_string());
    assert_eq!(code, "403");
    let (code, _) = post("127.0.0.1", "", &lab.path("good.json").display().to_string());
    assert_eq!(code, "400");
    assert_eq!(lab.snapshot(), before, "a refused report changed the store");
    // The good one is recorded; sent again, it is a replay.
    let (code, body) = post("127.0.0.1", &tok, &lab.path("good.json").display().to_string());
    assert_eq!(code, "200", "{body}");
    assert!(body.contains("\"node\":\"n1\""), "{body}");
    let after = lab.snapshot();
    let (code, body) = post("127.0.0.1", &tok, &lab.path("good.json").display().to_string());
    assert_eq!((code.as_str(), body.as_str()), ("409", "replayed: its token was used by a report already\n"));
    assert_eq!(lab.snapshot(), after, "a replayed report changed the store");
    for line in [
        "oxcatd: discovery: report from 127.0.0.1 refused: a discovery report is at most 65536 bytes",
        "oxcatd: discovery: report from 127.0.0.1 refused: malformed discovery report",
        "oxcatd: discovery: report from 127.0.0.2 refused: unknown token",
        "oxcatd: discovery: report from 127.0.0.1 refused: replayed",
    ] {
        daemon.log_line(line);
    }
    // Tokens are kept in the store (as digests): one handed out before oxcatd restarts is still
    // good after it, so the machine need not boot again; the replayed one stays refused.
    std::fs::write(lab.path("good2.json"), report_of("m2", UUID2, "SN2", "52:54:00:dd:00:0a")).unwrap();
    let tok2 = token(&http, "127.0.0.3");
    let digests = lab.run("tabdump", &["discoverytokens"]).ok().stdout;
    assert!(!digests.contains(&tok2) && digests.lines().count() == 3, "{digests}");
    drop(daemon);
    let mut cmd = lab.cmd("oxcatd");
    cmd.args(["--config", "oxcat.toml"]);
    let daemon = Daemon::start(cmd);
    let http = daemon.addr("HTTP");
    let (code, body) = post_to(&http, "127.0.0.3", &tok2, &lab.path("good2.json").display().to_string());
    assert_eq!(code, "200", "{body}");
    assert!(body.contains("\"node\":\"n2\""), "{body}");
    let (code, _) = post_to(&http, "127.0.0.1", &tok, &lab.path("good.json").display().to_string());
    assert_eq!(code, "409");
}

/// Discovery end to end under QEMU (TCG): VMs whose MACs no node has network-boot from oxcatd in a
/// network namespace of the test's own, get discovery-range addresses, boot genesis in discovery
/// mode, and their agents report what QEMU gave them.
mod vms {
    use super::{attr, UUID1, UUID2, UUID3};
    use crate::harness::{peers, Lab, Netns};
    use crate::netboot::{start_oxcatd, tap, unique, Vm};
    use std::path::Path;
    use std::time::Duration;

    const LIMIT: Duration = Duration::from_secs(600);

    fn available() -> bool {
        peers(
            &["qemu-system-x86_64", "apt-get", "dpkg", "strip", "ip"],
            "qemu-system-x86, ipxe-qemu, binutils, iproute2",
        )
    }

    /// A lab with genesis and the boot loaders in its TFTP root, the VMs' network with a
    /// discovery range.
    pub(crate) fn discovery_lab() -> Lab {
        let lab = Lab::new();
        crate::genesis::vm_tftp_root(&lab);
        let range = "dynamicrange=10.99.0.200-10.99.0.220";
        lab.run(
            "mkdef",
            &["-t", "network", "-o", "vmnet", "net=10.99.0.0", "mask=255.255.255.0", "gateway=10.99.0.1", range],
        )
        .ok();
        lab
    }

    /// What QEMU gives a machine: MAC, UUID, SMBIOS serial, memory (MiB), CPUs, disk (MiB, serial).
    pub(crate) struct Machine {
        pub(crate) mac: &'static str,
        pub(crate) uuid: &'static str,
        pub(crate) serial: &'static str,
        pub(crate) mem: u32,
        pub(crate) cpus: u32,
        pub(crate) disk: (u64, &'static str),
    }

    /// QEMU's arguments for `m` on `tap`, BIOS (the NIC's iPXE ROM), console into `console`.
    pub(crate) fn qemu_args(m: &Machine, dir: &Path, console: &Path, tap: &str) -> Vec<String> {
        let disk = dir.join(format!("{}.raw", m.disk.1));
        std::fs::File::create(&disk).unwrap().set_len(m.disk.0 << 20).unwrap();
        let mut a: Vec<String> =
            ["-accel", "tcg", "-display", "none", "-vga", "none", "-nodefaults", "-no-user-config"]
                .map(String::from)
                .into();
        a.extend(["-m".into(), m.mem.to_string(), "-smp".into(), m.cpus.to_string(), "-uuid".into(), m.uuid.into()]);
        a.extend(["-smbios".into(), format!("type=1,serial={}", m.serial)]);
        a.extend(["-serial".into(), format!("file:{}", console.display())]);
        a.extend(["-device", "sga", "-boot", "order=n"].map(String::from));
        a.extend(["-netdev".into(), format!("tap,id=n0,ifname={tap},script=no,downscript=no")]);
        a.extend(["-device".into(), format!("virtio-net-pci,netdev=n0,mac={}", m.mac)]);
        a.extend(["-drive".into(), format!("file={},if=none,id=d0,format=raw", disk.display())]);
        a.extend(["-device".into(), format!("virtio-blk-pci,drive=d0,serial={}", m.disk.1)]);
        a
    }

    /// Waits until the VM's agent says it was discovered (or failed); the console.
    pub(crate) fn wait_discovered(vm: &Vm) -> String {
        loop {
            let text = vm.console_text();
            if text.contains("nodeagent: discovered:") || text.contains("nodeagent: failed") {
                return text;
            }
            assert!(vm.started.elapsed() < LIMIT, "no discovery within {LIMIT:?}; console:\n{text}");
            std::thread::sleep(Duration::from_secs(1));
        }
    }

    /// The inventory the store keeps for `node` is what QEMU was given.
    #[track_caller]
    fn assert_inventory(lab: &Lab, node: &str, m: &Machine) {
        assert_eq!(attr(lab, node, "mac"), m.mac);
        assert_eq!(attr(lab, node, "memory"), m.mem.to_string());
        assert_eq!(attr(lab, node, "cpucount"), m.cpus.to_string());
        assert_eq!(attr(lab, node, "serial"), m.serial);
        assert_eq!(attr(lab, node, "uuid"), m.uuid);
        let long = lab.run("nodediscoverls", &["-u", m.uuid, "-l"]).ok().stdout;
        assert!(long.contains(&format!("    disks=vda!{}MB!!{}!\n", m.disk.0, m.disk.1)), "{long}");
        assert!(long.contains(&format!("    nichwaddr=eth0!{}\n", m.mac)), "{long}");
    }

    const SEQ: Machine =
        Machine { mac: "52:54:00:d1:5c:01", uuid: UUID1, serial: "OXSEQ1", mem: 512, cpus: 1, disk: (64, "OXDISKA") };
    const BY_SERIAL: Machine = Machine {
        mac: "52:54:00:d1:5c:02",
        uuid: UUID2,
        serial: "OXSERIAL42",
        mem: 640,
        cpus: 2,
        disk: (96, "OXDISKB"),
    };
    const UNDEFINED: Machine =
        Machine { mac: "52:54:00:d1:5c:03", uuid: UUID3, serial: "OXLOOSE", mem: 512, cpus: 1, disk: (32, "OXDISKC") };

    #[test]
    fn unknown_vms_are_discovered_in_sequence_by_serial_and_defined_by_hand() {
        if !available() {
            return;
        }
        let lab = discovery_lab();
        lab.run("mkdef", &["byserial", "groups=compute", "serial=OXSERIAL42"]).ok();
        let ns = Netns::new(format!("oxds{}", unique()));
        let br = format!("br{}", unique());
        ns.ip(&["link", "add", &br, "type", "bridge"]);
        ns.ip(&["addr", "add", "10.99.0.1/24", "dev", &br]);
        ns.ip(&["link", "set", &br, "up"]);
        let daemon = start_oxcatd(&lab, &ns, &br, false);
        lab.run("nodediscoverstart", &["noderange=rack1n[01-04]", "groups=rack1"]).ok();
        // Two machines at once: one matched by its serial, the other given the first free name.
        let mut vms = Vec::new();
        for (k, m) in [&SEQ, &BY_SERIAL].into_iter().enumerate() {
            let t = format!("t{k}{}", unique());
            tap(&ns, &t);
            ns.ip(&["link", "set", &t, "master", &br]);
            let console = lab.path(&format!("console{k}.log"));
            let mut cmd = ns.exec("qemu-system-x86_64");
            cmd.args(qemu_args(m, &lab.path(""), &console, &t));
            vms.push(Vm::spawn(cmd, console));
        }
        for vm in &vms {
            let text = wait_discovered(vm);
            assert!(text.contains("oxcat genesis: discover: /bin/oxcat nodeagent discover"), "{text}");
        }
        drop(vms);
        assert_inventory(&lab, "rack1n01", &SEQ);
        assert_eq!(attr(&lab, "rack1n01", "groups"), "rack1");
        assert_inventory(&lab, "byserial", &BY_SERIAL);
        daemon.log_line(&format!("oxcatd: discovery: {UUID2} ({}, 10.99.0.", BY_SERIAL.mac));
        lab.run("nodediscoverstop", &[]).ok();

        // Discovery without a noderange: the third machine matches nothing and is kept undefined.
        lab.run("nodediscoverstart", &[]).ok();
        let t = format!("t9{}", unique());
        tap(&ns, &t);
        ns.ip(&["link", "set", &t, "master", &br]);
        let console = lab.path("console9.log");
        let mut cmd = ns.exec("qemu-system-x86_64");
        cmd.args(qemu_args(&UNDEFINED, &lab.path(""), &console, &t));
        let vm = Vm::spawn(cmd, console);
        let text = wait_discovered(&vm);
        assert!(text.contains("nodeagent: discovered: no node matches this machine"), "{text}");
        drop(vm);
        let undef = lab.run("nodediscoverls", &["-t", "undef"]).ok().stdout;
        assert!(undef.contains(&format!("  {UUID3:<40}{:<20}{:<15}", "undef", "undef")), "{undef}");
        lab.run("mkdef", &["loose", "groups=compute"]).ok();
        lab.run("nodediscoverdef", &["-u", UUID3, "-n", "loose"]).ok();
        assert_inventory(&lab, "loose", &UNDEFINED);
        lab.run("nodediscoverstop", &[]).ok();
        drop(daemon);
    }

    /// lan.conf's lan_config_program for the in-netns BMC: LAN settings kept in files under $1;
    /// a new address is also added to the namespace's loopback, so the BMC (listening on every
    /// address of the namespace) answers at the address it was given, as a real BMC would.
    const LAN_CONFIG: &str = r#"#!/bin/sh
dir=$1; shift
op=$1; shift
case $op in
check) exit 0 ;;
get)
	for p in "$@"; do
		v=; [ -f "$dir/lan.$p" ] && read -r v <"$dir/lan.$p"
		case $p in
		ip_addr_src) echo "$p:${v:-dhcp}" ;;
		*mac_addr) echo "$p:${v:-52:54:00:b0:0c:01}" ;;
		*) echo "$p:${v:-0.0.0.0}" ;;
		esac
	done ;;
set)
	while [ $# -ge 2 ]; do
		echo "$2" >"$dir/lan.$1"
		[ "$1" = ip_addr ] && ip addr add "$2/32" dev lo
		shift 2
	done ;;
esac
"#;

    /// An ipmi_sim in `ns`: LAN on every address of the namespace (port 623), its in-band
    /// interface for QEMU's ipmi-bmc-extern on 127.0.0.1:9002 (codec VM), power on (a file), the
    /// factory user admin/secret. Killed on drop.
    struct NsBmc(std::process::Child);

    impl Drop for NsBmc {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    fn ns_bmc(lab: &Lab, ns: &Netns) -> NsBmc {
        use std::os::unix::fs::PermissionsExt;
        let dir = lab.path("bmc");
        std::fs::create_dir_all(dir.join("state")).unwrap();
        for (name, text) in [("lan_config", LAN_CONFIG), ("chassis_control", "#!/bin/sh\necho power:1\n")] {
            std::fs::write(dir.join(name), text).unwrap();
            std::fs::set_permissions(dir.join(name), std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let auths = "none md2 md5 straight";
        let lan = format!(
            "name \"nsbmc\"\nset_working_mc 0x20\n  startlan 1\n    addr 0.0.0.0 623\n    priv_limit admin\n\
             \x20   allowed_auths_callback {auths}\n    allowed_auths_user {auths}\n\
             \x20   allowed_auths_operator {auths}\n    allowed_auths_admin {auths}\n\
             \x20   guid a123456789abcdefa123456789abfeed\n    lan_config_program \"{d}/lan_config {d}\"\n  endlan\n\
             \x20 serial 15 127.0.0.1 9002 codec VM\n\
             \x20 chassis_control \"{d}/chassis_control\"\n\
             \x20 user 1 true \"\" \"\" user 10 {auths}\n\
             \x20 user 2 true \"admin\" \"secret\" admin 10 {auths}\n",
            d = dir.display()
        );
        std::fs::write(dir.join("lan.conf"), lan).unwrap();
        std::fs::write(
            dir.join("node.emu"),
            "mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr\nmc_enable 0x20\n",
        )
        .unwrap();
        NsBmc(crate::bmcsim::spawn_ipmi_sim(ns.exec("ipmi_sim"), &dir))
    }

    /// `rpower NODE stat` run inside the namespace (the BMC's address is only there).
    fn rpower_stat(lab: &Lab, ns: &Netns, node: &str) -> (i32, String) {
        let o = ns.exec(lab.path("bin/rpower")).args([node, "stat"]).env("OXCAT_DB", lab.db()).output().unwrap();
        let text = String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
        (o.status.code().unwrap_or(-1), text)
    }

    const WITH_BMC: Machine = Machine {
        mac: "52:54:00:d1:5c:04",
        uuid: super::UUID4,
        serial: "OXBMC1",
        mem: 512,
        cpus: 1,
        disk: (64, "OXDISKD"),
    };

    #[test]
    fn a_discovered_vm_sets_its_bmc_up_in_band_and_goes_on_to_its_deploy() {
        if !available() || !crate::bmcsim::available() {
            return;
        }
        let lab = discovery_lab();
        // A disk image to deploy (the test only follows the node into its deploy).
        std::fs::write(lab.path("tiny.raw"), vec![0u8; 2 << 20]).unwrap();
        lab.run("addimage", &["tiny", "--disk", lab.path("tiny.raw").to_str().unwrap()]).ok();
        lab.run(
            "mkdef",
            &[
                "bmcnode",
                "groups=compute",
                "serial=OXBMC1",
                "ip=10.99.0.12",
                "mgt=ipmi",
                "bmc=10.99.0.50",
                "bmcusername=oxadmin",
                "bmcpassword=n3wpass",
                "chain=runcmd=bmcsetup,osimage=tiny",
                "serialport=0",
            ],
        )
        .ok();
        let ns = Netns::new(format!("oxdb{}", unique()));
        let t = format!("tap{}", unique());
        tap(&ns, &t);
        ns.ip(&["addr", "add", "10.99.0.1/24", "dev", &t]);
        let daemon = start_oxcatd(&lab, &ns, &t, false);
        let _bmc = ns_bmc(&lab, &ns);
        lab.run("nodediscoverstart", &[]).ok();
        // Before: nothing answers at the node's BMC address.
        let (code, out) = rpower_stat(&lab, &ns, "bmcnode");
        assert_ne!(code, 0, "{out}");
        let console = lab.path("console.log");
        let mut args = qemu_args(&WITH_BMC, &lab.path(""), &console, &t);
        args.extend(
            [
                "-chardev",
                "socket,id=ipmi0,host=127.0.0.1,port=9002,reconnect=2",
                "-device",
                "ipmi-bmc-extern,id=bmc0,chardev=ipmi0",
                "-device",
                "isa-ipmi-kcs,bmc=bmc0",
            ]
            .map(String::from),
        );
        let mut cmd = ns.exec("qemu-system-x86_64");
        cmd.args(args);
        let vm = Vm::spawn(cmd, console);
        let text = wait_discovered(&vm);
        assert!(text.contains("nodeagent: discovered: this machine is bmcnode (matched by mtms)"), "{text}");
        // The inventory names the BMC as it was (the simulator's factory settings).
        assert!(
            text.contains(", BMC 0.0.0.0 52:54:00:b0:0c:01]") || text.contains("BMC 0.0.0.0 52:54:00:b0:0c:01"),
            "{text}"
        );
        loop {
            let text = vm.console_text();
            if text.contains("oxcat genesis: deployed, rebooting") {
                assert!(
                    text.contains(
                        "nodeagent: bmcsetup: BMC address 10.99.0.50 netmask 255.255.255.0, user oxadmin set"
                    ),
                    "{text}"
                );
                assert!(
                    text.contains("oxcat genesis: discovered, rebooting into the next boot the server set"),
                    "{text}"
                );
                assert!(text.contains("oxcat genesis: deploy: /bin/oxcat nodeagent deploy"), "{text}");
                break;
            }
            assert!(!text.contains("nodeagent: failed"), "{text}");
            assert!(vm.started.elapsed() < LIMIT, "no deploy within {LIMIT:?}; console:\n{text}");
            std::thread::sleep(Duration::from_secs(1));
        }
        // The BMC answers at the address bmcsetup gave it, to the user it set.
        let (code, out) = rpower_stat(&lab, &ns, "bmcnode");
        assert_eq!((code, out.as_str()), (0, "bmcnode: on\n"));
        assert_eq!(attr(&lab, "bmcnode", "mac"), WITH_BMC.mac);
        // The deploy ran to its end: the node now boots from its disk.
        lab.run("nodeset", &["bmcnode", "stat"]).ok().stdout_is("bmcnode: boot\n");
        assert_eq!(attr(&lab, "bmcnode", "status"), "installed");
        drop(vm);
        drop(daemon);
    }
}
