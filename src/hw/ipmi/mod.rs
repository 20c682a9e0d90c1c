//! IPMI 2.0 over LAN: the RMCP+ session (in-project: ipmi-rs's transport is blocking, has no
//! retries, never sends Set Session Privilege or Close Session and does only cipher suite 3), and
//! the commands oxcat needs on top of ipmi-rs-core's types and parsers.

pub mod cmds;
pub mod crypto;
pub mod fru;
pub mod sdrcache;
pub mod session;
pub mod sol;

use std::fmt;
use std::net::SocketAddr;

#[derive(Debug, Clone, PartialEq)]
pub enum IpmiError {
    /// No answer after every try.
    Timeout {
        addr: SocketAddr,
        tries: u32,
        secs: f64,
    },
    /// Wrong user name or password (or a user not allowed to log in).
    Auth(String),
    /// The BMC refused a cipher suite (the next one is tried).
    CipherRefused(String),
    /// A command completed with a non-zero completion code.
    Completion {
        netfn: u8,
        cmd: u8,
        code: u8,
    },
    /// A malformed or unexpected answer.
    Protocol(String),
    Io(String),
}

impl IpmiError {
    /// A short kind for JSON output.
    pub fn kind(&self) -> &'static str {
        match self {
            IpmiError::Timeout { .. } => "timeout",
            IpmiError::Auth(_) => "auth",
            IpmiError::CipherRefused(_) => "cipher",
            IpmiError::Completion { .. } => "completion",
            IpmiError::Protocol(_) => "protocol",
            IpmiError::Io(_) => "io",
        }
    }
}

impl fmt::Display for IpmiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IpmiError::Timeout { addr, tries, secs } => {
                let host = if addr.port() == 623 { addr.ip().to_string() } else { addr.to_string() };
                write!(f, "BMC {host} did not answer ({tries} tries, {secs} s each)")
            }
            IpmiError::Auth(m) | IpmiError::CipherRefused(m) | IpmiError::Protocol(m) | IpmiError::Io(m) => {
                f.write_str(m)
            }
            IpmiError::Completion { netfn, cmd, code } => {
                let what = match code {
                    0xc0 => "node busy",
                    0xc1 => "invalid command",
                    0xc3 => "timeout while processing the command",
                    0xc7 | 0xc8 => "request data length invalid",
                    0xc9 => "parameter out of range",
                    0xcb => "requested data not present",
                    0xcc => "invalid data field in request",
                    0xcd => "command illegal for this sensor or record type",
                    0xd4 => "insufficient privilege level",
                    0xd5 => "command not supported in present state",
                    0xd6 => "command sub-function disabled or unavailable",
                    _ => "unexpected completion code",
                };
                write!(f, "{what} ({code:02x}h, netfn {netfn:02x}h command {cmd:02x}h)")
            }
        }
    }
}

impl std::error::Error for IpmiError {}
