//! Simulated BMCs: OpenIPMI's `ipmi_sim`, one process per BMC, each on its own loopback address
//! (127.X.Y.Z:623), with users, sensors (SDRs compiled by `sdrcomp -8`), FRU data, a SEL entry and
//! a `chassis_control` program that keeps power and boot device in files. Started per test, waited
//! for until it answers (no fixed sleeps), killed on drop.

use std::net::{Ipv4Addr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub const USER: &str = "admin";
pub const PASSWORD: &str = "secret";

/// The FRU every simulated BMC carries (its serial numbers end in the BMC's index).
pub fn fru_for(index: u32) -> oxcat::hw::ipmi::fru::Fru {
    oxcat::hw::ipmi::fru::Fru {
        chassis_part: Some("CH-100".into()),
        chassis_serial: Some(format!("CHS{index:04}")),
        board_mfg_minutes: Some(15_000_000),
        board_manufacturer: Some("Oxide Boards".into()),
        board_product: Some("X9DRi".into()),
        board_serial: Some(format!("BRD{index:04}")),
        board_part: Some("BP-1".into()),
        product_manufacturer: Some("Rackmakers".into()),
        product_name: Some("RM-2U".into()),
        product_part: Some("7X02CTO1WW".into()),
        product_version: Some("A1".into()),
        product_serial: Some(format!("SN{index:06}")),
        product_asset: Some(format!("ASSET{index}")),
    }
}

/// ipmi_sim runs this for every power or boot-device request and waits for it, so it uses shell
/// builtins only (no cat, no fork beyond the shell itself).
const CHASSIS_CONTROL: &str = r#"#!/bin/sh
# ipmi_sim's chassis_control: power and boot device kept in files under $1.
dir=$1; shift
op=$1; shift
case "$op" in
get)
	for what in "$@"; do
		case $what in
		power) p=0; [ -f "$dir/power" ] && read -r p <"$dir/power"; echo "power:$p" ;;
		boot) b=default; [ -f "$dir/boot" ] && read -r b <"$dir/boot"; echo "boot:$b" ;;
		esac
	done ;;
set)
	while [ $# -ge 2 ]; do
		case $1 in
		power) echo "$2" >"$dir/power" ;;
		boot) echo "$2" >"$dir/boot" ;;
		reset) echo 1 >"$dir/power"; echo reset >>"$dir/resets" ;;
		shutdown) echo 0 >"$dir/power" ;;
		esac
		shift 2
	done ;;
esac
"#;

/// One threshold sensor of the simulated BMC, as sdrcomp reads it.
struct Sensor {
    number: u8,
    entity: &'static str,
    sensor_type: &'static str,
    unit: &'static str,
    m: i32,
    r_exp: i32,
    thresholds: &'static str,
    name: &'static str,
}

impl Sensor {
    fn sdr(&self) -> String {
        let Sensor { number, entity, sensor_type, unit, m, r_exp, thresholds, name } = self;
        format!(
            "sdr type 1\n\tsensor_owner_id 0x20\n\tsensor_owner_lun 0\n\tchannel_number 0\n\tsensor_number {number}\n\
             \tentity_id {entity}\n\tentity_instance 1\n\tinit_scanning true\n\tinit_sensor_type true\n\
             \tdefault_sensor_scan_on true\n\tsensor_type {sensor_type}\n\tevent_reading_type_code 1\n\
             \tanalog_data_format unsigned\n\trate_unit none\n\tmodifier_unit none\n\tpercentage false\n\
             \tbase_unit {unit}\n\tmodifier_unit_code unspecified\n\tlinearization linear\n\tm {m}\n\ttolerance 0\n\
             \tb 0\n\taccuracy 1\n\taccuracy_exp 0\n\tsensor_direction input\n\tr_exp {r_exp}\n\tb_exp 0\n\
             \tsensor_maximum 255\n\tsensor_minimum 0\n{thresholds}\tid_string \"{name}\"\nendsdr\n"
        )
    }
}

