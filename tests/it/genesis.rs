//! genesis, the node ramdisk `mknb` builds: a QEMU VM network-boots it from oxcatd (as in
//! netboot.rs: a network namespace of the test's own, a tap, DHCP/HTTP/TFTP, the NIC's iPXE ROM)
//! in shell mode, and the test works in the shell on its serial console.

use crate::harness::{oxcat_bin, peers, Lab, Netns};
use crate::netboot::{boot_network, console_text};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const MAC: &str = "52:54:00:12:34:21";

/// A TFTP root holding genesis (`genesis/x86_64/{vmlinuz,initrd.img}`), built once per target
/// directory by `mknb --genesis-only` and rebuilt when the oxcat binary changes; the Debian
/// packages are downloaded once into a cache beside it, so rebuilds cost no download.
pub(crate) fn genesis() -> PathBuf {
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    // The download cache tests/lab/diskimage.sh uses too (busybox-static is downloaded once).
    let (dir, debs) = (tmp.join("genesis"), tmp.join("lab-downloads"));
    // Tests run in parallel: one builds, the others wait on the lock.
    static BUILD: Mutex<()> = Mutex::new(());
    let _g = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let meta = std::fs::metadata(oxcat_bin()).unwrap();
    let stamp = format!("{} {:?}", meta.len(), meta.modified().unwrap());
    let (k, i) = oxcat::boot::genesis_files("x86_64");
    let built = dir.join(&k).is_file() && dir.join(&i).is_file();
    if built && std::fs::read_to_string(dir.join("stamp")).ok().as_deref() == Some(stamp.as_str()) {
        return dir;
    }
    let o = Command::new(oxcat_bin())
        .args(["mknb", "--genesis-only", "--tftpdir"])
        .arg(&dir)
        .arg("--debdir")
        .arg(&debs)
        .output()
        .unwrap();
    assert!(o.status.success(), "mknb --genesis-only: {}", String::from_utf8_lossy(&o.stderr));
    std::fs::write(dir.join("stamp"), stamp).unwrap();
    dir
}

/// Links the built genesis into the TFTP root `tftp` (copies it where a link cannot be made).
pub(crate) fn link_genesis(tftp: &Path) {
    let built = genesis();
    let (k, i) = oxcat::boot::genesis_files("x86_64");
    for f in [&k, &i] {
        let dst = tftp.join(f);
        std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
        std::fs::hard_link(built.join(f), &dst).or_else(|_| std::fs::copy(built.join(f), &dst).map(|_| ())).unwrap();
    }
}

/// A TFTP root for VMs on the 10.99.0.0/24 test network: genesis and the boot loaders (mknb),
/// with site.tftpdir pointing at it and site.master at the network's gateway.
pub(crate) fn vm_tftp_root(lab: &Lab) -> PathBuf {
    let tftp = lab.path("tftp");
    link_genesis(&tftp);
    lab.run("mknb", &["--loaders-only", "--tftpdir", tftp.to_str().unwrap()]).ok();
    lab.run("chdef", &["-t", "site", "master=10.99.0.1", &format!("tftpdir={}", tftp.display())]).ok();
    tftp
}

/// Defines n1 (`mac`, 10.99.0.11, serial console) on the VM network with genesis's shell as its
/// boot (genesis already in the TFTP root `tftp`), and starts the network and oxcatd.
pub(crate) fn shell_node_network(lab: &Lab, tftp: &Path, mac: &str) -> (Netns, String, crate::harness::Daemon) {
    std::fs::create_dir_all(lab.path("postscripts")).unwrap();
    lab.run("chdef", &["-t", "site", "master=10.99.0.1", &format!("tftpdir={}", tftp.display())]).ok();
    lab.run("mkdef", &["-t", "network", "-o", "vmnet", "net=10.99.0.0", "mask=255.255.255.0"]).ok();
    lab.run("mkdef", &["n1", "groups=compute", &format!("mac={mac}"), "ip=10.99.0.11", "serialport=0"]).ok();
    lab.run("nodeset", &["n1", "shell"]).ok().stdout_is("n1: shell\n");
    boot_network(lab)
}

