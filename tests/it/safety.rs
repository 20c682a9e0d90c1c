//! Paths that lost data or took typos silently: masked secrets written back, nodes named after
//! groups, networks sharing a net and mask, osimages removed under their nodes, unknown `lsdef -i`
//! attributes, unchecked site values and non-UTF-8 input.

use crate::bmcsim::{self, Bmc, PASSWORD, USER};
use crate::harness::{Daemon, Lab};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::process::Command;

const MASKED: &str =
    "'********' is the mask printed in place of a secret, not its value (dump with --show-secrets to carry secrets)";

/// xCAT's documented backup, `lsdef -l -z > file` then `mkdef -z < file`: without --show-secrets
/// the dump holds `********`, which is refused; with it, the restored node logs in to its BMC.
#[test]
fn stanza_backup_keeps_bmc_passwords_only_with_show_secrets() {
    if !bmcsim::available() {
        return;
    }
    let lab = Lab::new();
    let bmc = Bmc::start(lab.dir.path());
    let (addr, user, pw) =
        (format!("bmc={}", bmc.addr), format!("bmcusername={USER}"), format!("bmcpassword={PASSWORD}"));
    lab.run("mkdef", &["cn1", "groups=compute", "mgt=ipmi", &addr, &user, &pw]).ok();
    let sh = |script: &str| lab.sh(script).output().unwrap();
    assert!(sh("lsdef -l -z > masked.stanza && lsdef -l -z --show-secrets > full.stanza").status.success());
    assert!(std::fs::read_to_string(lab.path("masked.stanza")).unwrap().contains("    bmcpassword=********\n"));
    lab.run("rmdef", &["cn1"]).ok();
    let before = lab.snapshot();
    let masked = std::fs::read_to_string(lab.path("masked.stanza")).unwrap();
    lab.run_stdin("mkdef", &["-z"], &masked).fails(2).stderr_is(&format!("cn1: Error: bmcpassword: {MASKED}\n"));
    assert_eq!(lab.snapshot(), before);
    let full = std::fs::read_to_string(lab.path("full.stanza")).unwrap();
    lab.run_stdin("mkdef", &["-z"], &full).ok();
    lab.run("rpower", &["cn1", "stat"]).ok().stdout_is("cn1: off\n");
    // chdef -z of the masked dump leaves the real password alone.
    lab.run_stdin("chdef", &["-z"], &masked).fails(2).stderr_is(&format!("cn1: Error: bmcpassword: {MASKED}\n"));
    lab.run("rpower", &["cn1", "stat"]).ok().stdout_is("cn1: off\n");
}

#[test]
fn masked_secrets_are_refused_on_every_write_path() {
    let lab = Lab::new();
    lab.enroll("n1").ok();
    let before = lab.snapshot();
    lab.run("chdef", &["n1", "bmcpassword=********"])
        .fails(2)
        .stderr_is(&format!("n1: Error: bmcpassword: {MASKED}\n"));
    lab.run("mkdef", &["-t", "group", "rack1", "bmcpassword=********"])
        .fails(2)
        .stderr_is(&format!("rack1: Error: bmcpassword: {MASKED}\n"));
    let enroll = ["n2", "--bmc", "10.0.0.2", "--bmc-user", "admin", "--mac", "52:54:00:00:09:02"];
    lab.run("addbmnode", &[&enroll[..], &["--bmc-password", "********"]].concat())
        .fails(2)
        .stderr_is(&format!("n2: Error: bmcpassword: {MASKED}\nError: nothing was enrolled\n"));
    lab.write("rack.csv", "node,bmc,bmcpassword,mac\nn3,10.0.0.3,********,52:54:00:00:09:03\n");
    lab.run("addbmnode", &["-f", "rack.csv", "--bmc-user", "admin"])
        .fails(2)
        .stderr_is(&format!("n3: Error: bmcpassword: {MASKED}\nError: nothing was enrolled\n"));
    lab.write("passwd.csv", "#key,username,password\n\"ipmi\",\"admin\",\"********\"\n");
    lab.run("tabrestore", &["passwd.csv"])
        .fails(2)
        .stderr_is(&format!("Error: passwd.csv: line 2: passwd.password: {MASKED}\n"));
    assert_eq!(lab.snapshot(), before);
}

