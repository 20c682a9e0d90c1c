//! The server side of a disk deploy: oxcatd's `/deploy/plan` and the deploy statuses, with curl
//! from the node's own loopback address as the agent, lsdef/nodels/nodeset as the read-backs,
//! PyYAML (cloud-init's parser) reading the seed, busybox sh running its first-boot script, and
//! ipmi_sim for the boot device after `installed`.

use crate::harness::{peers, Daemon, Lab};
use sha2::{Digest, Sha256};
use std::process::Command;

/// n1's address (hosts.ip); 127.0.0.2 is a stranger.
const NODE_ADDR: &str = "127.0.0.41";
const STRANGER: &str = "127.0.0.2";
/// n1's boot token, as nodeset would have drawn it.
const TOKEN: &str = "00112233445566778899aabbccddeeff";

struct Deploy {
    lab: Lab,
    daemon: Daemon,
    /// host:port of oxcatd's HTTP server.
    http: String,
    image: Vec<u8>,
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A lab whose node n1 (127.0.0.41, MAC 52:54:00:00:00:41, on network 127.0.0.0/16) is in state
/// `install dimg`, dimg being a 1 MiB raw disk image; oxcatd serves it on an ephemeral port.
fn start() -> Option<Deploy> {
    if !peers(&["curl"], "curl") {
        return None;
    }
    let lab = Lab::new();
    lab.run("mkdef", &["n1", "groups=compute"]).ok();
    Some(setup(lab))
}

/// The deploy lab on `lab`, whose node n1 exists.
fn setup(lab: Lab) -> Deploy {
    lab.run("chdef", &["-t", "site", &format!("tftpdir={}", lab.path("tftp").display()), "master=127.0.0.1"]).ok();
    std::fs::create_dir_all(lab.path("install/images/dimg")).unwrap();
    std::fs::create_dir_all(lab.path("tftp")).unwrap();
    let image: Vec<u8> = (0..1_048_576u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 15) as u8).collect();
    let file = lab.path("install/images/dimg/disk.raw");
    std::fs::write(&file, &image).unwrap();
    lab.run(
        "mkdef",
        &[
            "-t",
            "osimage",
            "dimg",
            "provmethod=disk",
            &format!("diskimage={}", file.display()),
            "diskimageformat=raw",
            &format!("diskimagesha256={}", hex(&Sha256::digest(&image))),
            &format!("diskimagesize={}", image.len()),
            "rootdevice=size>=1",
        ],
    )
    .ok();
    lab.run("chdef", &["n1", &format!("ip={NODE_ADDR}"), "mac=52:54:00:00:00:41"]).ok();
    lab.run(
        "mkdef",
        &[
            "-t",
            "network",
            "lab",
            "net=127.0.0.0",
            "mask=255.255.0.0",
            "gateway=127.0.0.254",
            "nameservers=127.0.0.53,<xcatmaster>",
            "domain=cluster.example",
        ],
    )
    .ok();
    // nodeset boots genesis (here stand-ins: nothing boots them) to deploy dimg; the test's
    // URLs then use a known token.
    std::fs::create_dir_all(lab.path("tftp/genesis/x86_64")).unwrap();
    lab.write("tftp/genesis/x86_64/vmlinuz", "kernel");
    lab.write("tftp/genesis/x86_64/initrd.img", "initrd");
    lab.run("nodeset", &["n1", "osimage=dimg"]).ok().stdout_is("n1: install dimg\n");
    lab.run("nodech", &["n1", &format!("chain.token={TOKEN}")]).ok();
    let post = lab.path("postscripts");
    std::fs::create_dir_all(&post).unwrap();
    std::fs::copy(concat!(env!("CARGO_MANIFEST_DIR"), "/postscripts/oxcatpost"), post.join("oxcatpost")).unwrap();
    let (daemon, http) = lab.http_oxcatd(Some(&post));
    // The image URL names the server's HTTP port.
    lab.run("chdef", &["-t", "site", &format!("httpport={}", http.rsplit(':').next().unwrap())]).ok();
    Deploy { lab, daemon, http, image }
}

