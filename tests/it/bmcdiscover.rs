//! bmcdiscover against simulated BMCs (ipmi_sim, see bmcsim.rs) on loopback addresses, among
//! addresses where nothing answers.

use crate::bmcsim::{self, Bmc};
use crate::harness::Lab;

#[test]
fn bmcs_that_answer_are_listed_as_lines_stanzas_and_defined() {
    if !bmcsim::available() {
        return;
    }
    let lab = Lab::new();
    lab.run("chdef", &["-t", "site", "ipmitimeout=0.5", "ipmiretries=2"]).ok();
    let bmcs: Vec<Bmc> = (0..3).map(|_| Bmc::start_with(&lab.path(""), false)).collect();
    let dead: Vec<String> = (0..4).map(|_| bmcsim::dead_addr().to_string()).collect();
    let mut range: Vec<String> = bmcs.iter().map(|b| b.addr.to_string()).collect();
    range.extend(dead);
    let range = range.join(",");
    let fru = |b: &Bmc| bmcsim::fru_for(b.index);
    // Lines: ip,mtm,serial,user,password (masked),mp,bmc,mac,,
    let out = lab.run("bmcdiscover", &["--range", &range, "-u", "admin", "-p", "secret"]).ok().stdout;
    let want: String = bmcs
        .iter()
        .map(|b| format!("{},CH-100,{},admin,********,mp,bmc,,,\n", b.addr, fru(b).chassis_serial.unwrap()))
        .collect();
    assert_eq!(out, want);
    // A node whose vpd has a BMC's model and serial: reported as that node's, not defined again.
    let first = fru(&bmcs[0]).chassis_serial.unwrap();
    lab.run("mkdef", &["rack1n01", "groups=compute", "mtm=CH-100", &format!("serial={first}")]).ok();
    let out = lab.run("bmcdiscover", &["--range", &range, "-u", "admin", "-p", "secret", "-z"]).ok().stdout;
    let second = fru(&bmcs[1]).chassis_serial.unwrap();
    assert!(
        out.starts_with(&format!(
            "Found matching node rack1n01 with bmc ip address: {}, rsetboot/rpower rack1n01 to continue hardware discovery.\n\
             rack1n01:\n\tobjtype=node\n\tgroups=all\n\tbmc={}\n\tcons=ipmi\n\tmgt=ipmi\n\tmtm=CH-100\n\tserial={first}\n\
             \tbmcusername=admin\n\tbmcpassword=********\n",
            bmcs[0].addr, bmcs[0].addr
        )),
        "{out}"
    );
    let node2 = format!("node-ch-100-{}", second.to_lowercase());
    assert!(out.contains(&format!("{node2}:\n\tobjtype=node\n")), "{out}");
    // -w defines the others (the password stored, never printed).
    let out = lab.run("bmcdiscover", &["--range", &range, "-u", "admin", "-p", "secret", "-w"]).ok().stdout;
    assert!(
        out.contains(&format!(
            "Writing {node2} ({},CH-100,{second},admin,********,mp,bmc,,,) to database...\n",
            bmcs[1].addr
        )),
        "{out}"
    );
    lab.run("lsdef", &[&node2, "-i", "bmc,mgt,mtm,serial,bmcusername", "-c"]).ok().stdout_is(&format!(
        "{node2}: bmc={}\n{node2}: bmcusername=admin\n{node2}: mgt=ipmi\n{node2}: mtm=CH-100\n{node2}: serial={second}\n",
        bmcs[1].addr
    ));
    // The node it defined is driven with what was found.
    lab.run("rpower", &[&node2, "stat"]).ok().stdout_is(&format!("{node2}: off\n"));
    let audit = lab.run("tabdump", &["auditlog"]).ok().stdout;
    assert!(!audit.contains("secret"), "{audit}");
    // Without credentials: addresses only; a wrong password: a warning naming the BMC.
    let out = lab.run("bmcdiscover", &["--range", &bmcs[2].addr.to_string()]).ok().stdout;
    assert_eq!(out, format!("{},,,,,mp,bmc,,,\n", bmcs[2].addr));
    let o = lab.run("bmcdiscover", &["--range", &bmcs[2].addr.to_string(), "-u", "admin", "-p", "wrong"]).fails(1);
    assert!(o.stderr.starts_with(&format!("Warning: {}: ", bmcs[2].addr)), "{}", o.stderr);
    // Nothing there; a range that is not one.
    let o = lab.run("bmcdiscover", &["--range", &bmcsim::dead_addr().to_string()]).ok();
    assert_eq!(o.stderr, "Warning: No bmc found.\n");
    lab.run("bmcdiscover", &["--range", "10.0.0.0/8"]).fails(2);
}