/// rmdef of a node removes the rows keyed by its name in every table: a node named after a group
/// would take the group's settings with it.
#[test]
fn a_node_cannot_take_a_groups_name() {
    let lab = Lab::new();
    lab.run("mkdef", &["n1", "groups=compute"]).ok();
    lab.run("mkdef", &["-t", "group", "rack1", "members=n1", "bmcusername=rackadmin"]).ok();
    let before = lab.snapshot();
    for g in ["compute", "rack1"] {
        lab.run("mkdef", &[g, "groups=other"])
            .fails(2)
            .stderr_is(&format!("Error: '{g}' is a group; a node cannot have the same name.\n"));
        lab.run("mkdef", &["-f", g, "groups=other"]).fails(2);
    }
    lab.run("mkdef", &["n[2-3]", "groups=n1,n3"])
        .fails(2)
        .stderr_is("n2: Error: groups: 'n1' is a node, not a group\nn2: Error: groups: 'n3' is a node, not a group\nn3: Error: groups: 'n1' is a node, not a group\nn3: Error: groups: 'n3' is a node, not a group\n");
    lab.run("chdef", &["-p", "n1", "groups=n1"]).fails(2).stderr_is("n1: Error: groups: 'n1' is a node, not a group\n");
    lab.write("bmc.pw", "pw\n");
    lab.run(
        "addbmnode",
        &[
            "rack1",
            "--bmc",
            "10.0.0.9",
            "--bmc-user",
            "a",
            "--bmc-password-file",
            "bmc.pw",
            "--mac",
            "52:54:00:00:09:09",
        ],
    )
    .fails(2)
    .stderr_is(
        "rack1: Error: node: 'rack1' is a group; a node cannot have the same name\nError: nothing was enrolled\n",
    );
    // xCAT's table tools too: nodech, nodeadd and chtab.
    lab.run("nodech", &["n1", "groups=compute,n1"])
        .fails(2)
        .stderr_is("n1: Error: nodelist.groups: 'n1' is a node, not a group\n");
    lab.run("nodeadd", &["rack1", "groups=other"])
        .fails(2)
        .stderr_is("Error: 'rack1' is a group; a node cannot have the same name.\n");
    lab.run("chtab", &["node=compute", "nodelist.groups=other"])
        .fails(2)
        .stderr_is("Error: 'compute' is both a node and a group; a node cannot have a group's name.\n");
    lab.write("nodelist.csv", "#node,groups\n\"n1\",\"compute,all\"\n\"compute\",\"all\"\n");
    lab.run("tabrestore", &["nodelist.csv"])
        .fails(2)
        .stderr_is("Error: 'compute' is both a node and a group; a node cannot have a group's name.\n");
    assert_eq!(lab.snapshot(), before);
    lab.run("nodels", &["n1", "ipmi.username"]).ok().stdout_is("n1: rackadmin\n");
}

#[test]
fn a_network_with_another_networks_net_and_mask_is_refused() {
    let lab = Lab::new();
    lab.run("mkdef", &["-t", "network", "-o", "mgmt", "net=10.0.0.0", "mask=255.255.0.0", "gateway=10.0.0.254"]).ok();
    lab.run("mkdef", &["-t", "network", "-o", "ib", "net=10.1.0.0", "mask=255.255.0.0"]).ok();
    let before = lab.snapshot();
    // xCAT's DBobjectdefs.pm refuses this with the same words.
    lab.run("mkdef", &["-t", "network", "-o", "mgmt2", "net=10.0.0.0", "mask=255.255.0.0"]).fails(2).stderr_is(
        "Error: A network definition called 'mgmt' already exists that contains the same net and mask values. Cannot create a definition for 'mgmt2'.\n",
    );
    lab.run("chdef", &["-t", "network", "ib", "net=10.0.0.0"]).fails(2).stderr_is(
        "Error: A network definition called 'mgmt' already exists that contains the same net and mask values. Cannot change 'ib' to them.\n",
    );
    lab.run("mkdef", &["-t", "network", "-o", "a,b", "net=10.2.0.0", "mask=255.255.0.0"]).fails(2).stderr_is(
        "Error: A network definition called 'a' already exists that contains the same net and mask values. Cannot create a definition for 'b'.\n",
    );
    lab.run("chdef", &["-t", "network", "ib", "-n", "mgmt"])
        .fails(2)
        .stderr_is("Error: A definition for 'mgmt' already exists.\n");
    assert_eq!(lab.snapshot(), before);
    // Replacing a network by its own name (-f) is no clash.
    lab.run("mkdef", &["-f", "-t", "network", "-o", "mgmt", "net=10.0.0.0", "mask=255.255.0.0"]).ok();
    lab.run("lsdef", &["-t", "network"]).ok().stdout_is("ib  (network)\nmgmt  (network)\n");
}

