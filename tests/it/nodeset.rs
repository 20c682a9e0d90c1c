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
    lab.write("disk.img", "a whole disk");
    lab.run("addimage", &["rocky9-disk", "--disk", "disk.img", "--kcmdline", "quiet", "--arch", "x86_64"]).ok();
    lab.run("chdef", &["-t", "osimage", "rocky9", "profile=compute", "osvers=rocky9.4"]).ok();
    lab.enroll("n[1-3]").ok();
    lab.run("chdef", &["compute", "-t", "group", "ip=|n(\\d+)|10.0.0.($1+10)|", "serialport=0", "serialspeed=115200"])
        .ok();
    lab
}

/// Stand-ins for what mknb builds: genesis's kernel and initrd in the TFTP root.
fn fake_genesis(lab: &Lab) {
    let (kernel, initrd) = oxcat::boot::genesis_files("x86_64");
    for f in [kernel, initrd] {
        let p = lab.path("tftp").join(f);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, "genesis").unwrap();
    }
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
    fake_genesis(&lab);
    golden("shell.txt", &shown(&lab, &["n1", "shell", "--show"]));
    golden("deploy.txt", &shown(&lab, &["n1", "osimage=rocky9-disk", "--show"]));
    // --show wrote nothing.
    for dir in ["ipxe", "pxelinux.cfg", "grub2"] {
        assert!(!lab.path("tftp").join(dir).exists());
    }
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
    fake_genesis(&lab);
    // runcmd= and runimage= boot like shell, with the task for the image to run (xCAT's genesis
    // gets destiny=STATE); the state is recorded as given.
    lab.run("nodeset", &["n1", "runcmd=bmcsetup", "--files"]).ok().stdout_is("n1: runcmd=bmcsetup\n");
    let ipxe = std::fs::read_to_string(lab.path("tftp/ipxe/n1.ipxe")).unwrap();
    assert!(ipxe.starts_with("#!ipxe oxcat nodeset: runcmd=bmcsetup\n"), "{ipxe}");
    assert!(ipxe.contains(" oxcat.mode=shell oxcat.mac=52:54:00:00:00:01 oxcat.destiny=runcmd=bmcsetup "), "{ipxe}");
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

/// What a node's config says on its kernel line: (token, genesis URLs, mode).
fn kernel_args(text: &str) -> String {
    text.lines().find(|l| l.contains("oxcat.node=")).unwrap_or_default().to_string()
}

