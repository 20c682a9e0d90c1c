//! Out-of-band hardware control: where each node's BMC is and which protocol it speaks (`Bmc`),
//! the operations (`ops::Op`) every protocol performs, and the fan-out engine that drives
//! thousands of BMCs at once. Each protocol is one folder (ipmi/, redfish/); the commands and the
//! fan-out see only `Bmc`, `Op`, `Fact` and `HwError`.

pub mod bmc;
pub mod fanout;
pub mod ipmi;
pub mod ops;
pub mod redfish;
pub mod scan;

use crate::enroll::Ready;
use ipmi::crypto::Suite;
use ipmi::sdrcache::SdrCache;
use ipmi::session::Target;
use ipmi::IpmiError;
use redfish::RedfishError;
use std::fmt;
use std::net::ToSocketAddrs;
use std::sync::Arc;

/// One node's BMC and the protocol it speaks (nodehm.mgt).
#[derive(Debug, Clone)]
pub enum Bmc {
    Ipmi(Target),
    Redfish(redfish::Target),
}

/// Why a node's operation failed, whatever its protocol.
#[derive(Debug, Clone, PartialEq)]
pub enum HwError {
    Ipmi(IpmiError),
    Redfish(RedfishError),
}

impl HwError {
    /// A short kind for JSON output.
    pub fn kind(&self) -> &'static str {
        match self {
            HwError::Ipmi(e) => e.kind(),
            HwError::Redfish(e) => e.kind(),
        }
    }
}

impl fmt::Display for HwError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HwError::Ipmi(e) => e.fmt(f),
            HwError::Redfish(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for HwError {}

/// Performs `op` on one BMC in its protocol. Sensor records come from `sdr_cache` (IPMI only).
pub async fn perform(bmc: Bmc, op: ops::Op, sdr_cache: Option<Arc<SdrCache>>) -> Result<Vec<ops::Fact>, HwError> {
    match bmc {
        Bmc::Ipmi(t) => ops::perform(t, op, sdr_cache).await.map_err(HwError::Ipmi),
        Bmc::Redfish(t) => redfish::ops::perform(&t, op).await.map_err(HwError::Redfish),
    }
}

/// `addbmnode --validate`: logs in to each prepared node's BMC (IPMI: port 623, cipher suite 17
/// then 3; Redfish: a session or Basic auth over the TLS check being enrolled) and returns one
/// error line per node that did not answer or refused the credentials.
pub fn validate(ready: &[Ready], limits: &bmc::Limits) -> Vec<String> {
    let mut errors = Vec::new();
    let mut items = Vec::new();
    for r in ready {
        if r.mgt == "redfish" {
            match r.redfish_target(limits) {
                Ok(t) => items.push((r.node.clone(), Bmc::Redfish(t))),
                Err(e) => errors.push(format!("{}: Error: bmc: {e}", r.node)),
            }
            continue;
        }
        match (r.bmc.as_str(), 623).to_socket_addrs().map(|mut a| a.next()) {
            Ok(Some(addr)) => items.push((
                r.node.clone(),
                Bmc::Ipmi(Target {
                    addr,
                    user: r.login.0.clone(),
                    password: r.login.1.clone(),
                    suites: vec![Suite::Cs17, Suite::Cs3],
                    timeout: limits.timeout,
                    tries: limits.tries,
                }),
            )),
            _ => errors.push(format!("{}: Error: bmc: cannot resolve BMC address '{}'", r.node, r.bmc)),
        }
    }
    let opts = fanout::Options { fanout: 1024, stagger: None, progress: false };
    for (node, r) in fanout::run(items, &opts, |b| perform(b, ops::Op::Validate, None)) {
        if let Err(e) = r {
            errors.push(format!("{node}: Error: {e}"));
        }
    }
    errors
}

/// The SHA-256 fingerprints of the Redfish BMCs' TLS certificates, read by a handshake (no
/// request is sent), for addbmnode to pin: (node, fingerprint or error line).
pub fn read_fingerprints(targets: Vec<(String, redfish::Target)>) -> Vec<(String, Result<String, String>)> {
    let opts = fanout::Options { fanout: 1024, stagger: None, progress: false };
    fanout::run(targets, &opts, |t| async move {
        let c = redfish::client::Client::new(&t)?;
        c.handshake().await?;
        c.seen_fingerprint()
            .map(|fp| redfish::fingerprint_text(&fp))
            .ok_or_else(|| RedfishError::Tls(format!("BMC {} showed no certificate", t.display_host())))
    })
    .into_iter()
    .map(|(n, r)| (n, r.map_err(|e: RedfishError| e.to_string())))
    .collect()
}
