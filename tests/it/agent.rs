//! The node agent (`nodeagent deploy --plan FILE --disk FILE`) against real HTTP peers on
//! 127.0.0.1: oxcatd serving the image store (and taking the status reports), and a small Python
//! server that drops the first transfer midway. The compressors, sfdisk, blkid and mtools are the
//! real tools admins and cloud-init use.

use crate::harness::{peers, Daemon, Lab, Out};
use sha2::{Digest, Sha256};
use std::io::{BufRead, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A disk image: stretches of zeros (as real images have) between pseudo-random data.
fn image(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| if (i >> 20) % 3 == 1 { 0 } else { ((i as u32).wrapping_mul(2_654_435_761) >> 13) as u8 })
        .collect()
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// A lab whose oxcatd (HTTP on 127.0.0.1) serves its image store, with node n1 at 127.0.0.1 (the
/// agent's address) set to boot, so n1's token is good for status reports.
fn lab_with_oxcatd() -> (Lab, Daemon) {
    let lab = Lab::new();
    lab.run("chdef", &["-t", "site", &format!("tftpdir={}", lab.path("tftp").display()), "master=127.0.0.1"]).ok();
    lab.write("vmlinuz", "kernel");
    lab.write("initrd.img", "initrd");
    lab.run("addimage", &["img", "--kernel", "vmlinuz", "--initrd", "initrd.img"]).ok();
    lab.enroll("n1").ok();
    lab.run("chdef", &["n1", "ip=127.0.0.1"]).ok();
    lab.run("nodeset", &["n1", "osimage=img"]).ok();
    std::fs::create_dir_all(lab.path("tftp")).unwrap();
    std::fs::create_dir_all(lab.path("install/images/disk")).unwrap();
    lab.write("oxcat.toml", "[http]\nlisten = [\"127.0.0.1:0\"]\n[tftp]\nlisten = [\"127.0.0.1:0\"]\n");
    let mut cmd = lab.cmd("oxcatd");
    cmd.args(["--config", "oxcat.toml"]);
    let daemon = Daemon::start(cmd);
    (lab, daemon)
}

/// n1's boot token, as the store keeps it.
fn token(lab: &Lab) -> String {
    let out = lab.run("nodels", &["n1", "chain.token", "--show-secrets"]).ok().stdout;
    out.trim().rsplit(' ').next().unwrap().to_string()
}

/// Compresses `raw` with the real tool for `format` (gzip, zstd, xz).
fn compress(format: &str, raw: &[u8]) -> Vec<u8> {
    let tool: &[&str] = match format {
        "raw" => return raw.to_vec(),
        "gz" => &["gzip", "-c", "-1"],
        "zst" => &["zstd", "-c", "-q", "-1"],
        "xz" => &["xz", "-c", "-1", "-T1"],
        _ => unreachable!(),
    };
    let mut child =
        Command::new(tool[0]).args(&tool[1..]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let raw = raw.to_vec();
    let feeder = std::thread::spawn(move || stdin.write_all(&raw).unwrap());
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    assert!(out.status.success(), "{tool:?}");
    out.stdout
}

/// Writes a plan for `raw` (served as `format` from `url`) to `plan.json`; `sha` overrides the
/// checksum.
fn write_plan(lab: &Lab, url: &str, format: &str, raw: &[u8], sha: Option<&str>, rootdevice: &str) {
    let plan = serde_json::json!({
        "node": "n1",
        "image": {"name": "disk", "url": url, "format": format,
                  "sha256": sha.map(str::to_string).unwrap_or_else(|| sha256(raw)), "size": raw.len()},
        "rootdevice": rootdevice,
        "seed": {"files": {
            "meta-data": "instance-id: oxcat-n1-0123456789ab\nlocal-hostname: n1\n",
            "user-data": "#cloud-config\nhostname: n1\n",
        }},
    });
    lab.write("plan.json", &plan.to_string());
}

/// `nodeagent deploy --plan plan.json --disk DISK --log agent.log EXTRA...`.
fn deploy(lab: &Lab, disk: &Path, extra: &[&str]) -> Out {
    let disk = disk.display().to_string();
    let mut args = vec!["deploy", "--plan", "plan.json", "--disk", &disk, "--log", "agent.log"];
    args.extend_from_slice(extra);
    lab.run("nodeagent", &args)
}

/// A target "disk": a file of `len` bytes of 0x77 (old contents the deploy must replace).
fn old_disk(lab: &Lab, len: usize) -> std::path::PathBuf {
    let p = lab.path("disk.img");
    std::fs::write(&p, vec![0x77u8; len]).unwrap();
    p
}

#[test]
fn images_in_every_format_are_written_byte_exact() {
    if !peers(&["gzip", "zstd", "xz"], "gzip zstd xz-utils") {
        return;
    }
    let (lab, d) = lab_with_oxcatd();
    let raw = image(6 << 20);
    for format in ["raw", "gz", "zst", "xz"] {
        let file = if format == "raw" { "disk.raw".to_string() } else { format!("disk.raw.{format}") };
        std::fs::write(lab.path(&format!("install/images/disk/{file}")), compress(format, &raw)).unwrap();
        let url = format!("http://{}/install/images/disk/{file}", d.addr("HTTP"));
        write_plan(&lab, &url, format, &raw, None, "");
        let disk = old_disk(&lab, (8 << 20) + 4096);
        let o = deploy(&lab, &disk, &[]).ok();
        assert!(o.stderr.contains(&format!("verified: {} bytes, sha256 {}", raw.len(), sha256(&raw))), "{}", o.stderr);
        let written = std::fs::read(&disk).unwrap();
        assert!(written[..raw.len()] == raw[..], "{format}: the image differs");
        // The old disk's last MiB was wiped (an old backup GPT or RAID superblock lives there).
        assert!(written[written.len() - (1 << 20)..].iter().all(|&b| b == 0), "{format}: the end is not wiped");
        assert!(
            o.stderr.ends_with("nodeagent: installed\nnodeagent: status: installed (no server to report to)\n"),
            "{}",
            o.stderr
        );
    }
    let log = std::fs::read_to_string(lab.path("agent.log")).unwrap();
    assert_eq!(log.matches("nodeagent: installed\n").count(), 4, "{log}");
}

#[test]
fn a_checksum_mismatch_fails_and_leaves_the_disk_unbootable() {
    let (lab, d) = lab_with_oxcatd();
    let raw = image(3 << 20);
    std::fs::write(lab.path("install/images/disk/disk.raw"), &raw).unwrap();
    let url = format!("http://{}/install/images/disk/disk.raw", d.addr("HTTP"));
    let wrong = "0".repeat(64);
    write_plan(&lab, &url, "raw", &raw, Some(&wrong), "");
    let disk = old_disk(&lab, 4 << 20);
    let o = deploy(&lab, &disk, &[]).fails(1);
    let reason = format!("failed: checksum mismatch (expected {wrong}, got {})", sha256(&raw));
    assert!(o.stderr.contains(&format!("nodeagent: {reason}\n")), "{}", o.stderr);
    assert!(o.stderr.contains("wiped both ends of"), "{}", o.stderr);
    let written = std::fs::read(&disk).unwrap();
    assert!(written[..1 << 20].iter().all(|&b| b == 0), "the boot sector survived a failed deploy");
    assert!(written[written.len() - (1 << 20)..].iter().all(|&b| b == 0));
    // The bytes between were written: the wipe, not a missing write, made it unbootable.
    assert!(written[1 << 20..2 << 20] == raw[1 << 20..2 << 20]);
}

/// An HTTP server that honours `Range: bytes=N-` and, on the first plain GET of each file, closes
/// the connection after `DROP` bytes of the body (as a rebooting switch would).
const DROPPING_SERVER: &str = r#"
import http.server, os, sys
root, drop = sys.argv[1], int(sys.argv[2])
dropped = set()
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        path = os.path.join(root, self.path.lstrip("/"))
        data = open(path, "rb").read()
        rng = self.headers.get("Range")
        sys.stderr.write("GET %s Range: %s\n" % (self.path, rng))
        if rng:
            start = int(rng.split("=")[1].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))
            self.send_header("Content-Length", str(len(data) - start))
            self.end_headers()
            self.wfile.write(data[start:])
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.path not in dropped:
            dropped.add(self.path)
            self.wfile.write(data[:drop])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)
            return
        self.wfile.write(data)
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print(srv.server_address[1], flush=True)
srv.serve_forever()
"#;

