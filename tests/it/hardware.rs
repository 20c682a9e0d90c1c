//! rpower, rsetboot, rinv, rvitals, reventlog against OpenIPMI's simulated BMCs, cross-checked
//! with ipmitool on the same simulator.

use crate::bmcsim::{self, Bmc, PASSWORD, USER};
use crate::harness::Lab;
use std::net::UdpSocket;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// A lab with `n` simulated BMCs defined as nodes n1..nN (group compute).
pub fn lab_with(n: usize) -> Option<(Lab, Vec<Bmc>)> {
    if !bmcsim::available() {
        return None;
    }
    let lab = Lab::new();
    let bmcs: Vec<Bmc> = (0..n).map(|_| Bmc::start(lab.dir.path())).collect();
    for (i, b) in bmcs.iter().enumerate() {
        let node = format!("n{}", i + 1);
        lab.run(
            "mkdef",
            &[
                &node,
                "groups=compute",
                "mgt=ipmi",
                &format!("bmc={}", b.addr),
                &format!("bmcusername={USER}"),
                &format!("bmcpassword={PASSWORD}"),
            ],
        )
        .ok();
    }
    Some((lab, bmcs))
}

#[test]
fn every_power_transition_and_the_state_after_it() {
    let Some((lab, b)) = lab_with(1) else { return };
    let b = &b[0];
    let step = |action: &str, printed: &str, state: &str| {
        lab.run("rpower", &["n1", action]).ok().stdout_is(&format!("n1: {printed}\n"));
        lab.run("rpower", &["n1", "stat"]).ok().stdout_is(&format!("n1: {state}\n"));
        assert!(
            b.ipmitool(&["chassis", "power", "status"]).contains(&format!("Chassis Power is {state}")),
            "after {action}"
        );
    };
    step("stat", "off", "off");
    step("on", "on", "on");
    step("on", "on", "on"); // already on: nothing sent
    step("reset", "reset", "on");
    step("boot", "reset", "on"); // on: boot resets
    step("off", "off", "off");
    step("off", "off", "off");
    step("softoff", "off", "off"); // already off
    step("boot", "on", "on"); // off: boot powers on
    step("softoff", "softoff", "off");
    step("cycle", "on", "on"); // off: cycle powers on
                               // On: cycle turns power off, and the BMC turns it back on a moment later.
    lab.run("rpower", &["n1", "cycle"]).ok().stdout_is("n1: cycle\n");
    let deadline = Instant::now() + std::time::Duration::from_secs(15);
    while lab.run("rpower", &["n1", "stat"]).ok().stdout != "n1: on\n" {
        assert!(Instant::now() < deadline, "the node did not come back on after cycle");
    }
    assert_eq!(b.power_file(), "1");
    // xCAT records the transition in nodelist.status.
    lab.run("nodels", &["n1", "nodelist.status"]).ok().stdout_is("n1: powering-on\n");
    lab.run("rpower", &["n1", "state"]).ok().stdout_is("n1: on\n");
    lab.run("rpower", &["n1", "status"]).ok().stdout_is("n1: on\n");
}

#[test]
fn boot_device_is_set_and_read_back() {
    let Some((lab, b)) = lab_with(1) else { return };
    let b = &b[0];
    for (dev, word, selector) in [
        ("net", "Network", "Force PXE"),
        ("hd", "Hard Drive", "Force Boot from default Hard-Drive"),
        ("cd", "CD/DVD", "Force Boot from CD/DVD"),
    ] {
        lab.run("rsetboot", &["n1", dev]).ok().stdout_is(&format!("n1: {word}\n"));
        lab.run("rsetboot", &["n1", "stat"]).ok().stdout_is(&format!("n1: {word}\n"));
        let it = b.ipmitool(&["chassis", "bootparam", "get", "5"]);
        assert!(it.contains(selector), "{dev}: ipmitool says {it}");
    }
    lab.run("rsetboot", &["n1", "def"]).ok().stdout_is("n1: boot override inactive\n");
}

