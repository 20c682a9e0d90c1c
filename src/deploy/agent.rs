//! The node agent's deploy: what `oxcat nodeagent deploy` does on a node booted into genesis.
//! Plan, disk choice, wipe, stream, verify, GPT fix, seed, re-read, each step logged and reported
//! to oxcatd (`POST /status`), so the admin sees `installing N%`, then `installed` or
//! `failed: REASON` with the log's tail.

use super::{disks, gpt, hints, seed, stream, Plan};
use std::collections::VecDeque;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Lines of the log sent with the final report.
const TAIL: usize = 50;
/// A status report's length limit on the server (`failed: REASON`).
const MAX_STATUS: usize = 256;

/// What `nodeagent deploy` was told (missing server/node/token come from the kernel command line).
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub server: Option<String>,
    pub node: Option<String>,
    pub token: Option<String>,
    /// Write here instead of the disk the hints choose.
    pub disk: Option<PathBuf>,
    /// The plan from this JSON file instead of the server.
    pub plan: Option<PathBuf>,
    /// Where disks are listed (`/sys`).
    pub sysfs: PathBuf,
    /// The log file (besides standard error); not written if it cannot be opened.
    pub log: PathBuf,
}

/// `oxcat.server=`, `oxcat.node=` and `oxcat.token=` of a kernel command line.
pub fn from_cmdline(cmdline: &str) -> (Option<String>, Option<String>, Option<String>) {
    let get = |key: &str| cmdline.split_whitespace().find_map(|w| w.strip_prefix(key)).map(str::to_string);
    (get("oxcat.server="), get("oxcat.node="), get("oxcat.token="))
}

/// The agent's log: standard error (the console), the log file, and the tail kept for reports.
pub struct Log {
    file: Option<File>,
    /// Shared with the download thread, which logs its retries.
    tail: Mutex<VecDeque<String>>,
}

impl Log {
    pub fn open(path: &Path) -> Log {
        let file = std::fs::OpenOptions::new().create(true).append(true).open(path).ok();
        Log { file, tail: Mutex::new(VecDeque::new()) }
    }

    pub fn line(&self, msg: impl std::fmt::Display) {
        let line = format!("nodeagent: {msg}");
        // Held while writing, so lines from the two threads are whole and in the same order everywhere.
        let mut tail = self.tail.lock().unwrap_or_else(|e| e.into_inner());
        eprintln!("{line}");
        if let Some(mut f) = self.file.as_ref() {
            let _ = writeln!(f, "{line}");
        }
        if tail.len() == TAIL {
            tail.pop_front();
        }
        tail.push_back(line);
    }

    fn tail(&self) -> String {
        let mut t: Vec<String> = self.tail.lock().unwrap_or_else(|e| e.into_inner()).iter().cloned().collect();
        t.push(String::new());
        t.join("\n")
    }
}

/// Percent-encodes a query value.
pub(crate) fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Where statuses go: oxcatd, or (without a server) only the log.
struct Reporter {
    http: ureq::Agent,
    /// `SERVER/status?node=N&token=T`
    base: Option<String>,
    /// Progress reports that failed in a row; after a few they stop (the deploy goes on).
    progress_failures: u32,
}

impl Reporter {
    fn new(server: Option<&str>, node: &str, token: &str) -> Reporter {
        let base =
            server.map(|s| format!("{}/status?node={}&token={}", s.trim_end_matches('/'), encode(node), encode(token)));
        Reporter { http: http_agent(Duration::from_secs(10)), base, progress_failures: 0 }
    }

