//! Benchmark (issue 9, "Must show"): the node agent's deploy time of a 512 MiB image to one VM
//! against the floor measured in the same ramdisk, `wget -O- URL | dd of=/dev/vda`, same image,
//! same disk. Run by bench/deploy.sh (ignored by `cargo test`: it takes many minutes under TCG).
//!
//! One QEMU VM (TCG, 1 GiB RAM, a 1 GiB virtio disk) network-boots genesis in shell mode from
//! oxcatd inside a network namespace of the test's own (as genesis.rs does); the image sits in
//! the image store oxcatd serves. Over the serial console, alternating, ROUNDS each (default 3):
//! (a) `wget -q -O- URL | dd of=/dev/vda bs=4M; sync` and (b) `oxcat nodeagent deploy --plan
//! /tmp/plan.json --disk /dev/vda` (plan with the same URL, sha256 and size; no server to report
//! to). Page cache dropped before each. Times are the guest's (/proc/uptime, busybox `time` for
//! user/sys). Prints each round, the medians and agent/floor.
//! Environment: OXCAT_BENCH_OXCAT (the oxcat put into genesis; default the test's own binary),
//! OXCAT_BENCH_CPU (QEMU's -cpu, e.g. max; default QEMU's own), OXCAT_BENCH_ROUNDS,
//! OXCAT_BENCH_FORMAT (raw or zst: what the agent fetches; the floor always fetches raw).

use crate::genesis::Console;
use crate::harness::{oxcat_bin, peers, Lab};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const MAC: &str = "52:54:00:12:34:51";
const IMAGE_MIB: u64 = 512;
const URL: &str = "http://10.99.0.1:80/install/images/bench";

/// genesis built by `mknb --genesis-only` with `oxcat` as its agent, once per binary.
fn genesis_with(oxcat: &Path) -> PathBuf {
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let (dir, debs) = (tmp.join("genesis-bench"), tmp.join("lab-downloads"));
    let meta = std::fs::metadata(oxcat).unwrap();
    let stamp = format!("{} {} {:?}", oxcat.display(), meta.len(), meta.modified().unwrap());
    let (k, i) = oxcat::boot::genesis_files("x86_64");
    if dir.join(&k).is_file()
        && dir.join(&i).is_file()
        && std::fs::read_to_string(dir.join("stamp")).ok().as_deref() == Some(stamp.as_str())
    {
        return dir;
    }
    let o = Command::new(oxcat_bin())
        .args(["mknb", "--genesis-only", "--tftpdir"])
        .arg(&dir)
        .arg("--debdir")
        .arg(&debs)
        .arg("--oxcat")
        .arg(oxcat)
        .output()
        .unwrap();
    assert!(o.status.success(), "mknb --genesis-only: {}", String::from_utf8_lossy(&o.stderr));
    std::fs::write(dir.join("stamp"), stamp).unwrap();
    dir
}

fn link_or_copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::hard_link(from, to).or_else(|_| std::fs::copy(from, to).map(|_| ())).unwrap();
}

fn sha256_of(path: &Path) -> String {
    let o = Command::new("sha256sum").arg(path).output().unwrap();
    assert!(o.status.success());
    String::from_utf8_lossy(&o.stdout).split_whitespace().next().unwrap().to_string()
}

/// Runs `cmd` in the guest's shell, waiting up to `limit`; its output and exit code.
fn run(vm: &mut Console, cmd: &str, limit: Duration) -> (String, i32) {
    let from = vm.seen.lock().unwrap().len();
    writeln!(vm.sock, "{cmd}; echo \"== $((6*7)) exit $? ==\"").unwrap();
    let text = vm.wait_for("== 42 exit ", from, limit);
    let (out, rest) = text.split_once("== 42 exit ").unwrap();
    let code = rest.split_whitespace().next().and_then(|c| c.parse().ok()).unwrap_or(-1);
    let out = out.split_once('\n').map(|(_, r)| r).unwrap_or("").replace('\r', "");
    (regex::Regex::new(r"\x1b\[[0-9;?]*[A-Za-z]").unwrap().replace_all(&out, "").into_owned(), code)
}

