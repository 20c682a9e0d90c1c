//! rpower, rsetboot, rinv, rvitals, reventlog and addbmnode on Redfish BMCs: sushy-emulator
//! (sushy-tools, its fake driver, over HTTPS with a self-signed certificate and bcrypt Basic auth)
//! as the primary peer, cross-checked with curl on the same resources; tests/it/redfish_service.py
//! for what the emulator lacks (sessions, Sensors, LogServices, ETag-guarded PATCH, ActionInfo,
//! HttpBootUri). Every peer listens on 127.0.0.1 on a port it picked itself.

use crate::harness::Lab;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const USER: &str = "admin";
pub const PASSWORD: &str = "rf-secret";

/// Where .ci/run installs sushy-tools (a virtual environment).
pub const VENV: &str = "/opt/oxcat-ci/sushy";

/// True when the emulator is installed; skipped with a note elsewhere, a failure under CI.
pub fn available() -> bool {
    let ok = Path::new(VENV).join("bin/sushy-emulator").exists();
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "{VENV}/bin/sushy-emulator missing: .ci/run must install sushy-tools"
        );
        eprintln!("skipped: {VENV}/bin/sushy-emulator missing (python3 -m venv {VENV}; {VENV}/bin/pip install sushy-tools==2.2.0)");
    }
    ok
}