/// The tools `mknb` and the VM need.
fn available() -> bool {
    peers(
        &["qemu-system-x86_64", "apt-get", "dpkg", "strip", "ip"],
        "qemu-system-x86, ipxe-qemu, dpkg, binutils, iproute2",
    )
}

/// A VM whose serial console is a socket the test reads and writes; everything it printed is
/// also kept in `log`. Killed on drop.
pub(crate) struct Console {
    pub(crate) child: Child,
    pub(crate) sock: UnixStream,
    pub(crate) log: PathBuf,
    pub(crate) seen: Arc<Mutex<Vec<u8>>>,
}

impl Console {
    /// Starts a VM (TCG, `mem_mib` MiB, QEMU's `cpu` model if given) that network-boots from `tap`
    /// in `ns` through its NIC's iPXE ROM with MAC `mac`, `disk` as its virtio disk and its serial
    /// console on a socket, and waits (within `limit`) for genesis's shell prompt. The console and
    /// when QEMU started.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn boot_to_shell(
        lab: &Lab,
        ns: &Netns,
        tap: &str,
        mac: &str,
        disk: &std::path::Path,
        mem_mib: u32,
        cpu: Option<&str>,
        limit: Duration,
    ) -> (Console, Instant) {
        let sock_path = lab.path("console.sock");
        let mut cmd = ns.exec("qemu-system-x86_64");
        cmd.args(["-accel", "tcg", "-m", &mem_mib.to_string(), "-display", "none", "-vga", "none"])
            .args(["-nodefaults", "-no-user-config"]);
        if let Some(cpu) = cpu {
            cmd.args(["-cpu", cpu]);
        }
        cmd.arg("-serial")
            .arg(format!("unix:{},server=on,wait=on", sock_path.display()))
            .args(["-device", "sga", "-boot", "order=n", "-no-reboot"])
            .arg("-netdev")
            .arg(format!("tap,id=n0,ifname={tap},script=no,downscript=no"))
            .arg("-device")
            .arg(format!("virtio-net-pci,netdev=n0,mac={mac}"))
            .arg("-drive")
            .arg(format!("file={},if=virtio,format=raw", disk.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let start = Instant::now();
        let child = cmd.spawn().expect("qemu starts");
        // QEMU waits for the test to connect before the VM runs (wait=on): nothing is missed.
        let sock = loop {
            match UnixStream::connect(&sock_path) {
                Ok(s) => break s,
                Err(_) if start.elapsed() < Duration::from_secs(30) => std::thread::sleep(Duration::from_millis(100)),
                Err(e) => panic!("QEMU's serial socket {}: {e}", sock_path.display()),
            }
        };
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (mut reader, copy) = (sock.try_clone().unwrap(), seen.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                copy.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        let vm = Console { child, sock, log: lab.path("console.log"), seen };
        vm.wait_for("oxcat genesis: shell", 0, limit);
        // The prompt, then the shell is ready for input.
        let shell_at = {
            let seen = vm.seen.lock().unwrap();
            seen.windows(20).position(|w| w == b"oxcat genesis: shell").unwrap()
        };
        vm.wait_for("# ", shell_at, Duration::from_secs(60));
        (vm, start)
    }

    pub(crate) fn text(&self) -> String {
        std::fs::write(&self.log, &*self.seen.lock().unwrap()).unwrap();
        console_text(&self.log)
    }

    /// Waits until the console shows `want` (escapes stripped) after `from` bytes of it.
    pub(crate) fn wait_for(&self, want: &str, from: usize, limit: Duration) -> String {
        let start = Instant::now();
        loop {
            let raw = self.seen.lock().unwrap()[from..].to_vec();
            let text = String::from_utf8_lossy(&raw).into_owned();
            if text.contains(want) {
                return text;
            }
            assert!(start.elapsed() < limit, "no {want:?} on the console within {limit:?}:\n{}", self.text());
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Runs `cmd` in the shell; its output. The end marker is computed by the shell, so the
    /// echo of the typed line does not match it.
    pub(crate) fn run(&mut self, cmd: &str) -> String {
        let from = self.seen.lock().unwrap().len();
        writeln!(self.sock, "{cmd}; echo \"== $((6*7)) exit $? ==\"").unwrap();
        let text = self.wait_for("== 42 exit", from, Duration::from_secs(120));
        let out = text.split("== 42 exit").next().unwrap();
        // Drop the echoed command line.
        let out = out.split_once('\n').map(|(_, rest)| rest).unwrap_or("").replace('\r', "");
        // Programs color their output on a terminal.
        regex::Regex::new(r"\x1b\[[0-9;?]*[A-Za-z]").unwrap().replace_all(&out, "").into_owned()
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn genesis_boots_from_oxcatd_into_a_shell_that_runs_oxcat_and_sees_the_disk() {
    if !available() {
        return;
    }
    let lab = Lab::new();
    let tftp = lab.path("tftp");
    link_genesis(&tftp);
    // nodeset's shell boots genesis from the TFTP root (served over HTTP too), no osimage needed.
    let (ns, tap, _daemon) = shell_node_network(&lab, &tftp, MAC);

    // A second disk, virtio: genesis's drivers must find it as vda.
    let disk = lab.path("disk.raw");
    std::fs::File::create(&disk).unwrap().set_len(64 << 20).unwrap();
    let (mut vm, start) = Console::boot_to_shell(&lab, &ns, &tap, MAC, &disk, 512, None, Duration::from_secs(480));
    let booted = start.elapsed();
    eprintln!("genesis: console shell {:.1} s after QEMU started", booted.as_secs_f64());
    let console = vm.text();
    for want in [
        "oxcat genesis: hostname n1",
        &format!("oxcat genesis: DHCP on eth0 ({MAC})"),
        "oxcat genesis: eth0: 10.99.0.11/24",
    ] {
        assert!(console.lines().any(|l| l.trim() == want), "no line {want:?} on the console:\n{console}");
    }

    // The oxcat binary and the libraries copied with it run.
    let out = vm.run("/bin/oxcat --version");
    assert!(out.lines().any(|l| l == format!("oxcat {}", env!("CARGO_PKG_VERSION"))), "{out}");
    let out = vm.run("oxcat nodels --help");
    assert!(out.contains("Usage: nodels"), "{out}");
    let list = Command::new(oxcat_bin()).arg("--list").output().unwrap();
    if String::from_utf8_lossy(&list.stdout).lines().any(|l| l == "nodeagent") {
        let out = vm.run("oxcat nodeagent disks --json");
        assert!(out.contains("vda"), "{out}");
    }
    let out = vm.run("cat /sys/class/net/*/address");
    assert!(out.lines().any(|l| l.trim() == MAC), "{out}");
    // virtio_blk came by modalias: the second disk, 64 MiB in 512-byte sectors.
    let out = vm.run("ls /sys/block; cat /sys/block/vda/size");
    assert!(out.lines().any(|l| l.trim() == "131072"), "{out}");
    assert_eq!(vm.run("hostname").trim(), "n1");
    // The shell has the console as its terminal: Ctrl-C stops a foreground command.
    let from = vm.seen.lock().unwrap().len();
    vm.sock.write_all(b"sleep 1000\n").unwrap();
    std::thread::sleep(Duration::from_secs(2));
    vm.sock.write_all(b"\x03").unwrap();
    writeln!(vm.sock, "echo \"== $((6*7)) interrupted ==\"").unwrap();
    vm.wait_for("== 42 interrupted ==", from, Duration::from_secs(60));
}