struct Python(Child);

impl Drop for Python {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn an_interrupted_download_is_resumed_with_range() {
    if !peers(&["python3", "gzip"], "python3 gzip") {
        return;
    }
    let lab = Lab::new();
    let raw = image(8 << 20);
    let gz = compress("gz", &raw);
    std::fs::create_dir(lab.path("www")).unwrap();
    std::fs::write(lab.path("www/disk.raw.gz"), &gz).unwrap();
    let drop_at = gz.len() / 3;
    let (port, _server) =
        python_server(&lab, DROPPING_SERVER, &[lab.path("www").to_str().unwrap(), &drop_at.to_string()]);
    write_plan(&lab, &format!("http://127.0.0.1:{port}/disk.raw.gz"), "gz", &raw, None, "");
    let disk = old_disk(&lab, 8 << 20);
    let o = deploy(&lab, &disk, &[]).ok();
    assert!(o.stderr.contains(&format!("nodeagent: download interrupted at byte {drop_at}: ")), "{}", o.stderr);
    assert!(
        o.stderr.contains(&format!("nodeagent: download resumed at byte {drop_at} (206 Partial Content)\n")),
        "{}",
        o.stderr
    );
    assert!(std::fs::read(&disk).unwrap() == raw, "the resumed image differs");
    let served = std::fs::read_to_string(lab.path("server.log")).unwrap();
    assert!(served.contains(&format!("GET /disk.raw.gz Range: bytes={drop_at}-\n")), "{served}");
    assert_eq!(served.matches("GET /disk.raw.gz Range: ").count(), 2, "started over instead of resuming: {served}");
}

#[test]
fn a_gpt_image_on_a_larger_disk_gets_its_backup_moved_and_a_cidata_seed() {
    if !peers(&["sfdisk", "blkid", "mtype", "zstd"], "fdisk util-linux mtools zstd") {
        return;
    }
    let (lab, d) = lab_with_oxcatd();
    // A 16 MiB image partitioned by sfdisk: an EFI system partition and a root partition.
    let img = lab.path("gpt.img");
    std::fs::write(&img, image(16 << 20)).unwrap();
    let mut sfdisk = Command::new("sfdisk")
        .args(["-q", "--no-reread", "--no-tell-kernel"])
        .arg(&img)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    sfdisk.stdin.take().unwrap().write_all(b"label: gpt\n,4MiB,U\n,,L\n").unwrap();
    assert!(sfdisk.wait().unwrap().success());
    let raw = std::fs::read(&img).unwrap();
    std::fs::write(lab.path("install/images/disk/disk.raw.zst"), compress("zst", &raw)).unwrap();
    let url = format!("http://{}/install/images/disk/disk.raw.zst", d.addr("HTTP"));
    write_plan(&lab, &url, "zst", &raw, None, "");
    let disk = old_disk(&lab, 64 << 20);
    let server = format!("http://{}", d.addr("HTTP"));
    let token = token(&lab);
    let o = deploy(&lab, &disk, &["--server", &server, "--node", "n1", "--token", &token]).ok();
    for line in [
        "GPT: backup header moved from LBA 32767 to the disk's end (LBA 131071)",
        "GPT: partition 3 'cidata' added at LBA 112640 (8 MiB)",
        "seed: FAT volume CIDATA at byte 57671680 with meta-data, user-data",
    ] {
        assert!(o.stderr.contains(&format!("nodeagent: {line}\n")), "{line}:\n{}", o.stderr);
    }
    // The final report reached oxcatd.
    lab.run("nodels", &["n1", "nodelist.status"]).ok().stdout_is("n1: installed\n");

    let verify = Command::new("sfdisk").arg("--verify").arg(&disk).output().unwrap();
    let report = String::from_utf8_lossy(&verify.stdout).to_string() + &String::from_utf8_lossy(&verify.stderr);
    assert!(report.contains("No errors detected.") && !report.contains("error detected"), "{report}");
    let written = std::fs::read(&disk).unwrap();
    // The image's partitions are what was written (the GPT around them changed).
    assert!(written[1 << 20..15 << 20] == raw[1 << 20..15 << 20]);
    let probe = Command::new("blkid").args(["-p", "-O", "57671680", "-o", "export"]).arg(&disk).output().unwrap();
    let probe = String::from_utf8_lossy(&probe.stdout);
    assert!(probe.contains("LABEL=CIDATA\n") && probe.contains("TYPE=vfat\n"), "blkid: {probe}");
    let mtype = Command::new("mtype")
        .arg("-i")
        .arg(format!("{}@@57671680", disk.display()))
        .arg("::meta-data")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&mtype.stdout), "instance-id: oxcat-n1-0123456789ab\nlocal-hostname: n1\n");
}