/// A lab whose node n1 is set (by nodeset) to boot osimage img, served by oxcatd's config render.
fn lab_booting_img() -> Lab {
    let lab = Lab::new();
    lab.run("chdef", &["-t", "site", &format!("tftpdir={}", lab.path("tftp").display()), "master=127.0.0.1"]).ok();
    lab.write("vmlinuz", "kernel");
    lab.write("initrd.img", "initrd");
    lab.run("addimage", &["img", "--kernel", "vmlinuz", "--initrd", "initrd.img"]).ok();
    lab.enroll("n1").ok();
    lab.run("chdef", &["n1", "ip=10.0.0.1"]).ok();
    lab.run("nodeset", &["n1", "osimage=img"]).ok();
    lab
}

#[test]
fn rmdef_keeps_an_osimage_nodes_boot_unless_forced() {
    let lab = lab_booting_img();
    lab.run("mkdef", &["n2", "groups=rack2"]).ok();
    lab.run("chdef", &["-t", "group", "rack2", "provmethod=img"]).ok();
    let before = lab.snapshot();
    lab.run("rmdef", &["-t", "osimage", "img"]).fails(2).stderr_is(
        "Error: osimage 'img' is the boot image of 2 node(s): n1,n2 (their provmethod or nodeset state); nodeset them to another image first, or rmdef -f to remove it anyway\n",
    );
    lab.run("chdef", &["-t", "osimage", "img", "-n", "img2"]).fails(2).stderr_is(
        "Error: osimage 'img' is the boot image of 2 node(s): n1,n2 (their provmethod or nodeset state); nodeset them to another image first\n",
    );
    assert_eq!(lab.snapshot(), before);
    assert!(lab.path("install/images/img/kernel").exists());
    lab.run("rmdef", &["-f", "-t", "osimage", "img"]).ok().stdout_is("1 object definitions have been removed.\n");
    assert!(!lab.path("install/images/img").exists());
}

fn curl(args: &[&str]) -> i32 {
    let o = Command::new("curl").args(["-s", "-o", "/dev/null", "--max-time", "20"]).args(args).output().unwrap();
    o.status.code().unwrap_or(-1)
}

/// When it happens anyway, a node asking for its config gets not found, and the log says why.
#[test]
fn oxcatd_logs_the_missing_image_a_node_asks_for() {
    if !crate::harness::peers(&["curl"], "curl") {
        return;
    }
    let lab = lab_booting_img();
    // The image's rows go the way no check guards: a table restored from an older dump.
    lab.write("osimage.csv", "#imagename,profile\n");
    lab.run("tabrestore", &["osimage.csv"]).ok();
    // The node asks from its own address (a config goes to no one else, and TFTP checks that first).
    lab.run("chdef", &["n1", "ip=127.0.0.1"]).ok();
    std::fs::create_dir_all(lab.path("tftp")).unwrap();
    lab.write("oxcat.toml", "[http]\nlisten = [\"127.0.0.1:0\"]\n[tftp]\nlisten = [\"127.0.0.1:0\"]\n");
    let mut cmd = lab.cmd("oxcatd");
    cmd.args(["--config", "oxcat.toml"]);
    let d = Daemon::start(cmd);
    let why = "Error: n1 (state 'netboot img') has no boot config: osimage 'img' does not exist (lsdef -t osimage lists them)";
    assert_eq!(curl(&["-f", &format!("http://{}/tftpboot/ipxe/n1.ipxe", d.addr("HTTP"))]), 22);
    d.log_line(&format!("oxcatd: HTTP: /tftpboot/ipxe/n1.ipxe: {why}"));
    assert_ne!(curl(&[&format!("tftp://{}/pxelinux.cfg/01-52-54-00-00-00-01", d.addr("TFTP"))]), 0);
    d.log_line(&format!("oxcatd: TFTP: 127.0.0.1 asked for pxelinux.cfg/01-52-54-00-00-00-01: {why}"));
}

