//! oxcatd: one process serving what network-booting nodes need, straight from the store: DHCP
//! (off by default), HTTP (boot scripts, images, postscripts, status reports) and TFTP. It reads the store per request
//! (primary-key lookups), so changes made by nodeset, chdef or addbmnode are seen at once,
//! without a restart and without re-reading the cluster.

pub mod config;
pub mod dhcp;
pub mod http;
pub mod log;
pub mod tftp;

use crate::error::{Error, Result};
use crate::store::{self, Store};
use config::Config;
use std::io::Write;
use std::sync::{Arc, Mutex};

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
    let shared = Arc::new(http::Shared::new(store, cfg.postscripts.clone(), log.clone()));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Io(format!("runtime: {e}")))?;
    rt.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for addr in &cfg.http {
            let (bound, fut) = http::bind(*addr, shared.clone()).await.map_err(Error::Io)?;
            writeln!(out, "oxcatd: HTTP on {bound}").map_err(|e| Error::io("stdout", e))?;
            tasks.spawn(fut);
        }
        let interfaces: Vec<Option<&str>> = if cfg.dhcp_interfaces.is_empty() {
            vec![None]
        } else {
            cfg.dhcp_interfaces.iter().map(|i| Some(i.as_str())).collect()
        };
        for addr in &cfg.dhcp {
            for iface in &interfaces {
                let store =
                    Arc::new(Mutex::new(Store::open(&Store::locate(cfg.db.as_ref().and_then(|p| p.to_str())))?));
                let (bound, fut) = dhcp::bind(*addr, *iface, store, cfg.dhcp_server, cfg.dhcp_proxy, log.clone())
                    .await
                    .map_err(Error::Io)?;
                let kind = if cfg.dhcp_proxy { "proxyDHCP" } else { "DHCP" };
                let on = iface.map(|i| format!(" ({i})")).unwrap_or_default();
                writeln!(out, "oxcatd: {kind} on {bound}{on}").map_err(|e| Error::io("stdout", e))?;
                tasks.spawn(fut);
            }
        }
        for addr in &cfg.tftp {
            let store = Arc::new(Mutex::new(Store::open(&Store::locate(cfg.db.as_ref().and_then(|p| p.to_str())))?));
            let (bound, fut) = tftp::bind(*addr, &tftp_root, store, log.clone()).await.map_err(Error::Io)?;
            writeln!(out, "oxcatd: TFTP on {bound} (root {})", tftp_root.display())
                .map_err(|e| Error::io("stdout", e))?;
            tasks.spawn(fut);
        }
        if tasks.is_empty() {
            return Err(Error::Input("no service enabled (http and tftp are both off in the config)".into()));
        }
        writeln!(out, "oxcatd: ready").and_then(|_| out.flush()).map_err(|e| Error::io("stdout", e))?;
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| Error::Io(e.to_string()))?;
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
            _ = tasks.join_next() => {}
        }
        Ok(())
    })
}
