//! nodeset: golden files for every rendered template, per-node errors, stat/offline, overrides.

use crate::harness::Lab;
use std::path::Path;

fn lab() -> Lab {
    let lab = Lab::new();
    let tftp = lab.path("tftp");
    lab.run(
        "chdef",
        &[
            "-t",
            "site",
            &format!("tftpdir={}", tftp.display()),
            "master=10.0.0.1",
            "httpport=8080",
            &format!("templatedir={}", lab.path("templates").display()),
        ],
    )
    .ok();
    lab.write("vmlinuz", "k");
    lab.write("initrd.img", "i");
    lab.write("root.squashfs", "r");
    lab.run(
        "addimage",
        &[
            "rocky9",
            "--kernel",
            "vmlinuz",
            "--initrd",
            "initrd.img",
            "--rootimg",
            "root.squashfs",
            "--kcmdline",
            "quiet",
            "--arch",
            "x86_64",
        ],
    )
    .ok();
    lab.run("addimage", &["rocky9-inst", "--kernel", "vmlinuz", "--initrd", "initrd.img", "--type", "install"]).ok();
    lab.run("chdef", &["-t", "osimage", "rocky9", "profile=compute", "osvers=rocky9.4"]).ok();
    lab.enroll("n[1-3]").ok();
    lab.run("chdef", &["compute", "-t", "group", "ip=|n(\\d+)|10.0.0.($1+10)|", "serialport=0", "serialspeed=115200"])
        .ok();
    lab
}

/// `nodeset --show` with the lab path and the random token made stable.
fn shown(lab: &Lab, args: &[&str]) -> String {
    let out = lab.run("nodeset", args).ok().stdout;
    let out = out.replace(&lab.dir.path().display().to_string(), "/LAB");
    regex::Regex::new("oxcat.token=[0-9a-f]{32}").unwrap().replace_all(&out, "oxcat.token=TOKEN").into_owned()
}

#[track_caller]
fn golden(name: &str, got: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/nodeset").join(name);
    if std::env::var_os("OXCAT_BLESS").is_some() {
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("{} missing: OXCAT_BLESS=1 writes it", path.display()));
    assert_eq!(got, want, "{name} differs from the golden file (OXCAT_BLESS=1 rewrites it)");
}

#[test]
fn every_template_renders_as_its_golden_file() {
    let lab = lab();
    golden("netboot.txt", &shown(&lab, &["n1", "osimage=rocky9", "--show"]));
    golden("install.txt", &shown(&lab, &["n1", "osimage=rocky9-inst", "--show"]));
    golden("boot.txt", &shown(&lab, &["n1", "boot", "--show"]));
    lab.run("chdef", &["n1", "provmethod=rocky9"]).ok();
    golden("shell.txt", &shown(&lab, &["n1", "shell", "--show"]));
    // --show wrote nothing.
    assert!(!lab.path("tftp").exists());
    lab.run("nodeset", &["n1", "stat"]).ok().stdout_is("n1: offline\n");
}

#[test]
fn writes_only_the_named_nodes_and_records_state_and_token() {
    let lab = lab();
    // By default nodeset only records the state: oxcatd renders the configs on request.
    lab.run("nodeset", &["n[1-2]", "osimage=rocky9"]).ok().stdout_is("n1: netboot rocky9\nn2: netboot rocky9\n");
    assert!(!lab.path("tftp/ipxe/n1.ipxe").exists());
    lab.run("nodeset", &["n[1-2]", "osimage=rocky9", "--files"])
        .ok()
        .stdout_is("n1: netboot rocky9\nn2: netboot rocky9\n");
    let ipxe = std::fs::read_to_string(lab.path("tftp/ipxe/n1.ipxe")).unwrap();
    assert!(ipxe.starts_with("#!ipxe oxcat nodeset: netboot rocky9\n"));
    let pxe = std::fs::read_to_string(lab.path("tftp/pxelinux.cfg/01-52-54-00-00-00-01")).unwrap();
    assert!(pxe.starts_with("#oxcat nodeset: netboot rocky9\n"));
    assert!(lab.path("tftp/grub2/grub.cfg-01-52-54-00-00-00-02").exists());
    assert!(!lab.path("tftp/ipxe/n3.ipxe").exists());
    // The image's name, profile, os and arch are copied to the node, as xCAT does.
    lab.run("lsdef", &["n1", "-i", "provmethod,profile,os,arch,currstate", "-c"]).ok().stdout_is(
        "n1: arch=x86_64\nn1: currstate=netboot rocky9\nn1: os=rocky9.4\nn1: profile=compute\nn1: provmethod=rocky9\n",
    );
    // The token on the kernel line is the one the store keeps (a secret: masked unless asked).
    let token = regex::Regex::new("oxcat.token=([0-9a-f]{32})").unwrap().captures(&ipxe).unwrap()[1].to_string();
    lab.run("nodels", &["n1", "chain.token"]).ok().stdout_is("n1: ********\n");
    lab.run("nodels", &["n1", "chain.token", "--show-secrets"]).ok().stdout_is(&format!("n1: {token}\n"));
    // n1 to local disk: n2 untouched.
    let n2_before = std::fs::read_to_string(lab.path("tftp/ipxe/n2.ipxe")).unwrap();
    lab.run("nodeset", &["n1", "boot", "--files"]).ok().stdout_is("n1: boot\n");
    assert_eq!(std::fs::read_to_string(lab.path("tftp/ipxe/n2.ipxe")).unwrap(), n2_before);
    lab.run("nodeset", &["n[1-3]", "stat"]).ok().stdout_is("n1: boot\nn2: netboot rocky9\nn3: offline\n");
    lab.run("nodeset", &["n2", "offline"]).ok().stdout_is("n2: offline\n");
    assert!(!lab.path("tftp/ipxe/n2.ipxe").exists() && !lab.path("tftp/pxelinux.cfg/01-52-54-00-00-00-02").exists());
    lab.run("nodeset", &["n[1-3]", "stat"]).ok().stdout_is("n1: boot\nn2: offline\nn3: offline\n");
}

