//! oxcatd's log: one line per event on standard error (the journal, under systemd). A thread of
//! its own writes it, so a busy server never waits on a terminal or the journal; lines queued
//! together are written together.

use std::collections::HashMap;
use std::io::Write;
use std::sync::mpsc;
use std::time::{Duration, Instant};

#[derive(Clone)]
pub struct Log {
    tx: mpsc::Sender<String>,
    /// Whether every answered exchange is logged, or only problems (`[dhcp] log = false`).
    exchanges: bool,
}

impl Log {
    pub fn start(exchanges: bool) -> Log {
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            let mut w = std::io::BufWriter::new(std::io::stderr().lock());
            while let Ok(first) = rx.recv() {
                let _ = writeln!(w, "{first}");
                while let Ok(more) = rx.try_recv() {
                    let _ = writeln!(w, "{more}");
                }
                let _ = w.flush();
            }
        });
        Log { tx, exchanges }
    }

    /// A problem: always logged.
    pub fn problem(&self, line: String) {
        let _ = self.tx.send(line);
    }

    /// An exchange that went as it should: logged unless the config turned that off.
    pub fn exchange(&self, line: impl FnOnce() -> String) {
        if self.exchanges {
            let _ = self.tx.send(line());
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