#[test]
fn without_a_fitting_disk_the_deploy_is_refused_with_the_reason() {
    let lab = Lab::new();
    for (name, size) in [("sda", "41943040"), ("sdb", "41943040"), ("loop0", "99999999")] {
        let dir = lab.path(&format!("sys/block/{name}"));
        std::fs::create_dir_all(dir.join("queue")).unwrap();
        std::fs::write(dir.join("size"), size).unwrap();
        std::fs::write(dir.join("removable"), "0").unwrap();
        std::fs::write(dir.join("queue/rotational"), "1").unwrap();
    }
    let raw = image(1 << 20);
    let refused = |rootdevice: &str| {
        write_plan(&lab, "http://127.0.0.1:9/never", "raw", &raw, None, rootdevice);
        let o =
            lab.run("nodeagent", &["deploy", "--plan", "plan.json", "--sysfs", "sys", "--log", "agent.log"]).fails(1);
        o.stderr.lines().find_map(|l| l.strip_prefix("nodeagent: failed: ")).unwrap_or_default().to_string()
    };
    assert_eq!(refused(""), "2 disks of the same size fit the image (sda, sdb): set rootdevice, e.g. serial= or wwn=");
    assert_eq!(refused("size=20"), "2 disks match rootdevice \"size=20\" (sda, sdb): add serial= or wwn=");
    assert_eq!(refused("serial=XYZ"), "no disk matches rootdevice \"serial=XYZ\" (disks: sda 20 GiB, sdb 20 GiB)");
    assert_eq!(
        refused("size=huge"),
        "rootdevice hint 'size=huge': size is a whole number of GiB (size=100, size>=100, size<=2000)"
    );
    let log = std::fs::read_to_string(lab.path("agent.log")).unwrap();
    assert_eq!(log.matches("nodeagent: failed: ").count(), 4, "{log}");
}

