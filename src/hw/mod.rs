//! Out-of-band hardware control: the BMC protocol, where each node's BMC is, and the fan-out engine
//! that drives thousands of BMCs at once.

pub mod bmc;
pub mod fanout;
pub mod ipmi;
pub mod ops;

use crate::enroll::Ready;
use ipmi::crypto::Suite;
use ipmi::session::Target;
use std::net::ToSocketAddrs;

/// `addbmnode --validate`: logs in to each prepared node's BMC (port 623, cipher suite 17 then 3)
/// and returns one error line per node that did not answer or refused the credentials.
pub fn validate(ready: &[Ready], limits: &bmc::Limits) -> Vec<String> {
    let mut errors = Vec::new();
    let mut items = Vec::new();
    for r in ready {
        match (r.bmc.as_str(), 623).to_socket_addrs().map(|mut a| a.next()) {
            Ok(Some(addr)) => items.push((
                r.node.clone(),
                Target {
                    addr,
                    user: r.login.0.clone(),
                    password: r.login.1.clone(),
                    suites: vec![Suite::Cs17, Suite::Cs3],
                    timeout: limits.timeout,
                    tries: limits.tries,
                },
            )),
            _ => errors.push(format!("{}: Error: bmc: cannot resolve BMC address '{}'", r.node, r.bmc)),
        }
    }
    let opts = fanout::Options { fanout: 1024, stagger: None, progress: false };
    for (node, r) in fanout::run(items, &opts, |t| ops::perform(t, ops::Op::Validate, None)) {
        if let Err(e) = r {
            errors.push(format!("{node}: Error: {e}"));
        }
    }
    errors
}
