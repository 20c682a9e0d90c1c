//! oxcatd's log: one line per event on standard error (the journal, under systemd). A thread of
//! its own writes it in batches, so a busy server never waits on a terminal or the journal.
//!
//! Clients choose much of what is logged (paths, MACs, host names), and how often: every line is
//! one line whatever it holds (control characters are written as escapes, `\x1b`), and all lines
//! together stay within a budget, past which they are counted and the count logged every few
//! seconds instead.

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone)]
pub struct Log {
    tx: mpsc::SyncSender<String>,
    dropped: Arc<AtomicU64>,
    budget: Arc<Budget>,
    /// Whether every answered exchange is logged, or only problems (`[dhcp] log = false`).
    exchanges: bool,
}

/// Lines a second the log takes on average, and at once after a quiet spell (a token bucket): a
/// whole rack booting fits, while a flood of distinct events (random MACs, made-up paths) costs
/// the journal some 20 KB a second instead of megabytes.
pub const LINES_PER_SEC: u32 = 200;
pub const BURST_LINES: u32 = 2_000;
/// How often the writer says how many lines the budget held back (when it held any back).
const SUMMARY_EVERY: Duration = Duration::from_secs(5);

struct Budget {
    bucket: Mutex<(f64, Instant)>,
    suppressed: AtomicU64,
}

impl Budget {
    fn new() -> Budget {
        Budget { bucket: Mutex::new((f64::from(BURST_LINES), Instant::now())), suppressed: AtomicU64::new(0) }
    }

    /// Takes one line from the budget, or counts it as suppressed.
    fn admit(&self) -> bool {
        let mut b = super::lock(&self.bucket);
        let now = Instant::now();
        let refill = now.duration_since(b.1).as_secs_f64() * f64::from(LINES_PER_SEC);
        *b = ((b.0 + refill).min(f64::from(BURST_LINES)), now);
        if b.0 >= 1.0 {
            b.0 -= 1.0;
            true
        } else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            false
        }
    }
}

/// `line` with every control character (C0, DEL, C1) and bidirectional override written as an
/// escape: a newline a client put in a path cannot start a forged line, nor ESC drive a terminal.
/// Backslashes are doubled, so an escape in the log is always one that was made here.
/// The most of a line that is logged, and of a rate-limit key that is kept: what a client chose
/// (a path, a vendor class) can be far longer, and is cut.
const MAX_LINE: usize = 1024;
const MAX_KEY: usize = 256;

