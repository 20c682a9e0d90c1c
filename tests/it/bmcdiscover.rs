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
