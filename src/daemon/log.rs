//! oxcatd's log: one line per event on standard error (the journal, under systemd). A thread of
//! its own writes it in batches, so a busy server never waits on a terminal or the journal.

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

#[derive(Clone)]
pub struct Log {
    tx: mpsc::SyncSender<String>,
    dropped: Arc<AtomicU64>,
    /// Whether every answered exchange is logged, or only problems (`[dhcp] log = false`).
    exchanges: bool,
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
        let lost = dropped.clone();
        std::thread::spawn(move || {
            let mut w = std::io::BufWriter::with_capacity(1 << 16, std::io::stderr().lock());
            while let Ok(first) = rx.recv() {
                std::thread::sleep(GATHER);
                let _ = writeln!(w, "{first}");
                while let Ok(more) = rx.try_recv() {
                    let _ = writeln!(w, "{more}");
                }
                let n = lost.swap(0, Ordering::Relaxed);
                if n > 0 {
                    let _ = writeln!(w, "oxcatd: {n} log lines dropped (the log could not keep up)");
                }
                let _ = w.flush();
            }
        });
        Log { tx, dropped, exchanges }
    }

    fn send(&self, line: String) {
        if self.tx.try_send(line).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A problem: always logged.
    pub fn problem(&self, line: String) {
        self.send(line);
    }

    /// An exchange that went as it should: logged unless the config turned that off.
    pub fn exchange(&self, line: impl FnOnce() -> String) {
        if self.exchanges {
            self.send(line());
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

    pub fn allow(&mut self, key: String) -> bool {
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
        if self.limiter.lock().expect("limiter lock").allow(key) {
            self.log.problem(line());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_lets_each_key_through_once_per_period() {
        let mut l = Limiter::new(Duration::from_millis(50));
        assert!(l.allow("a".into()));
        assert!(!l.allow("a".into()));
        assert!(l.allow("b".into()));
        std::thread::sleep(Duration::from_millis(60));
        assert!(l.allow("a".into()));
    }
}