    /// Sends `status` (with `body`) up to `attempts` times; false if it was not taken.
    fn send(&self, log: &Log, status: &str, body: &str, attempts: u32) -> bool {
        let Some(base) = &self.base else {
            log.line(format!("status: {status} (no server to report to)"));
            return true;
        };
        let url = format!("{base}&status={}", encode(status));
        for attempt in 1..=attempts {
            let why = match self.http.post(&url).send(body) {
                Ok(r) if r.status() == 200 => return true,
                Ok(mut r) => {
                    let code = r.status().as_u16();
                    let text = r.body_mut().read_to_string().unwrap_or_default();
                    let why = format!("HTTP {code}: {}", text.trim());
                    if code < 500 {
                        // The server understood and said no: asking again will not change that.
                        log.line(format!("status '{status}' not taken ({why})"));
                        return false;
                    }
                    why
                }
                Err(e) => e.to_string(),
            };
            log.line(format!("status '{status}' not sent ({why}){}", if attempt < attempts { "; again" } else { "" }));
            if attempt < attempts {
                std::thread::sleep(Duration::from_secs(1 << (attempt - 1).min(3)));
            }
        }
        false
    }

    /// An `installing N%` report: one try, and none after three failed in a row, so a server
    /// that does not take them never slows the write.
    fn progress(&mut self, log: &Log, percent: u64) {
        if self.progress_failures >= 3 {
            return;
        }
        if self.send(log, &format!("installing {percent}%"), "", 1) {
            self.progress_failures = 0;
        } else {
            self.progress_failures += 1;
            if self.progress_failures == 3 {
                log.line("progress reports stop (three in a row were not taken); the deploy goes on");
            }
        }
    }
}

pub(crate) fn http_agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .timeout_connect(Some(Duration::from_secs(5)))
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .build(),
    )
}

/// Runs the deploy; true on success. Every outcome is logged and reported.
pub fn run(opts: &Options) -> bool {
    let log = Log::open(&opts.log);
    let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    let (server, node, token) = from_cmdline(&cmdline);
    let server = opts.server.clone().or(server);
    let node = opts.node.clone().or(node).unwrap_or_default();
    let token = opts.token.clone().or(token).unwrap_or_default();
    let mut reporter = Reporter::new(server.as_deref(), &node, &token);
    if server.is_some() && (node.is_empty() || token.is_empty()) {
        log.line(
            "failed: a server but no node or token (give --node and --token, or boot with oxcat.node= oxcat.token=)",
        );
        return false;
    }
    match deploy(opts, server.as_deref(), &node, &token, &log, &mut reporter) {
        Ok(()) => {
            log.line("installed");
            if !reporter.send(&log, "installed", &log.tail(), 5) {
                log.line("the server did not take the final report: the disk is written all the same");
            }
            true
        }
        Err(reason) => {
            let mut status = format!("failed: {reason}");
            if status.len() > MAX_STATUS {
                let mut end = MAX_STATUS - 3;
                while !status.is_char_boundary(end) {
                    end -= 1;
                }
                status.truncate(end);
                status.push_str("...");
            }
            log.line(&status);
            reporter.send(&log, &status, &log.tail(), 5);
            false
        }
    }
}

/// The plan from `--plan FILE`, or from the server (retried: the network may still be settling).
fn plan(opts: &Options, server: Option<&str>, node: &str, token: &str, log: &Log) -> Result<Plan, String> {
    if let Some(path) = &opts.plan {
        let text = std::fs::read_to_string(path).map_err(|e| format!("plan {}: {e}", path.display()))?;
        return serde_json::from_str(&text).map_err(|e| format!("plan {}: {e}", path.display()));
    }
    let Some(server) = server else {
        return Err("no server: give --server (or --plan FILE), or boot with oxcat.server=".into());
    };
    let url = format!("{}/deploy/plan?node={}&token={}", server.trim_end_matches('/'), encode(node), encode(token));
    let shown = format!("{}/deploy/plan?node={node}", server.trim_end_matches('/'));
    let http = http_agent(Duration::from_secs(30));
    let mut last = String::new();
    for attempt in 1..=5u32 {
        match http.get(&url).call() {
            Ok(mut r) => {
                let code = r.status().as_u16();
                let text = r.body_mut().read_to_string().map_err(|e| format!("plan from {shown}: {e}"))?;
                if code == 200 {
                    return serde_json::from_str(&text).map_err(|e| format!("plan from {shown}: {e}"));
                }
                last = format!("HTTP {code}: {}", text.trim());
                if code < 500 {
                    break;
                }
            }
            Err(e) => last = e.to_string(),
        }
        log.line(format!("plan from {shown}: {last}; try {attempt} of 5"));
        if attempt < 5 {
            std::thread::sleep(Duration::from_secs(1 << (attempt - 1)));
        }
    }
    Err(format!("no plan from {shown} ({last})"))
}

