//! The everyday xCAT flags and table commands scripts use (issue 8, item 5), with xCAT's output
//! shapes as DBobjectdefs.pm, tabutils.pm and the man pages give them.

use crate::harness::Lab;

/// n1-n3 in compute, n2 an aarch64 node, n3 hidden (as xCAT hides FSP/BPA nodes).
fn lab() -> Lab {
    let lab = Lab::new();
    lab.run("mkdef", &["n[1-3]", "groups=compute", "arch=x86_64"]).ok();
    lab.run("chdef", &["n2", "arch=aarch64"]).ok();
    lab.run("chdef", &["n3", "hidden=1"]).ok();
    lab
}

#[test]
fn lsdef_short_all_hidden_and_several_types() {
    let lab = lab();
    // -s: names only, even when objects are named.
    lab.run("lsdef", &["-s", "n1,n2"]).ok().stdout_is("n1  (node)\nn2  (node)\n");
    // Hidden nodes are left out unless -S.
    lab.run("lsdef", &[]).ok().stdout_is("n1  (node)\nn2  (node)\n");
    lab.run("lsdef", &["-S"]).ok().stdout_is("n1  (node)\nn2  (node)\nn3  (node)\n");
    // -t with several types: each name with its type; long form names the type too.
    lab.run("mkdef", &["-t", "network", "-o", "mgmt", "net=10.0.0.0", "mask=255.255.0.0"]).ok();
    lab.run("lsdef", &["-t", "node,group"]).ok().stdout_is("n1  (node)\nn2  (node)\ncompute  (group)\n");
    lab.run("lsdef", &["-t", "group,network", "-l"]).ok().stdout_is(
        "Object name: compute  (group)\n    grouptype=static\n    members=n1,n2,n3\n\n\
         Object name: mgmt  (network)\n    mask=255.255.0.0\n    net=10.0.0.0\n",
    );
    // -a: every type, one space before the type (xCAT's AllObjTypeHash listing).
    lab.run("lsdef", &["-a"])
        .ok()
        .stdout_is("n1 (node)\nn2 (node)\ncompute (group)\nmgmt (network)\nclustersite (site)\n");
    lab.run("lsdef", &["-a", "-t", "node"]).fails(2).stderr_is("Error: The flags '-a' and '-t' cannot be used together.\n");
    lab.run("lsdef", &["-s", "-l"]).fails(2);
}

#[test]
fn lsdef_where_prints_names_unless_attributes_are_asked_for() {
    let lab = lab();
    lab.run("lsdef", &["-w", "arch==x86_64"]).ok().stdout_is("n1  (node)\n");
    lab.run("lsdef", &["-S", "-t", "node", "-w", "arch==x86_64"]).ok().stdout_is("n1  (node)\nn3  (node)\n");
    lab.run("lsdef", &["-w", "arch=~^aarch", "-l"]).ok().stdout_is("Object name: n2\n    arch=aarch64\n    groups=compute\n");
}

#[test]
fn lsdef_attribute_help_and_templates() {
    let lab = lab();
    let help = lab.run("lsdef", &["-t", "node", "-h"]).ok().stdout;
    assert!(help.starts_with("The valid attribute names for object type 'node' are:\nAttribute          Description\n\n"), "{help}");
    assert!(help.contains("\n\nbmcpassword:\tBMC password.\n\n"), "{help}");
    lab.run("lsdef", &["-t", "node", "-h", "-i", "arch,bmc"]).ok().stdout_is(
        "Attribute          Description\n\narch:\t\tArchitecture of the OS (x86_64, aarch64, ppc64le).\n\nbmc:\t\tBMC host name or IP address.\n",
    );
    lab.run("lsdef", &["-t", "node", "-h", "-i", "colour"])
        .fails(2)
        .stderr_is("Error: 'colour' is not a valid attribute name for an object type of 'node'.\n");
    // --template lists the shipped templates; their quoted values print without the quotes.
    lab.run("lsdef", &["--template", "-s"]).ok().stdout_is("x86_64-template  (node)\nppc64le-template  (node)\n");
    lab.run("lsdef", &["--template", "x86_64-template", "-i", "bmc,mgt", "-c"]).ok().stdout_is(
        "x86_64-template: bmc=MANDATORY:The hostname or ip address of the BMC adapater\nx86_64-template: mgt=ipmi\n",
    );
    lab.run("lsdef", &["--template", "nosuch"]).fails(2).stderr_is("Error: Could not find nosuch in xCAT templates.\n");
}

#[test]
fn chdef_creates_missing_nodes_with_groups_and_selects_with_where() {
    let lab = lab();
    let before = lab.snapshot();
    lab.run("chdef", &["n4", "arch=x86_64"]).fails(2).stderr_is(
        "Error: Attribute 'groups' is not specified for node 'n4', which does not exist (chdef creates it only with groups=).\n",
    );
    lab.run("chdef", &["-m", "n4", "groups=compute"])
        .fails(2)
        .stderr_is("Error: The '-m' option is not valid since the 'n4' definition does not exist.\n");
    assert_eq!(lab.snapshot(), before);
    // A range of existing and new names: the new ones are created (chdef.1: "The command will
    // also create a new definition if one doesn't exist").
    lab.run("chdef", &["n[2-5]", "groups=compute,rack2"])
        .ok()
        .stdout_is("4 object definitions have been created or modified.\n");
    lab.run("nodels", &["rack2"]).ok().stdout_is("n2\nn4\nn5\n");
    // -w changes only the matching objects; with no names, those of the whole type.
    lab.run("chdef", &["-w", "arch==x86_64", "netboot=xnba"]).ok();
    lab.run("lsdef", &["-S", "-i", "netboot", "-c"]).ok().stdout_is(
        "n1: netboot=xnba\nn2: netboot=\nn3: netboot=xnba\nn4: netboot=\nn5: netboot=\n",
    );
    lab.run("chdef", &["rack2", "-w", "arch!=x86_64", "mgt=ipmi"]).ok();
    lab.run("nodels", &["all", "mgt==ipmi"]).ok().stdout_is("n2\nn4\nn5\n");
}

