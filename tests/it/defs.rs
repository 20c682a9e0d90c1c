//! mkdef / chdef / lsdef / rmdef.

use crate::harness::Lab;

#[test]
fn mkdef_lsdef_round_trip_with_xcat_output() {
    let lab = Lab::new();
    lab.run(
        "mkdef",
        &[
            "-t",
            "node",
            "cn1",
            "groups=all,x86_64",
            "mgt=ipmi",
            "bmc=10.4.14.254",
            "bmcusername=ADMIN",
            "bmcpassword=admin",
            "mac=6C:AE:8B:1B:E8:52",
            "arch=x86_64",
            "netboot=xnba",
        ],
    )
    .ok()
    .stdout_is("1 object definitions have been created or modified.\n");
    lab.run("lsdef", &["cn1"]).ok().stdout_is(
        "Object name: cn1\n    arch=x86_64\n    bmc=10.4.14.254\n    bmcpassword=********\n    bmcusername=ADMIN\n    groups=all,x86_64\n    mac=6c:ae:8b:1b:e8:52\n    mgt=ipmi\n    netboot=xnba\n",
    );
    lab.run("lsdef", &[]).ok().stdout_is("cn1  (node)\n");
    lab.run("lsdef", &["cn1", "-i", "bmc,ip"]).ok().stdout_is("Object name: cn1\n    bmc=10.4.14.254\n    ip=\n");
    lab.run("lsdef", &["cn1", "-i", "bmc,bmcpassword", "-c", "--show-secrets"])
        .ok()
        .stdout_is("cn1: bmc=10.4.14.254\ncn1: bmcpassword=admin\n");
    // -z output feeds mkdef -z.
    let stanza = lab.run("lsdef", &["-z", "cn1", "--show-secrets"]).ok().stdout;
    assert!(
        stanza.starts_with("# <xCAT data object stanza file>\n\ncn1:\n    objtype=node\n    arch=x86_64\n"),
        "{stanza}"
    );
    lab.run("rmdef", &["cn1"]).ok().stdout_is("1 object definitions have been removed.\n");
    lab.run_stdin("mkdef", &["-z"], &stanza).ok();
    lab.run("lsdef", &["cn1", "-i", "bmcpassword", "--show-secrets", "-c"]).ok().stdout_is("cn1: bmcpassword=admin\n");
}

#[test]
fn mkdef_refusals_change_nothing() {
    let lab = Lab::new();
    lab.run("mkdef", &["n1", "groups=compute"]).ok();
    let before = lab.snapshot();
    lab.run("mkdef", &["n2", "bmc=10.0.0.2"]).fails(2).stderr_is(
        "Error: No object definitions have been created or modified: no attributes were specified. The 'groups' attribute is required when creating node definitions.\n",
    );
    lab.run("mkdef", &["n1", "groups=compute"]).fails(2).stderr_is("Error: A definition for 'n1' already exists.\n");
    lab.run("mkdef", &["x.y", "groups=compute"])
        .fails(2)
        .stderr_is("Error: invalid name 'x.y': '.' cannot be used in node names\n");
    lab.run("mkdef", &["n[2-3]", "groups=compute", "foo=1"])
        .fails(2)
        .stderr_is("Error: 'foo' is not a valid attribute name for an object type of 'node'.\n");
    lab.run("mkdef", &["n[2-3]", "groups=compute", "memory=lots", "arch=i386"]).fails(2).stderr_is(
        "n2: Error: memory: 'lots' is not a whole number (allowed: 0, 1, 2, ...)\n\
         n2: Error: arch: 'i386' is not allowed (allowed: x86_64, aarch64, ppc64le, ppc64)\n\
         n3: Error: memory: 'lots' is not a whole number (allowed: 0, 1, 2, ...)\n\
         n3: Error: arch: 'i386' is not allowed (allowed: x86_64, aarch64, ppc64le, ppc64)\n",
    );
    lab.run("chdef", &["n9", "arch=x86_64"]).fails(2).stderr_is(
        "Error: Attribute 'groups' is not specified for node 'n9', which does not exist (chdef creates it only with groups=).\n",
    );
    assert_eq!(lab.snapshot(), before);
}

#[test]
fn chdef_plus_minus_and_rename() {
    let lab = Lab::new();
    lab.run("mkdef", &["n[1-2]", "groups=compute,rack1", "postscripts=syslog"]).ok();
    lab.run("chdef", &["-p", "n1", "groups=gpu", "postscripts=remoteshell"]).ok();
    lab.run("lsdef", &["n1", "-i", "groups,postscripts", "-c"])
        .ok()
        .stdout_is("n1: groups=compute,rack1,gpu\nn1: postscripts=syslog,remoteshell\n");
    lab.run("chdef", &["-m", "n1", "groups=rack1"]).ok();
    lab.run("lsdef", &["n1", "-i", "groups", "-c"]).ok().stdout_is("n1: groups=compute,gpu\n");
    lab.run("chdef", &["n1", "-n", "m1"]).ok();
    lab.run("nodels", &[]).ok().stdout_is("m1\nn2\n");
    lab.run("nodels", &["gpu"]).ok().stdout_is("m1\n");
}