#[test]
fn fru_inventory_and_device_id() {
    let Some((lab, b)) = lab_with(1) else { return };
    let b = &b[0];
    let sn = format!("SN{:06}", b.index);
    lab.run("rinv", &["n1", "serial"])
        .ok()
        .stdout_is(&format!("n1: System Serial Number: {sn}\nn1: Chassis Serial Number: CHS{:04}\n", b.index));
    lab.run("rinv", &["n1", "model"]).ok().stdout_is(
        "n1: System Manufacturer: Rackmakers\nn1: System Description: RM-2U\nn1: System Model/MTM: 7X02CTO1WW\nn1: System Revision: A1\n",
    );
    lab.run("rinv", &["n1", "firm"]).ok().stdout_is("n1: BMC Firmware: 9.08\n");
    let all = lab.run("rinv", &["n1"]).ok().stdout;
    for want in [
        format!("n1: System Asset Number: ASSET{}", b.index),
        format!("n1: Board Serial Number: BRD{:04}", b.index),
        "n1: Board manufacture date: 07/08/2024 16:00".to_string(),
        "n1: Manufacturer ID: 4753".into(),
    ] {
        assert!(all.contains(&want), "{want} not in\n{all}");
    }
    // ipmitool reads the same FRU and firmware.
    let fru = b.ipmitool(&["fru", "print", "0"]);
    assert!(fru.contains(&format!("Product Serial        : {sn}")), "{fru}");
    assert!(b.ipmitool(&["mc", "info"]).contains("Firmware Revision         : 9.08"));
    let guid = lab.run("rinv", &["n1", "guid"]).ok().stdout;
    let theirs = b.ipmitool(&["mc", "guid"]);
    let theirs = theirs.lines().next().unwrap().split(": ").nth(1).unwrap().trim();
    assert_eq!(guid, format!("n1: UUID/GUID: {theirs}\n"));
}

#[test]
fn sensors_with_units_match_ipmitool() {
    let Some((lab, b)) = lab_with(1) else { return };
    lab.run("rvitals", &["n1"])
        .ok()
        .stdout_is("n1: Power Status: off\nn1: 12V: 12 Volts\nn1: CPU Temp: 45 C (113 F)\nn1: FAN1: 3600 RPM\n");
    lab.run("rvitals", &["n1", "temp"]).ok().stdout_is("n1: CPU Temp: 45 C (113 F)\n");
    lab.run("rvitals", &["n1", "voltage"]).ok().stdout_is("n1: 12V: 12 Volts\n");
    lab.run("rvitals", &["n1", "fanspeed"]).ok().stdout_is("n1: FAN1: 3600 RPM\n");
    let sdr = b[0].ipmitool(&["sdr", "list"]);
    for want in ["CPU Temp         | 45 degrees C", "12V              | 12 Volts", "FAN1             | 3600 RPM"] {
        assert!(sdr.contains(want), "{want} not in\n{sdr}");
    }
}

/// The SDR cache (site.ipmisdrcache): the second rvitals takes the records from the cache, and a
/// repository that changed on the BMC (here: erased, which moves its erase timestamp) is read again.
#[test]
fn rvitals_caches_sdrs_until_the_repository_changes() {
    let Some((lab, b)) = lab_with(1) else { return };
    let temp = "n1: CPU Temp: 45 C (113 F)\n";
    lab.run("rvitals", &["n1", "temp"]).ok().stdout_is(temp);
    let dir = lab.db().parent().unwrap().join("sdrcache");
    let entries: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!((mode(&dir), mode(&entries[0])), (0o700, 0o600));
    // Renaming the sensor inside the cached record shows whether the records came from the cache.
    let cached = std::fs::read(&entries[0]).unwrap();
    let at = cached.windows(8).position(|w| w == b"CPU Temp").expect("the sensor's name is in the entry");
    let mut renamed = cached.clone();
    renamed[at..at + 8].copy_from_slice(b"CPU Tmpx");
    std::fs::write(&entries[0], &renamed).unwrap();
    lab.run("rvitals", &["n1", "temp"]).ok().stdout_is("n1: CPU Tmpx: 45 C (113 F)\n");
    lab.run("chdef", &["-t", "site", "ipmisdrcache=no"]).ok();
    lab.run("rvitals", &["n1", "temp"]).ok().stdout_is(temp);
    lab.run("chdef", &["-t", "site", "ipmisdrcache=yes"]).ok();
    lab.run("rvitals", &["n1", "temp"]).ok().stdout_is("n1: CPU Tmpx: 45 C (113 F)\n");
    // Reserve SDR Repository, then Clear SDR Repository ('CLR', initiate erase).
    let reservation = b[0].ipmitool(&["raw", "0x0a", "0x22"]);
    let r: Vec<String> = reservation.split_whitespace().map(|x| format!("0x{x}")).collect();
    assert_eq!(r.len(), 2, "reservation: {reservation}");
    b[0].ipmitool(&["raw", "0x0a", "0x27", &r[0], &r[1], "0x43", "0x4c", "0x52", "0xaa"]);
    lab.run("rvitals", &["n1", "temp"]).ok().stdout_is(temp);
}