/// A BMC that answers Redfish only (sushy-emulator on 127.0.0.1, HTTPS on a port of its own,
/// nothing on IPMI's port there): listed with the model and serial of its system, defined with
/// mgt=redfish, its port and the certificate it presented pinned (the same SHA-256 openssl
/// reads from the file), and then driven by rpower through that pin.
#[test]
fn a_redfish_only_bmc_is_found_and_defined_with_its_certificate_pinned() {
    if !crate::redfish::available() {
        return;
    }
    let lab = Lab::new();
    lab.run("chdef", &["-t", "site", "ipmitimeout=0.5", "ipmiretries=1"]).ok();
    let emu = crate::redfish::Emulator::start(lab.dir.path(), "rf", crate::redfish::SYSTEM);
    let port = emu.port.to_string();
    let system = emu.system();
    let text = |k: &str| system[k].as_str().unwrap_or("").to_string();
    let (model, serial) = (text("Model"), text("SerialNumber"));
    let (user, pw) = (crate::redfish::USER, crate::redfish::PASSWORD);
    let out =
        lab.run("bmcdiscover", &["--range", "127.0.0.1", "--redfish-port", &port, "-u", user, "-p", pw]).ok().stdout;
    assert_eq!(out, format!("127.0.0.1,{model},{serial},{user},********,mp,bmc,,,\n"));
    let cert = crate::redfish::openssl_fingerprint(&emu.cert);
    let node = if model.is_empty() || serial.is_empty() {
        "node-127-0-0-1".to_string()
    } else {
        format!("node-{model}-{serial}").to_lowercase().replace([' ', '.', '_', ':'], "-")
    };
    let mut want = format!(
        "{node}:\n\tobjtype=node\n\tgroups=all\n\tbmc=127.0.0.1\n\tbmcport={port}\n\tmgt=redfish\n\tbmccert={cert}\n"
    );
    for (k, v) in [("mtm", model.as_str()), ("serial", serial.as_str())] {
        if !v.is_empty() {
            want.push_str(&format!("\t{k}={v}\n"));
        }
    }
    want.push_str(&format!("\tbmcusername={user}\n\tbmcpassword=********\n"));
    let out =
        lab.run("bmcdiscover", &["--range", "127.0.0.1", "--redfish-port", &port, "-u", user, "-p", pw, "-z"]).ok();
    assert_eq!(out.stdout, want);
    lab.run("bmcdiscover", &["--range", "127.0.0.1", "--redfish-port", &port, "-u", user, "-p", pw, "-w"]).ok();
    lab.run("rpower", &[&node, "stat"]).ok().stdout_is(&format!("{node}: off\n"));
    // A service with sessions and a system that names its model and serial (redfish_service.py).
    let svc = crate::redfish::Service::start(lab.dir.path());
    let sport = svc.port.to_string();
    let out = lab.run("bmcdiscover", &["--range", "127.0.0.1", "--redfish-port", &sport, "-u", user, "-p", pw]).ok();
    assert_eq!(out.stdout, format!("127.0.0.1,TS-1,TS0001,{user},********,mp,bmc,,,\n"));
    // A wrong password: found, with a warning naming the BMC; without the probe, nothing found.
    let o =
        lab.run("bmcdiscover", &["--range", "127.0.0.1", "--redfish-port", &port, "-u", user, "-p", "wrong"]).fails(1);
    assert!(o.stderr.starts_with("Warning: 127.0.0.1: "), "{}", o.stderr);
    let o = lab.run("bmcdiscover", &["--range", "127.0.0.1", "--redfish-port", "0"]).ok();
    assert_eq!(o.stderr, "Warning: No bmc found.\n");
}
