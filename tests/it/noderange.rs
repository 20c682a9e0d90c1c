//! Noderanges against a real store: exclusions that name nothing, huge ranges, long lists of
//! unknown names, and selections on secret columns.

use crate::harness::Lab;

/// `rpower compute,-n2l off` (a typo for n2) must power off nothing: the excluded name is an
/// unknown name, as in xCAT, not a silent no-op that leaves n2 unspared.
#[test]
fn an_exclusion_naming_nothing_stops_rpower_before_any_node_is_touched() {
    let Some((lab, bmcs)) = crate::hardware::lab_with(2) else { return };
    lab.run("rpower", &["compute", "on"]).ok();
    lab.run("rpower", &["compute,-n2l", "off"])
        .fails(2)
        .stdout_is("")
        .stderr_is("Error: Invalid nodes and/or groups in noderange: n2l\n");
    // Plain names with a mistyped exclusion too (rpower reads only the named nodes' rows).
    lab.run("rpower", &["n1,n2,-n2l", "off"])
        .fails(2)
        .stdout_is("")
        .stderr_is("Error: Invalid nodes and/or groups in noderange: n2l\n");
    lab.run("nodeset", &["n1,n2,-n2l", "boot"]).fails(2);
    for b in &bmcs {
        assert!(b.ipmitool(&["chassis", "power", "status"]).contains("Chassis Power is on"));
    }
    lab.run("rpower", &["compute,-n2", "off"]).ok().stdout_is("n1: off\n");
    lab.run("rpower", &["compute", "stat"]).ok().stdout_is("n1: off\nn2: on\n");
}

#[test]
fn exclusions_follow_xcat() {
    let lab = Lab::new();
    lab.enroll("n[1-4]").ok();
    lab.run("mkdef", &["-t", "group", "empty"]).ok();
    lab.run("nodels", &["compute,-cn0l"]).fails(2).stderr_is("Error: Invalid nodes and/or groups in noderange: cn0l\n");
    lab.run("nodels", &["compute,-rack9"])
        .fails(2)
        .stderr_is("Error: Invalid nodes and/or groups in noderange: rack9\n");
    lab.run("nodels", &["compute,-n[4-5]"]).fails(2).stderr_is("Error: Invalid nodes and/or groups in noderange: n5\n");
    // A regex or selection that matches nothing, or a defined empty group, is no error in xCAT.
    for r in ["compute,-/x.*", "compute,-empty", "compute,-mgt==kvm", "compute,-n4"] {
        lab.run("nodels", &[r]).ok().stdout_is(if r.ends_with("n4") { "n1\nn2\nn3\n" } else { "n1\nn2\nn3\nn4\n" });
    }
}

#[test]
fn a_huge_range_fails_at_once_with_a_short_line_and_the_limit_is_a_site_setting() {
    let lab = Lab::new();
    lab.enroll("node[1-3]").ok();
    let o = lab.run("nodels", &["node[1-10000000]"]).fails(2).stdout_is("");
    assert_eq!(
        o.stderr,
        "Error: invalid noderange 'node[1-10000000]': more than 1000000 names in all (raise site.noderangelimit if that is meant)\n"
    );
    lab.run("mkdef", &["x[1-10000000]", "groups=all"]).fails(2);
    lab.run("addbmnode", &["x[1-2000000]", "--bmc", "10.0.0.1"]).fails(2);
    // Many unknown names: the first 20, then a count.
    let o = lab.run("nodels", &["node[1-200000]"]).fails(2);
    assert!(
        o.stderr.starts_with("Error: Invalid nodes and/or groups in noderange: node4,node5,"),
        "{}",
        &o.stderr[..200]
    );
    assert!(o.stderr.ends_with(",node23,... and 199977 more\n"), "{}", o.stderr);
    assert_eq!(o.stderr.lines().count(), 1);
    // The site setting lowers (or raises) the limit, and is checked.
    lab.run("chdef", &["-t", "site", "noderangelimit=100"]).ok();
    lab.run("nodels", &["node[1-3],node[1-97]"]).fails(2).stderr_is("Error: Invalid nodes and/or groups in noderange: node4,node5,node6,node7,node8,node9,node10,node11,node12,node13,node14,node15,node16,node17,node18,node19,node20,node21,node22,node23,... and 74 more\n");
    lab.run("nodels", &["node[1-3],node[1-98]"]).fails(2).stderr_is(
        "Error: invalid noderange 'node[1-98]': more than 100 names in all (raise site.noderangelimit if that is meant)\n",
    );
    lab.run("mkdef", &["y[1-101]", "groups=all"]).fails(2);
    // A typo is refused as it is written, and the limit in force stays.
    lab.run("chdef", &["-t", "site", "noderangelimit=lots"])
        .fails(2)
        .stderr_is("Error: site.noderangelimit: 'lots' is not allowed (allowed: a number of names, at least 1)\n");
    lab.run("nodels", &["node[1-3],node[1-98]"]).fails(2).stderr_is(
        "Error: invalid noderange 'node[1-98]': more than 100 names in all (raise site.noderangelimit if that is meant)\n",
    );
}

/// A selection on a secret would confirm a guessed BMC password (or boot token) without printing
/// it: every form of it is refused, in noderanges, nodels criteria and lsdef -w.
#[test]
fn selections_on_secrets_are_refused() {
    let lab = Lab::new();
    lab.enroll("n[1-2]").ok();
    for op in ["==", "!=", "=~", "!~"] {
        let sel = format!("ipmi.password{op}secret");
        let why = "ipmi.password is secret: it cannot be used to select nodes (==, !=, =~, !~)";
        lab.run("nodels", &[&sel])
            .fails(2)
            .stdout_is("")
            .stderr_is(&format!("Error: invalid noderange '{sel}': {why}\n"));
        lab.run("nodels", &["all", &sel]).fails(2).stdout_is("").stderr_is(&format!("Error: {why}\n"));
        lab.run("nodels", &["n1", &format!("chain.token{op}x")]).fails(2).stdout_is("");
        lab.run("lsdef", &["-w", &format!("bmcpassword{op}secret")])
            .fails(2)
            .stdout_is("")
            .stderr_is("Error: bmcpassword is secret: it cannot be used to select nodes (==, !=, =~, !~)\n");
        lab.run("rpower", &[&sel, "stat"]).fails(2).stdout_is("");
    }
    // Other columns still select.
    lab.run("nodels", &["ipmi.username==admin"]).ok().stdout_is("n1\nn2\n");
    lab.run("nodels", &["all", "ipmi.bmc=~1$"]).ok().stdout_is("n1\n");
    lab.run("lsdef", &["-w", "bmcusername==admin", "-i", "bmc"]).ok();
}