#[test]
fn dynamic_groups_work_in_noderanges() {
    let lab = lab();
    lab.run("mkdef", &["-t", "group", "-o", "arm", "-d", "-w", "arch==aarch64"]).ok();
    lab.run("nodels", &["arm"]).ok().stdout_is("n2\n");
    lab.run("lsdef", &["-t", "group", "arm"])
        .ok()
        .stdout_is("Object name: arm\n    grouptype=dynamic\n    members=n2\n    wherevals=arch==aarch64\n");
    // Membership follows the attributes.
    lab.run("chdef", &["n1", "arch=aarch64"]).ok();
    lab.run("nodels", &["arm,-n2"]).ok().stdout_is("n1\n");
    lab.run("tabdump", &["-w", "groupname==arm", "nodegroup"])
        .ok()
        .stdout_is("#groupname,grouptype,members,membergroups,wherevals,comments,disable\n\"arm\",\"dynamic\",,,\"arch==aarch64\",,\n");
    let before = lab.snapshot();
    lab.run("chdef", &["-t", "group", "arm", "bmc=10.0.0.1"])
        .fails(2)
        .stderr_is("Error: Can not assign attributes to dynamic node group 'arm'.\n");
    lab.run("mkdef", &["-t", "group", "-o", "bad", "-d", "-w", "colour==red"])
        .fails(2)
        .stderr_is("Error: wherevals: 'colour' is not a node attribute\n");
    assert_eq!(lab.snapshot(), before);
    // A static group made with -w gets the matching nodes as members.
    lab.run("mkdef", &["-t", "group", "-o", "x86", "-w", "arch==x86_64"]).ok();
    lab.run("nodels", &["-S", "x86"]).ok().stdout_is("n3\n");
}

#[test]
fn rmdef_all_needs_force() {
    let lab = lab();
    lab.run("mkdef", &["-t", "network", "-o", "mgmt", "net=10.0.0.0", "mask=255.255.0.0"]).ok();
    let before = lab.snapshot();
    lab.run("rmdef", &["-a"]).fails(2).stderr_is("Error: You must use the '-f' option when using the '-a' option.\n");
    lab.run("rmdef", &["-a", "-f", "-t", "node"])
        .fails(2)
        .stderr_is("Error: The flags '-a' and '-t' cannot be used together.\n");
    assert_eq!(lab.snapshot(), before);
    lab.run("rmdef", &["-a", "-f"]).ok().stdout_is("5 object definitions have been removed.\n");
    lab.run("lsdef", &["-a"]).ok().stdout_is("clustersite (site)\n");
}

#[test]
fn nodels_hidden_nodes_and_criteria_labels() {
    let lab = lab();
    lab.run("nodels", &[]).ok().stdout_is("n1\nn2\n");
    lab.run("nodels", &["compute"]).ok().stdout_is("n1\nn2\n");
    lab.run("nodels", &["-S", "compute"]).ok().stdout_is("n1\nn2\nn3\n");
    // One column: no label. A criterion plus a column: both count, so the column is labelled
    // with its name as typed (tabutils.pm's nodels: $terse, $labels).
    lab.run("nodels", &["compute", "nodetype.arch"]).ok().stdout_is("n1: x86_64\nn2: aarch64\n");
    lab.run("nodels", &["compute", "nodetype.arch==x86_64", "groups"]).ok().stdout_is("n1: groups: compute\n");
    lab.run("nodels", &["compute", "nodetype.arch=~64", "nodetype.arch"])
        .ok()
        .stdout_is("n1: nodetype.arch: x86_64\nn2: nodetype.arch: aarch64\n");
}

#[test]
fn tabdump_where_and_newest_records() {
    let lab = lab();
    lab.run("tabdump", &["-w", "arch==aarch64", "nodetype"])
        .ok()
        .stdout_is("#node,os,arch,profile,provmethod,supportedarchs,nodetype,comments,disable\n\"n2\",,\"aarch64\",,,,,,\n");
    // =~ is SQL LIKE; several -w must all match; an unset column compares as "".
    lab.run("tabdump", &["-w", "node=~n%", "-w", "hidden!=1", "nodelist"])
        .ok()
        .stdout_is(&format!(
            "#node,groups,status,statustime,appstatus,appstatustime,primarysn,hidden,updatestatus,updatestatustime,zonename,comments,disable\n{}{}",
            "\"n1\",\"compute\",,,,,,,,,,,\n", "\"n2\",\"compute\",,,,,,,,,,,\n"
        ));
    lab.run("tabdump", &["-w", "colour==red", "nodelist"])
        .fails(2)
        .stderr_is("Error: No column \"colour\" in table \"nodelist\"\n");
    // -n N: the N newest auditlog records (the lab's set-up and 3 commands changed the store).
    let all = lab.run("tabdump", &["auditlog"]).ok().stdout;
    assert_eq!(all.lines().count(), 5, "{all}");
    let last = lab.run("tabdump", &["-n", "2", "auditlog"]).ok().stdout;
    let lines: Vec<&str> = last.lines().collect();
    assert_eq!(lines.len(), 3, "{last}");
    assert!(lines[1].starts_with("\"3\",") && lines[2].contains("\"chdef\",\"n3\""), "{last}");
    lab.run("tabdump", &["-n", "2", "site"]).fails(2).stderr_is(
        "Error: site table is not supported in tabdump -n. You may only use this option on the auditlog or the eventlog.\n",
    );
}