#[test]
fn groups_networks_osimages_and_site() {
    let lab = Lab::new();
    lab.run("mkdef", &["n[1-4]", "groups=compute"]).ok();
    lab.run("mkdef", &["-t", "group", "-o", "rack1", "members=n1,n2", "bmcusername=rackadmin"]).ok();
    lab.run("lsdef", &["-t", "group", "rack1"])
        .ok()
        .stdout_is("Object name: rack1\n    bmcusername=rackadmin\n    grouptype=static\n    members=n1,n2\n");
    lab.run("nodels", &["rack1", "ipmi.username"]).ok().stdout_is("n1: rackadmin\nn2: rackadmin\n");
    lab.run("rmdef", &["-t", "group", "rack1"]).ok();
    lab.run("nodels", &["n1", "groups"]).ok().stdout_is("n1: compute\n");
    lab.run("nodels", &["rack1"]).fails(2);

    lab.run("mkdef", &["-t", "network", "-o", "mgmt", "net=10.0.0.0", "mask=255.255.0.0", "gateway=10.0.0.254"]).ok();
    lab.run("lsdef", &["-t", "network"]).ok().stdout_is("mgmt  (network)\n");
    lab.run("lsdef", &["-t", "network", "mgmt"])
        .ok()
        .stdout_is("Object name: mgmt\n    gateway=10.0.0.254\n    mask=255.255.0.0\n    net=10.0.0.0\n");
    lab.run("chdef", &["-t", "network", "mgmt", "mask=255.255.255.0"]).ok();
    lab.run("tabdump", &["networks"]).ok().stdout_is(
        "#netname,net,mask,mgtifname,gateway,dhcpserver,tftpserver,nameservers,ntpservers,logservers,dynamicrange,staticrange,staticrangeincrement,nodehostname,ddnsdomain,vlanid,domain,mtu,comments,disable\n\
         \"mgmt\",\"10.0.0.0\",\"255.255.255.0\",,\"10.0.0.254\",,,,,,,,,,,,,,,\n",
    );
    lab.run("mkdef", &["-t", "network", "-o", "bad", "net=10.0.0.0"])
        .fails(2)
        .stderr_is("Error: the 'mask' attribute is required when creating network definitions.\n");

    lab.run("chdef", &["-t", "site", "domain=cluster.example", "master=10.0.0.1"]).ok();
    let site = lab.run("lsdef", &["-t", "site"]).ok().stdout;
    assert!(site.starts_with("Object name: clustersite\n"), "{site}");
    assert!(site.contains("    domain=cluster.example\n") && site.contains("    master=10.0.0.1\n"), "{site}");

    lab.run(
        "mkdef",
        &[
            "-t",
            "osimage",
            "-o",
            "rhels9.4-x86_64-netboot-compute",
            "osvers=rhels9.4",
            "osarch=x86_64",
            "profile=compute",
            "provmethod=netboot",
        ],
    )
    .ok();
    lab.run("lsdef", &["-t", "osimage"]).ok().stdout_is("rhels9.4-x86_64-netboot-compute  (osimage)\n");
    lab.run("lsdef", &["-t", "osimage", "nope"])
        .fails(2)
        .stderr_is("Error: Could not find an object named 'nope' of type 'osimage'.\n");
}

#[test]
fn lsdef_where_and_json() {
    let lab = Lab::new();
    lab.run("mkdef", &["n[1-3]", "groups=compute", "arch=x86_64"]).ok();
    lab.run("chdef", &["n2", "arch=aarch64"]).ok();
    lab.run("lsdef", &["-w", "arch==aarch64", "-i", "arch", "-c"]).ok().stdout_is("n2: arch=aarch64\n");
    let o = lab.run("lsdef", &["n1", "--json"]).ok();
    let rec: serde_json::Value = serde_json::from_str(o.stdout.trim()).unwrap();
    assert_eq!(rec["name"], "n1");
    assert_eq!(rec["type"], "node");
    assert_eq!(rec["attrs"]["arch"], "x86_64");
}

#[test]
fn lsdef_table_for_people() {
    let lab = Lab::new();
    lab.run("mkdef", &["n[1-2]", "groups=compute", "bmc=10.0.0.1", "bmcpassword=pw"]).ok();
    lab.run("chdef", &["n2", "bmc=10.0.0.2", "memory=1024"]).ok();
    lab.run("lsdef", &["compute", "--table", "-i", "bmc,bmcpassword,memory"]).ok().stdout_is(
        "┌──────┬──────────┬─────────────┬────────┐\n\
         │ NODE ┆ BMC      ┆ BMCPASSWORD ┆ MEMORY │\n\
         ╞══════╪══════════╪═════════════╪════════╡\n\
         │ n1   ┆ 10.0.0.1 ┆ ********    ┆ --     │\n\
         │ n2   ┆ 10.0.0.2 ┆ ********    ┆ 1024   │\n\
         └──────┴──────────┴─────────────┴────────┘\n",
    );
    lab.run("lsdef", &["--table", "--json"]).fails(2);
}