#[test]
fn event_log_read_and_clear() {
    let Some((lab, b)) = lab_with(1) else { return };
    // ipmi_sim stamps entries with its own SEL clock, which starts at zero: "Pre-Init", as ipmitool says.
    let line = "n1: Pre-Init Temperature #1 Upper Critical going high (Asserted)\n";
    lab.run("reventlog", &["n1"]).ok().stdout_is(line);
    lab.run("reventlog", &["n1", "1"]).ok().stdout_is(line);
    let it = b[0].ipmitool(&["sel", "list"]);
    assert!(it.contains("Pre-Init") && it.contains("Temperature #0x01 | Upper Critical going high | Asserted"), "{it}");
    lab.run("reventlog", &["n1", "clear"]).ok().stdout_is("n1: SEL cleared\n");
    lab.run("reventlog", &["n1"]).ok().stdout_is("n1: no SEL entries\n");
    assert!(!b[0].ipmitool(&["sel", "list"]).contains("Temperature"));
    lab.run("reventlog", &["n1", "zero"]).fails(2);
}

#[test]
fn wrong_password_and_refused_cipher_suite() {
    let Some((lab, _b)) = lab_with(2) else { return };
    lab.run("chdef", &["n2", "bmcpassword=wrong-pw"]).ok();
    let o = lab.run("rpower", &["n[1-2]", "stat"]).fails(1);
    assert_eq!(o.stdout, "n1: off\n");
    assert_eq!(o.stderr, "n2: Error: invalid user name or password\n");
    // The simulator has no cipher suite 17; asking for it alone is refused, 17,3 falls back.
    lab.run("chdef", &["n1", "bmcciphersuite=17"]).ok();
    lab.run("rpower", &["n1", "stat"]).fails(1).stderr_is("n1: Error: cipher suite 17 refused (04h)\n");
    lab.run("chdef", &["n1", "bmcciphersuite=17,3"]).ok();
    lab.run("rpower", &["n1", "stat"]).ok().stdout_is("n1: off\n");
}

#[test]
fn dead_bmcs_time_out_in_parallel_beside_live_ones() {
    let Some((lab, _b)) = lab_with(2) else { return };
    for n in ["n3", "n4"] {
        lab.run("mkdef", &[n, "groups=compute", &format!("bmc={}", bmcsim::dead_addr()), "bmcpassword=x"]).ok();
    }
    lab.run("mkdef", &["n5", "groups=compute"]).ok();
    let o = lab.run("rpower", &["compute", "stat", "-t", "0.3", "-r", "2"]).fails(1);
    assert_eq!(o.stdout, "n1: off\nn2: off\n");
    let lines: Vec<&str> = o.stderr.lines().collect();
    assert_eq!(lines.len(), 3, "{}", o.stderr);
    assert!(
        lines[0].starts_with("n3: Error: BMC 127.") && lines[0].ends_with(" did not answer (2 tries, 0.3 s each)"),
        "{}",
        lines[0]
    );
    assert!(lines[1].starts_with("n4: Error: BMC 127."), "{}", lines[1]);
    assert_eq!(lines[2], "n5: Error: no BMC address (set one: chdef n5 bmc=ADDRESS)");
    // JSON Lines: the same records, same order.
    let o = lab.run("rpower", &["compute", "stat", "-t", "0.3", "-r", "1", "--json"]).fails(1);
    let recs: Vec<serde_json::Value> = o.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(recs.len(), 5);
    assert_eq!(recs[0], serde_json::json!({"node": "n1", "ok": true, "data": {"power": "off"}}));
    assert_eq!(recs[2]["ok"], false);
    assert_eq!(recs[2]["error"]["kind"], "timeout");
    assert_eq!(recs[4]["error"]["kind"], "config");
}

/// UDP sockets standing in for BMCs that never answer; records which one got each datagram, and
/// when, in order of arrival.
struct Silent {
    order: Arc<Mutex<Vec<usize>>>,
    times: Arc<Mutex<Vec<(usize, Instant)>>>,
    addrs: Vec<std::net::Ipv4Addr>,
}

fn silent_bmcs(n: usize) -> Silent {
    let order = Arc::new(Mutex::new(Vec::new()));
    let times = Arc::new(Mutex::new(Vec::new()));
    let mut addrs = Vec::new();
    for i in 0..n {
        let addr = bmcsim::dead_addr();
        let sock = UdpSocket::bind((addr, 623)).unwrap();
        sock.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
        let (order, times) = (order.clone(), times.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            let start = Instant::now();
            while start.elapsed().as_secs() < 10 {
                if sock.recv(&mut buf).is_ok() {
                    order.lock().unwrap().push(i);
                    times.lock().unwrap().push((i, Instant::now()));
                }
            }
        });
        addrs.push(addr);
    }
    Silent { order, times, addrs }
}