#[test]
fn disk_images_and_shell_boot_genesis() {
    let lab = lab();
    // Without genesis in the TFTP root: refused per node, with what to run; nothing recorded.
    let o = lab.run("nodeset", &["n1", "osimage=rocky9-disk"]).fails(1);
    assert_eq!(
        o.stderr,
        format!(
            "n1: Error: genesis (the node ramdisk) for x86_64 is not in the TFTP root: {} is missing (run mknb to build it)\n",
            lab.path("tftp/genesis/x86_64/vmlinuz").display()
        )
    );
    lab.run("nodeset", &["n2", "shell"]).fails(1);
    lab.run("nodeset", &["n[1-2]", "stat"]).ok().stdout_is("n1: offline\nn2: offline\n");
    fake_genesis(&lab);
    lab.run("nodeset", &["n1", "osimage=rocky9-disk", "--files"]).ok().stdout_is("n1: install rocky9-disk\n");
    lab.run("lsdef", &["n1", "-i", "provmethod,currstate", "-c"])
        .ok()
        .stdout_is("n1: currstate=install rocky9-disk\nn1: provmethod=rocky9-disk\n");
    let token = lab.run("nodels", &["n1", "chain.token", "--show-secrets"]).ok().stdout;
    let token = token.trim().strip_prefix("n1: ").unwrap().to_string();
    assert_eq!(token.len(), 32);
    let genesis = "http://10.0.0.1:8080/tftpboot/genesis/x86_64";
    let args = format!(
        "console=tty0 console=ttyS0,115200 oxcat.node=n1 oxcat.server=http://10.0.0.1:8080 oxcat.token={token} \
         oxcat.mode=deploy oxcat.mac=52:54:00:00:00:01"
    );
    let read = |rel: &str| std::fs::read_to_string(lab.path("tftp").join(rel)).unwrap();
    let ipxe = read("ipxe/n1.ipxe");
    assert_eq!(
        kernel_args(&ipxe),
        format!("kernel {genesis}/vmlinuz initrd=initrd {args} BOOTIF=01-${{netX/mac:hexhyp}} || goto failed")
    );
    assert!(ipxe.contains(&format!("\ninitrd --name initrd {genesis}/initrd.img ")), "{ipxe}");
    let pxe = read("pxelinux.cfg/01-52-54-00-00-00-01");
    assert!(
        pxe.contains(&format!("  KERNEL {genesis}/vmlinuz\n  APPEND initrd={genesis}/initrd.img {args}\n")),
        "{pxe}"
    );
    let grub = read("grub2/grub.cfg-01-52-54-00-00-00-01");
    assert!(
        grub.contains(&format!(
            "linux (http,10.0.0.1:8080)/tftpboot/genesis/x86_64/vmlinuz {args}\n    initrd (http,10.0.0.1:8080)/tftpboot/genesis/x86_64/initrd.img\n"
        )),
        "{grub}"
    );
    // oxcatd renders the same at request time from the recorded state and token.
    let store = oxcat::store::Store::open(&lab.db()).unwrap();
    for (rel, written) in [
        ("ipxe/n1.ipxe", &ipxe),
        ("pxelinux.cfg/01-52-54-00-00-00-01", &pxe),
        ("grub2/grub.cfg-01-52-54-00-00-00-01", &grub),
    ] {
        let (node, text) = oxcat::boot::nodeset::render_path(store.conn(), rel).unwrap().unwrap();
        assert_eq!((node.as_str(), &text), ("n1", written), "{rel}");
    }
    // shell needs no image: n3 has none.
    lab.run("nodels", &["n3", "nodetype.provmethod"]).ok().stdout_is("n3: \n");
    lab.run("nodeset", &["n3", "shell", "--files"]).ok().stdout_is("n3: shell\n");
    let ipxe = read("ipxe/n3.ipxe");
    assert!(ipxe.starts_with("#!ipxe oxcat nodeset: shell\n"), "{ipxe}");
    assert!(kernel_args(&ipxe).starts_with(&format!(
        "kernel {genesis}/vmlinuz initrd=initrd console=tty0 console=ttyS0,115200 oxcat.node=n3 "
    )));
    assert!(kernel_args(&ipxe).contains(" oxcat.mode=shell oxcat.mac=52:54:00:00:00:03 BOOTIF="), "{ipxe}");
    let (_, text) = oxcat::boot::nodeset::render_path(store.conn(), "ipxe/n3.ipxe").unwrap().unwrap();
    assert_eq!(text, ipxe);
    // A disk osimage made by hand, without a disk image, is refused.
    lab.run("mkdef", &["-t", "osimage", "bare", "provmethod=disk"]).ok();
    lab.run("nodeset", &["n2", "osimage=bare"])
        .fails(1)
        .stderr_is("n2: Error: osimage 'bare' has no disk image (register one with addimage --disk)\n");
}

#[test]
fn grub_configs_pass_grub_script_check() {
    if !crate::harness::peers(&["grub-script-check"], "grub-common") {
        return;
    }
    let lab = lab();
    fake_genesis(&lab);
    for state in ["osimage=rocky9", "osimage=rocky9-inst", "osimage=rocky9-disk", "boot", "shell", "runcmd=bmcsetup"] {
        lab.run("nodeset", &["n1", state, "--files"]).ok();
        let cfg = lab.path("tftp/grub2/grub.cfg-01-52-54-00-00-00-01");
        let o = std::process::Command::new("grub-script-check").arg(&cfg).output().unwrap();
        assert!(
            o.status.success(),
            "{state}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
    // The local-disk config starts a deployed disk's UEFI boot loader, else returns to the firmware.
    lab.run("nodeset", &["n1", "boot", "--files"]).ok();
    let grub = std::fs::read_to_string(lab.path("tftp/grub2/grub.cfg-01-52-54-00-00-00-01")).unwrap();
    assert!(
        grub.contains("search --no-floppy --file --set=disk $efiboot") && grub.contains("chainloader ($disk)$efiboot")
    );
    assert!(grub.trim_end().ends_with("exit\n}"), "{grub}");
}
