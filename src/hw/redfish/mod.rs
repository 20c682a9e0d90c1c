//! Redfish (DMTF DSP0266) over HTTPS: the client (TLS verified against a CA file or a certificate
//! fingerprint pinned at enrolment, session login with Basic fallback), and what each hardware
//! command does with a Redfish service. Resource paths come from the service root and the
//! collections, never from guessed ids.

pub mod client;
pub mod ops;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// How the BMC's TLS certificate is checked (ipmi.bmccert).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// The SHA-256 of the certificate recorded at enrolment (`sha256:AB:CD:...`).
    Pinned([u8; 32]),
    /// A CA bundle (PEM) the certificate chains to, with the host name or IP checked (`ca:/path`).
    CaFile(PathBuf),
    /// Explicitly no verification (`insecure`), only ever set on request.
    Insecure,
}

impl Trust {
    /// Parses the ipmi.bmccert value.
    pub fn parse(v: &str) -> Result<Trust, String> {
        let v = v.trim();
        if v == "insecure" {
            return Ok(Trust::Insecure);
        }
        if let Some(path) = v.strip_prefix("ca:") {
            return Ok(Trust::CaFile(PathBuf::from(path)));
        }
        if let Some(hex) = v.strip_prefix("sha256:") {
            let bytes: Vec<u8> = hex
                .split(':')
                .map(|b| u8::from_str_radix(b, 16))
                .collect::<Result<_, _>>()
                .map_err(|_| format!("'{v}' is not a SHA-256 fingerprint"))?;
            if let Ok(fp) = <[u8; 32]>::try_from(bytes) {
                return Ok(Trust::Pinned(fp));
            }
        }
        Err(format!(
            "'{v}' is not a certificate check (allowed: sha256:XX:..:XX (32 bytes), ca:/path/to/ca.pem, insecure)"
        ))
    }
}

/// `sha256:AB:CD:...`, the way ipmi.bmccert records a pinned certificate.
pub fn fingerprint_text(fp: &[u8; 32]) -> String {
    let hex: Vec<String> = fp.iter().map(|b| format!("{b:02X}")).collect();
    format!("sha256:{}", hex.join(":"))
}

/// HTTPS BMCs answer in seconds, not milliseconds: a request waits at least this long even when
/// site.ipmitimeout (sized for UDP round trips) is shorter.
pub const MIN_TIMEOUT: Duration = Duration::from_secs(10);

/// The default HTTPS port.
pub const PORT: u16 = 443;

/// One node's Redfish service.
#[derive(Debug, Clone)]
pub struct Target {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    pub trust: Trust,
    /// For one request (connect, TLS, answer).
    pub timeout: Duration,
    /// Connection attempts before the BMC counts as dead.
    pub tries: u32,
    /// Which member of the Systems collection this node is (ipmi.bmcsystem); None: the only one.
    pub system: Option<String>,
}

impl Target {
    /// `host` or `host:port` (port shown when not 443), for messages.
    pub fn display_host(&self) -> String {
        if self.port == 443 {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum RedfishError {
    /// No connection, or no answer in time, after every try.
    Unreachable(String),
    /// The certificate did not match the pinned fingerprint or the CA, or the handshake failed.
    Tls(String),
    /// 401/403 on login or on a request.
    Auth(String),
    /// An HTTP error status with the service's message.
    Http { status: u16, method: &'static str, path: String, message: String },
    /// The service lacks what the command needs, or refuses the value (AllowableValues).
    Unsupported(String),
    /// A malformed or unexpected answer.
    Protocol(String),
}

impl RedfishError {
    /// A short kind for JSON output (the IPMI kinds where they mean the same).
    pub fn kind(&self) -> &'static str {
        match self {
            RedfishError::Unreachable(_) => "timeout",
            RedfishError::Tls(_) => "tls",
            RedfishError::Auth(_) => "auth",
            RedfishError::Http { .. } => "http",
            RedfishError::Unsupported(_) => "unsupported",
            RedfishError::Protocol(_) => "protocol",
        }
    }
}

impl fmt::Display for RedfishError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RedfishError::Unreachable(m)
            | RedfishError::Tls(m)
            | RedfishError::Auth(m)
            | RedfishError::Unsupported(m)
            | RedfishError::Protocol(m) => f.write_str(m),
            RedfishError::Http { status, method, path, message } => {
                write!(f, "{method} {path}: HTTP {status}")?;
                if !message.is_empty() {
                    write!(f, ": {message}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for RedfishError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trust_values() {
        let fp = [0xabu8; 32];
        assert_eq!(Trust::parse(&fingerprint_text(&fp)), Ok(Trust::Pinned(fp)));
        assert_eq!(Trust::parse("insecure"), Ok(Trust::Insecure));
        assert_eq!(Trust::parse("ca:/etc/ca.pem"), Ok(Trust::CaFile("/etc/ca.pem".into())));
        assert!(Trust::parse("sha256:AB:CD").is_err());
        assert!(Trust::parse("yes").unwrap_err().contains("allowed"));
    }
}
