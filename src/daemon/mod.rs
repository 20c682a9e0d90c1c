//! oxcatd: one process serving what network-booting nodes need, straight from the store: DHCP
//! (off by default), HTTP (boot scripts, images, postscripts, status reports) and TFTP. It reads the store per request
//! (primary-key lookups), so changes made by nodeset, chdef or addbmnode are seen at once,
//! without a restart and without re-reading the cluster.

pub mod config;
pub mod console;
pub mod dhcp;
pub mod http;
pub mod log;
pub mod ra;
pub mod scope;
pub mod tftp;

use crate::error::{Error, Result};
use crate::store::{self, Store};
use config::Config;
use std::io::Write;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// A lock that outlives a panic of its last holder: what it guards (the store handle, slot and
/// rate-limit maps) stays usable, so one bad request cannot poison every later one.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Starts every configured service, prints `oxcatd: SERVICE on ADDR` for each and `oxcatd: ready`,
/// and serves until SIGTERM or SIGINT.
pub fn run(cfg: Config, out: &mut dyn Write) -> Result<()> {
    let store = Store::open(&Store::locate(cfg.db.as_ref().and_then(|p| p.to_str())))?;
    let tftp_root = match &cfg.tftp_root {
        Some(r) => r.clone(),
        None => {
            std::path::PathBuf::from(store::site_value(store.conn(), "tftpdir")?.unwrap_or_else(|| "/tftpboot".into()))
        }
    };
    let log = log::Log::start(cfg.dhcp_log);
    let seen = Arc::new(scope::Seen::default());
    let shared = Arc::new(http::Shared::new(store, cfg.postscripts.clone(), log.clone(), seen.clone())?);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Io(format!("runtime: {e}")))?;
    let served = rt.block_on(async {
        let mut tasks = Services::default();
        for addr in &cfg.http {
            let (bound, fut) = http::bind(*addr, shared.clone(), cfg.http_limits.clone()).await.map_err(Error::Io)?;
            writeln!(out, "oxcatd: HTTP on {bound}").map_err(|e| Error::io("stdout", e))?;
            tasks.spawn(format!("HTTP on {bound}"), fut);
        }
        let interfaces: Vec<Option<&str>> = if cfg.dhcp_interfaces.is_empty() {
            vec![None]
        } else {
            cfg.dhcp_interfaces.iter().map(|i| Some(i.as_str())).collect()
        };
        let leases = dhcp::Leases::shared();
        for addr in &cfg.dhcp {
            for iface in &interfaces {
                let store =
                    Arc::new(Mutex::new(Store::open(&Store::locate(cfg.db.as_ref().and_then(|p| p.to_str())))?));
                // `leases` is shared by every DHCP socket of the daemon.
                let srv = dhcp::Server::new(store, leases.clone(), cfg.dhcp_server, cfg.dhcp_proxy)?
                    .noting_addresses(seen.clone());
                let (bound, fut) = dhcp::bind(*addr, *iface, srv, log.clone()).await.map_err(Error::Io)?;
                let kind = if cfg.dhcp_proxy { "proxyDHCP" } else { "DHCP" };
                let on = iface.map(|i| format!(" ({i})")).unwrap_or_default();
                writeln!(out, "oxcatd: {kind} on {bound}{on}").map_err(|e| Error::io("stdout", e))?;
                tasks.spawn(format!("{kind} on {bound}{on}"), fut);
            }
        }
        // Router advertisements that end iPXE's wait for IPv6, on the DHCP interfaces only: where
        // DHCP serves every interface, which of them are boot networks is not known.
        if !cfg.dhcp.is_empty() && cfg.dhcp_ipv6_ra {
            for iface in &cfg.dhcp_interfaces {
                let fut = ra::bind(iface, log.clone()).map_err(Error::Io)?;
                writeln!(out, "oxcatd: IPv6 RA on {iface} (empty)").map_err(|e| Error::io("stdout", e))?;
                tasks.spawn(format!("IPv6 RA on {iface}"), fut);
            }
        }
        for addr in &cfg.tftp {
            let store = Arc::new(Mutex::new(Store::open(&Store::locate(cfg.db.as_ref().and_then(|p| p.to_str())))?));
            let (bound, fut) =
                tftp::bind(*addr, &tftp_root, store, seen.clone(), log.clone()).await.map_err(Error::Io)?;
            writeln!(out, "oxcatd: TFTP on {bound} (root {})", tftp_root.display())
                .map_err(|e| Error::io("stdout", e))?;
            tasks.spawn(format!("TFTP on {bound}"), fut);
        }
        let mut consoles = None;
        if cfg.console.enable {
            let svc = console::Service::new(cfg.console.clone(), store_path(&cfg), log.clone()).map_err(Error::Io)?;
            let changes = svc.sync().map_err(Error::Io)?;
            for (node, why) in &changes.refused {
                log.problem(format!("oxcatd: console {node}: {why}"));
            }
            let n = changes.held;
            let fut = svc.clone().bind().map_err(Error::Io)?;
            let nodes = if n == 1 { "node" } else { "nodes" };
            writeln!(
                out,
                "oxcatd: consoles on {} ({n} {nodes}, logs in {})",
                cfg.console.socket.display(),
                cfg.console.log_dir.display()
            )
            .map_err(|e| Error::io("stdout", e))?;
            tasks.spawn("console service".into(), fut);
            // SIGHUP: the nodes are read again (as `makegocons` asks through the socket).
            let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
                .map_err(|e| Error::Io(e.to_string()))?;
            let (reloading, log) = (svc.clone(), log.clone());
            tasks.spawn("console reload on SIGHUP".into(), async move {
                while hup.recv().await.is_some() {
                    match reloading.sync() {
                        Ok(c) => {
                            for (node, why) in &c.refused {
                                log.problem(format!("oxcatd: console {node}: {why}"));
                            }
                            log.problem(format!(
                                "oxcatd: consoles reloaded: {} held; started {:?}, restarted {:?}, stopped {:?}",
                                c.held, c.started, c.restarted, c.stopped
                            ));
                        }
                        Err(e) => log.problem(format!("oxcatd: consoles not reloaded: {e}")),
                    }
                }
            });
            consoles = Some(svc);
        }
        if tasks.is_empty() {
            return Err(Error::Input("no service enabled (http and tftp are both off in the config)".into()));
        }
        writeln!(out, "oxcatd: ready").and_then(|_| out.flush()).map_err(|e| Error::io("stdout", e))?;
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| Error::Io(e.to_string()))?;
        let stop = async {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        };
        let served = tasks.serve(stop).await;
        if let Some(svc) = consoles {
            svc.shutdown(std::time::Duration::from_secs(3)).await;
        }
        served
    });
    // Blocking work (a file being read, a store write) gets a moment; a stuck one does not keep
    // a failed daemon from exiting.
    rt.shutdown_timeout(std::time::Duration::from_secs(2));
    served
}

