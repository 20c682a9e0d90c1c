//! Many processes changing the store at once: every update lands and nobody sees "database is locked".

use crate::harness::Lab;
use std::process::Stdio;

#[test]
fn eight_concurrent_chdef_processes_lose_no_update() {
    let lab = Lab::new();
    lab.run("mkdef", &["n[1-8]", "groups=compute"]).ok();
    const ROUNDS: usize = 15;
    // Processes 0-3 all append to the same node's groups (read-modify-write: the hard case);
    // processes 4-7 each change their own node.
    let children: Vec<_> = (0..8)
        .map(|p| {
            let script = if p < 4 {
                format!("for i in $(seq 1 {ROUNDS}); do chdef -p n1 groups=p{p}g$i || exit 1; done")
            } else {
                format!("for i in $(seq 1 {ROUNDS}); do chdef n{} usercomment=p{p}r$i || exit 1; done", p - 2)
            };
            lab.sh(&script).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap()
        })
        .collect();
    for c in children {
        let o = c.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "a chdef failed: {err}");
        assert!(!err.contains("locked"), "{err}");
    }
    let groups = lab.run("nodels", &["n1", "groups"]).ok().stdout;
    for p in 0..4 {
        for i in 1..=ROUNDS {
            assert!(
                groups.contains(&format!(",p{p}g{i},")) || groups.trim_end().ends_with(&format!(",p{p}g{i}")),
                "p{p}g{i} lost: {groups}"
            );
        }
    }
    for p in 4..8 {
        lab.run("nodels", &[&format!("n{}", p - 2), "nodelist.comments"])
            .ok()
            .stdout_is(&format!("n{}: p{p}r{ROUNDS}\n", p - 2));
    }
}