/// The target: `--disk`, or the one disk the plan's hints (or the default rule) choose.
fn target(opts: &Options, plan: &Plan, log: &Log) -> Result<PathBuf, String> {
    if let Some(d) = &opts.disk {
        log.line(format!("disk: {} (--disk)", d.display()));
        return Ok(d.clone());
    }
    let hints = hints::Hints::parse(&plan.rootdevice)?;
    let found =
        disks::list(&opts.sysfs).map_err(|e| format!("listing disks in {}/block: {e}", opts.sysfs.display()))?;
    let disk = hints::choose(&found, &hints, plan.image.size)?;
    let by = if hints.is_empty() {
        "the smallest fixed disk that fits".to_string()
    } else {
        format!("rootdevice \"{hints}\"")
    };
    log.line(format!(
        "disk: {} ({}, model '{}', serial '{}', wwn '{}'), chosen by {by}",
        disk.path().display(),
        hints::human(disk.size),
        disk.model,
        disk.serial,
        disk.wwn
    ));
    Ok(disk.path())
}

fn deploy(
    opts: &Options,
    server: Option<&str>,
    node: &str,
    token: &str,
    log: &Log,
    reporter: &mut Reporter,
) -> Result<(), String> {
    let plan = plan(opts, server, node, token, log)?;
    let image = &plan.image;
    let format = stream::Format::parse(&image.format)?;
    log.line(format!(
        "plan: image {} ({}, {} bytes, sha256 {}) from {}",
        image.name, image.format, image.size, image.sha256, image.url
    ));
    let path = target(opts, &plan, log)?;
    reporter.progress(log, 0);
    let io = |what: &str, e: std::io::Error| format!("{what} {}: {e}", path.display());
    let mut disk = std::fs::OpenOptions::new().read(true).write(true).open(&path).map_err(|e| io("opening", e))?;
    let block_device = {
        use std::os::unix::fs::FileTypeExt;
        disk.metadata().map_err(|e| io("reading", e))?.file_type().is_block_device()
    };
    let size = stream::size_of(&mut disk).map_err(|e| io("sizing", e))?;
    let size = if block_device {
        if size < image.size {
            return Err(format!("{} ({size} bytes) is smaller than the image ({} bytes)", path.display(), image.size));
        }
        size
    } else {
        // A file grows to hold the image.
        size.max(image.size)
    };
    stream::wipe_ends(&mut disk, size).map_err(|e| io("wiping", e))?;
    log.line(format!("wiped the first and last MiB of {} ({size} bytes)", path.display()));

    // From here on a failure leaves the disk wiped again: half an image must not boot.
    let written = write(&plan, format, &mut disk, log, reporter).and_then(|w| {
        disk.sync_all().map_err(|e| io("syncing", e))?;
        stream::verify(&w, image.size, &image.sha256).map(|()| w)
    });
    let written = match written {
        Ok(w) => w,
        Err(reason) => {
            match stream::wipe_ends(&mut disk, size) {
                Ok(()) => log.line(format!("wiped both ends of {} again: it does not boot", path.display())),
                Err(e) => log.line(format!("wiping {} again failed: {e}", path.display())),
            }
            return Err(reason);
        }
    };
    log.line(format!("verified: {} bytes, sha256 {}", written.size, written.sha256));

    let layout = gpt::fix(&mut disk, size).map_err(|e| io("partition table of", e))?;
    for l in &layout.lines {
        log.line(l);
    }
    match layout.seed {
        Some(region) => {
            seed::write(&mut disk, region, &plan.seed.files).map_err(|e| io("writing the seed to", e))?;
            let names: Vec<&str> = plan.seed.files.keys().map(String::as_str).collect();
            log.line(format!("seed: FAT volume CIDATA at byte {} with {}", region.offset, names.join(", ")));
        }
        None => log.line("seed: not written (see above): the node will not be configured on first boot"),
    }
    disk.sync_all().map_err(|e| io("syncing", e))?;
    drop(disk);
    if block_device {
        reread_partitions(&path, log);
    }
    Ok(())
}