/// A lab whose group `silent` holds nodes s1..sN, each with a BMC that never answers.
fn lab_with_silent(n: usize) -> Option<(Lab, Silent)> {
    if !bmcsim::available() {
        return None;
    }
    let lab = Lab::new();
    let s = silent_bmcs(n);
    for (i, a) in s.addrs.iter().enumerate() {
        lab.run("mkdef", &[&format!("s{}", i + 1), "groups=silent", &format!("bmc={a}"), "bmcpassword=x"]).ok();
    }
    Some((lab, s))
}

#[test]
fn fanout_bound_really_limits_conversations_in_flight() {
    let Some((lab, s)) = lab_with_silent(3) else { return };
    // -f 1: each BMC gets both its tries before the next one hears anything.
    lab.run("rpower", &["silent", "stat", "-f", "1", "-t", "0.2", "-r", "2"]).fails(1);
    assert_eq!(*s.order.lock().unwrap(), vec![0, 0, 1, 1, 2, 2]);
    s.order.lock().unwrap().clear();
    // -f 3: all three are asked before anyone's retry.
    lab.run("rpower", &["silent", "stat", "-f", "3", "-t", "0.2", "-r", "2"]).fails(1);
    let order = s.order.lock().unwrap().clone();
    let mut first: Vec<usize> = order[..3].to_vec();
    first.sort();
    assert_eq!(first, vec![0, 1, 2], "{order:?}");
}

#[test]
fn sessions_are_closed_so_the_bmc_never_runs_out() {
    let Some((lab, _b)) = lab_with(1) else { return };
    // ipmi_sim refuses new sessions after 63 that were never closed.
    let o = lab.sh("for i in $(seq 1 70); do rpower n1 stat || exit 1; done").output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 70);
}

#[test]
fn addbmnode_validate_logs_in_before_enrolling() {
    if !bmcsim::available() {
        return;
    }
    let lab = Lab::new();
    let live = Bmc::start(lab.dir.path());
    let dead = bmcsim::dead_addr();
    lab.run("chdef", &["-t", "site", "ipmitimeout=0.3", "ipmiretries=1"]).ok();
    lab.write("pw", &format!("{PASSWORD}\n"));
    lab.write("bad.pw", "nope\n");
    let args = |range: &str, bmc: String, mac: &str, pw: &str| -> Vec<String> {
        [range, "--bmc", &bmc, "--bmc-user", USER, "--bmc-password-file", pw, "--mac", mac, "--validate"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    };
    let run = |a: Vec<String>| lab.run("addbmnode", &a.iter().map(String::as_str).collect::<Vec<_>>());
    let before = lab.snapshot();
    run(args("d1", dead.to_string(), "52:54:00:00:0d:01", "pw")).fails(2).stderr_is(&format!(
        "d1: Error: BMC {dead} did not answer (1 tries, 0.3 s each)\nError: nothing was enrolled\n"
    ));
    run(args("w1", live.addr.to_string(), "52:54:00:00:0d:02", "bad.pw"))
        .fails(2)
        .stderr_is("w1: Error: invalid user name or password\nError: nothing was enrolled\n");
    assert_eq!(lab.snapshot(), before);
    run(args("l1", live.addr.to_string(), "52:54:00:00:0d:03", "pw")).ok().stdout_is("1 nodes enrolled.\n");
    lab.run("rpower", &["l1", "stat"]).ok().stdout_is("l1: off\n");
}

#[test]
fn power_on_is_staggered_in_batches() {
    let Some((lab, s)) = lab_with_silent(3) else { return };
    // One node per batch, 0.6 s apart: nobody may hear from us before its batch's turn.
    lab.run("chdef", &["-t", "site", "syspowermaxnodes=1", "syspowerinterval=0.6"]).ok();
    let start = Instant::now();
    lab.run("rpower", &["silent", "on", "-t", "0.1", "-r", "1"]).fails(1);
    let times = s.times.lock().unwrap().clone();
    let first =
        |i: usize| times.iter().find(|(b, _)| *b == i).map(|(_, t)| t.duration_since(start).as_secs_f64()).unwrap();
    assert!(first(1) >= 0.6 && first(2) >= 1.2, "batches started early: {:?}", [first(0), first(1), first(2)]);
    // stat is never staggered: all three BMCs are asked before anyone's retry.
    s.order.lock().unwrap().clear();
    lab.run("rpower", &["silent", "stat", "-t", "0.3", "-r", "2"]).fails(1);
    let order = s.order.lock().unwrap().clone();
    let mut first: Vec<usize> = order[..3].to_vec();
    first.sort();
    assert_eq!(first, vec![0, 1, 2], "stat was staggered: {order:?}");
}