/// curl from `from`: (HTTP code, body).
fn curl_from(from: &str, args: &[&str]) -> (String, String) {
    let o = Command::new("curl")
        .args(["-s", "--max-time", "20", "--interface", from, "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let (body, code) = out.rsplit_once('\n').unwrap();
    (code.to_string(), body.to_string())
}

/// A query value, percent-encoded.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

impl Deploy {
    fn url(&self, rest: &str) -> String {
        format!("http://{}{rest}", self.http)
    }

    /// GET /deploy/plan from `from` with `token`.
    fn plan_from(&self, from: &str, token: &str) -> (String, String) {
        curl_from(from, &[&self.url(&format!("/deploy/plan?node=n1&token={token}"))])
    }

    /// The plan n1 gets with its boot token.
    fn plan(&self) -> oxcat::deploy::Plan {
        let (code, body) = self.plan_from(NODE_ADDR, TOKEN);
        assert_eq!(code, "200", "{body}");
        serde_json::from_str(&body).unwrap()
    }

    /// POSTs a status report from the node, with `body` (the agent's log tail).
    fn report(&self, token: &str, status: &str, body: &str) -> (String, String) {
        let f = self.lab.write("report.body", body);
        let url = self.url(&format!("/status?node=n1&token={token}&status={}", enc(status)));
        curl_from(NODE_ADDR, &["-X", "POST", "--data-binary", &format!("@{}", f.display()), &url])
    }

    /// A chain column of n1, secrets shown.
    fn chain(&self, column: &str) -> String {
        let out = self.lab.run("nodels", &["n1", &format!("chain.{column}"), "--show-secrets"]).ok().stdout;
        out.trim_end_matches('\n').strip_prefix("n1: ").unwrap_or("").to_string()
    }

    /// `lsdef n1 -i ATTR`'s value.
    fn attr(&self, attr: &str) -> String {
        let out = self.lab.run("lsdef", &["n1", "-i", attr]).ok().stdout;
        let prefix = format!("    {attr}=");
        let mut lines = out.lines().skip_while(|l| !l.starts_with(&prefix));
        let first = lines.next().unwrap_or_else(|| panic!("no {attr} in {out}"));
        first[prefix.len()..].to_string()
    }
}

/// PyYAML's reading of a seed file, as JSON.
fn yaml_json(text: &str) -> serde_json::Value {
    let o = Command::new("python3")
        .args(["-c", "import json, sys, yaml; print(json.dumps(yaml.safe_load(sys.stdin)))"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(text.as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(o.status.success(), "PyYAML could not read:\n{text}");
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn the_plan_names_the_image_its_checksum_the_root_device_and_the_seed() {
    let Some(d) = start() else { return };
    if !peers(&["python3"], "python3 python3-yaml") {
        return;
    }
    let keys =
        "# the cluster's keys\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOx root@mn\n\nssh-rsa AAAAB3Nza admin: ops\n";
    std::fs::create_dir_all(d.lab.path("install/postscripts/_ssh")).unwrap();
    d.lab.write("install/postscripts/_ssh/authorized_keys", keys);
    let plan = d.plan();
    let port = d.http.rsplit(':').next().unwrap();
    assert_eq!(plan.node, "n1");
    assert_eq!(plan.image.name, "dimg");
    assert_eq!(plan.image.url, format!("http://127.0.0.1:{port}/install/images/dimg/disk.raw"));
    assert_eq!(plan.image.format, "raw");
    assert_eq!(plan.image.sha256, hex(&Sha256::digest(&d.image)));
    assert_eq!(plan.image.size, 1_048_576);
    assert_eq!(plan.rootdevice, "size>=1");
    // The URL serves the image, with the checksum the plan gives.
    let o = Command::new("curl").args(["-s", "--interface", NODE_ADDR, &plan.image.url]).output().unwrap();
    assert!(o.stdout == d.image, "the image URL serves other bytes");
    // The seed, as cloud-init's YAML parser reads it.
    let next = d.chain("nexttoken");
    assert_eq!(next.len(), 32, "{next}");
    assert_ne!(next, TOKEN);
    let files = &plan.seed.files;
    let names: Vec<&str> = files.keys().map(String::as_str).collect();
    assert_eq!(names, ["meta-data", "network-config", "oxcat-firstboot.sh", "user-data", "vendor-data"]);
    let id = format!("oxcat-n1-{}", &hex(&Sha256::digest(next.as_bytes()))[..12]);
    assert_eq!(yaml_json(&files["meta-data"]), serde_json::json!({"instance-id": id, "local-hostname": "n1"}));
    let user = &files["user-data"];
    assert!(user.starts_with("#cloud-config\n"), "{user}");
    // The admin's keys, then the cluster key (nodeset made it, so the node can be reached by xdsh).
    let store = oxcat::store::Store::open(&d.lab.db()).unwrap();
    let cluster = oxcat::remote::keys::public_line(store.conn()).unwrap().expect("nodeset made the cluster key");
    assert_eq!(
        yaml_json(user),
        serde_json::json!({"hostname": "n1", "ssh_authorized_keys": [
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOx root@mn", "ssh-rsa AAAAB3Nza admin: ops", cluster]})
    );
    assert_eq!(
        yaml_json(&files["network-config"]),
        serde_json::json!({"version": 2, "ethernets": {"oxcat0": {
            "match": {"macaddress": "52:54:00:00:00:41"},
            "dhcp4": false,
            "addresses": ["127.0.0.41/16"],
            "routes": [{"to": "0.0.0.0/0", "via": "127.0.0.254"}],
            "nameservers": {"addresses": ["127.0.0.53", "127.0.0.1"], "search": ["cluster.example"]},
        }}})
    );
    assert_eq!(files["vendor-data"], files["oxcat-firstboot.sh"]);
    assert!(files["vendor-data"].starts_with("#!/bin/sh\n"));
    assert!(files["vendor-data"].contains(&format!("token='{next}'\n")));
    // The node's own hints win over the image's; every fetch draws a new first-boot token.
    d.lab.run("chdef", &["n1", "rootdevice=serial=S1,rotational=false"]).ok();
    let again = d.plan();
    assert_eq!(again.rootdevice, "serial=S1,rotational=false");
    let next2 = d.chain("nexttoken");
    assert_ne!(next2, next);
    assert!(again.seed.files["oxcat-firstboot.sh"].contains(&format!("token='{next2}'\n")));
    assert_ne!(again.seed.files["meta-data"], files["meta-data"]);
    // Without a networks row for its address, the NIC asks DHCP; a user-data file is given as is.
    d.lab.run("rmdef", &["-t", "network", "lab"]).ok();
    let ud = d.lab.write("user.yaml", "#cloud-config\nruncmd:\n  - [touch, /deployed]\n");
    d.lab.run("chdef", &["-t", "osimage", "dimg", &format!("userdata={}", ud.display())]).ok();
    let dhcp = d.plan();
    assert_eq!(
        yaml_json(&dhcp.seed.files["network-config"]),
        serde_json::json!({"version": 2, "ethernets": {"oxcat0": {"match": {"macaddress": "52:54:00:00:00:41"}, "dhcp4": true}}})
    );
    assert_eq!(dhcp.seed.files["user-data"], "#cloud-config\nruncmd:\n  - [touch, /deployed]\n");
}

#[test]
fn the_plan_is_for_the_node_with_its_live_token_in_a_disk_install_only() {
    let Some(d) = start() else { return };
    let said = |(code, body): (String, String)| format!("{code} {body}");
    assert_eq!(
        said(d.plan_from(STRANGER, TOKEN)),
        "403 n1: not the node's address (only the node itself may use its token)\n"
    );
    assert_eq!(said(d.plan_from(NODE_ADDR, "ffffffffffffffffffffffffffffffff")), "403 unknown node or wrong token\n");
    let head = curl_from(NODE_ADDR, &["-I", &d.url(&format!("/deploy/plan?node=n1&token={TOKEN}"))]);
    assert_eq!(head.0, "405");
    assert_eq!(d.chain("nexttoken"), "", "a refused request drew a token");
    d.lab.run("nodech", &["n1", "chain.currstate=boot"]).ok();
    assert_eq!(
        said(d.plan_from(NODE_ADDR, TOKEN)),
        "409 n1: its state is 'boot', not the install of a disk image (nodeset n1 osimage=DISKIMAGE)\n"
    );
    d.lab.run("nodech", &["n1", "chain.currstate=install dimg"]).ok();
    d.lab.run("chdef", &["-t", "osimage", "dimg", "provmethod=netboot"]).ok();
    assert!(said(d.plan_from(NODE_ADDR, TOKEN)).starts_with("409 n1: its state is 'install dimg', not the install"));
    d.lab.run("chdef", &["-t", "osimage", "dimg", "provmethod=disk", "diskimagesha256="]).ok();
    assert_eq!(
        said(d.plan_from(NODE_ADDR, TOKEN)),
        "409 n1: osimage 'dimg': no SHA-256 of the image (linuximage.diskimagesha256: 64 hex digits)\n"
    );
    d.lab.run("chdef", &["-t", "osimage", "dimg", &format!("diskimagesha256={}", hex(&Sha256::digest(&d.image)))]).ok();
    // A user-data file that cannot be read fails the plan, named in the answer and the log.
    let missing = d.lab.path("nosuch.yaml");
    d.lab.run("chdef", &["n1", &format!("userdata={}", missing.display())]).ok();
    let why = format!("n1: cannot read its user data {}: No such file or directory (os error 2)", missing.display());
    assert_eq!(said(d.plan_from(NODE_ADDR, TOKEN)), format!("500 {why}\n"));
    d.daemon.log_line(&format!("oxcatd: HTTP: /deploy/plan: {why}"));
    assert_eq!(d.chain("nexttoken"), "", "a failed plan drew a token");
    d.lab.run("chdef", &["n1", "userdata="]).ok();
    assert_eq!(d.plan_from(NODE_ADDR, TOKEN).0, "200");
    // Once the node reported the end of its boot, its token opens no plan.
    assert_eq!(d.report(TOKEN, "failed: no disk matches rootdevice size>=1", "").0, "200");
    assert_eq!(
        said(d.plan_from(NODE_ADDR, TOKEN)),
        "403 n1: the boot token is spent (the node reported the end of its boot): run nodeset again\n"
    );
}

#[test]
fn deploy_statuses_are_checked_and_recorded() {
    let Some(d) = start() else { return };
    assert_eq!(d.report(TOKEN, "installing 0%", "").0, "200");
    assert_eq!(d.report(TOKEN, "installing 37%", "").0, "200");
    assert_eq!(d.attr("status"), "installing 37%");
    // nodeset stat shows a deploy's progress beside the state.
    d.lab.run("nodeset", &["n1", "stat"]).ok().stdout_is("n1: install dimg (installing 37%)\n");
    for bad in ["installing 101%", "installing x%", "installing -1%", "installing 3.5%", "installing 37"] {
        let (code, body) = d.report(TOKEN, bad, "");
        assert_eq!(code, "400", "{bad}: {body}");
    }
    let (code, body) = d.report(TOKEN, &format!("failed: {}", "x".repeat(249)), "");
    assert_eq!((code.as_str(), body.as_str()), ("400", "a status is at most 256 bytes ('failed: REASON' is 257)\n"));
    assert_eq!(d.report(TOKEN, "failed: a\u{1b}[2Jb", "").0, "400");
    // A log tail over 16 KiB is refused whole.
    assert_eq!(d.report(TOKEN, "installed", &"y".repeat(16 * 1024 + 1)).0, "413");
    assert_eq!(d.attr("status"), "installing 37%");
    assert_eq!(d.chain("token"), TOKEN);
}

#[test]
fn installed_hands_the_node_over_to_its_disk_and_the_first_boot_reports_booted() {
    let Some(d) = start() else { return };
    // Configs `nodeset --files` wrote follow the new state; none other is written.
    d.lab.run("nodeset", &["n1", "osimage=dimg", "--files"]).ok();
    d.lab.run("nodech", &["n1", &format!("chain.token={TOKEN}")]).ok();
    let ipxe = d.lab.path("tftp/ipxe/n1.ipxe");
    assert!(std::fs::read_to_string(&ipxe).unwrap().starts_with("#!ipxe oxcat nodeset: install dimg\n"));
    std::fs::remove_file(d.lab.path("tftp/pxelinux.cfg/01-52-54-00-00-00-41")).unwrap();
    let plan = d.plan();
    let first = d.chain("nexttoken");
    let mypostscript = |token: &str| curl_from(NODE_ADDR, &[&d.url(&format!("/mypostscript/n1?token={token}"))]).0;
    let (code, body) = d.report(TOKEN, "installed", "wrote 1048576 bytes\x1b[0m\r\nsha256 ok\n");
    assert_eq!((code.as_str(), body.as_str()), ("200", "ok\n"));
    d.lab.run("nodeset", &["n1", "stat"]).ok().stdout_is("n1: boot\n");
    assert_eq!(d.attr("status"), "installed");
    assert_eq!((d.chain("token"), d.chain("nexttoken")), (first.clone(), String::new()));
    let log = d.lab.run("lsdef", &["n1", "-i", "deploylog"]).ok().stdout;
    assert!(log.contains("    deploylog=wrote 1048576 bytes[0m\nsha256 ok\n"), "{log:?}");
    let config = std::fs::read_to_string(&ipxe).unwrap();
    assert!(config.starts_with("#!ipxe oxcat nodeset: boot\n"), "{config}");
    let grub = std::fs::read_to_string(d.lab.path("tftp/grub2/grub.cfg-01-52-54-00-00-00-41")).unwrap();
    assert!(grub.starts_with("# oxcat nodeset: boot\n"), "{grub}");
    assert!(!d.lab.path("tftp/pxelinux.cfg/01-52-54-00-00-00-41").exists());
    // The first-boot token opens mypostscript; the deploy's token no longer does.
    assert_eq!(mypostscript(TOKEN), "403");
    assert_eq!(mypostscript(&first), "200");
    // The deployed OS runs the seed's first-boot script: busybox sh, with a curl that talks from
    // the node's address; oxcatpost runs the (empty) lists and reports booted.
    if !peers(&["busybox"], "busybox") {
        return;
    }
    let script = d.lab.write("firstboot.sh", &plan.seed.files["oxcat-firstboot.sh"]);
    for sh in [&["sh", "-n"][..], &["busybox", "sh", "-n"]] {
        let o = Command::new(sh[0]).args(&sh[1..]).arg(&script).output().unwrap();
        assert!(o.status.success(), "{sh:?}: {}", String::from_utf8_lossy(&o.stderr));
    }
    let shim = d.lab.path("shim");
    std::fs::create_dir_all(&shim).unwrap();
    std::fs::write(shim.join("curl"), format!("#!/bin/sh\nexec /usr/bin/curl --interface {NODE_ADDR} \"$@\"\n"))
        .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(shim.join("curl"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let run = || {
        Command::new("busybox")
            .arg("sh")
            .arg(&script)
            .env("PATH", format!("{}:{}", shim.display(), std::env::var("PATH").unwrap_or_default()))
            .env("OXCAT_FIRSTBOOT_DIR", d.lab.path("node/var/lib/oxcat"))
            .env("OXCATPOST_DIR", d.lab.path("node/var/lib/oxcat/post"))
            .env("OXCATPOST_LOG", d.lab.path("node/oxcatpost.log"))
            .output()
            .unwrap()
    };
    let o = run();
    assert!(o.status.success(), "{}\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert_eq!(d.attr("status"), "booted");
    assert!(d.chain("token").starts_with("sha256:"), "booted did not spend the first-boot token");
    assert!(d.lab.path("node/var/lib/oxcat/firstboot.done").exists());
    // Once only: the second boot does nothing.
    std::fs::remove_file(d.lab.path("node/var/lib/oxcat/oxcatpost")).unwrap();
    assert!(run().status.success());
    assert!(!d.lab.path("node/var/lib/oxcat/oxcatpost").exists(), "the first-boot script ran again");
}

#[test]
fn a_failed_deploy_keeps_the_state_and_the_log() {
    let Some(d) = start() else { return };
    d.plan();
    assert_ne!(d.chain("nexttoken"), "");
    let reason = "failed: checksum mismatch (expected 00ff, got 1234)";
    assert_eq!(d.report(TOKEN, reason, "streamed 1048576 bytes\nchecksum mismatch\n").0, "200");
    d.lab.run("nodeset", &["n1", "stat"]).ok().stdout_is("n1: install dimg\n");
    assert_eq!(d.attr("status"), reason);
    let log = d.lab.run("lsdef", &["n1", "-i", "deploylog"]).ok().stdout;
    assert!(log.contains("    deploylog=streamed 1048576 bytes\nchecksum mismatch\n"), "{log:?}");
    assert!(d.chain("token").starts_with("sha256:"), "the token was not spent");
    assert_eq!(d.chain("nexttoken"), "");
    // Spent: it still reports status (a later `installed` changes no state), and opens nothing.
    assert_eq!(d.report(TOKEN, "installed", "").0, "200");
    d.lab.run("nodeset", &["n1", "stat"]).ok().stdout_is("n1: install dimg\n");
    assert_eq!(d.plan_from(NODE_ADDR, TOKEN).0, "403");
}

#[test]
fn a_new_nodeset_drops_the_pending_first_boot_token() {
    let Some(d) = start() else { return };
    // A nodeset after a plan was fetched drops its first-boot token: no plan is pending then.
    d.plan();
    assert_ne!(d.chain("nexttoken"), "");
    d.lab.run("nodeset", &["n1", "offline"]).ok();
    assert_eq!(d.chain("nexttoken"), "");
    d.lab.run("nodech", &["n1", "chain.currstate=install dimg"]).ok();
    assert_eq!(d.report(TOKEN, "installed", "").0, "200");
    d.lab.run("nodeset", &["n1", "stat"]).ok().stdout_is("n1: install dimg\n");
    assert!(d.chain("token").starts_with("sha256:"));
}

#[test]
fn installed_sets_an_ipmi_nodes_next_boot_to_its_disk() {
    if !peers(&["curl"], "curl") {
        return;
    }
    let Some((lab, bmcs)) = crate::hardware::lab_with(1) else { return };
    lab.run("rsetboot", &["n1", "net"]).ok().stdout_is("n1: Network\n");
    let d = setup(lab);
    d.plan();
    assert_eq!(d.report(TOKEN, "installed", "done\n").0, "200");
    d.daemon.log_line("oxcatd: n1: installed: next boot from disk (rsetboot n1 hd: Hard Drive)");
    d.lab.run("rsetboot", &["n1", "stat"]).ok().stdout_is("n1: Hard Drive\n");
    let it = bmcs[0].ipmitool(&["chassis", "bootparam", "get", "5"]);
    assert!(it.contains("Force Boot from default Hard-Drive"), "ipmitool says {it}");
}

#[test]
fn installed_sets_a_redfish_nodes_next_boot_to_its_disk() {
    if !peers(&["curl"], "curl") || !crate::redfish::available() {
        return;
    }
    let lab = Lab::new();
    let emu = crate::redfish::Emulator::start(lab.dir.path(), "emu", crate::redfish::SYSTEM);
    lab.run(
        "mkdef",
        &[
            "n1",
            "groups=compute",
            "mgt=redfish",
            "bmc=127.0.0.1",
            &format!("bmcport={}", emu.port),
            &format!("bmcusername={}", crate::redfish::USER),
            &format!("bmcpassword={}", crate::redfish::PASSWORD),
            &format!("bmccert=ca:{}", emu.ca.display()),
        ],
    )
    .ok();
    lab.run("rsetboot", &["n1", "net"]).ok().stdout_is("n1: Network\n");
    let d = setup(lab);
    d.plan();
    assert_eq!(d.report(TOKEN, "installed", "done\n").0, "200");
    d.daemon.log_line("oxcatd: n1: installed: next boot from disk (rsetboot n1 hd: Hard Drive)");
    assert_eq!(emu.system()["Boot"]["BootSourceOverrideTarget"], "Hdd");
}

/// A node whose MAC is not known (its boot config is named after it) still gets a plan, with no
/// network-config (cloud-init's default: DHCP), and still switches to its disk; the log says why
/// it has no boot config.
#[test]
fn a_node_without_a_mac_is_deployed_and_boots_from_disk_all_the_same() {
    let Some(d) = start() else { return };
    d.lab.run("chdef", &["n1", "mac="]).ok();
    let plan = d.plan();
    assert!(!plan.seed.files.contains_key("network-config"), "{:?}", plan.seed.files.keys());
    assert_eq!(d.report(TOKEN, "installed", "").0, "200");
    d.lab.run("nodeset", &["n1", "stat"]).ok().stdout_is("n1: boot\n");
    d.daemon.log_line("oxcatd: n1: installed: state boot, but no boot config: no MAC address (mac.mac)");
}