/// The first `max` bytes of `s`, at a character boundary.
fn clip(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

pub fn escape(line: &str) -> std::borrow::Cow<'_, str> {
    fn special(c: char) -> bool {
        c.is_control() || c == '\\' || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    }
    if !line.chars().any(special) {
        return line.into();
    }
    let mut out = String::with_capacity(line.len() + 8);
    for c in line.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            c if special(c) && (c as u32) < 0x100 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if special(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out.into()
}

/// Lines queued at most; past that, lines are counted and dropped rather than held in memory.
const QUEUE: usize = 65_536;

/// How long the writer gathers lines before writing them: waking it for every line would cost
/// a busy DHCP server a third of its throughput.
const GATHER: Duration = Duration::from_millis(50);

impl Log {
    pub fn start(exchanges: bool) -> Log {
        let (tx, rx) = mpsc::sync_channel::<String>(QUEUE);
        let dropped = Arc::new(AtomicU64::new(0));
        let budget = Arc::new(Budget::new());
        let (lost, held) = (dropped.clone(), budget.clone());
        std::thread::spawn(move || {
            // Standard error is locked only while a batch is written (a lock held for good would
            // hang any other line written to it, such as the store's warning about its mode).
            let mut w = std::io::BufWriter::with_capacity(1 << 16, std::io::stderr());
            let mut summed = Instant::now();
            loop {
                match rx.recv_timeout(SUMMARY_EVERY) {
                    Ok(first) => {
                        std::thread::sleep(GATHER);
                        let _ = writeln!(w, "{first}");
                        while let Ok(more) = rx.try_recv() {
                            let _ = writeln!(w, "{more}");
                        }
                    }
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                }
                let n = lost.swap(0, Ordering::Relaxed);
                if n > 0 {
                    let _ = writeln!(w, "oxcatd: {n} log lines dropped (the log could not keep up)");
                }
                if summed.elapsed() >= SUMMARY_EVERY {
                    let n = held.suppressed.swap(0, Ordering::Relaxed);
                    if n > 0 {
                        let secs = summed.elapsed().as_secs();
                        let _ = writeln!(
                            w,
                            "oxcatd: {n} log lines suppressed in the last {secs} s (more than {LINES_PER_SEC} a second)"
                        );
                    }
                    summed = Instant::now();
                }
                let _ = w.flush();
            }
        });
        Log { tx, dropped, budget, exchanges }
    }

    fn send(&self, line: &str) {
        if self.tx.try_send(escape(clip(line, MAX_LINE)).into_owned()).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A problem: always logged (within the budget).
    pub fn problem(&self, line: String) {
        if self.budget.admit() {
            self.send(&line);
        }
    }

    /// An exchange that went as it should: logged unless the config turned that off (within the
    /// budget; the line is only made when it is written).
    pub fn exchange(&self, line: impl FnOnce() -> String) {
        if self.exchanges && self.budget.admit() {
            self.send(&line());
        }
    }
}

/// Says whether an event seen before may be logged again: a client retrying every second, or a
/// broken route failing every reply, gives one line per `every`, not one per packet.
pub struct Limiter {
    seen: HashMap<String, Instant>,
    every: Duration,
}

impl Limiter {
    pub fn new(every: Duration) -> Limiter {
        Limiter { seen: HashMap::new(), every }
    }

    pub fn allow(&mut self, mut key: String) -> bool {
        // Keys hold what clients chose (paths of up to 64 KiB): 4,096 of those would be 256 MB.
        key.truncate(clip(&key, MAX_KEY).len());
        let now = Instant::now();
        // Bounded: a flood of distinct keys forgets the old ones rather than growing.
        if self.seen.len() >= 4096 {
            self.seen.retain(|_, t| now.duration_since(*t) < self.every);
            if self.seen.len() >= 4096 {
                self.seen.clear();
            }
        }
        match self.seen.get(&key) {
            Some(t) if now.duration_since(*t) < self.every => false,
            _ => {
                self.seen.insert(key, now);
                true
            }
        }
    }
}

/// True for a path under the TFTP root that pxelinux asks for while it searches its config
/// (by UUID, MAC, then ever shorter hex IPs): not finding one there is how the search works.
pub fn config_search(rel: &str) -> bool {
    rel.trim_start_matches('/').starts_with("pxelinux.cfg/")
}

/// Problems that may repeat, shared by concurrent tasks: each key (a client and what it asked)
/// is logged once per period.
pub struct Problems {
    log: Log,
    limiter: std::sync::Mutex<Limiter>,
}

impl Problems {
    pub fn new(log: Log, every: Duration) -> Problems {
        Problems { log, limiter: std::sync::Mutex::new(Limiter::new(every)) }
    }

    pub fn report(&self, key: String, line: impl FnOnce() -> String) {
        if super::lock(&self.limiter).allow(key) && self.log.budget.admit() {
            self.log.send(&line());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_client_strings_are_cut_in_keys_and_lines() {
        let mut l = Limiter::new(Duration::from_secs(60));
        let long = format!("10.0.0.9 /{}", "é".repeat(40_000));
        assert!(l.allow(long.clone()));
        assert!(l.seen.keys().all(|k| k.len() <= MAX_KEY));
        // Two paths alike in their first 256 bytes are one key: a flood of them is one line.
        assert!(!l.allow(format!("{long}x")));
        assert_eq!(clip("aé", 2), "a");
        assert_eq!(clip("abc", 10), "abc");
    }

    #[test]
    fn limiter_lets_each_key_through_once_per_period() {
        let mut l = Limiter::new(Duration::from_millis(50));
        assert!(l.allow("a".into()));
        assert!(!l.allow("a".into()));
        assert!(l.allow("b".into()));
        std::thread::sleep(Duration::from_millis(60));
        assert!(l.allow("a".into()));
    }

    #[test]
    fn client_chosen_text_stays_on_one_visible_line() {
        assert_eq!(escape("GET /pxelinux.cfg/01-aa"), "GET /pxelinux.cfg/01-aa");
        assert_eq!(escape("a\nb\r\x1b[31mc\x7f\u{9b}d"), "a\\x0ab\\x0d\\x1b[31mc\\x7f\\x9bd");
        assert_eq!(escape("a\\x0ab \u{202e}"), "a\\\\x0ab \\u{202e}");
        assert_eq!(escape("é ünïcode"), "é ünïcode");
    }

    #[test]
    fn the_budget_allows_a_burst_then_its_rate() {
        let b = Budget::new();
        let first = (0..BURST_LINES * 2).filter(|_| b.admit()).count();
        // A few refill while the loop runs.
        assert!((BURST_LINES as usize..BURST_LINES as usize + 20).contains(&first), "{first}");
        assert_eq!(b.suppressed.load(Ordering::Relaxed) as usize, BURST_LINES as usize * 2 - first);
        std::thread::sleep(Duration::from_millis(50));
        let later = (0..1000).filter(|_| b.admit()).count();
        assert!((5..=30).contains(&later), "{later} lines after 50 ms at {LINES_PER_SEC} a second");
    }
}
