//! addbmnode: enrollment and every refusal (message checked, store unchanged).

use crate::harness::Lab;

fn base_args<'a>(range: &'a str, mac: &'a str) -> Vec<&'a str> {
    vec![range, "--bmc", "10.1.0.9", "--bmc-user", "admin", "--bmc-password-file", "bmc.pw", "--mac", mac]
}

fn lab_with_n1() -> Lab {
    let lab = Lab::new();
    lab.write("bmc.pw", "secret\n");
    lab.run("addbmnode", &base_args("n1", "52:54:00:00:00:01")).ok().stdout_is("1 nodes enrolled.\n");
    lab
}

#[test]
fn enrolls_every_table_in_one_call_with_regex_values() {
    let lab = Lab::new();
    lab.write("bmc.pw", "secret\n");
    lab.run(
        "addbmnode",
        &[
            "node[001-003]",
            "--bmc",
            "|node(\\d+)|10.1.0.($1+0)|",
            "--bmc-user",
            "admin",
            "--bmc-password-file",
            "bmc.pw",
            "--mac",
            "|node(\\d+)|52:54:00:00:00:(sprintf('%02x',$1))|",
            "--ip",
            "|node(\\d+)|10.0.0.($1+100)|",
            "--cpus",
            "16",
            "--memory",
            "65536",
            "--disk",
            "480",
            "--arch",
            "x86_64",
            "--groups",
            "rack1,compute",
            "-s",
            "sn1",
        ],
    )
    .ok()
    .stdout_is("3 nodes enrolled.\n");
    lab.run(
        "nodels",
        &[
            "node002",
            "ipmi.bmc",
            "mac.mac",
            "hosts.ip",
            "hwinv.memory",
            "nodehm.mgt",
            "noderes.servicenode",
            "nodetype.arch",
            "nodelist.groups",
        ],
    )
    .ok()
    .stdout_is(
        "node002: ipmi.bmc: 10.1.0.2\nnode002: mac.mac: 52:54:00:00:00:02\nnode002: hosts.ip: 10.0.0.102\n\
             node002: hwinv.memory: 65536\nnode002: nodehm.mgt: ipmi\nnode002: noderes.servicenode: sn1\n\
             node002: nodetype.arch: x86_64\nnode002: nodelist.groups: rack1,compute,all\n",
    );
    // The password is stored but never printed unless asked for.
    lab.run("nodels", &["node001", "ipmi.password"]).ok().stdout_is("node001: ********\n");
    lab.run("nodels", &["node001", "ipmi.password", "--show-secrets"]).ok().stdout_is("node001: secret\n");
    // Secrets never reach the audit log.
    let audit = lab.run("tabdump", &["auditlog"]).ok().stdout;
    assert!(audit.contains("addbmnode") && !audit.contains("secret"), "{audit}");
}

#[test]
fn one_node_takes_all_macs_and_n_nodes_take_n() {
    let lab = Lab::new();
    lab.write("bmc.pw", "pw\n");
    lab.run("addbmnode", &base_args("a1", "52:54:00:00:00:01,52-54-00-00-00-02")).ok();
    lab.run("nodels", &["a1", "mac.mac"]).ok().stdout_is("a1: 52:54:00:00:00:01|52:54:00:00:00:02\n");
    let mut args = base_args("b[1-2]", "52:54:00:00:01:01,52:54:00:00:01:02");
    args[2] = "10.1.0.10";
    lab.run("addbmnode", &args).ok();
    lab.run("nodels", &["b[1-2]", "mac.mac"]).ok().stdout_is("b1: 52:54:00:00:01:01\nb2: 52:54:00:00:01:02\n");
    let before = lab.snapshot();
    lab.run("addbmnode", &base_args("c[1-3]", "52:54:00:00:02:01,52:54:00:00:02:02"))
        .fails(2)
        .stderr_is("Error: --mac: 2 MACs for 3 nodes (give one MAC per node in noderange order, or a regex value such as '|n(\\d+)|52:54:00:00:00:(sprintf(\"%02x\",$1))|')\n");
    assert_eq!(lab.snapshot(), before);
}

#[test]
fn refuses_a_mac_used_by_another_node() {
    let lab = lab_with_n1();
    let before = lab.snapshot();
    lab.run("addbmnode", &base_args("n2", "52:54:00:00:00:01"))
        .fails(2)
        .stderr_is("n2: Error: mac: 52:54:00:00:00:01 is already used by node n1\nError: nothing was enrolled\n");
    // The same MAC twice in one call is refused too, and nothing of the call lands.
    lab.run("addbmnode", &base_args("n[3-4]", "52:54:00:00:00:03,52:54:00:00:00:03"))
        .fails(2)
        .stderr_is("n4: Error: mac: 52:54:00:00:00:03 is already used by node n3\nError: nothing was enrolled\n");
    assert_eq!(lab.snapshot(), before);
}

#[test]
fn refuses_a_malformed_mac() {
    let lab = lab_with_n1();
    let before = lab.snapshot();
    lab.run("addbmnode", &base_args("n2", "52:54:00:00:01"))
        .fails(2)
        .stderr_is("n2: Error: mac: '52:54:00:00:01' is not a MAC address (allowed: six hex octets such as 52:54:00:12:34:56)\nError: nothing was enrolled\n");
    assert_eq!(lab.snapshot(), before);
}