/// One timed command's figures (seconds): wall time by the guest's clock, user and sys as busybox
/// `time` printed them (None where it printed nothing).
#[derive(Debug, Clone, Copy)]
struct Timed {
    real: f64,
    user: Option<f64>,
    sys: Option<f64>,
}

/// Runs `inner` (a shell command line) timed in the guest; asserts it succeeded.
fn timed(vm: &mut Console, inner: &str) -> (Timed, String) {
    let quoted = inner.replace('\'', r"'\''");
    let cmd = format!(
        "echo 3 >/proc/sys/vm/drop_caches; a=$(cut -d' ' -f1 /proc/uptime); time sh -c '{quoted}'; rc=$?; \
         b=$(cut -d' ' -f1 /proc/uptime); echo \"uptime $a $b\"; (exit $rc)"
    );
    let (out, code) = run(vm, &cmd, Duration::from_secs(3600));
    assert_eq!(code, 0, "{inner} failed:\n{out}");
    let up = out.lines().rev().find_map(|l| l.strip_prefix("uptime ")).unwrap_or_else(|| panic!("no uptime:\n{out}"));
    let v: Vec<f64> = up.split_whitespace().map(|x| x.parse().unwrap()).collect();
    // busybox time: "real\t0m 1.23s" (or "real 1.23" with -p); a plain number of seconds too.
    let field = |name: &str| {
        let re = regex::Regex::new(&format!(r"(?m)^{name}\s+(?:(\d+)m\s*)?([\d.]+)s?\s*$")).unwrap();
        re.captures(&out)
            .map(|c| c.get(1).map_or(0.0, |m| m.as_str().parse::<f64>().unwrap() * 60.0) + c[2].parse::<f64>().unwrap())
    };
    (Timed { real: v[1] - v[0], user: field("user"), sys: field("sys") }, out)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn opt(x: Option<f64>) -> String {
    x.map_or("?".into(), |x| format!("{x:.1}"))
}

#[test]
#[ignore = "a benchmark: run by bench/deploy.sh"]
fn deploy_512mib_against_wget_dd() {
    let tools = ["qemu-system-x86_64", "apt-get", "dpkg", "strip", "ip", "sfdisk", "mkfs.vfat", "mcopy", "zstd"];
    if !peers(&tools, "qemu-system-x86, ipxe-qemu, dpkg, binutils, iproute2, fdisk, dosfstools, mtools, zstd") {
        return;
    }
    let agent_bin = std::env::var_os("OXCAT_BENCH_OXCAT").map(PathBuf::from).unwrap_or_else(oxcat_bin);
    let cpu = std::env::var("OXCAT_BENCH_CPU").ok().filter(|c| !c.is_empty());
    let rounds: usize = std::env::var("OXCAT_BENCH_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(3);
    let format = std::env::var("OXCAT_BENCH_FORMAT").unwrap_or_else(|_| "raw".into());
    assert!(format == "raw" || format == "zst", "OXCAT_BENCH_FORMAT: raw or zst, not {format}");
    let built = genesis_with(&agent_bin);
    let image = crate::diskimage::build("disklab512", Some(&IMAGE_MIB.to_string()));
    let size = std::fs::metadata(&image).unwrap().len();
    let sha = sha256_of(&image);

    let lab = Lab::new();
    let tftp = lab.path("tftp");
    let (k, i) = oxcat::boot::genesis_files("x86_64");
    for f in [&k, &i] {
        link_or_copy(&built.join(f), &tftp.join(f));
    }
    // The image store oxcatd serves under /install/.
    let store = lab.path("install/images/bench");
    link_or_copy(&image, &store.join("disk.raw"));
    if format == "zst" {
        let o =
            Command::new("zstd").args(["-q", "-3", "-T0", "-o"]).arg(store.join("disk.raw.zst")).arg(&image).output();
        assert!(o.unwrap().status.success(), "zstd");
    }
    let (ns, tap, _daemon) = crate::genesis::shell_node_network(&lab, &tftp, MAC);

    let disk = lab.path("vda.raw");
    std::fs::File::create(&disk).unwrap().set_len(1 << 30).unwrap();
    let (mut vm, start) =
        Console::boot_to_shell(&lab, &ns, &tap, MAC, &disk, 1024, cpu.as_deref(), Duration::from_secs(600));
    eprintln!("genesis shell after {:.1} s", start.elapsed().as_secs_f64());
    // The line the shell prints, not the echo of the typed command (which may wrap).
    let (flags, _) = run(
        &mut vm,
        "echo \"cpu-flags: $(grep -o -w -e sha_ni -e avx2 /proc/cpuinfo | sort -u | tr '\\n' ' ')\"",
        Duration::from_secs(60),
    );
    let cpuinfo = flags
        .lines()
        .rev()
        .filter(|l| !l.contains("$("))
        .find_map(|l| l.strip_prefix("cpu-flags: "))
        .unwrap_or("")
        .to_string();
    let (model, _) = run(&mut vm, "grep -m1 'model name' /proc/cpuinfo", Duration::from_secs(60));

    let (ext, fmt) = if format == "zst" { ("raw.zst", "zst") } else { ("raw", "raw") };
    let plan = serde_json::json!({
        "node": "n1",
        "image": {"name": "bench", "url": format!("{URL}/disk.{ext}"), "format": fmt, "sha256": sha, "size": size},
        "rootdevice": "",
        "seed": {"files": {}},
    });
    let (out, code) = run(&mut vm, &format!("echo '{plan}' >/tmp/plan.json"), Duration::from_secs(60));
    assert_eq!(code, 0, "{out}");

    // pipefail (busybox ash has it): a failed download fails the round.
    let floor_cmd = format!("set -o pipefail; wget -q -O- {URL}/disk.raw | dd of=/dev/vda bs=4M; sync");
    let agent_cmd =
        "oxcat nodeagent deploy --plan /tmp/plan.json --disk /dev/vda --log /tmp/agent.log 2>/tmp/agent.err";
    let (mut floor, mut agent) = (Vec::new(), Vec::new());
    for r in 1..=rounds {
        let (t, out) = timed(&mut vm, &floor_cmd);
        assert!(out.contains("records out"), "{out}");
        eprintln!(
            "round {r}: floor  (wget | dd)         real {:6.1} s  user {:>5} s  sys {:>5} s",
            t.real,
            opt(t.user),
            opt(t.sys)
        );
        floor.push(t);
        let (t, out) = timed(&mut vm, agent_cmd);
        let (log, _) = run(&mut vm, "tail -n 3 /tmp/agent.err", Duration::from_secs(60));
        assert!(!out.contains("failed"), "{out}\n{log}");
        eprintln!(
            "round {r}: agent  (nodeagent deploy)  real {:6.1} s  user {:>5} s  sys {:>5} s",
            t.real,
            opt(t.user),
            opt(t.sys)
        );
        agent.push(t);
    }
    let (f, a) = (median(floor.iter().map(|t| t.real).collect()), median(agent.iter().map(|t| t.real).collect()));
    let user = |v: &[Timed]| {
        let u: Vec<f64> = v.iter().filter_map(|t| t.user).collect();
        if u.is_empty() {
            "?".into()
        } else {
            format!("{:.1}", median(u))
        }
    };
    eprintln!(
        "== deploy of a {} MiB image ({format} for the agent), TCG, -cpu {}, guest {}, CPU flags: {}",
        size >> 20,
        cpu.as_deref().unwrap_or("(default)"),
        model.trim().trim_start_matches("model name").trim_start_matches([' ', '\t', ':']),
        if cpuinfo.trim().is_empty() { "no sha_ni/avx2" } else { cpuinfo.trim() }
    );
    eprintln!("median of {rounds}: floor {f:.1} s (user {} s), agent {a:.1} s (user {} s)", user(&floor), user(&agent));
    eprintln!("agent/floor: {:.2}x (target <= 1.15x)", a / f);
}
