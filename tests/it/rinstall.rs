//! rinstall: nodeset + rsetboot net + rpower boot against simulated BMCs (ipmi_sim), and -c
//! following the nodes' status as they report it (through oxcatd, or set in the store).

use crate::bmcsim::Bmc;
use crate::harness::{Daemon, Lab};
use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Two nodes n1, n2 with simulated BMCs, MACs and addresses (n1 at 127.0.0.11, which oxcatd
/// checks its status reports come from), a disk image `img` and stand-in genesis files.
fn lab() -> Option<(Lab, Vec<Bmc>)> {
    let (lab, bmcs) = crate::hardware::lab_with(2)?;
    let tftp = lab.path("tftp");
    lab.run("chdef", &["-t", "site", &format!("tftpdir={}", tftp.display()), "master=127.0.0.1"]).ok();
    lab.write("disk.img", "a whole disk");
    lab.run("addimage", &["img", "--disk", "disk.img"]).ok();
    let (kernel, initrd) = oxcat::boot::genesis_files("x86_64");
    for f in [kernel, initrd] {
        std::fs::create_dir_all(tftp.join(&f).parent().unwrap()).unwrap();
        std::fs::write(tftp.join(f), "genesis").unwrap();
    }
    lab.run("chdef", &["n1", "mac=52:54:00:00:00:01", "ip=127.0.0.11"]).ok();
    lab.run("chdef", &["n2", "mac=52:54:00:00:00:02", "ip=127.0.0.12"]).ok();
    Some((lab, bmcs))
}

/// What chassis_control recorded on the BMC: (power, boot device).
fn chassis(b: &Bmc) -> (String, String) {
    let read = |f: &str| std::fs::read_to_string(b.dir.join(f)).unwrap_or_default().trim().to_string();
    (read("power"), read("boot"))
}

#[test]
fn sets_nodeset_boot_device_and_power_and_skips_what_failed() {
    let Some((lab, bmcs)) = lab() else { return };
    // n3 has no BMC: nodeset works for it, rpower does not.
    lab.run("mkdef", &["n3", "groups=compute", "mac=52:54:00:00:00:03", "ip=127.0.0.13"]).ok();
    // n4 has no MAC: nodeset refuses it, so it gets no further.
    lab.run("mkdef", &["n4", "groups=compute", "ip=127.0.0.14", "mgt=ipmi", &format!("bmc={}", bmcs[0].addr)]).ok();
    let o = lab.run("rinstall", &["n[1-4]", "osimage=img"]).fails(1);
    assert_eq!(
        o.stdout, "n1: install img\nn2: install img\nn3: install img\nn1: Network\nn2: Network\nn1: on\nn2: on\n",
        "{}",
        o.stderr
    );
    let err: Vec<&str> = o.stderr.lines().collect();
    assert_eq!(err.len(), 2, "{}", o.stderr);
    assert!(err[0].starts_with("n4: Error: no MAC address"), "{}", o.stderr);
    assert!(err[1].starts_with("n3: Error: "), "{}", o.stderr);
    for b in &bmcs {
        assert_eq!(chassis(b), ("1".to_string(), "pxe".to_string()));
        // ipmitool reads the same from the simulator.
        assert!(b.ipmitool(&["chassis", "bootparam", "get", "5"]).contains("Force PXE"));
    }
    lab.run("nodeset", &["n[1-4]", "stat"])
        .ok()
        .stdout_is("n1: install img\nn2: install img\nn3: install img\nn4: offline\n");
    lab.run("nodels", &["n[1-2]", "nodelist.status"]).ok().stdout_is("n1: powering-on\nn2: powering-on\n");
    // A node that is on already is reset.
    lab.run("rinstall", &["n1", "osimage=img"]).ok().stdout_is("n1: install img\nn1: Network\nn1: reset\n");
    lab.run("rinstall", &["n1", "offline"]).fails(2);
}

/// rinstall ARGS with its stdout lines coming through a channel as they are printed.
fn spawn(lab: &Lab, args: &[&str]) -> (Child, mpsc::Receiver<String>) {
    let mut child = lab.cmd("rinstall").args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for l in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// Waits (30 s at most) for the line `want`; every line before it is returned with it.
#[track_caller]
fn until(rx: &mpsc::Receiver<String>, want: &str) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(l) => {
                let done = l == want;
                seen.push(l);
                if done {
                    return seen;
                }
            }
            Err(e) => panic!("no line {want:?} ({e}); got {seen:?}"),
        }
    }
}

fn finish(mut child: Child, rx: mpsc::Receiver<String>) -> (i32, Vec<String>, String) {
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    (status.code().unwrap_or(-1), rx.iter().collect(), err)
}

#[test]
fn wait_follows_both_nodes_to_booted() {
    if !crate::harness::peers(&["curl"], "curl") {
        return;
    }
    let Some((lab, _bmcs)) = lab() else { return };
    lab.write("oxcat.toml", "[http]\nlisten = [\"127.0.0.1:0\"]\n[tftp]\nlisten = [\"127.0.0.1:0\"]\n");
    let mut cmd = lab.cmd("oxcatd");
    cmd.args(["--config", "oxcat.toml"]);
    let daemon = Daemon::start(cmd);
    let http = daemon.addr("HTTP");
    let (child, rx) = spawn(&lab, &["n[1-2]", "osimage=img", "-c", "-t", "60"]);
    let before = until(&rx, "n2: powering-on");
    assert!(before.starts_with(&["n1: install img".into(), "n2: install img".into()]), "{before:?}");
    assert!(before.contains(&"n1: powering-on".to_string()), "{before:?}");
    // n1 reports as its agent would: to oxcatd, from its address, with the token nodeset gave it.
    let token = lab.run("gettab", &["node=n1", "chain.token", "--show-secrets"]).ok().stdout.trim().to_string();
    let report = |status: &str| {
        let o = Command::new("curl")
            .args(["-s", "--max-time", "20", "--interface", "127.0.0.11", "-X", "POST"])
            .arg(format!("http://{http}/status?node=n1&token={token}&status={status}"))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&o.stdout), "ok\n", "{status}");
    };
    report("installing");
    until(&rx, "n1: installing");
    // n2's progress is set in the store directly.
    lab.run("chdef", &["n2", "status=installing 37%"]).ok();
    until(&rx, "n2: installing 37%");
    report("booted");
    until(&rx, "n1: booted");
    lab.run("chdef", &["n2", "status=booted"]).ok();
    until(&rx, "n2: booted");
    let (code, rest, err) = finish(child, rx);
    assert_eq!((code, rest, err.as_str()), (0, vec![], ""));
    drop(daemon);
}

#[test]
fn wait_fails_when_a_node_fails_or_times_out() {
    let Some((lab, _bmcs)) = lab() else { return };
    let (child, rx) = spawn(&lab, &["n[1-2]", "osimage=img", "--wait", "--timeout", "3"]);
    until(&rx, "n2: powering-on");
    lab.run("chdef", &["n1", "status=failed: checksum mismatch (expected a, got b)"]).ok();
    until(&rx, "n1: failed: checksum mismatch (expected a, got b)");
    let (code, rest, err) = finish(child, rx);
    assert_eq!((code, rest, err.as_str()), (1, vec![], "n2: timed out (last status: powering-on)\n"));
}
