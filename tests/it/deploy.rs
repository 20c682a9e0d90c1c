//! Disk deploys end to end: QEMU VMs (TCG) network-boot genesis from oxcatd inside a network
//! namespace of the test's own, the node agent writes the test OS's whole-disk image
//! (tests/lab/diskimage.sh) to the VM's virtual disk, verified, with a cloud-init seed, and the
//! VM reboots: its network boot now hands over to the local disk, the test OS reads its hostname
//! from the seed and runs the first-boot script, which runs the node's postscripts and reports
//! `booted`. With SeaBIOS (the NIC's iPXE ROM) and with OVMF (the firmware's own PXE, no iPXE ROM:
//! it fetches ipxe.efi over TFTP). The disks are compared with the image afterwards, host side.

use crate::diskimage::{firmware_args, test_os, Firmware};
use crate::harness::{peers, Daemon, Lab, Netns};
use crate::netboot::{
    assert_lines, console_text, start_oxcatd, start_oxcatd_with_ra, tap, unique, Vm, VM_CHASSIS_CONTROL,
};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A whole deploy cycle takes minutes under TCG on a loaded 2-core machine.
const LIMIT: Duration = Duration::from_secs(900);
const MIB: u64 = 1 << 20;

fn available() -> bool {
    peers(
        &["qemu-system-x86_64", "apt-get", "dpkg", "strip", "ip", "sfdisk", "mkfs.vfat", "zstd"],
        "qemu-system-x86, ipxe-qemu, binutils, iproute2, fdisk, dosfstools, zstd",
    ) && crate::diskimage::ovmf().is_some()
}