fn run(cmd: &mut Command) -> String {
    let o = cmd.output().expect("runs");
    assert!(o.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A test CA and a server certificate for 127.0.0.1 it signed, made with openssl in `dir`:
/// (ca.pem, cert.pem, key.pem).
pub fn certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let (ca, ca_key, cert, key) = (dir.join("ca.pem"), dir.join("ca.key"), dir.join("cert.pem"), dir.join("key.pem"));
    if cert.exists() {
        return (ca, cert, key);
    }
    run(Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=oxcat test CA"])
        .arg("-keyout")
        .arg(&ca_key)
        .arg("-out")
        .arg(&ca)
        .stderr(Stdio::null()));
    let csr = dir.join("server.csr");
    run(Command::new("openssl")
        .args(["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&csr)
        .stderr(Stdio::null()));
    let ext = dir.join("server.ext");
    std::fs::write(&ext, "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
        .unwrap();
    run(Command::new("openssl")
        .args(["x509", "-req", "-days", "2", "-CAcreateserial"])
        .arg("-in")
        .arg(&csr)
        .arg("-CA")
        .arg(&ca)
        .arg("-CAkey")
        .arg(&ca_key)
        .arg("-extfile")
        .arg(&ext)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null()));
    (ca, cert, key)
}

/// `sha256:AB:...` of a PEM certificate, as openssl computes it.
pub fn openssl_fingerprint(cert: &Path) -> String {
    let out = run(Command::new("openssl").args(["x509", "-noout", "-fingerprint", "-sha256", "-in"]).arg(cert));
    format!("sha256:{}", out.trim().rsplit('=').next().unwrap())
}

/// Starts `cmd` (stderr or stdout into `log`) and waits for a line with its port.
fn start_and_read_port(mut cmd: Command, log: &Path, marker: &str) -> (Child, u16) {
    let f = std::fs::File::create(log).unwrap();
    let mut child = cmd.stdin(Stdio::null()).stdout(f.try_clone().unwrap()).stderr(f).spawn().expect("peer starts");
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        for line in BufReader::new(text.as_bytes()).lines().map_while(Result::ok) {
            if let Some(rest) = line.split(marker).nth(1) {
                let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
                if let Ok(p) = digits.parse() {
                    return (child, p);
                }
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("{cmd:?} printed no port: {}", std::fs::read_to_string(log).unwrap_or_default());
}

/// One sushy-emulator (fake driver) with its own state directory, killed on drop.
pub struct Emulator {
    pub port: u16,
    pub ca: PathBuf,
    pub cert: PathBuf,
    child: Child,
}

/// One system of an emulator: (uuid, name, power state, MAC).
pub type System = (&'static str, &'static str, &'static str, &'static str);

pub const SYSTEM: System = ("27946b59-9e44-4fa7-8e91-f3527a1ef094", "node0", "Off", "00:5c:52:31:3a:9c");

impl Emulator {
    pub fn start(base: &Path, name: &str, system: System) -> Emulator {
        Emulator::start_systems(base, name, &[system])
    }

    /// An emulator whose service manages several systems (a chassis manager).
    pub fn start_systems(base: &Path, name: &str, systems: &[System]) -> Emulator {
        let (ca, cert, key) = certificates(base);
        let dir = base.join(name);
        std::fs::create_dir_all(dir.join("state")).unwrap();
        let htpasswd = dir.join("htpasswd");
        // bcrypt only (sushy refuses other htpasswd hashes); cost 5 as in sushy's own docs.
        run(Command::new(Path::new(VENV).join("bin/python"))
            .arg("-c")
            .arg(format!(
                "import bcrypt,sys; open(sys.argv[1],'w').write('{USER}:'+bcrypt.hashpw(b'{PASSWORD}',bcrypt.gensalt(5)).decode()+'\\n')"
            ))
            .arg(&htpasswd));
        let fake: Vec<String> = systems
            .iter()
            .map(|(uuid, sname, power, mac)| {
                format!(
                    "{{'uuid': '{uuid}', 'name': '{sname}', 'power_state': '{power}', \
                     'nics': [{{'mac': '{mac}', 'ip': '127.0.0.10'}}]}}"
                )
            })
            .collect();
        let conf = format!(
            "SUSHY_EMULATOR_LISTEN_IP = '127.0.0.1'\nSUSHY_EMULATOR_LISTEN_PORT = 0\nSUSHY_EMULATOR_FAKE_DRIVER = True\n\
             SUSHY_EMULATOR_STATE_DIR = '{state}'\nSUSHY_EMULATOR_AUTH_FILE = '{htpasswd}'\n\
             SUSHY_EMULATOR_SSL_CERT = '{cert}'\nSUSHY_EMULATOR_SSL_KEY = '{key}'\n\
             SUSHY_EMULATOR_FAKE_SYSTEMS = [{fake}]\n",
            fake = fake.join(", "),
            state = dir.join("state").display(),
            htpasswd = htpasswd.display(),
            cert = cert.display(),
            key = key.display(),
        );
        std::fs::write(dir.join("emulator.conf"), conf).unwrap();
        let mut cmd = Command::new(Path::new(VENV).join("bin/sushy-emulator"));
        // Virtual media downloads land in TMPDIR: inside the lab, removed with it.
        cmd.arg("--config").arg(dir.join("emulator.conf")).env("TMPDIR", &dir);
        let (child, port) = start_and_read_port(cmd, &dir.join("log"), "Running on https://127.0.0.1:");
        Emulator { port, ca, cert, child }
    }

    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// curl on the same resource (the cross-check): the JSON answer.
    pub fn curl(&self, path: &str) -> serde_json::Value {
        let out = run(Command::new("curl")
            .args(["-sS", "--fail", "--cacert"])
            .arg(&self.ca)
            .args(["-u", &format!("{USER}:{PASSWORD}")])
            .arg(format!("{}{path}", self.url())));
        serde_json::from_str(&out).expect("JSON from the emulator")
    }

    pub fn system(&self) -> serde_json::Value {
        self.curl(&format!("/redfish/v1/Systems/{}", SYSTEM.0))
    }

    pub fn system_of(&self, uuid: &str) -> serde_json::Value {
        self.curl(&format!("/redfish/v1/Systems/{uuid}"))
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The project's own Redfish test service (tests/it/redfish_service.py), killed on drop.
pub struct Service {
    pub port: u16,
    child: Child,
}

impl Service {
    pub fn start(base: &Path) -> Service {
        let (_, cert, key) = certificates(base);
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/redfish_service.py");
        let mut cmd = Command::new("python3");
        cmd.arg(script).arg(&cert).arg(&key).arg(USER).arg(PASSWORD);
        let (child, port) = start_and_read_port(cmd, &base.join("service.log"), "port ");
        Service { port, child }
    }

    pub fn state(&self, base: &Path) -> serde_json::Value {
        let out = run(Command::new("curl")
            .args(["-sS", "--fail", "--cacert"])
            .arg(base.join("ca.pem"))
            .arg(format!("https://127.0.0.1:{}/test/state", self.port)));
        serde_json::from_str(&out).unwrap()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Enrolls `node` as a Redfish BMC at `url` (the certificate pinned by addbmnode).
fn enroll(lab: &Lab, node: &str, url: &str, extra: &[&str]) -> crate::harness::Out {
    lab.write("rf.pw", &format!("{PASSWORD}\n"));
    let mac = format!("52:54:00:00:10:{:02x}", node.bytes().last().unwrap());
    let mut args =
        vec![node, "--mgt", "redfish", "--bmc", url, "--bmc-user", USER, "--bmc-password-file", "rf.pw", "--mac", &mac];
    args.extend_from_slice(extra);
    lab.run("addbmnode", &args)
}

/// Polls `rpower NODE stat` until it prints `state` (the fake driver applies power changes
/// 1-11 s after it answers).
fn wait_power(lab: &Lab, node: &str, state: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = lab.run("rpower", &[node, "stat"]).ok();
        if out.stdout == format!("{node}: {state}\n") {
            return;
        }
        assert!(Instant::now() < deadline, "{node} never reached {state}: {}", out.stdout);
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn every_command_and_its_read_back_on_sushy_emulator() {
    if !available() {
        return;
    }
    let lab = Lab::new();
    let emu = Emulator::start(lab.dir.path(), "emu", SYSTEM);
    enroll(&lab, "rf1", &emu.url(), &["--validate"]).ok().stdout_is("1 nodes enrolled.\n");
    // The pinned fingerprint is the certificate's, as openssl computes it.
    lab.run("nodels", &["rf1", "ipmi.bmccert"]).ok().stdout_is(&format!("rf1: {}\n", openssl_fingerprint(&emu.cert)));
    lab.run("nodels", &["rf1", "nodehm.mgt", "ipmi.bmc", "ipmi.bmcport"])
        .ok()
        .stdout_is(&format!("rf1: nodehm.mgt: redfish\nrf1: ipmi.bmc: 127.0.0.1\nrf1: ipmi.bmcport: {}\n", emu.port));

    // Power: every transition, read back with rpower and with curl.
    lab.run("rpower", &["rf1", "stat"]).ok().stdout_is("rf1: off\n");
    assert_eq!(emu.system()["PowerState"], "Off");
    lab.run("rpower", &["rf1", "off"]).ok().stdout_is("rf1: off\n"); // already off: nothing sent
    lab.run("rpower", &["rf1", "on"]).ok().stdout_is("rf1: on\n");
    wait_power(&lab, "rf1", "on");
    assert_eq!(emu.system()["PowerState"], "On");
    lab.run("nodels", &["rf1", "nodelist.status"]).ok().stdout_is("rf1: powering-on\n");
    lab.run("rpower", &["rf1", "softoff"]).ok().stdout_is("rf1: softoff\n");
    wait_power(&lab, "rf1", "off");
    assert_eq!(emu.system()["PowerState"], "Off");
    lab.run("rpower", &["rf1", "boot"]).ok().stdout_is("rf1: on\n"); // off: boot powers on
    wait_power(&lab, "rf1", "on");
    lab.run("rpower", &["rf1", "reset"]).ok().stdout_is("rf1: reset\n");
    wait_power(&lab, "rf1", "on");
    lab.run("rpower", &["rf1", "off"]).ok().stdout_is("rf1: off\n");
    wait_power(&lab, "rf1", "off");
    assert_eq!(emu.system()["PowerState"], "Off");
    lab.run("rpower", &["rf1", "cycle"]).ok().stdout_is("rf1: on\n"); // off: cycle powers on
    wait_power(&lab, "rf1", "on");
    // The emulator offers no PowerCycle: cycle on a running node is its ForceRestart.
    lab.run("rpower", &["rf1", "cycle"]).ok().stdout_is("rf1: cycle\n");
    wait_power(&lab, "rf1", "on");

    // Boot override: set, read back, and as curl sees it.
    lab.run("rsetboot", &["rf1", "net"]).ok().stdout_is("rf1: Network\n");
    assert_eq!(emu.system()["Boot"]["BootSourceOverrideTarget"], "Pxe");
    lab.run("rsetboot", &["rf1", "hd", "-p"]).ok().stdout_is("rf1: Hard Drive\n");
    assert_eq!(emu.system()["Boot"]["BootSourceOverrideTarget"], "Hdd");
    lab.run("rsetboot", &["rf1", "stat"]).ok().stdout_is("rf1: Hard Drive\n");
    // The emulator takes UefiHttp only with an image it can download (not here): its own
    // refusal, one line, exit 1.
    let out = lab.run("rsetboot", &["rf1", "http", "http://127.0.0.1:9/boot.efi"]).fails(1);
    assert_eq!(
        out.stderr,
        format!(
            "rf1: Error: PATCH /redfish/v1/Systems/{}: HTTP 400: Failed to download and attach HttpBootUri.\n",
            SYSTEM.0
        )
    );
    lab.run("rsetboot", &["rf1", "cd", "-u"]).ok().stdout_is("rf1: CD/DVD\n");
    let sys = emu.system();
    assert_eq!(
        (sys["Boot"]["BootSourceOverrideTarget"].as_str(), sys["Boot"]["BootSourceOverrideMode"].as_str()),
        (Some("Cd"), Some("UEFI"))
    );
    // Floppy is outside the service's AllowableValues: one error line, exit 1, nothing changed.
    let out = lab.run("rsetboot", &["rf1", "floppy"]).fails(1);
    assert_eq!(
        out.stderr,
        "rf1: Error: BootSourceOverrideTarget Floppy is not allowed by the BMC (allowed: Pxe, Cd, Hdd, UefiHttp)\n"
    );
    assert_eq!(emu.system()["Boot"]["BootSourceOverrideTarget"], "Cd");
    lab.run("rsetboot", &["rf1", "def"]).ok().stdout_is("rf1: boot override inactive\n");
    assert_eq!(emu.system()["Boot"]["BootSourceOverrideTarget"], "None");

    // Inventory as curl reads it.
    let sys = emu.system();
    let out = lab.run("rinv", &["rf1"]).ok();
    for line in [
        "rf1: System Manufacturer: Sushy Emulator".to_string(),
        format!("rf1: UUID/GUID: {}", sys["UUID"].as_str().unwrap()),
        "rf1: BMC Firmware: 1.00".into(),
        "rf1: MAC Address 1: 00:5c:52:31:3a:9c".into(),
    ] {
        assert!(out.stdout.lines().any(|l| l == line), "missing '{line}' in:\n{}", out.stdout);
    }
    lab.run("rinv", &["rf1", "uuid"]).ok().stdout_is(&format!("rf1: UUID/GUID: {}\n", SYSTEM.0));
    lab.run("rinv", &["rf1", "mac"]).ok().stdout_is("rf1: MAC Address 1: 00:5c:52:31:3a:9c\n");

    // Vitals from Chassis/Thermal (the emulator has no Sensors and no Power), against curl.
    let chassis = emu.curl("/redfish/v1/Chassis");
    let ch = chassis["Members"][0]["@odata.id"].as_str().unwrap().to_string();
    let thermal = emu.curl(&format!("{ch}/Thermal"));
    let out = lab.run("rvitals", &["rf1", "temp"]).ok();
    let mut want: Vec<String> = thermal["Temperatures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let c = t["ReadingCelsius"].as_f64().unwrap();
            let f = c * 9.0 / 5.0 + 32.0;
            let f = if f.fract() == 0.0 { format!("{f}") } else { format!("{f:.2}") };
            format!("rf1: {}: {c} C ({f} F)", t["Name"].as_str().unwrap())
        })
        .collect();
    want.sort();
    want.dedup();
    let mut got: Vec<String> = out.stdout.lines().map(str::to_string).collect();
    got.dedup();
    assert_eq!(got, want);
    let out = lab.run("rvitals", &["rf1", "fanspeed"]).ok();
    for f in thermal["Fans"].as_array().unwrap() {
        let line = format!("rf1: {}: {} RPM", f["Name"].as_str().unwrap(), f["Reading"]);
        assert!(out.stdout.lines().any(|l| l == line), "missing '{line}' in:\n{}", out.stdout);
    }
    lab.run("rvitals", &["rf1", "power"]).ok().stdout_is("rf1: Power Status: on\n");

    // The emulator has no LogServices: one clear error line, exit 1.
    lab.run("reventlog", &["rf1"])
        .fails(1)
        .stderr_is("rf1: Error: the Redfish service has no LogServices with entries\n");
}

#[test]
fn wrong_password_foreign_certificate_and_a_dead_bmc_beside_live_ones() {
    if !available() {
        return;
    }
    let lab = Lab::new();
    let a = Emulator::start(lab.dir.path(), "a", SYSTEM);
    let b = Emulator::start(
        lab.dir.path(),
        "b",
        ("4c1d5a3e-7b0b-4b8e-9f5c-2f1e0d9a8b71", "node1", "On", "00:5c:52:31:3a:9d"),
    );
    enroll(&lab, "rf1", &a.url(), &[]).ok();
    enroll(&lab, "rf2", &b.url(), &[]).ok();
    // A port nothing listens on (bound, then closed).
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let fp = openssl_fingerprint(&a.cert);
    let ca = a.ca.display().to_string();
    let defs = [
        ("rf3", dead.to_string(), PASSWORD, fp.clone()),
        ("rf4", a.port.to_string(), "wrong", fp.clone()),
        // Pinned to another certificate than the one the BMC shows.
        ("rf5", a.port.to_string(), PASSWORD, format!("sha256:{}", ["AB"; 32].join(":"))),
        // Checked against the CA that signed the BMC's certificate.
        ("rf6", b.port.to_string(), PASSWORD, format!("ca:{ca}")),
    ];
    for (node, port, pw, cert) in &defs {
        lab.run(
            "mkdef",
            &[
                node,
                "groups=rf",
                "mgt=redfish",
                "bmc=127.0.0.1",
                &format!("bmcport={port}"),
                &format!("bmcusername={USER}"),
                &format!("bmcpassword={pw}"),
                &format!("bmccert={cert}"),
            ],
        )
        .ok();
    }
    let out = lab.run("rpower", &["rf1-rf6", "stat", "-t", "2", "-r", "2"]).fails(1);
    assert_eq!(out.stdout, "rf1: off\nrf2: on\nrf6: on\n");
    let fp_text = fp.clone();
    assert_eq!(
        out.stderr,
        format!(
            "rf3: Error: BMC 127.0.0.1:{dead} did not answer (2 tries, 10 s each): Connection refused (os error 111)\n\
             rf4: Error: invalid user name or password\n\
             rf5: Error: TLS certificate of BMC 127.0.0.1:{} is {fp_text}, not the sha256:{} recorded at enrolment (ipmi.bmccert); if the BMC's certificate was replaced, enrol it again\n",
            a.port,
            ["AB"; 32].join(":")
        )
    );
    // JSON names the kinds.
    let out = lab.run("rpower", &["rf3-rf5", "stat", "--json"]).fails(1);
    let kinds: Vec<String> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["error"]["kind"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kinds, ["timeout", "auth", "tls"]);
    // curl agrees: the wrong password is refused by the BMC itself.
    let st = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", &ca, "-u", &format!("{USER}:wrong")])
        .arg(format!("{}/redfish/v1/Systems", a.url()))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&st.stdout), "401");

    // addbmnode --validate refuses a wrong password and enrolls nothing.
    let before = lab.snapshot();
    lab.write("bad.pw", "wrong\n");
    let out = lab
        .run(
            "addbmnode",
            &[
                "rf9",
                "--mgt",
                "redfish",
                "--bmc",
                &a.url(),
                "--bmc-user",
                USER,
                "--bmc-password-file",
                "bad.pw",
                "--mac",
                "52:54:00:00:10:99",
                "--validate",
            ],
        )
        .fails(2);
    assert_eq!(out.stderr, "rf9: Error: invalid user name or password\nError: nothing was enrolled\n");
    assert_eq!(lab.snapshot(), before);
    // A dead BMC cannot have its certificate pinned: nothing enrolled either.
    let out = lab
        .run(
            "addbmnode",
            &[
                "rf9",
                "--mgt",
                "redfish",
                "--bmc",
                &format!("https://127.0.0.1:{dead}"),
                "--bmc-user",
                USER,
                "--bmc-password-file",
                "bad.pw",
                "--mac",
                "52:54:00:00:10:99",
            ],
        )
        .fails(2);
    assert!(
        out.stderr.starts_with("rf9: Error: bmc: cannot read the TLS certificate to pin: BMC 127.0.0.1:"),
        "{}",
        out.stderr
    );
    assert_eq!(lab.snapshot(), before);
}

#[test]
fn addbmnode_checks_redfish_addresses() {
    let lab = Lab::new();
    lab.write("pw", "x\n");
    let base = ["--bmc-user", "u", "--bmc-password-file", "pw", "--mac", "52:54:00:00:10:01"];
    let try_bmc = |mgt: &str, bmc: &str| {
        let mut args = vec!["rf1", "--mgt", mgt, "--bmc", bmc];
        args.extend_from_slice(&base);
        lab.run("addbmnode", &args)
    };
    try_bmc("ipmi", "https://10.0.0.1").fails(2).stderr_is(
        "rf1: Error: bmc: 'https://10.0.0.1': a URL is a Redfish BMC's address (give --mgt redfish), an IPMI BMC's is a host\nError: nothing was enrolled\n",
    );
    try_bmc("redfish", "http://10.0.0.1")
        .fails(2)
        .stderr_is("rf1: Error: bmc: 'http://10.0.0.1': Redfish BMCs are reached over https:// only\nError: nothing was enrolled\n");
    try_bmc("redfish", "https://10.0.0.1/other")
        .fails(2)
        .stderr_is("rf1: Error: bmc: 'https://10.0.0.1/other': the path must be empty, /redfish/v1 (the service root is found there) or /redfish/v1/Systems/ID (one system of several)\nError: nothing was enrolled\n");
    let mut args = vec!["rf1", "--mgt", "redfish", "--bmc", "https://10.0.0.1:8443/redfish/v1", "--bmc-cert", "yes"];
    args.extend_from_slice(&base);
    lab.run("addbmnode", &args).fails(2).stderr_is(
        "rf1: Error: bmccert: 'yes' is not a certificate check (allowed: sha256:XX:..:XX (32 bytes), ca:/path/to/ca.pem, insecure)\nError: nothing was enrolled\n",
    );
    // An explicit check needs no connection: the URL's host and port are recorded.
    let mut args =
        vec!["rf1", "--mgt", "redfish", "--bmc", "https://10.0.0.1:8443/redfish/v1", "--bmc-cert", "insecure"];
    args.extend_from_slice(&base);
    lab.run("addbmnode", &args).ok();
    lab.run("nodels", &["rf1", "ipmi.bmc", "ipmi.bmcport", "ipmi.bmccert", "nodehm.mgt"]).ok().stdout_is(
        "rf1: ipmi.bmc: 10.0.0.1\nrf1: ipmi.bmcport: 8443\nrf1: ipmi.bmccert: insecure\nrf1: nodehm.mgt: redfish\n",
    );
    // A Redfish node without a certificate check is refused per node, not trusted silently.
    lab.run("chdef", &["rf1", "bmccert="]).ok();
    lab.run("rpower", &["rf1", "stat"]).fails(1).stderr_is(
        "rf1: Error: no TLS certificate check for the Redfish BMC (enrol it with addbmnode --mgt redfish, or chdef rf1 bmccert=sha256:FINGERPRINT, ca:/path/ca.pem or insecure)\n",
    );
}

#[test]
fn one_noderange_mixing_ipmi_and_redfish_nodes() {
    if !available() {
        return;
    }
    let Some((lab, bmcs)) = crate::hardware::lab_with(1) else { return };
    let emu = Emulator::start(lab.dir.path(), "emu", SYSTEM);
    enroll(&lab, "rf1", &emu.url(), &[]).ok();
    lab.run("chdef", &["rf1", "groups=compute"]).ok();
    lab.run("rpower", &["compute", "stat"]).ok().stdout_is("n1: off\nrf1: off\n");
    lab.run("rpower", &["compute", "on"]).ok().stdout_is("n1: on\nrf1: on\n");
    assert_eq!(bmcs[0].power_file(), "1");
    wait_power(&lab, "rf1", "on");
    lab.run("rsetboot", &["compute", "net"]).ok().stdout_is("n1: Network\nrf1: Network\n");
    assert_eq!(emu.system()["Boot"]["BootSourceOverrideTarget"], "Pxe");
    let out = lab.run("rpower", &["compute", "stat", "--json"]).ok();
    assert_eq!(
        out.stdout,
        "{\"node\":\"n1\",\"ok\":true,\"data\":{\"power\":\"on\"}}\n{\"node\":\"rf1\",\"ok\":true,\"data\":{\"power\":\"on\"}}\n"
    );
}

#[test]
fn sessions_sensors_event_log_etags_and_http_boot_on_the_test_service() {
    let lab = Lab::new();
    let svc = Service::start(lab.dir.path());
    let url = format!("https://127.0.0.1:{}", svc.port);
    enroll(&lab, "rf1", &url, &["--validate", "--bmc-cert", &format!("ca:{}", lab.path("ca.pem").display())]).ok();
    let st = svc.state(lab.dir.path());
    assert_eq!(
        (st["created"].as_u64(), st["deleted"].as_u64(), st["alive"].as_u64()),
        (Some(1), Some(1), Some(0)),
        "validate logs in and out"
    );

    // Power through the ActionInfo's allowed ResetTypes: cycle is PowerCycle here.
    lab.run("rpower", &["rf1", "on"]).ok().stdout_is("rf1: on\n");
    lab.run("rpower", &["rf1", "cycle"]).ok().stdout_is("rf1: cycle\n");
    lab.run("rpower", &["rf1", "off"]).ok().stdout_is("rf1: off\n");
    assert_eq!(svc.state(lab.dir.path())["resets"], serde_json::json!(["On", "PowerCycle", "ForceOff"]));

    // PATCH answered 428 without If-Match: sent again with the resource's ETag.
    lab.run("rsetboot", &["rf1", "net", "-p"]).ok().stdout_is("rf1: Network\n");
    lab.run("rsetboot", &["rf1", "http", "https://10.0.0.5/boot/ipxe.efi"])
        .ok()
        .stdout_is("rf1: HTTP boot (HttpBootUri https://10.0.0.5/boot/ipxe.efi)\n");
    let st = svc.state(lab.dir.path());
    assert_eq!(
        st["patches"],
        serde_json::json!([
            {"BootSourceOverrideTarget": "Pxe", "BootSourceOverrideEnabled": "Continuous"},
            {"BootSourceOverrideTarget": "UefiHttp", "BootSourceOverrideEnabled": "Once", "BootSourceOverrideMode": "UEFI", "HttpBootUri": "https://10.0.0.5/boot/ipxe.efi"}
        ])
    );

    // Inventory with processors, memory and the NIC's MAC.
    let out = lab.run("rinv", &["rf1"]).ok();
    for line in [
        "rf1: System Model/MTM: TS-1",
        "rf1: System Serial Number: TS0001",
        "rf1: BMC Firmware: 5.10",
        "rf1: BIOS Version: 2.4.1",
        "rf1: CPU 1: Test CPU 3000 (16 cores)",
        "rf1: CPU 2: Test CPU 3000 (16 cores)",
        "rf1: DIMM 1: 65536 MiB",
        "rf1: MAC Address 1: 52:54:00:aa:bb:01",
    ] {
        assert!(out.stdout.lines().any(|l| l == line), "missing '{line}' in:\n{}", out.stdout);
    }

    // Vitals from the Sensors collection, thresholds included.
    lab.run("rvitals", &["rf1"]).ok().stdout_is(
        "rf1: Power Status: off\nrf1: CPU0 Temp: 96 C (204.80 F) (At or above upper critical threshold)\n\
         rf1: Fan 1: 5400 RPM\nrf1: Inlet Temp: 22.50 C (72.50 F)\nrf1: Total Power: 312 Watts (1064.59 BTUs/hr)\n\
         rf1: VCore: 1.21 Volts\n",
    );
    lab.run("rvitals", &["rf1", "wattage"]).ok().stdout_is("rf1: Total Power: 312 Watts (1064.59 BTUs/hr)\n");

    // The manager's SEL: entries, the last one, clear.
    lab.run("reventlog", &["rf1"]).ok().stdout_is(
        "rf1: 11/24/2026 04:53:51 Critical CPU 1 temperature above upper critical threshold\n\
         rf1: 11/25/2026 10:00:02 OK Power supply 1 restored\n",
    );
    lab.run("reventlog", &["rf1", "1"]).ok().stdout_is("rf1: 11/25/2026 10:00:02 OK Power supply 1 restored\n");
    lab.run("reventlog", &["rf1", "clear"]).ok().stdout_is("rf1: SEL cleared\n");
    lab.run("reventlog", &["rf1"]).ok().stdout_is("rf1: no SEL entries\n");

    // Every command logged out of its session (the service refuses Basic, so all used one).
    let st = svc.state(lab.dir.path());
    assert_eq!(st["alive"], 0);
    assert_eq!(st["created"], st["deleted"]);
    assert!(st["created"].as_u64().unwrap() >= 13);

    // Wrong password: the session login is refused.
    lab.run("chdef", &["rf1", "bmcpassword=wrong"]).ok();
    lab.run("rpower", &["rf1", "stat"]).fails(1).stderr_is("rf1: Error: invalid user name or password\n");
}

#[test]
fn virtual_media_inserted_booted_from_and_ejected_on_sushy_emulator() {
    if !available() {
        return;
    }
    let lab = Lab::new();
    let emu = Emulator::start(lab.dir.path(), "emu", SYSTEM);
    enroll(&lab, "rf1", &emu.url(), &[]).ok();
    // The ISO, served over HTTP on 127.0.0.1 (the emulator downloads it on insert).
    let www = lab.path("www");
    std::fs::create_dir(&www).unwrap();
    std::fs::write(www.join("boot.iso"), vec![0x5au8; 64 * 1024]).unwrap();
    let mut cmd = Command::new("python3");
    cmd.args(["-u", "-m", "http.server", "0", "--bind", "127.0.0.1", "--directory"]).arg(&www);
    let (mut http, port) = start_and_read_port(cmd, &lab.path("http.log"), " port ");
    let url = format!("http://127.0.0.1:{port}/boot.iso");
    let out = lab.run("rsetboot", &["rf1", "cd", "--media", &url]);
    let _ = (http.kill(), http.wait());
    out.ok().stdout_is(&format!("rf1: CD/DVD (virtual media {url})\n"));
    // curl agrees: the CD drive holds the image, and the next boot is from it.
    let drives = emu.curl(&format!("/redfish/v1/Systems/{}/VirtualMedia", SYSTEM.0));
    let cd = drives["Members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| emu.curl(m["@odata.id"].as_str().unwrap()))
        .find(|d| d["MediaTypes"].as_array().unwrap().iter().any(|t| t == "CD" || t == "DVD"))
        .expect("a CD drive");
    assert_eq!((cd["Image"].as_str(), cd["Inserted"].as_bool()), (Some(url.as_str()), Some(true)));
    assert_eq!(emu.system()["Boot"]["BootSourceOverrideTarget"], "Cd");
    lab.run("rsetboot", &["rf1", "cd", "--eject"]).ok().stdout_is("rf1: virtual media ejected\n");
    let cd = emu.curl(cd["@odata.id"].as_str().unwrap());
    assert_eq!(cd["Inserted"], false);
    // IPMI nodes have no virtual media: one error line naming the protocol.
    lab.run("mkdef", &["n1", "groups=x", "mgt=ipmi", "bmc=127.0.0.1", "bmcpassword=x"]).ok();
    lab.run("rsetboot", &["n1", "net", "--eject"]).fails(2);
}

/// A service that manages two systems (a chassis manager): a node without bmcsystem is refused
/// rather than guessed (guessing could power off another node); each node drives the system its
/// bmcsystem names (from addbmnode's URL or chdef), read back with curl; an Id the service lacks
/// is named with the ones it has.
#[test]
fn a_bmc_with_two_systems_drives_the_one_bmcsystem_names_and_never_guesses() {
    if !available() {
        return;
    }
    let lab = Lab::new();
    const B: System = ("8fd5a5d0-4f5e-4b2b-9a57-6a7c3c1d2e11", "node1", "Off", "00:5c:52:31:3a:9d");
    let emu = Emulator::start_systems(lab.dir.path(), "chassis", &[SYSTEM, B]);
    enroll(&lab, "rf1", &emu.url(), &[]).ok();
    let o = lab.run("rpower", &["rf1", "stat"]).fails(1);
    let (a_id, b_id) = (SYSTEM.0, B.0);
    let ids = {
        let mut v = [a_id, b_id];
        v.sort();
        v.join(", ")
    };
    assert_eq!(
        o.stderr,
        format!("rf1: Error: bmcsystem: the Redfish service manages 2 systems ({ids}): set the node's bmcsystem to its own\n")
    );
    // rf2 names system B in its URL; rf1 gets system A with chdef.
    enroll(&lab, "rf2", &format!("{}/redfish/v1/Systems/{b_id}", emu.url()), &[]).ok();
    lab.run("nodels", &["rf2", "ipmi.bmcsystem"]).ok().stdout_is(&format!("rf2: {b_id}\n"));
    lab.run("chdef", &["rf1", &format!("bmcsystem={a_id}")]).ok();
    lab.run("rpower", &["rf2", "on"]).ok().stdout_is("rf2: on\n");
    wait_power(&lab, "rf2", "on");
    assert_eq!(emu.system_of(b_id)["PowerState"], "On");
    assert_eq!(emu.system_of(a_id)["PowerState"], "Off");
    lab.run("rpower", &["rf1", "stat"]).ok().stdout_is("rf1: off\n");
    lab.run("rinv", &["rf2", "uuid"]).ok().stdout_is(&format!("rf2: UUID/GUID: {b_id}\n"));
    lab.run("chdef", &["rf1", "bmcsystem=blade-9"]).ok();
    let o = lab.run("rpower", &["rf1", "stat"]).fails(1);
    assert_eq!(
        o.stderr,
        format!("rf1: Error: bmcsystem: the Redfish service has no system 'blade-9' (its systems: {ids})\n")
    );
}
