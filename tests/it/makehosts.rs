//! makehosts: the managed block in a hosts file.

use crate::harness::Lab;

#[test]
fn managed_block_keeps_everything_else() {
    let lab = Lab::new();
    lab.enroll("n[1-3]").ok();
    lab.run("chdef", &["-t", "group", "compute", "ip=|n(\\d+)|10.0.0.($1+10)|"]).ok();
    lab.run("chdef", &["n2", "hostnames=gpu2"]).ok();
    lab.run("chdef", &["-t", "site", "domain=cluster.example"]).ok();
    let file = lab.write("hosts", "127.0.0.1 localhost\n10.9.9.9 printer # keep me\n");
    let f = file.to_str().unwrap();
    lab.run("makehosts", &["--file", f]).ok().stdout_is("");
    let begin = oxcat::hosts::BEGIN;
    let end = oxcat::hosts::END;
    let read = || std::fs::read_to_string(&file).unwrap();
    assert_eq!(
        read(),
        format!(
            "127.0.0.1 localhost\n10.9.9.9 printer # keep me\n{begin}\n10.0.0.11 n1 n1.cluster.example\n\
             10.0.0.12 n2 n2.cluster.example gpu2\n10.0.0.13 n3 n3.cluster.example\n{end}\n"
        )
    );
    // Only the named node's line changes.
    lab.run("chdef", &["n3", "ip=10.0.0.99"]).ok();
    lab.run("makehosts", &["n3", "-l", "--file", f]).ok();
    assert!(read().contains("10.0.0.12 n2 n2.cluster.example gpu2\n10.0.0.99 n3.cluster.example n3\n"), "{}", read());
    lab.run("makehosts", &["n2", "-d", "--file", f]).ok();
    assert!(!read().contains(" n2 ") && read().contains(" n1 "));
    lab.run("makehosts", &["n1", "-n", "--file", f]).ok();
    assert_eq!(
        read(),
        format!("127.0.0.1 localhost\n10.9.9.9 printer # keep me\n{begin}\n10.0.0.11 n1 n1.cluster.example\n{end}\n")
    );
    // A node without an address is an error; the others are still written.
    lab.run("mkdef", &["x1", "groups=other"]).ok();
    lab.run("makehosts", &["n2,x1", "--file", f])
        .fails(1)
        .stderr_is("x1: Error: no IP address (hosts.ip): chdef x1 ip=...\n");
    assert!(read().contains("10.0.0.12 n2 "));
}