#[test]
fn refuses_a_malformed_ip_and_bmc() {
    let lab = lab_with_n1();
    let before = lab.snapshot();
    let mut args = base_args("n2", "52:54:00:00:00:02");
    args.extend(["--ip", "10.0.0.300"]);
    lab.run("addbmnode", &args)
        .fails(2)
        .stderr_is("n2: Error: ip: '10.0.0.300' is not an IPv4 address (allowed: four numbers 0-255, as in 10.1.0.5)\nError: nothing was enrolled\n");
    let mut args = base_args("n2", "52:54:00:00:00:02");
    args[2] = "10.1.0.256";
    lab.run("addbmnode", &args)
        .fails(2)
        .stderr_is("n2: Error: bmc: '10.1.0.256' is not an IPv4 address or host name (allowed: 10.1.0.5 or bmc-n01.example.com)\nError: nothing was enrolled\n");
    assert_eq!(lab.snapshot(), before);
}

#[test]
fn refuses_a_malformed_node_name() {
    let lab = lab_with_n1();
    let before = lab.snapshot();
    lab.run("addbmnode", &base_args("n.2", "52:54:00:00:00:02"))
        .fails(2)
        .stderr_is("Error: invalid name 'n.2': '.' cannot be used in node names\nError: nothing was enrolled\n");
    assert_eq!(lab.snapshot(), before);
}

#[test]
fn refuses_missing_credentials() {
    let lab = lab_with_n1();
    let before = lab.snapshot();
    lab.run("addbmnode", &["n2", "--bmc", "10.1.0.2", "--mac", "52:54:00:00:00:02"])
        .fails(2)
        .stderr_is(
            "n2: Error: bmcusername: missing BMC credentials (give --bmc-user, or a passwd row with key 'ipmi')\n\
             n2: Error: bmcpassword: missing BMC credentials (give --bmc-password-file FILE or --bmc-password, or a passwd row with key 'ipmi')\n\
             Error: nothing was enrolled\n",
        );
    lab.write("empty.pw", "");
    lab.run(
        "addbmnode",
        &[
            "n2",
            "--bmc",
            "10.1.0.2",
            "--bmc-user",
            "u",
            "--bmc-password-file",
            "empty.pw",
            "--mac",
            "52:54:00:00:00:02",
        ],
    )
    .fails(2)
    .stderr_is("Error: --bmc-password-file: empty.pw is empty\n");
    assert_eq!(lab.snapshot(), before);
    // A default in the passwd table (xCAT's key=ipmi row) counts as credentials.
    lab.write(
        "passwd.csv",
        "#key,username,password,cryptmethod,authdomain,comments,disable\n\"ipmi\",\"ADMIN\",\"dflt\",,,,\n",
    );
    lab.run("tabrestore", &["passwd.csv"]).ok();
    lab.run("addbmnode", &["n2", "--bmc", "10.1.0.2", "--mac", "52:54:00:00:00:02"]).ok();
}

#[test]
fn refuses_a_node_already_enrolled_unless_forced() {
    let lab = lab_with_n1();
    let before = lab.snapshot();
    lab.run("addbmnode", &base_args("n1", "52:54:00:00:00:07")).fails(2).stderr_is(
        "n1: Error: node: already enrolled (use --force to replace its definition)\nError: nothing was enrolled\n",
    );
    assert_eq!(lab.snapshot(), before);
    let mut args = base_args("n1", "52:54:00:00:00:07");
    args.push("--force");
    lab.run("addbmnode", &args).ok();
    lab.run("nodels", &["n1", "mac.mac"]).ok().stdout_is("n1: 52:54:00:00:00:07\n");
}

#[test]
fn bulk_file_with_defaults_from_options() {
    let lab = Lab::new();
    lab.write("bmc.pw", "pw\n");
    lab.write(
        "nodes.csv",
        "node,bmc,mac,ip,memory\nr1n1,10.2.0.1,52:54:00:00:10:01,10.0.1.1,1024\nr1n2,10.2.0.2,\"52:54:00:00:10:02,52:54:00:00:10:03\",10.0.1.2,\n",
    );
    lab.run(
        "addbmnode",
        &["-f", "nodes.csv", "--bmc-user", "admin", "--bmc-password-file", "bmc.pw", "--memory", "2048"],
    )
    .ok()
    .stdout_is("2 nodes enrolled.\n");
    lab.run("nodels", &["r1n1,r1n2", "hwinv.memory", "mac.mac"]).ok().stdout_is(
        "r1n1: hwinv.memory: 1024\nr1n1: mac.mac: 52:54:00:00:10:01\nr1n2: hwinv.memory: 2048\nr1n2: mac.mac: 52:54:00:00:10:02|52:54:00:00:10:03\n",
    );
    lab.write("bad.csv", "node,bmc,colour\nx,1.2.3.4,red\n");
    lab.run("addbmnode", &["-f", "bad.csv"]).fails(2).stderr_is(
        "Error: bad.csv: unknown column 'colour' in the header (allowed: node, bmc, bmcusername, bmcpassword, mac, ip, groups, cpus, memory, disk, arch, servicenode, mgt, bmccert)\n",
    );
}

#[test]
fn ten_thousand_nodes_in_one_call() {
    let lab = Lab::new();
    lab.enroll("n[00001-10000]").ok().stdout_is("10000 nodes enrolled.\n");
    let o = lab.run("nodels", &["n10000", "ipmi.bmc", "mac.mac"]).ok();
    assert_eq!(o.stdout, "n10000: ipmi.bmc: 10.1.39.16\nn10000: mac.mac: 52:54:00:00:27:10\n");
}
