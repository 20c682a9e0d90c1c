//! IPMI fan-out benchmark (issue 4): starts N simulated BMCs (OpenIPMI ipmi_sim, the same fixture
//! the tests use), then times, alternating in one run: `rpower all stat` against FreeIPMI's
//! `ipmipower --stat` and (N <= 256) a sequential `ipmitool` loop, and `rvitals all` against
//! `ipmi-sensors`, each with its SDR cache (both cold in the first round, warm after: the median is
//! a warm run). Prints medians, ratios, client CPU per node and peak memory (GNU time).
//!
//! Usage: cargo run --release --example ipmi_bench -- [N...] (default: 256 1000). Needs root
//! (BMCs listen on 127.x.y.z:623) and the packages openipmi, ipmitool, freeipmi-tools, time.

#[path = "../tests/it/bmcsim.rs"]
#[allow(dead_code)]
mod bmcsim;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

struct Run {
    secs: f64,
    cpu: f64,
    rss_kb: u64,
    ok_lines: usize,
}

/// Runs a command under GNU time; counts stdout lines that contain `ok_word`.
fn timed(cmd: &mut Command, ok_word: &str) -> Run {
    let report = std::env::temp_dir().join(format!("ipmi-bench-time-{}", std::process::id()));
    let prog = cmd.get_program().to_owned();
    let args: Vec<_> = cmd.get_args().map(|a| a.to_owned()).collect();
    let mut t = Command::new("/usr/bin/time");
    t.arg("-f").arg("%e %U %S %M").arg("-o").arg(&report).arg(prog).args(args);
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            t.env(k, v);
        }
    }
    let start = Instant::now();
    let out = t.output().expect("GNU time runs");
    let wall = start.elapsed().as_secs_f64();
    let text = std::fs::read_to_string(&report).unwrap_or_default();
    let f: Vec<f64> = text.split_whitespace().filter_map(|x| x.parse().ok()).collect();
    let stdout = String::from_utf8_lossy(&out.stdout);
    Run {
        secs: f.first().copied().unwrap_or(wall),
        cpu: f.get(1).copied().unwrap_or(0.0) + f.get(2).copied().unwrap_or(0.0),
        rss_kb: f.get(3).copied().unwrap_or(0.0) as u64,
        ok_lines: stdout.lines().filter(|l| l.contains(ok_word)).count(),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn oxcat(bin: &Path, db: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(bin);
    c.args(args).env("OXCAT_DB", db);
    c
}

fn main() {
    let sizes: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let sizes = if sizes.is_empty() { vec![256, 1000] } else { sizes };
    let rounds = 3;
    let bin = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/release/oxcat");
    assert!(bin.exists(), "build the release binary first: cargo build --release");
    for n in sizes {
        let root = tempfile::tempdir().expect("temp dir");
        let t0 = Instant::now();
        let bmcs = bmcsim::Bmc::start_many(root.path(), n);
        println!(
            "\n== N = {n} simulated BMCs (started in {:.1} s; power status answered by ipmi_sim itself, no chassis_control)",
            t0.elapsed().as_secs_f64()
        );
        let db = root.path().join("bench.db");
        let csv: String = std::iter::once("node,bmc,mac\n".to_string())
            .chain(
                bmcs.iter()
                    .enumerate()
                    .map(|(i, b)| format!("b{:04},{},52:54:01:00:{:02x}:{:02x}\n", i + 1, b.addr, i / 256, i % 256)),
            )
            .collect();
        std::fs::write(root.path().join("bmcs.csv"), csv).unwrap();
        std::fs::write(root.path().join("pw"), format!("{}\n", bmcsim::PASSWORD)).unwrap();
        let csv_path = root.path().join("bmcs.csv").display().to_string();
        let pw_path = root.path().join("pw").display().to_string();
        let st = oxcat(
            &bin,
            &db,
            &["addbmnode", "-f", &csv_path, "--bmc-user", bmcsim::USER, "--bmc-password-file", &pw_path],
        )
        .output()
        .unwrap();
        assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
        // Cipher suite 3 for everyone: the simulator has no 17, and the peers use 3 as well.
        oxcat(&bin, &db, &["chdef", "-t", "site", "ipmiciphersuite=3"]).output().unwrap();
        let cache = root.path().join("sdrcache");
        std::fs::create_dir(&cache).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o700)).unwrap();
        let hosts: String = bmcs.iter().map(|b| b.addr.to_string()).collect::<Vec<_>>().join(",");
        let freeipmi = |prog: &str, extra: &[&str]| {
            let mut c = Command::new(prog);
            c.args([
                "-h",
                &hosts,
                "-u",
                bmcsim::USER,
                "-p",
                bmcsim::PASSWORD,
                "-D",
                "LAN_2_0",
                "-W",
                "opensesspriv",
                "-I",
                "3",
            ]);
            c.args(extra);
            c
        };
        let mut results: Vec<(&str, Vec<Run>)> = vec![
            ("oxcat rpower all stat", vec![]),
            ("ipmipower --stat (FreeIPMI)", vec![]),
            ("ipmitool loop, sequential", vec![]),
            ("oxcat rvitals all", vec![]),
            ("ipmi-sensors (FreeIPMI)", vec![]),
        ];
        for _ in 0..rounds {
            results[0].1.push(timed(&mut oxcat(&bin, &db, &["rpower", "all", "stat"]), ": off"));
            // FreeIPMI at its default fan-out (64), its best setting here: with -F 1024 ipmipower
            // answered 12 of 1000 BMCs.
            results[1].1.push(timed(&mut freeipmi("ipmipower", &["--stat"]), ": off"));
            if n <= 256 {
                let script = bmcs
                    .iter()
                    .map(|b| {
                        format!("ipmitool -I lanplus -C 3 -H {} -U {} -E chassis power status", b.addr, bmcsim::USER)
                    })
                    .collect::<Vec<_>>()
                    .join("\n");
                let mut c = Command::new("sh");
                c.arg("-c").arg(script).env("IPMI_PASSWORD", bmcsim::PASSWORD);
                results[2].1.push(timed(&mut c, "is off"));
            }
            results[3].1.push(timed(&mut oxcat(&bin, &db, &["rvitals", "all", "temp"]), "CPU Temp: 45 C"));
            results[4].1.push(timed(
                &mut freeipmi(
                    "ipmi-sensors",
                    &["--sdr-cache-directory", &cache.display().to_string(), "-t", "Temperature"],
                ),
                "CPU Temp",
            ));
        }
        let med = |runs: &[Run]| median(runs.iter().map(|r| r.secs).collect());
        for (name, runs) in &results {
            if runs.is_empty() {
                continue;
            }
            let ok = runs.iter().map(|r| r.ok_lines).min().unwrap_or(0);
            println!(
                "{name:<32} median {:>7.3} s  cpu {:>6.3} ms/node  max RSS {:>6.1} MB  answers {ok}/{n}",
                med(runs),
                median(runs.iter().map(|r| r.cpu * 1000.0 / n as f64).collect()),
                runs.iter().map(|r| r.rss_kb).max().unwrap_or(0) as f64 / 1024.0
            );
        }
        let ox = med(&results[0].1);
        println!("ratio ipmipower / oxcat rpower stat: {:.1}x", med(&results[1].1) / ox);
        if !results[2].1.is_empty() {
            println!("ratio ipmitool loop / oxcat rpower stat: {:.1}x", med(&results[2].1) / ox);
        }
        println!("ratio ipmi-sensors / oxcat rvitals: {:.1}x", med(&results[4].1) / med(&results[3].1));
        drop(bmcs);
    }
}