#[test]
fn lsdef_refuses_unknown_attributes() {
    let lab = Lab::new();
    lab.run("mkdef", &["n1", "groups=compute", "bmc=10.0.0.1"]).ok();
    lab.run("lsdef", &["n1", "-i", "bmc,bmcpasword"]).fails(2).stderr_is(
        "Error: 'bmcpasword' is not a valid attribute name for an object type of 'node' (lsdef -t node -h lists them).\n",
    );
    lab.run("lsdef", &["-w", "archh==x86_64"]).fails(2).stderr_is(
        "Error: 'archh' is not a valid attribute name for an object type of 'node' (lsdef -t node -h lists them).\n",
    );
    lab.run("lsdef", &["-t", "osimage", "-i", "kernell"]).fails(2);
    lab.run("lsdef", &["-t", "group", "compute", "-i", "members,grouptype,bmc", "-c"])
        .ok()
        .stdout_is("compute: bmc=\ncompute: grouptype=static\ncompute: members=n1\n");
    lab.run("lsdef", &["n1", "-i", "bmc", "-c"]).ok().stdout_is("n1: bmc=10.0.0.1\n");
}

#[test]
fn site_values_are_checked_as_they_are_written() {
    let lab = Lab::new();
    let before = lab.snapshot();
    lab.run("chdef", &["-t", "site", "ipmitimeout=abc", "httpport=99999", "master=not-an-ip", "domain=ok.example"])
        .fails(2)
        .stderr_is(
            "Error: site.ipmitimeout: 'abc' is not allowed (allowed: a number of seconds, e.g. 2 or 0.5)\n\
             Error: site.httpport: '99999' is not allowed (allowed: a port number, 1-65535)\n\
             Error: site.master: 'not-an-ip' is not allowed (allowed: the management node's IPv4 address as the nodes see it, e.g. 10.0.0.1)\n",
        );
    lab.run("chtab", &["key=httpport", "site.value=http"])
        .fails(2)
        .stderr_is("key=httpport: Error: site.httpport: 'http' is not allowed (allowed: a port number, 1-65535)\n");
    lab.write("site.csv", "#key,value\n\"master\",\"10.0.0.1\"\n\"dhcplease\",\"a day\"\n\"nodestatus\",\"maybe\"\n");
    lab.run("tabrestore", &["site.csv"]).fails(2).stderr_is(
        "Error: site.csv: line 3: site.dhcplease: 'a day' is not allowed (allowed: a whole number of seconds, e.g. 43200)\n\
         Error: site.csv: line 4: site.nodestatus: 'maybe' is not allowed (allowed: y or n)\n",
    );
    assert_eq!(lab.snapshot(), before);
    lab.run("chdef", &["-t", "site", "ipmitimeout=0.5", "httpport=8080", "master=10.0.0.1"]).ok();
    lab.run("lsdef", &["-t", "site", "-i", "ipmitimeout,httpport,master", "-c"])
        .ok()
        .stdout_is("clustersite: httpport=8080\nclustersite: ipmitimeout=0.5\nclustersite: master=10.0.0.1\n");
    // Unsetting is always allowed.
    lab.run("chdef", &["-t", "site", "httpport="]).ok();
}

#[test]
fn non_utf8_values_are_refused_not_stored_as_replacement_characters() {
    let lab = Lab::new();
    lab.run("mkdef", &["n1", "groups=compute"]).ok();
    let before = lab.snapshot();
    let o = lab.cmd("chdef").arg("n1").arg(OsStr::from_bytes(b"usercomment=caf\xe9")).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "Error: argument 2 (\"usercomment=caf\\xE9\") is not UTF-8 text (attribute names and values must be UTF-8)\n"
    );
    // A password is not echoed, even in this error.
    let o = lab.cmd("chdef").arg("n1").arg(OsStr::from_bytes(b"bmcpassword=s\xe9cret")).output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "Error: argument 2 (\"bmcpassword=********\") is not UTF-8 text (attribute names and values must be UTF-8)\n"
    );
    lab.run_stdin("chdef", &["-z"], b"n1:\n    objtype=node\n    usercomment=caf\xe9\n")
        .fails(2)
        .stderr_is("Error: standard input: line 3 is not UTF-8 text (convert it first, e.g. with iconv -t UTF-8)\n");
    std::fs::write(lab.path("nodelist.csv"), b"#node,groups,comments\n\"n1\",\"compute\",\"caf\xe9\"\n").unwrap();
    lab.run("tabrestore", &["nodelist.csv"])
        .fails(2)
        .stderr_is("Error: nodelist.csv: line 2 is not UTF-8 text (convert it first, e.g. with iconv -t UTF-8)\n");
    assert_eq!(lab.snapshot(), before);
}

