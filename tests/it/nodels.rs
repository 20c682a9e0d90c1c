//! nodels and noderanges against a real store: output shapes, group rows, regex values, errors.

use crate::harness::Lab;

fn lab() -> Lab {
    let lab = Lab::new();
    lab.enroll("n[1-12]").ok();
    lab
}

#[test]
fn lists_nodes_in_natural_order() {
    let lab = lab();
    let o = lab.run("nodels", &[]).ok();
    let want: String = (1..=12).map(|i| format!("n{i}\n")).collect();
    assert_eq!(o.stdout, want);
    lab.run("nodels", &["n[1-12],-n[2-11]"]).ok().stdout_is("n1\nn12\n");
    lab.run("nodels", &["compute@n[3-4]"]).ok().stdout_is("n3\nn4\n");
    lab.run("nodels", &["/n1[0-9]"]).ok().stdout_is("n10\nn11\nn12\n");
}

#[test]
fn unknown_names_are_listed_and_exit_2() {
    let lab = lab();
    lab.run("nodels", &["n1,bogus,n99"])
        .fails(2)
        .stdout_is("")
        .stderr_is("Error: Invalid nodes and/or groups in noderange: bogus,n99\n");
}

#[test]
fn one_column_is_unlabelled_several_are_labelled() {
    let lab = lab();
    lab.run("nodels", &["n2", "ipmi.bmc"]).ok().stdout_is("n2: 10.1.0.2\n");
    lab.run("nodels", &["n2", "-H", "ipmi.bmc"]).ok().stdout_is("n2: ipmi.bmc: 10.1.0.2\n");
    // Labels are the names as typed (xCAT's nodels).
    lab.run("nodels", &["n2", "groups", "mgt"]).ok().stdout_is("n2: groups: compute,all\nn2: mgt: ipmi\n");
    // A missing value prints with empty contents.
    lab.run("nodels", &["n2", "hosts.ip"]).ok().stdout_is("n2: \n");
    lab.run("nodels", &["n2", "ipmi.nope"])
        .fails(2)
        .stderr_is("Error: ipmi.nope not a valid table.column description\n");
}

#[test]
fn group_rows_regex_values_and_blame() {
    let lab = lab();
    // A group row with a regex value supplies every member's IP; the node's own row wins.
    lab.run("chdef", &["-t", "group", "compute", "ip=|n(\\d+)|10.0.0.($1+100)|"]).ok();
    lab.run("chdef", &["n3", "ip=10.9.9.9"]).ok();
    lab.run("nodels", &["n[2-3]", "hosts.ip"]).ok().stdout_is("n2: 10.0.0.102\nn3: 10.9.9.9\n");
    lab.run("nodels", &["n[2-3]", "-b", "hosts.ip"])
        .ok()
        .stdout_is("n2: 10.0.0.102 (inherited from group compute)\nn3: 10.9.9.9\n");
    // tabdump shows the regex verbatim.
    let dump = lab.run("tabdump", &["hosts"]).ok().stdout;
    assert!(dump.contains("\"compute\",\"|n(\\d+)|10.0.0.($1+100)|\",,,,"), "{dump}");
    // Criteria select nodes.
    lab.run("nodels", &["all", "hosts.ip==10.9.9.9"]).ok().stdout_is("n3\n");
    lab.run("nodels", &["all", "hosts.ip=~^10.0.0.11", "hosts.ip"])
        .ok()
        .stdout_is("n10: hosts.ip: 10.0.0.110\nn11: hosts.ip: 10.0.0.111\nn12: hosts.ip: 10.0.0.112\n");
    // A selection is a noderange too.
    lab.run("nodels", &["hosts.ip==10.9.9.9"]).ok().stdout_is("n3\n");
}

#[test]
fn json_lines() {
    let lab = lab();
    let o = lab.run("nodels", &["n1,n2", "ipmi.bmc", "ipmi.password", "--json"]).ok();
    let recs: Vec<serde_json::Value> = o.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[1]["node"], "n2");
    assert_eq!(recs[1]["values"]["ipmi.bmc"], "10.1.0.2");
    assert_eq!(recs[1]["values"]["ipmi.password"], "********");
}

#[test]
fn site_excludenodes_hides_nodes_from_every_noderange() {
    let lab = lab();
    lab.run("chdef", &["-t", "site", "excludenodes=n[2-11]"]).ok();
    lab.run("nodels", &[]).ok().stdout_is("n1\nn12\n");
    lab.run("nodels", &["compute"]).ok().stdout_is("n1\nn12\n");
    lab.run("nodels", &["n5"]).fails(2).stderr_is("Error: Invalid nodes and/or groups in noderange: n5\n");
    lab.run("chdef", &["-t", "site", "excludenodes="]).ok();
    assert_eq!(lab.run("nodels", &[]).ok().stdout.lines().count(), 12);
}