/// The oxcatd end of the deploy protocol (DEPLOY.md): `GET /deploy/plan?node=&token=` answers the
/// plan to n1's token only, `POST /status?node=&token=&status=` records each status and its body
/// (one JSON line each in ROOT/statuses); anything else is a file under ROOT.
const PROTOCOL_SERVER: &str = r#"
import http.server, json, os, sys, urllib.parse
root, token = sys.argv[1], sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def reply(self, code, body):
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def query(self):
        u = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(u.query)
        return u.path, q, q.get("node") == ["n1"] and q.get("token") == [token]
    def do_GET(self):
        path, q, ok = self.query()
        if path == "/deploy/plan":
            if not ok:
                return self.reply(403, b"unknown node or wrong token\n")
            path = "/plan.json"
        self.reply(200, open(os.path.join(root, path.lstrip("/")), "rb").read())
    def do_POST(self):
        path, q, ok = self.query()
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with open(os.path.join(root, "statuses"), "a") as f:
            f.write(json.dumps({"status": q["status"][0], "ok": ok, "body": body.decode()}) + "\n")
        self.reply(200 if ok else 403, b"ok\n" if ok else b"unknown node or wrong token\n")
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print(srv.server_address[1], flush=True)
srv.serve_forever()
"#;

/// Starts `script` (a Python HTTP server printing its port) with `args`; its port and guard.
fn python_server(lab: &Lab, script: &str, args: &[&str]) -> (String, Python) {
    let log = std::fs::File::create(lab.path("server.log")).unwrap();
    let mut child =
        Command::new("python3").arg("-c").arg(script).args(args).stdout(Stdio::piped()).stderr(log).spawn().unwrap();
    let mut port = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut port).unwrap();
    (port.trim().to_string(), Python(child))
}