#[test]
fn per_node_errors_leave_that_node_alone() {
    let lab = lab();
    lab.run("chdef", &["n2", "mac="]).ok();
    lab.run("chdef", &["-t", "group", "compute", "ip="]).ok();
    lab.run("chdef", &["n1", "ip=10.0.0.11"]).ok();
    lab.run("chdef", &["n2", "ip=10.0.0.12"]).ok();
    let o = lab.run("nodeset", &["n[1-3]", "osimage=rocky9"]).fails(1);
    assert_eq!(o.stdout, "n1: netboot rocky9\n");
    assert_eq!(
        o.stderr,
        "n2: Error: no MAC address (mac.mac): the boot files are named after it (chdef n2 mac=...)\n\
         n3: Error: no IP address (hosts.ip): DHCP would have nothing to give it (chdef n3 ip=...)\n"
    );
    assert!(!lab.path("tftp/ipxe/n3.ipxe").exists());
    lab.run("nodels", &["n3", "chain.currstate"]).ok().stdout_is("n3: \n");
    lab.run("nodeset", &["n1", "osimage=nope"])
        .fails(1)
        .stderr_is("n1: Error: osimage 'nope' does not exist (lsdef -t osimage lists them)\n");
    lab.run("nodeset", &["n1", "osimage"]).ok().stdout_is("n1: netboot rocky9\n");
    lab.run("nodeset", &["n1", "install"]).fails(2);
    lab.run("chdef", &["-t", "site", "master="]).ok();
    // No master: no xcatmaster, no site.master, and no address of this machine on the node's
    // network (run in a network namespace of its own: the test's machine may have one).
    if let Some(unshare) = crate::harness::own_netns() {
        let o = lab.sh(&format!("{unshare} nodeset n1 boot")).output().unwrap();
        assert_eq!(
            (o.status.code(), String::from_utf8_lossy(&o.stderr).as_ref()),
            (
                Some(1),
                "n1: Error: no server for it: noderes.xcatmaster and site.master are not set and this machine has no \
                 address on the network of 10.0.0.11 (chdef -t site master=ADDRESS, the management node's address as \
                 the nodes see it)\n"
            )
        );
    }
}

#[test]
fn site_templates_override_most_specific_first() {
    let lab = lab();
    std::fs::create_dir_all(lab.path("templates/ipxe")).unwrap();
    lab.write(
        "templates/ipxe/compute.netboot.tmpl",
        "#!ipxe oxcat nodeset: {{state}}\necho compute {{node}} {{kernel_url}}\n",
    );
    lab.write(
        "templates/ipxe/compute.rocky9.4.x86_64.netboot.tmpl",
        "#!ipxe oxcat nodeset: {{state}}\necho exact {{node}}\n",
    );
    lab.run("nodeset", &["n1", "osimage=rocky9", "--files"]).ok();
    assert_eq!(
        std::fs::read_to_string(lab.path("tftp/ipxe/n1.ipxe")).unwrap(),
        "#!ipxe oxcat nodeset: netboot rocky9\necho exact n1\n"
    );
    lab.write("templates/ipxe/compute.rocky9.4.x86_64.netboot.tmpl", "#!ipxe\necho {{nosuch}}\n");
    let o = lab.run("nodeset", &["n1", "osimage=rocky9"]).fails(1);
    assert!(o.stderr.ends_with("compute.rocky9.4.x86_64.netboot.tmpl:2: unknown variable 'nosuch'\n"), "{}", o.stderr);
}

#[test]
fn runcmd_runimage_shutdown_and_stat_all() {
    let lab = lab();
    lab.run("chdef", &["n1,n2", "provmethod=rocky9"]).ok();
    // runcmd= and runimage= boot like shell, with the task for the image to run (xCAT's genesis
    // gets destiny=STATE); the state is recorded as given.
    lab.run("nodeset", &["n1", "runcmd=bmcsetup", "--files"]).ok().stdout_is("n1: runcmd=bmcsetup\n");
    let ipxe = std::fs::read_to_string(lab.path("tftp/ipxe/n1.ipxe")).unwrap();
    assert!(ipxe.starts_with("#!ipxe oxcat nodeset: runcmd=bmcsetup\n"), "{ipxe}");
    assert!(ipxe.contains(" oxcat.shell oxcat.destiny=runcmd=bmcsetup "), "{ipxe}");
    lab.run("nodeset", &["n2", "runimage=http://10.0.0.1/image.tgz"]).ok();
    // -a: stat on every server; oxcat has one.
    lab.run("nodeset", &["n[1-3]", "stat", "-a"])
        .ok()
        .stdout_is("n1: runcmd=bmcsetup\nn2: runimage=http://10.0.0.1/image.tgz\nn3: offline\n");
    // shutdown takes the configs away like offline, and is recorded.
    lab.run("nodeset", &["n1", "shutdown"]).ok().stdout_is("n1: shutdown\n");
    assert!(!lab.path("tftp/ipxe/n1.ipxe").exists());
    lab.run("nodeset", &["n1", "stat"]).ok().stdout_is("n1: shutdown\n");
    lab.run("nodeset", &["n1", "runimage="])
        .fails(2)
        .stderr_is("Error: An image path should be specified to runimage.\n");
    lab.run("nodeset", &["n1", "boot", "-a"])
        .fails(2)
        .stderr_is("Error: '-a' could only be used with 'stat' subcommand.\n");
}