/// chdef creates nodes it is given by name, but a name after `-` can only be a typo of a node
/// meant to be spared: refused like in every other command, nothing written.
#[test]
fn chdef_refuses_a_mistyped_exclusion() {
    let lab = Lab::new();
    lab.run("mkdef", &["cn01-cn03", "groups=compute"]).ok();
    let before = lab.snapshot();
    lab.run("chdef", &["compute,-cn0l", "status=booting"])
        .fails(2)
        .stderr_is("Error: Invalid nodes and/or groups in noderange: cn0l\n");
    assert_eq!(lab.snapshot(), before);
    // A new name in an included term still creates that node.
    lab.run("chdef", &["compute,cn04,-cn01", "groups=compute", "status=booting"]).ok();
    lab.run("nodels", &["compute", "nodelist.status"])
        .ok()
        .stdout_is("cn01: \ncn02: booting\ncn03: booting\ncn04: booting\n");
}

/// The audit log records every command that changed the store, with each secret's value masked:
/// any secret column (chain.token too), after any operator, in any comma-separated part.
#[test]
fn the_auditlog_holds_no_secret() {
    let lab = Lab::new();
    lab.enroll("cn01").ok();
    lab.run("nodech", &["cn01", "chain.token=SECRETTOK"]).ok();
    lab.run("chtab", &["node=cn01,password=hunter2", "ipmi.username=y"]).ok();
    lab.run("chtab", &["key=system", "passwd.username=root", "passwd.password=rootpw1,x"]).ok();
    // Refused now (a selection on a secret), but its value must not reach the log either way.
    lab.run("nodech", &["cn01", "ipmi.password!=xguess", "nodelist.comments=c"]);
    lab.run("nodech", &["cn01", "ipmi.username==y", "nodelist.comments=c", "ipmi.password,=pfx9"]).ok();
    let audit = lab.run("tabdump", &["auditlog"]).ok().stdout;
    for secret in ["SECRETTOK", "hunter2", "rootpw1", "x\"", "xguess", "pfx9"] {
        assert!(!audit.contains(secret), "{secret} in the audit log:\n{audit}");
    }
    assert!(audit.contains("chain.token=********"), "{audit}");
}

/// A selection on a secret answers whether a guess is right without printing it: tabdump -w,
/// gettab's keys and nodech's criteria refuse it as nodels and lsdef -w do.
#[test]
fn secrets_cannot_be_selected_on() {
    let lab = Lab::new();
    lab.enroll("cn01").ok();
    lab.run("chtab", &["node=cn01", "ipmi.password=hunter2"]).ok();
    let refused = |name: &str| format!("Error: {name} is secret: it cannot be used to select nodes (==, !=, =~, !~)\n");
    let before = lab.snapshot();
    let out = lab.run("tabdump", &["-w", "password=~h%", "ipmi"]);
    assert_ne!(out.code, 0);
    assert_eq!(out.stdout, "");
    assert_eq!(out.stderr, refused("ipmi.password"));
    let out = lab.run("gettab", &["password=hunter2", "ipmi.node"]);
    assert_ne!(out.code, 0);
    assert_eq!(out.stdout, "");
    assert_eq!(out.stderr, refused("ipmi.password"));
    let out = lab.run("nodech", &["cn01", "ipmi.password==hunter2", "nodelist.comments=guessed"]);
    assert_ne!(out.code, 0);
    assert_eq!(out.stderr, refused("ipmi.password"));
    assert_eq!(lab.snapshot(), before);
}