fn store_path(cfg: &Config) -> std::path::PathBuf {
    Store::locate(cfg.db.as_ref().and_then(|p| p.to_str()))
}

/// The running services, by name ("DHCP on 0.0.0.0:67").
#[derive(Default)]
struct Services {
    tasks: tokio::task::JoinSet<()>,
    names: std::collections::HashMap<tokio::task::Id, String>,
}

impl Services {
    fn spawn(&mut self, name: String, service: impl std::future::Future<Output = ()> + Send + 'static) {
        let id = self.tasks.spawn(service).id();
        self.names.insert(id, name);
    }

    fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Serves until `stop`. A service serves forever: one that ends (a panic, or an error it
    /// could not get past) ends oxcatd with an error, logged and a non-zero exit status, so that
    /// the service manager restarts all of it; the other services never run on without it, and
    /// oxcatd never exits 0 for it.
    async fn serve(mut self, stop: impl std::future::Future<Output = ()>) -> Result<()> {
        let ended = tokio::select! {
            _ = stop => return Ok(()),
            ended = self.tasks.join_next_with_id() => ended,
        };
        let (id, why) = match ended {
            Some(Ok((id, ()))) => (id, "stopped".to_string()),
            Some(Err(e)) => {
                (e.id(), if e.is_panic() { format!("panicked: {}", panic_text(e.into_panic())) } else { e.to_string() })
            }
            None => return Ok(()),
        };
        let name = self.names.remove(&id).unwrap_or_else(|| "a service".into());
        // main prints it on standard error, the log's stream, and exits 1.
        Err(Error::Io(format!("{name} {why}: exiting so that the service manager restarts oxcatd")))
    }
}

/// What a panic said.
fn panic_text(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
    }

    #[test]
    fn a_service_that_ends_ends_oxcatd_with_an_error() {
        let rt = runtime();
        let _in = rt.enter();
        let mut s = Services::default();
        s.spawn("HTTP on 127.0.0.1:80".into(), std::future::pending());
        s.spawn("DHCP on 0.0.0.0:67".into(), async { panic!("chaddr out of range") });
        let e = rt.block_on(s.serve(std::future::pending())).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Error: DHCP on 0.0.0.0:67 panicked: chaddr out of range: exiting so that the service manager restarts oxcatd"
        );
        assert_eq!(e.exit_code(), 1);
        let mut s = Services::default();
        s.spawn("TFTP on 0.0.0.0:69".into(), async {});
        let e = rt.block_on(s.serve(std::future::pending())).unwrap_err();
        assert!(e.to_string().starts_with("Error: TFTP on 0.0.0.0:69 stopped: "), "{e}");
        // A stop request ends it cleanly.
        let mut s = Services::default();
        s.spawn("HTTP on 127.0.0.1:80".into(), std::future::pending());
        assert!(rt.block_on(s.serve(async {})).is_ok());
    }
}