/// Streams the image into `disk`, reporting progress.
fn write(
    plan: &Plan,
    format: stream::Format,
    disk: &mut File,
    log: &Log,
    reporter: &mut Reporter,
) -> Result<stream::Written, String> {
    let image = &plan.image;
    let start = Instant::now();
    let mut log_line = |m: String| log.line(m);
    let download = stream::Download::open(&image.url, &mut log_line).map_err(|e| format!("download: {e}"))?;
    // `installing N%`: at each 5% step, at most once a second.
    let (mut last_step, mut last_report) = (0u64, Instant::now());
    let mut progress = |n: u64| {
        let percent = n.saturating_mul(100) / image.size.max(1);
        if percent / 5 > last_step && last_report.elapsed() >= Duration::from_secs(1) {
            last_step = percent / 5;
            last_report = Instant::now();
            reporter.progress(log, percent.min(100));
        }
    };
    let written = stream::write_image(download, format, disk, image.size, &mut progress)
        .map_err(|e| format!("writing the image: {e}"))?;
    if last_step < 20 {
        reporter.progress(log, 100);
    }
    let secs = start.elapsed().as_secs_f64();
    log.line(format!(
        "image written: {} bytes in {secs:.1} s ({:.1} MiB/s)",
        written.size,
        written.size as f64 / (1 << 20) as f64 / secs.max(0.001)
    ));
    Ok(written)
}

/// Asks the kernel to read the new partition table (blockdev from util-linux or busybox); a
/// failure is logged only: the node reboots next, which reads it anyway.
fn reread_partitions(path: &Path, log: &Log) {
    for cmd in [&["blockdev"][..], &["busybox", "blockdev"][..]] {
        let out = std::process::Command::new(cmd[0]).args(&cmd[1..]).arg("--rereadpt").arg(path).output();
        match out {
            Ok(o) if o.status.success() => {
                log.line(format!("re-read the partition table of {}", path.display()));
                return;
            }
            Ok(o) => {
                log.line(format!(
                    "{} --rereadpt {}: {}",
                    cmd.join(" "),
                    path.display(),
                    String::from_utf8_lossy(&o.stderr).trim()
                ));
                return;
            }
            Err(_) => continue,
        }
    }
    log.line("no blockdev to re-read the partition table with (the reboot reads it)");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_node_and_token_come_from_the_kernel_command_line() {
        let line = "BOOT_IMAGE=vmlinuz console=ttyS0 oxcat.server=http://10.0.0.1:8080 oxcat.node=n1 oxcat.token=abc oxcat.mode=deploy\n";
        assert_eq!(from_cmdline(line), (Some("http://10.0.0.1:8080".into()), Some("n1".into()), Some("abc".into())));
        assert_eq!(from_cmdline("quiet"), (None, None, None));
    }

    #[test]
    fn statuses_are_percent_encoded() {
        assert_eq!(encode("installing 5%"), "installing%205%25");
        assert_eq!(encode("failed: a&b=c"), "failed%3A%20a%26b%3Dc");
    }

    #[test]
    fn the_log_keeps_its_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(&dir.path().join("agent.log"));
        for i in 0..60 {
            log.line(format!("line {i}"));
        }
        let tail = log.tail();
        assert!(tail.starts_with("nodeagent: line 10\n") && tail.ends_with("nodeagent: line 59\n"), "{tail}");
        assert_eq!(std::fs::read_to_string(dir.path().join("agent.log")).unwrap().lines().count(), 60);
    }
}
