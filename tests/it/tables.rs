//! tabdump / tabrestore in xCAT's CSV format.

use crate::harness::Lab;

#[test]
fn dump_restore_round_trip_and_replace_semantics() {
    let lab = Lab::new();
    lab.enroll("n[1-3]").ok();
    let dump = lab.run("tabdump", &["ipmi", "--show-secrets"]).ok().stdout;
    assert_eq!(
        dump.lines().next(),
        Some("#node,bmc,bmcport,taggedvlan,bmcid,username,password,ciphersuite,bmccert,bmcsystem,comments,disable")
    );
    assert!(dump.contains("\"n2\",\"10.1.0.2\",,,,\"admin\",\"secret\",,,,,\n"), "{dump}");
    // tabrestore replaces the whole table.
    lab.write("ipmi.csv", "#node,bmc,username,password\n\"compute\",\"|\\D+(\\d+)|10.9.0.($1+0)|\",\"root\",\"pw\"\n");
    lab.run("tabrestore", &["ipmi.csv"]).ok().stdout_is("");
    lab.run("nodels", &["n3", "ipmi.bmc", "ipmi.username"])
        .ok()
        .stdout_is("n3: ipmi.bmc: 10.9.0.3\nn3: ipmi.username: root\n");
    // -a adds rows.
    lab.write("ipmi.csv", "#node,bmc\n\"n1\",\"10.7.0.1\"\n");
    lab.run("tabrestore", &["-a", "ipmi.csv"]).ok();
    lab.run("nodels", &["n[1-2]", "ipmi.bmc"]).ok().stdout_is("n1: 10.7.0.1\nn2: 10.9.0.2\n");
}

#[test]
fn secrets_are_masked_and_masked_dumps_refused() {
    let lab = Lab::new();
    lab.enroll("n1").ok();
    let dump = lab.run("tabdump", &["ipmi"]).ok().stdout;
    assert!(dump.contains("\"********\"") && !dump.contains("secret"), "{dump}");
    let before = lab.snapshot();
    lab.write("ipmi.csv", &dump);
    lab.run("tabrestore", &["ipmi.csv"]).fails(2).stderr_is(
        "Error: ipmi.csv: line 2: ipmi.password: '********' is the mask printed in place of a secret, not its value (dump with --show-secrets to carry secrets)\n",
    );
    assert_eq!(lab.snapshot(), before);
}

#[test]
fn tabrestore_refusals() {
    let lab = Lab::new();
    let before = lab.snapshot();
    lab.write("ipmi.csv", "\"n1\",\"x\"\n");
    lab.run("tabrestore", &["ipmi.csv"])
        .fails(2)
        .stderr_is("Error: ipmi.csv: Data missing header line starting with #\n");
    lab.write("ipmi.csv", "#node,colour\n\"n1\",\"red\"\n");
    lab.run("tabrestore", &["ipmi.csv"]).fails(2).stderr_is(
        "Error: ipmi.csv: The header line indicates that column 'colour' should exist, which is not defined in the schema for 'ipmi'\n",
    );
    lab.write("bogus.csv", "#a\n");
    lab.run("tabrestore", &["bogus.csv"])
        .fails(2)
        .stderr_is("Error: bogus.csv: 'bogus' is not a table (the file name must be TABLE.csv, e.g. ipmi.csv)\n");
    assert_eq!(lab.snapshot(), before);
}

#[test]
fn tabdump_lists_tables_and_site_defaults() {
    let lab = Lab::new();
    let tables = lab.run("tabdump", &[]).ok().stdout;
    for t in [
        "site",
        "nodelist",
        "nodehm",
        "ipmi",
        "mac",
        "hwinv",
        "noderes",
        "nodetype",
        "hosts",
        "networks",
        "osimage",
        "linuximage",
        "postscripts",
        "passwd",
        "auditlog",
    ] {
        assert!(tables.lines().any(|l| l == t), "{t} missing from {tables}");
    }
    let site = lab.run("tabdump", &["site"]).ok().stdout;
    assert!(site.starts_with("#key,value,comments,disable\n"));
    assert!(site.contains("\"dhcplease\",\"43200\",,\n"), "{site}");
}