#[test]
fn the_plan_comes_with_the_token_and_statuses_carry_progress_and_the_log() {
    if !peers(&["python3"], "python3") {
        return;
    }
    let lab = Lab::new();
    std::fs::create_dir(lab.path("www")).unwrap();
    let raw = image(5 << 20);
    std::fs::write(lab.path("www/disk.raw"), &raw).unwrap();
    let token = "f00dfeedf00dfeedf00dfeedf00dfeed";
    let (port, _server) = python_server(&lab, PROTOCOL_SERVER, &[lab.path("www").to_str().unwrap(), token]);
    let server = format!("http://127.0.0.1:{port}");
    write_plan(&lab, &format!("{server}/disk.raw"), "raw", &raw, None, "");
    std::fs::rename(lab.path("plan.json"), lab.path("www/plan.json")).unwrap();
    let disk = old_disk(&lab, 6 << 20);
    let run = |token: &str| {
        let disk = disk.display().to_string();
        let args =
            ["deploy", "--server", &server, "--node", "n1", "--token", token, "--disk", &disk, "--log", "agent.log"];
        lab.run("nodeagent", &args)
    };
    let statuses = || -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(lab.path("www/statuses")).unwrap_or_default();
        text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    };

    let o = run(token).ok();
    assert!(std::fs::read(&disk).unwrap()[..raw.len()] == raw[..]);
    let got = statuses();
    let names: Vec<&str> = got.iter().map(|s| s["status"].as_str().unwrap()).collect();
    assert_eq!(names, ["installing 0%", "installing 100%", "installed"], "{}", o.stderr);
    assert!(got.iter().all(|s| s["ok"] == true));
    // The final report carries the log's tail: what the admin reads in nodelist.deploylog.
    let body = got[2]["body"].as_str().unwrap();
    assert!(body.contains(&format!("nodeagent: verified: {} bytes, sha256 {}\n", raw.len(), sha256(&raw))), "{body}");
    assert!(body.ends_with("nodeagent: installed\n"), "{body}");
    assert!(!o.stderr.contains(token), "the token is logged: {}", o.stderr);

    // A wrong token gets no plan: the failure is reported, the disk is not touched.
    std::fs::remove_file(lab.path("www/statuses")).unwrap();
    std::fs::write(&disk, b"old disk").unwrap();
    let o = run("0123456789abcdef0123456789abcdef").fails(1);
    let reason = format!("failed: no plan from {server}/deploy/plan?node=n1 (HTTP 403: unknown node or wrong token)");
    assert!(o.stderr.contains(&format!("nodeagent: {reason}\n")), "{}", o.stderr);
    let got = statuses();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["status"], reason);
    assert_eq!(std::fs::read(&disk).unwrap(), b"old disk");
}