/// The SDRs every simulated BMC has: CPU Temp (45 C), 12V (raw 200 x 0.06 = 12 V), FAN1 (120 x 30 RPM).
fn sdrs() -> String {
    let cpu_thresholds = "\treturn_uc true\n\treturn_unc true\n\tuc_thresh 90\n\tunc_thresh 80\n";
    [
        Sensor {
            number: 1,
            entity: "processor",
            sensor_type: "Temperature",
            unit: "degrees_C",
            m: 1,
            r_exp: 0,
            thresholds: cpu_thresholds,
            name: "CPU Temp",
        },
        Sensor {
            number: 2,
            entity: "power_supply",
            sensor_type: "Voltage",
            unit: "Volts",
            m: 6,
            r_exp: -2,
            thresholds: "",
            name: "12V",
        },
        Sensor {
            number: 3,
            entity: "fan_cooling_device",
            sensor_type: "Fan",
            unit: "RPM",
            m: 30,
            r_exp: 0,
            thresholds: "",
            name: "FAN1",
        },
    ]
    .iter()
    .map(Sensor::sdr)
    .collect()
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// Whether the simulator is installed; under CI it must be (.ci/run installs openipmi).
/// `cmd` (ipmi_sim, or it run inside a namespace) on the simulator directory `dir`: its
/// lan.conf, node.emu and persistent state, quiet.
pub fn spawn_ipmi_sim(mut cmd: Command, dir: &Path) -> Child {
    cmd.arg("-c")
        .arg(dir.join("lan.conf"))
        .arg("-f")
        .arg(dir.join("node.emu"))
        .arg("-n")
        .arg("-s")
        .arg(dir.join("state"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ipmi_sim starts")
}

pub fn available() -> bool {
    let ok = Command::new("ipmi_sim").arg("--version").output().is_ok() && Command::new("sdrcomp").output().is_ok();
    if !ok {
        assert!(std::env::var_os("CI").is_none(), "ipmi_sim/sdrcomp missing: .ci/run must install openipmi");
        eprintln!("skipped: OpenIPMI's ipmi_sim is not installed (apt-get install openipmi ipmitool)");
    }
    ok
}

/// A fresh loopback address for one BMC, unique within this test run and unlikely to collide
/// with another run's (the process id picks the second octet).
pub fn next_addr() -> (Ipv4Addr, u32) {
    let i = NEXT.fetch_add(1, Ordering::SeqCst);
    let pid = std::process::id();
    (Ipv4Addr::new(127, 100 + (pid % 100) as u8, (i / 250) as u8, (i % 250 + 1) as u8), i)
}

pub struct Bmc {
    pub addr: Ipv4Addr,
    pub index: u32,
    pub dir: PathBuf,
    child: Child,
}

impl Bmc {
    /// Starts one simulated BMC under `root` and waits until it answers on its address.
    pub fn start(root: &Path) -> Bmc {
        Bmc::start_with(root, true)
    }

    /// Like [`Bmc::start`]; without `chassis_control` the simulator answers power status itself
    /// (always off) and refuses power and boot-device changes. The benchmark uses that: a real BMC
    /// does not fork a shell per request, and 1000 simulators share this machine's two cores.
    pub fn start_with(root: &Path, chassis_control: bool) -> Bmc {
        Bmc::start_controlling(root, chassis_control.then_some(CHASSIS_CONTROL))
    }

    /// `n` BMCs as [`Bmc::start_with`] without chassis control starts them, eight at a time (the
    /// benchmarks' fleets; examples/ include this file).
    #[allow(dead_code)]
    pub fn start_many(root: &Path, n: usize) -> Vec<Bmc> {
        let threads = 8;
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    s.spawn(move || {
                        (0..n).filter(|i| i % threads == t).map(|_| Bmc::start_with(root, false)).collect::<Vec<_>>()
                    })
                })
                .collect();
            handles.into_iter().flat_map(|h| h.join().expect("starter thread")).collect()
        })
    }

    /// Like [`Bmc::start`], with `control` as the chassis_control program (run as `PROGRAM DIR get
    /// power`, `PROGRAM DIR set power 1`, ..., DIR being the BMC's own directory).
    pub fn start_controlling(root: &Path, control: Option<&str>) -> Bmc {
        Bmc::start_full(root, control, None)
    }

    /// Like [`Bmc::start`], with Serial-over-LAN connected to `sol` (ipmi_sim's `sol` device:
    /// "tcp:IP:PORT", where something listens before the BMC starts: it connects once, at startup).
    pub fn start_with_sol(root: &Path, sol: &str) -> Bmc {
        Bmc::start_full(root, Some(CHASSIS_CONTROL), Some(sol))
    }

    /// [`Bmc::start_controlling`] with Serial-over-LAN to `sol` when given (see [`Bmc::start_with_sol`]).
    pub fn start_full(root: &Path, control: Option<&str>, sol: Option<&str>) -> Bmc {
        let chassis_control = control.is_some();
        let (addr, index) = next_addr();
        let dir = root.join(format!("bmc{index}"));
        let state = dir.join("state");
        let name = format!("bmc{index}");
        std::fs::create_dir_all(state.join("ipmi_sim").join(&name)).unwrap();
        std::fs::write(dir.join("chassis_control"), control.unwrap_or(CHASSIS_CONTROL)).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.join("chassis_control"), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(dir.join("sensors.sdrs"), sdrs()).unwrap();
        let st = Command::new("sdrcomp")
            .arg("-8")
            .arg("-o")
            .arg(state.join("ipmi_sim").join(&name).join("sdr.20.main"))
            .arg(dir.join("sensors.sdrs"))
            .status()
            .unwrap();
        assert!(st.success(), "sdrcomp failed");
        let lan = format!(
            "name \"{name}\"\nset_working_mc 0x20\n  startlan 1\n    addr {addr} 623\n    priv_limit admin\n\
             \x20   allowed_auths_callback none md2 md5 straight\n    allowed_auths_user none md2 md5 straight\n\
             \x20   allowed_auths_operator none md2 md5 straight\n    allowed_auths_admin none md2 md5 straight\n\
             \x20   guid a123456789abcdefa123456789ab{index:04x}\n  endlan\n\
             {control}{sol}\
             \x20 user 1 true \"\" \"\" user 10 none md2 md5 straight\n\
             \x20 user 2 true \"{USER}\" \"{PASSWORD}\" admin 10 none md2 md5 straight\n",
            control = if chassis_control {
                format!("  chassis_control \"{} {}\"\n", dir.join("chassis_control").display(), dir.display())
            } else {
                String::new()
            },
            sol = sol.map(|d| format!("  sol \"{d}\" 115200\n")).unwrap_or_default(),
        );
        std::fs::write(dir.join("lan.conf"), lan).unwrap();
        let fru: Vec<String> =
            oxcat::hw::ipmi::fru::build(&fru_for(index)).iter().map(|b| format!("0x{b:02x}")).collect();
        let emu = format!(
            "mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr\n\
             sel_enable 0x20 1000 0x0a\n\
             sensor_add 0x20 0 1 0x01 0x01\nsensor_set_value 0x20 0 1 45 0\n\
             sensor_set_threshold 0x20 0 1 settable 110000 0 90 80 00 00 00\n\
             sensor_add 0x20 0 2 0x02 0x01\nsensor_set_value 0x20 0 2 200 0\n\
             sensor_add 0x20 0 3 0x04 0x01\nsensor_set_value 0x20 0 3 120 0\n\
             mc_add_fru_data 0x20 0 {} data {}\n\
             sel_add 0x20 0x02 0x5f 0x8a 0x05 0x6b 0x20 0x00 0x04 0x01 0x01 0x01 0x09 0x5f 0x5a\n\
             mc_enable 0x20\n",
            fru.len(),
            fru.join(" ")
        );
        std::fs::write(dir.join("node.emu"), emu).unwrap();
        let child = Bmc::spawn(&dir);
        let bmc = Bmc { addr, index, dir, child };
        bmc.wait_ready();
        bmc
    }

    /// Kills the simulator (the BMC disappears); [`Bmc::revive`] starts it again.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn revive(&mut self) {
        self.child = Bmc::spawn(&self.dir);
        self.wait_ready();
    }

    fn spawn(dir: &Path) -> Child {
        spawn_ipmi_sim(Command::new("ipmi_sim"), dir)
    }

    /// Polls with Get Channel Authentication Capabilities until the BMC answers (10 s deadline).
    fn wait_ready(&self) {
        let sock = UdpSocket::bind("0.0.0.0:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let ping = [
            0x06, 0x00, 0xff, 0x07, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0x09, 0x20, 0x18, 0xc8, 0x81, 0x00, 0x38, 0x8e, 0x04,
            0xb5,
        ];
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut buf = [0u8; 256];
        while Instant::now() < deadline {
            let _ = sock.send_to(&ping, (self.addr, 623));
            if sock.recv(&mut buf).is_ok() {
                return;
            }
        }
        panic!("simulated BMC at {} did not come up", self.addr);
    }

    /// Power as the simulator's chassis_control keeps it.
    pub fn power_file(&self) -> String {
        std::fs::read_to_string(self.dir.join("power")).unwrap_or_else(|_| "0".into()).trim().to_string()
    }

    /// Runs ipmitool against this BMC (the cross-check): stdout.
    pub fn ipmitool(&self, args: &[&str]) -> String {
        let o = Command::new("ipmitool")
            .args(["-I", "lanplus", "-C", "3", "-H", &self.addr.to_string(), "-U", USER, "-E"])
            .env("IPMI_PASSWORD", PASSWORD)
            .args(args)
            .output()
            .expect("ipmitool runs");
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
}

impl Drop for Bmc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A UDP address that never answers: an unused loopback address (nothing listens on it).
pub fn dead_addr() -> Ipv4Addr {
    next_addr().0
}