/// A node of the test: name, MAC, address on the boot network (10.99.0.0/24).
struct Node(&'static str, &'static str, &'static str);

const N1: Node = Node("n1", "52:54:00:12:35:01", "10.99.0.11");
const N2: Node = Node("n2", "52:54:00:12:35:02", "10.99.0.12");

/// A postscript that shows it ran, with what mypostscript gave it.
const HELLO: &str = "#!/bin/sh\necho \"hello from $NODE after its deploy\"\n";

/// A lab whose nodes are set to deploy the test OS (registered zstd-compressed, so the agent
/// decompresses on the fly): genesis and the boot loaders in its TFTP root, oxcatpost and a
/// postscript in its postscripts directory. Returns the lab and the uncompressed image.
fn deploy_lab(nodes: &[&Node]) -> (Lab, PathBuf) {
    let lab = Lab::new();
    let image = test_os();
    let post = lab.path("postscripts");
    std::fs::create_dir_all(&post).unwrap();
    std::fs::copy(concat!(env!("CARGO_MANIFEST_DIR"), "/postscripts/oxcatpost"), post.join("oxcatpost")).unwrap();
    std::fs::write(post.join("hello"), HELLO).unwrap();
    // genesis (built once per target directory) is linked in, the boot loaders copied by mknb.
    crate::genesis::vm_tftp_root(&lab);
    lab.run("mkdef", &["-t", "network", "-o", "vmnet", "net=10.99.0.0", "mask=255.255.255.0", "gateway=10.99.0.1"])
        .ok();
    let zst = lab.path("testos.raw.zst");
    let o = Command::new("zstd").args(["-q", "-3", "-o"]).arg(&zst).arg(&image).output().unwrap();
    assert!(o.status.success(), "zstd: {}", String::from_utf8_lossy(&o.stderr));
    lab.run("addimage", &["testos", "--disk", zst.to_str().unwrap()]).ok();
    for n in nodes {
        let (mac, ip) = (format!("mac={}", n.1), format!("ip={}", n.2));
        lab.run("mkdef", &[n.0, "groups=compute", &mac, &ip, "serialport=0", "postscripts=hello"]).ok();
    }
    (lab, image)
}

/// QEMU's arguments for a node: 512 MiB (genesis holds the agent and its drivers in RAM),
/// serial console into `console`, its NIC on `tap` (for UEFI without an iPXE ROM: the firmware's
/// own PXE), `disks` (path, serial) as virtio disks. BIOS boots the network first, then the disk:
/// after the deploy, the node's `boot` config (iPXE `exit`) hands over to the disk. UEFI boots its
/// disks first and the NIC last, as UEFI nodes are set up for local boot: a blank disk falls
/// through to PXE, a deployed one boots. (iPXE's `exit` on UEFI returns to the firmware's boot
/// manager, which tries the NIC's other options, PXE and HTTP over IPv4 and IPv6, each with its
/// own timeouts, before it reaches a disk.) No -no-reboot: genesis reboots the VM after the
/// deploy, and the test OS powers it off at the end.
fn qemu_args(fw: Firmware, dir: &Path, console: &Path, tap: &str, mac: &str, disks: &[(PathBuf, &str)]) -> Vec<String> {
    let mut a: Vec<String> =
        ["-accel", "tcg", "-m", "512", "-display", "none", "-vga", "none", "-nodefaults", "-no-user-config"]
            .map(String::from)
            .into();
    a.extend(["-serial".into(), format!("file:{}", console.display())]);
    a.extend(firmware_args(fw, dir));
    a.extend(["-netdev".into(), format!("tap,id=n0,ifname={tap},script=no,downscript=no")]);
    match fw {
        Firmware::Bios => {
            // sga mirrors SeaBIOS's and iPXE's screen to the serial console.
            a.extend(["-device", "sga", "-boot", "order=nc"].map(String::from));
            a.extend(["-device".into(), format!("virtio-net-pci,netdev=n0,mac={mac}")]);
        }
        Firmware::Uefi => {
            let last = disks.len() + 1;
            a.extend(["-device".into(), format!("virtio-net-pci,netdev=n0,mac={mac},romfile=,bootindex={last}")]);
        }
    }
    for (i, (path, serial)) in disks.iter().enumerate() {
        a.extend(["-drive".into(), format!("file={},if=none,id=d{i},format=raw", path.display())]);
        let boot = if matches!(fw, Firmware::Uefi) { format!(",bootindex={}", i + 1) } else { String::new() };
        a.extend(["-device".into(), format!("virtio-blk-pci,drive=d{i},serial={serial}{boot}")]);
    }
    a
}

/// QEMU in `ns` with `args`.
fn qemu(ns: &Netns, args: Vec<String>) -> Command {
    let mut cmd = ns.exec("qemu-system-x86_64");
    cmd.args(args);
    cmd
}

/// An empty (sparse) virtual disk of `mib` MiB.
fn blank_disk(lab: &Lab, name: &str, mib: u64) -> PathBuf {
    let p = lab.path(name);
    std::fs::File::create(&p).unwrap().set_len(mib * MIB).unwrap();
    p
}

fn attr(lab: &Lab, node: &str, attr: &str) -> String {
    let out = lab.run("lsdef", &[node, "-i", attr, "-c"]).ok().stdout;
    out.trim_end().strip_prefix(&format!("{node}: {attr}=")).unwrap_or("").to_string()
}

/// Polls the node's status until `done` says so.
fn wait_status(lab: &Lab, node: &str, vm: &Vm, done: impl Fn(&str) -> bool) -> String {
    loop {
        let s = attr(lab, node, "status");
        if done(&s) {
            return s;
        }
        assert!(
            vm.started.elapsed() < LIMIT,
            "{node}'s status is still {s:?} after {LIMIT:?}; console:\n{}",
            console_text(&vm.console)
        );
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// The deployed disk holds the image byte for byte where the agent writes nothing of its own:
/// the boot code before the partition table (first 440 bytes) and everything between the GPT
/// areas (the primary table is updated for the seed partition, the backup moved to the disk's end).
#[track_caller]
fn assert_holds_image(disk: &Path, image: &Path) {
    let (d, i) = (std::fs::read(disk).unwrap(), std::fs::read(image).unwrap());
    assert!(d.len() > i.len(), "the disk is smaller than the image");
    assert!(d[..440] == i[..440], "the boot code differs from the image's");
    let end = i.len() - MIB as usize;
    let first = (MIB as usize..end).find(|&k| d[k] != i[k]);
    assert_eq!(first, None, "the disk differs from the image at byte {first:?}");
}

/// The partition table the agent left: the image's partitions and the seed partition.
fn partitions(disk: &Path) -> String {
    let o = Command::new("sfdisk").arg("-d").arg(disk).output().unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// One node's whole cycle with `fw`: deploy, reboot, network boot handing over to the disk, first
/// boot from the seed, `booted`; `disks` as (MiB, serial), `target` the index of the disk the
/// image must land on.
fn deploy_cycle(fw: Firmware, disks: &[(u64, &str)], hints: Option<&str>, target: usize) {
    let (lab, image) = deploy_lab(&[&N1]);
    if let Some(h) = hints {
        lab.run("chdef", &["n1", &format!("rootdevice={h}")]).ok();
    }
    lab.run("nodeset", &["n1", "osimage=testos"]).ok().stdout_is("n1: install testos\n");
    let ns = Netns::new(format!("oxdp{}", unique()));
    let tap_name = format!("tap{}", unique());
    tap(&ns, &tap_name);
    ns.ip(&["addr", "add", "10.99.0.1/24", "dev", &tap_name]);
    let _daemon: Daemon = start_oxcatd(&lab, &ns, &tap_name, false);
    let files: Vec<(PathBuf, &str)> = disks
        .iter()
        .enumerate()
        .map(|(i, (mib, serial))| (blank_disk(&lab, &format!("disk{i}.raw"), *mib), *serial))
        .collect();
    let console = lab.path("console.log");
    let mut vm = Vm::spawn(qemu(&ns, qemu_args(fw, &lab.path(""), &console, &tap_name, N1.1, &files)), console);
    let text = vm.wait(LIMIT);
    assert_lines(
        &text,
        &[
            "oxcat genesis: deployed, rebooting",
            "oxcat-testos: booted from disk",
            "oxcat-testos: seed hostname n1",
            "hello: hello from n1 after its deploy",
            "oxcatpost: n1: booted",
            "oxcat-testos: firstboot exit 0",
        ],
    );
    assert_eq!(attr(&lab, "n1", "status"), "booted");
    lab.run("nodeset", &["n1", "stat"]).ok().stdout_is("n1: boot\n");
    assert!(!attr(&lab, "n1", "deploylog").is_empty(), "no deploylog kept");
    for (i, (path, _)) in files.iter().enumerate() {
        if i == target {
            assert_holds_image(path, &image);
            let table = partitions(path);
            assert!(table.contains("name=\"cidata\""), "no seed partition:\n{table}");
        } else {
            let untouched = std::fs::read(path).unwrap().iter().all(|b| *b == 0);
            assert!(untouched, "disk {i} was written, not the one the hints name");
        }
    }
}

#[test]
fn bios_vm_deploys_the_image_boots_it_from_disk_and_reports_booted() {
    if !available() {
        return;
    }
    deploy_cycle(Firmware::Bios, &[(64, "OXDISK1")], None, 0);
}

#[test]
fn uefi_vm_without_ipxe_rom_deploys_to_the_disk_its_hint_names_and_boots_it() {
    if !available() {
        return;
    }
    // Two disks of the same size: without a hint the choice would be ambiguous.
    deploy_cycle(Firmware::Uefi, &[(64, "OXDISK1"), (64, "OXDISK2")], Some("serial=OXDISK2"), 1);
}

/// A deploy that fails: the status says why, the disk is left unbootable, nodeset unchanged.
fn failed_deploy(lab: &Lab, disks: &[(u64, &str)], why: &str) -> Vec<PathBuf> {
    lab.run("nodeset", &["n1", "osimage=testos"]).ok().stdout_is("n1: install testos\n");
    let ns = Netns::new(format!("oxdp{}", unique()));
    let tap_name = format!("tap{}", unique());
    tap(&ns, &tap_name);
    ns.ip(&["addr", "add", "10.99.0.1/24", "dev", &tap_name]);
    let _daemon = start_oxcatd(lab, &ns, &tap_name, false);
    let files: Vec<(PathBuf, &str)> = disks
        .iter()
        .enumerate()
        .map(|(i, (mib, serial))| (blank_disk(lab, &format!("disk{i}.raw"), *mib), *serial))
        .collect();
    let console = lab.path("console.log");
    let mut vm =
        Vm::spawn(qemu(&ns, qemu_args(Firmware::Bios, &lab.path(""), &console, &tap_name, N1.1, &files)), console);
    let status = wait_status(lab, "n1", &vm, |s| s.starts_with("failed") || s == "installed");
    let text = vm.stop();
    assert!(status.starts_with(&format!("failed: {why}")), "status {status:?}; console:\n{text}");
    // The node stays set to deploy (a fixed image or disk is one reboot away), and the log is kept.
    lab.run("nodeset", &["n1", "stat"]).ok().stdout_is("n1: install testos\n");
    assert!(attr(lab, "n1", "deploylog").contains(why), "deploylog: {}", attr(lab, "n1", "deploylog"));
    files.into_iter().map(|(p, _)| p).collect()
}

#[test]
fn a_checksum_mismatch_fails_the_deploy_and_leaves_the_disk_unbootable() {
    if !available() {
        return;
    }
    let (lab, _) = deploy_lab(&[&N1]);
    // The image registered with a checksum it does not have (as if corrupted in the store).
    let bad = format!("linuximage.diskimagesha256={}", "0".repeat(64));
    lab.run("chtab", &["imagename=testos", &bad]).ok();
    let disks = failed_deploy(&lab, &[(64, "OXDISK1")], "checksum mismatch");
    let disk = std::fs::read(&disks[0]).unwrap();
    assert!(disk[..MIB as usize].iter().all(|b| *b == 0), "the boot sector and GPT are still there");
    let end = disk.len() - MIB as usize;
    assert!(disk[end..].iter().all(|b| *b == 0), "the backup GPT is still there");
}

#[test]
fn no_fitting_disk_fails_the_deploy_before_anything_is_written() {
    if !available() {
        return;
    }
    let (lab, _) = deploy_lab(&[&N1]);
    // The test OS needs 20 MiB; the node has 8 (the reason names what it has).
    let disks = failed_deploy(&lab, &[(8, "OXSMALL")], "no non-removable disk of at least 20 MiB");
    assert!(std::fs::read(&disks[0]).unwrap().iter().all(|b| *b == 0), "the small disk was written");
}

/// Powers a BMC's VM off when the test ends, however it ends.
struct PowerOff(PathBuf);

impl Drop for PowerOff {
    fn drop(&mut self) {
        let _ =
            Command::new("sh").arg(self.0.join("chassis_control")).arg(&self.0).args(["set", "power", "0"]).status();
    }
}

/// The boot network for BMC-powered VMs: bridge `br` in `ns` holding 10.99.0.1.
fn bridge(ns: &Netns, br: &str) {
    ns.ip(&["link", "add", br, "type", "bridge"]);
    ns.ip(&["addr", "add", "10.99.0.1/24", "dev", br]);
    ns.ip(&["link", "set", br, "up"]);
}

/// A BIOS VM for node `n` (the `k`th of the test) on bridge `br`, with a blank 64 MiB disk, whose
/// power is its simulated BMC's (recorded as the node's): powered off, then the BMC stopped, when
/// the guard drops. Returns the guard, the disk and the console log.
fn bmc_powered_vm(
    lab: &Lab,
    ns: &Netns,
    br: &str,
    id: &str,
    k: usize,
    n: &Node,
) -> ((PowerOff, crate::bmcsim::Bmc), PathBuf, PathBuf) {
    let tap_name = format!("t{k}{id}");
    tap(ns, &tap_name);
    ns.ip(&["link", "set", &tap_name, "master", br]);
    let root = lab.path(&format!("bmc-{}", n.0));
    std::fs::create_dir_all(&root).unwrap();
    let bmc = crate::bmcsim::Bmc::start_controlling(&root, Some(VM_CHASSIS_CONTROL));
    let disk = blank_disk(lab, &format!("{}.raw", n.0), 64);
    let console = bmc.dir.join("console.log");
    let mut qemu = format!("exec ip netns exec {} qemu-system-x86_64", ns.0);
    for a in qemu_args(Firmware::Bios, &bmc.dir, &console, &tap_name, n.1, &[(disk.clone(), "OXDISK")]) {
        qemu.push_str(&format!(" '{a}'"));
    }
    qemu.push_str(&format!(" -daemonize -pidfile '{}' >/dev/null 2>&1\n", bmc.dir.join("qemu.pid").display()));
    std::fs::write(bmc.dir.join("qemu.sh"), qemu).unwrap();
    let (addr, user, pw) = (
        format!("bmc={}", bmc.addr),
        format!("bmcusername={}", crate::bmcsim::USER),
        format!("bmcpassword={}", crate::bmcsim::PASSWORD),
    );
    lab.run("chdef", &[n.0, "mgt=ipmi", &addr, &user, &pw]).ok();
    ((PowerOff(bmc.dir.clone()), bmc), disk, console)
}

#[test]
fn rinstall_c_follows_two_vms_through_deploy_to_booted() {
    if !available() || !crate::bmcsim::available() {
        return;
    }
    let (lab, image) = deploy_lab(&[&N1, &N2]);
    // Both VMs on one bridge where oxcatd serves; each VM's power is its simulated BMC's.
    let id = unique();
    let ns = Netns::new(format!("oxri{id}"));
    let br = format!("br{id}");
    bridge(&ns, &br);
    let _daemon = start_oxcatd(&lab, &ns, &br, false);
    let mut guards = Vec::new();
    let mut disks = Vec::new();
    for (k, n) in [&N1, &N2].into_iter().enumerate() {
        let (guard, disk, console) = bmc_powered_vm(&lab, &ns, &br, &id, k, n);
        guards.push(guard);
        disks.push((disk, console));
    }
    let out = lab.run("rinstall", &["n1,n2", "osimage=testos", "-c", "-t", "840"]);
    // What rinstall -c printed, for the record (`--nocapture` shows it).
    eprintln!("rinstall -c:\n{}", out.stdout);
    let consoles: Vec<String> = disks.iter().map(|(_, c)| console_text(c)).collect();
    assert!(out.code == 0, "rinstall -c: {out:?}\nconsoles:\n{}", consoles.join("\n----\n"));
    for n in ["n1", "n2"] {
        assert!(out.stdout.lines().any(|l| l == format!("{n}: booted")), "{n} not followed to booted:\n{}", out.stdout);
        assert!(
            out.stdout.lines().any(|l| l.starts_with(&format!("{n}: installing ")) && l.ends_with('%')),
            "{n}'s deploy progress not followed:\n{}",
            out.stdout
        );
        assert_eq!(attr(&lab, n, "status"), "booted");
    }
    for (disk, _) in &disks {
        assert_holds_image(disk, &image);
    }
}

/// What a console shows at a moment of a deploy cycle, in the order it shows it.
const MILESTONES: [&str; 6] = [
    "iPXE configures the NIC",
    "genesis runs",
    "genesis: deployed",
    "iPXE configures the NIC again",
    "test OS up from disk",
    "rinstall exits (booted)",
];

/// Seconds from rinstall's start to each of MILESTONES (None: not seen), and how long each of
/// iPXE's two network configurations took (its "Configuring (net0 ...)" line until " ok").
#[derive(Default)]
struct Round {
    at: [Option<f64>; 6],
    configuring: [Option<f64>; 2],
}

impl Round {
    /// Records what `console` shows for the first time at `t`.
    fn observe(&mut self, console: &str, t: f64) {
        let configuring: Vec<&str> =
            console.match_indices("Configuring").map(|(i, _)| console[i..].lines().next().unwrap_or("")).collect();
        let seen = [
            !configuring.is_empty(),
            console.contains("oxcat genesis: kernel"),
            console.contains("oxcat genesis: deployed, rebooting"),
            configuring.len() >= 2,
            console.contains("oxcat-testos: booted from disk"),
            false,
        ];
        for (at, seen) in self.at.iter_mut().zip(seen) {
            if seen && at.is_none() {
                *at = Some(t);
            }
        }
        for (k, line) in configuring.iter().take(2).enumerate() {
            if line.contains(" ok") && self.configuring[k].is_none() {
                let began = self.at[if k == 0 { 0 } else { 3 }].unwrap_or(t);
                self.configuring[k] = Some(t - began);
            }
        }
    }

    fn total(&self) -> f64 {
        self.at[5].expect("rinstall exited")
    }
}

/// One `rinstall n1 osimage=testos -c` of a BIOS VM powered by its simulated BMC, in a fresh lab,
/// oxcatd with `[dhcp] ipv6_ra = ipv6_ra`; the console polled every 100 ms meanwhile.
fn rinstall_round(ipv6_ra: &str) -> Round {
    let (lab, image) = deploy_lab(&[&N1]);
    let id = unique();
    let ns = Netns::new(format!("oxrb{id}"));
    let br = format!("br{id}");
    bridge(&ns, &br);
    let _daemon = start_oxcatd_with_ra(&lab, &ns, &br, false, Some(ipv6_ra));
    let (_guard, disk, console) = bmc_powered_vm(&lab, &ns, &br, &id, 0, &N1);
    let out = lab.path("rinstall.out");
    let mut round = Round::default();
    let started = Instant::now();
    let mut child = lab
        .cmd("rinstall")
        .args(["n1", "osimage=testos", "-c", "-t", "840"])
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        round.observe(&console_text(&console), started.elapsed().as_secs_f64());
        std::thread::sleep(Duration::from_millis(100));
    };
    round.at[5] = Some(started.elapsed().as_secs_f64());
    round.observe(&console_text(&console), round.total());
    let said = std::fs::read_to_string(&out).unwrap();
    assert!(
        status.success() && said.lines().any(|l| l == "n1: booted"),
        "rinstall -c ({status}):\n{said}\nconsole:\n{}",
        console_text(&console)
    );
    assert_holds_image(&disk, &image);
    round
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[(v.len() - 1) / 2]
}

/// Benchmark (issue 9, item 8): seconds from `rinstall n1 osimage=testos -c` to its exit (n1
/// deployed, booted from its disk, `booted`), one BIOS VM, with oxcatd's empty IPv6 router
/// advertisements (`[dhcp] ipv6_ra = "empty"`, the default) and without ("off"), alternating rounds
/// (OXCAT_BENCH_ROUNDS, default 3), a fresh lab each. Prints each round and where its time went,
/// the medians and the ratio off/empty. Run by bench/rinstall.sh.
#[test]
#[ignore]
fn bench_rinstall_to_booted_with_and_without_empty_router_advertisements() {
    if !available() || !crate::bmcsim::available() {
        return;
    }
    let rounds: usize = std::env::var("OXCAT_BENCH_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(3);
    let modes = ["empty", "off"];
    let (mut totals, mut configuring) = ([vec![], vec![]], [vec![], vec![]]);
    let secs = |t: Option<f64>| t.map_or("?".to_string(), |t| format!("{t:.1}"));
    for r in 1..=rounds {
        for (m, mode) in modes.iter().enumerate() {
            let round = rinstall_round(mode);
            println!("round {r}, ipv6_ra = {mode}: rinstall to booted {:.1} s", round.total());
            for (what, at) in MILESTONES.iter().zip(round.at) {
                println!("    {:>6} s  {what}", secs(at));
            }
            println!(
                "    iPXE network configuration: {} s (deploy boot) + {} s (boot handing over to the disk)",
                secs(round.configuring[0]),
                secs(round.configuring[1])
            );
            totals[m].push(round.total());
            if let [Some(a), Some(b)] = round.configuring {
                configuring[m].push(a + b);
            }
        }
    }
    println!("== rinstall n1 osimage=testos -c, start to exit (booted), one BIOS VM (s, median of {rounds})");
    for (m, mode) in modes.iter().enumerate() {
        let conf = if configuring[m].is_empty() { "?".into() } else { format!("{:.1}", median(&configuring[m])) };
        println!(
            "ipv6_ra = {mode:<6} rinstall to booted {:6.1} s   of which iPXE configuring {conf:>5} s",
            median(&totals[m])
        );
    }
    println!("off/empty: {:.2}x", median(&totals[1]) / median(&totals[0]));
}
