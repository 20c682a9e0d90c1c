//! bmcdiscover benchmark (issue 13): starts N simulated BMCs (OpenIPMI ipmi_sim, the tests'
//! fixture) and takes D addresses where nothing answers, then times, alternating in one run,
//! `bmcdiscover --range ADDRESSES -u U -p P` (probe, login, FRU, LAN MAC) against what an admin
//! without nmap runs: a loop of `ipmitool lan print` over the same addresses. Both wait 1 s per
//! try, 2 tries (site.ipmitimeout/ipmiretries; ipmitool -N 1 -R 2). Prints medians and the ratio.
//!
//! Usage: cargo run --release --example bmcdiscover_bench -- [N [D [ROUNDS]]] (default 256 16 3).
//! Needs root (BMCs listen on 127.x.y.z:623) and openipmi, ipmitool.

#[path = "../tests/it/bmcsim.rs"]
#[allow(dead_code)]
mod bmcsim;

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let (n, dead, rounds) = (*args.first().unwrap_or(&256), *args.get(1).unwrap_or(&16), *args.get(2).unwrap_or(&3));
    let bin = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/release/oxcat");
    assert!(bin.exists(), "build the release binary first: cargo build --release");
    let root = tempfile::tempdir().expect("temp dir");
    let t0 = Instant::now();
    let bmcs = bmcsim::Bmc::start_many(root.path(), n);
    let dead: Vec<String> = (0..dead).map(|_| bmcsim::dead_addr().to_string()).collect();
    println!(
        "== {n} simulated BMCs (started in {:.1} s) and {} addresses where nothing answers; 1 s per try, 2 tries",
        t0.elapsed().as_secs_f64(),
        dead.len()
    );
    let mut addrs: Vec<String> = bmcs.iter().map(|b| b.addr.to_string()).collect();
    addrs.extend(dead);
    let db = root.path().join("bench.db");
    let oxcat = |args: &[&str]| {
        let mut c = Command::new(&bin);
        c.args(args).env("OXCAT_DB", &db);
        c
    };
    let st = oxcat(&["chdef", "-t", "site", "ipmitimeout=1", "ipmiretries=2"]).output().unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    let range = addrs.join(",");
    let script: String = addrs
        .iter()
        .map(|a| {
            format!(
                "ipmitool -I lanplus -C 3 -N 1 -R 2 -H {a} -U {} -E lan print 1 >/dev/null 2>&1 && echo \"{a} found\"\n",
                bmcsim::USER
            )
        })
        .collect();
    let (mut ox, mut loop_) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let t = Instant::now();
        let o =
            oxcat(&["bmcdiscover", "--range", &range, "-u", bmcsim::USER, "-p", bmcsim::PASSWORD]).output().unwrap();
        ox.push(t.elapsed().as_secs_f64());
        let found = String::from_utf8_lossy(&o.stdout).lines().filter(|l| l.contains(",mp,bmc,")).count();
        assert_eq!(found, n, "bmcdiscover found {found} of {n}: {}", String::from_utf8_lossy(&o.stderr));
        let t = Instant::now();
        let o = Command::new("sh").arg("-c").arg(&script).env("IPMI_PASSWORD", bmcsim::PASSWORD).output().unwrap();
        loop_.push(t.elapsed().as_secs_f64());
        let found = String::from_utf8_lossy(&o.stdout).lines().filter(|l| l.ends_with(" found")).count();
        assert_eq!(found, n, "the ipmitool loop found {found} of {n}");
    }
    let (ox, lp) = (median(ox), median(loop_));
    println!("oxcat bmcdiscover -u -p            median {ox:>7.2} s  ({rounds} rounds, {n} found)");
    println!("ipmitool lan print loop            median {lp:>7.2} s  ({rounds} rounds, {n} found)");
    println!("ratio ipmitool loop / oxcat bmcdiscover: {:.1}x", lp / ox);
    drop(bmcs);
}
