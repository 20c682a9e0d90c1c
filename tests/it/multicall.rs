use crate::harness::{oxcat_bin, Lab};
use std::process::Command;

#[test]
fn list_names_every_command_in_the_registry() {
    let o = Command::new(oxcat_bin()).arg("--list").output().unwrap();
    assert!(o.status.success());
    let names: Vec<&str> = oxcat::cmd::APPLETS.iter().map(|a| a.name).collect();
    assert_eq!(String::from_utf8(o.stdout).unwrap(), format!("{}\n", names.join("\n")));
}

#[test]
fn link_name_and_first_argument_dispatch_alike() {
    let lab = Lab::new();
    lab.enroll("n[1-3]").ok();
    let via_link = lab.run("nodels", &[]).ok().stdout;
    let o = lab.cmd("oxcat-is-not-a-command").output();
    assert!(o.is_err(), "no such link");
    let via_arg = Command::new(oxcat_bin()).env("OXCAT_DB", lab.db()).args(["nodels"]).output().unwrap();
    assert_eq!(String::from_utf8(via_arg.stdout).unwrap(), via_link);
    assert_eq!(via_link, "n1\nn2\nn3\n");
}

#[test]
fn unknown_command_and_bad_usage_exit_2() {
    let o = Command::new(oxcat_bin()).arg("frobnicate").output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        String::from_utf8(o.stderr).unwrap(),
        "oxcat: unknown command 'frobnicate' (oxcat --list shows the commands)\n"
    );
    let lab = Lab::new();
    lab.run("nodels", &["--no-such-flag"]).fails(2);
    lab.run("addbmnode", &[]).fails(2);
}

/// A reader that stops early (`| head -1`) ends every output mode the same way: exit 0, nothing
/// on standard error. The outputs are larger than a pipe's buffer, so the writer does see EPIPE.
#[test]
fn broken_pipe_exits_quietly() {
    let lab = Lab::new();
    lab.enroll("n[1-2000]").ok();
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!("{} n[1-2000] | head -1", lab.path("bin/lsdef").display()))
        .env("OXCAT_DB", lab.db())
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout), "Object name: n1\n");
    assert_eq!(String::from_utf8_lossy(&o.stderr), "");
    for cmd in [
        "nodels all ipmi.bmc mac.mac nodelist.groups",
        "nodels all ipmi.bmc mac.mac nodelist.groups --json",
        "lsdef all",
        "lsdef all --json",
        "lsdef all -z",
        "lsdef all -c",
        "lsdef all --table -i bmc,mac",
        "tabdump ipmi",
    ] {
        let o = Command::new("bash")
            .arg("-c")
            .arg(format!("{cmd} | head -1 >/dev/null; echo \"exit ${{PIPESTATUS[0]}}\""))
            .env("PATH", format!("{}:{}", lab.path("bin").display(), std::env::var("PATH").unwrap_or_default()))
            .env("OXCAT_DB", lab.db())
            .current_dir(lab.dir.path())
            .output()
            .unwrap();
        assert_eq!(
            (String::from_utf8_lossy(&o.stdout).as_ref(), String::from_utf8_lossy(&o.stderr).as_ref()),
            ("exit 0\n", ""),
            "{cmd} | head -1"
        );
    }
}

#[test]
fn development_links_in_bin_match_the_registry() {
    let bin = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bin");
    let mut links: Vec<String> = std::fs::read_dir(&bin)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "oxcat")
        .collect();
    links.sort();
    let names: Vec<&str> = oxcat::cmd::APPLETS.iter().map(|a| a.name).collect();
    assert_eq!(links, names, "bin/ must hold one link per command: ln -s oxcat bin/NAME");
    for n in &links {
        assert_eq!(std::fs::read_link(bin.join(n)).unwrap(), std::path::Path::new("oxcat"), "bin/{n}");
    }
    // The shim runs the built binary under the link's name.
    let o = Command::new(bin.join("nodels")).arg("--help").output().unwrap();
    assert!(String::from_utf8_lossy(&o.stdout).contains("Usage: nodels"), "{o:?}");
}
