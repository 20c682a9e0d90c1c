//! oxcatd's bootstrap settings: only what must be known before the store is open (where the store
//! is, where to listen). Cluster settings live in the site table. Read from `--config`, else
//! OXCAT_CONFIG, else /etc/oxcat/oxcat.toml (absent: defaults); every error names file and key.

use crate::error::{Error, Result};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub const DEFAULT_CONFIG: &str = "/etc/oxcat/oxcat.toml";

/// The file as written: every field optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    db: Option<String>,
    http: Option<WireHttp>,
    tftp: Option<WireTftp>,
    dhcp: Option<WireDhcp>,
    postscripts: Option<String>,
    console: Option<WireConsole>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireConsole {
    enable: Option<bool>,
    nodes: Option<String>,
    log_dir: Option<String>,
    log_max: Option<u64>,
    log_keep: Option<u32>,
    socket: Option<String>,
    keepalive: Option<f64>,
    status: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireDhcp {
    listen: Option<Vec<String>>,
    /// Off unless asked for: another DHCP server may already serve the network.
    enable: Option<bool>,
    server: Option<String>,
    /// proxyDHCP: boot information only, beside another DHCP server (listens on 67 and 4011).
    proxy: Option<bool>,
    /// Serve only these interfaces (default: every interface, replies routed by the kernel).
    interfaces: Option<Vec<String>>,
    /// Log every answered exchange (default true); problems are logged either way.
    log: Option<bool>,
    /// "empty" (default): answer IPv6 router solicitations on `interfaces` with an advertisement
    /// that configures nothing (iPXE then stops waiting for IPv6); "off".
    ipv6_ra: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireHttp {
    listen: Option<Vec<String>>,
    enable: Option<bool>,
    max_connections: Option<usize>,
    header_timeout: Option<u64>,
    idle_timeout: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireTftp {
    listen: Option<Vec<String>>,
    enable: Option<bool>,
    root: Option<String>,
}

/// Validated settings.
#[derive(Debug, Clone)]
pub struct Config {
    pub db: Option<PathBuf>,
    /// Empty: the service is off.
    pub http: Vec<SocketAddr>,
    pub http_limits: HttpLimits,
    pub tftp: Vec<SocketAddr>,
    /// None: site.tftpdir.
    pub tftp_root: Option<PathBuf>,
    /// Empty: no DHCP (the default).
    pub dhcp: Vec<SocketAddr>,
    /// The address DHCP answers name as server, and as next-server for nodes without
    /// noderes.tftpserver or xcatmaster on its network (default: site.master).
    pub dhcp_server: Option<std::net::Ipv4Addr>,
    pub dhcp_proxy: bool,
    /// Interfaces DHCP is tied to (empty: all).
    pub dhcp_interfaces: Vec<String>,
    /// Every answered DHCP exchange on standard error, not only the problems.
    pub dhcp_log: bool,
    /// Empty router advertisements on the DHCP interfaces (see `daemon::ra`).
    pub dhcp_ipv6_ra: bool,
    pub postscripts: PathBuf,
    /// The console service (`daemon::console`).
    pub console: super::console::Settings,
}

/// What one client may hold of the HTTP server.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpLimits {
    /// Connections served at once (lowered at startup to what the descriptor limit allows);
    /// past it, the connection idle longest is closed, else the new one gets a 503.
    pub max_connections: usize,
    /// The time a client has to send a request's head, and to send the next one on a kept-alive
    /// connection.
    pub header_timeout: std::time::Duration,
    /// A connection that moves no byte either way for this long is closed (a client that
    /// stopped reading its download, or sending its body).
    pub idle_timeout: std::time::Duration,
}

impl Default for HttpLimits {
    fn default() -> HttpLimits {
        HttpLimits {
            max_connections: 4096,
            header_timeout: std::time::Duration::from_secs(20),
            idle_timeout: std::time::Duration::from_secs(60),
        }
    }
}

fn addrs(file: &Path, key: &str, v: Option<Vec<String>>, default: &str) -> Result<Vec<SocketAddr>> {
    v.unwrap_or_else(|| vec![default.to_string()])
        .iter()
        .map(|a| {
            a.parse().map_err(|_| {
                Error::Input(format!(
                    "{}: {key}: '{a}' is not an address:port (allowed: 0.0.0.0:80, 10.0.0.1:69, [::]:80)",
                    file.display()
                ))
            })
        })
        .collect()
}

impl Config {
    /// Loads the file named by `flag`, else OXCAT_CONFIG, else the default (missing is fine there).
    pub fn load(flag: Option<&str>) -> Result<Config> {
        let explicit = flag.map(PathBuf::from).or_else(|| std::env::var_os("OXCAT_CONFIG").map(PathBuf::from));
        let path = explicit.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG));
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && explicit.is_none() => String::new(),
            Err(e) => return Err(Error::Input(format!("{}: {e}", path.display()))),
        };
        Config::parse(&path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Config> {
        let w: Wire = toml::from_str(text).map_err(|e| Error::Input(format!("{}: {}", path.display(), e.message())))?;
        let http = w.http.unwrap_or_default();
        let tftp = w.tftp.unwrap_or_default();
        let dhcp = w.dhcp.unwrap_or_default();
        let dhcp_server =
            match dhcp.server {
                None => None,
                Some(s) => Some(s.parse().map_err(|_| {
                    Error::Input(format!("{}: dhcp.server: '{s}' is not an IPv4 address", path.display()))
                })?),
            };
        let positive = |key: &str, v: Option<u64>| match v {
            Some(0) => Err(Error::Input(format!("{}: {key}: must be at least 1", path.display()))),
            _ => Ok(v),
        };
        let console = console_settings(path, w.console.unwrap_or_default())?;
        let default = HttpLimits::default();
        let http_limits = HttpLimits {
            max_connections: positive("http.max_connections", http.max_connections.map(|n| n as u64))?
                .map_or(default.max_connections, |n| n as usize),
            header_timeout: positive("http.header_timeout", http.header_timeout)?
                .map_or(default.header_timeout, std::time::Duration::from_secs),
            idle_timeout: positive("http.idle_timeout", http.idle_timeout)?
                .map_or(default.idle_timeout, std::time::Duration::from_secs),
        };
        Ok(Config {
            db: w.db.map(PathBuf::from),
            http_limits,
            http: if http.enable == Some(false) {
                vec![]
            } else {
                addrs(path, "http.listen", http.listen, "0.0.0.0:80")?
            },
            tftp: if tftp.enable == Some(false) {
                vec![]
            } else {
                addrs(path, "tftp.listen", tftp.listen, "0.0.0.0:69")?
            },
            tftp_root: tftp.root.map(PathBuf::from),
            dhcp_proxy: dhcp.proxy == Some(true),
            dhcp_interfaces: dhcp.interfaces.unwrap_or_default(),
            dhcp_log: dhcp.log != Some(false),
            dhcp_ipv6_ra: match dhcp.ipv6_ra.as_deref() {
                None | Some("empty") => true,
                Some("off") => false,
                Some(v) => {
                    return Err(Error::Input(format!(
                        "{}: dhcp.ipv6_ra: '{v}' is not allowed (allowed: empty, off)",
                        path.display()
                    )))
                }
            },
            // proxyDHCP also listens on 4011, where PXE clients ask for their boot file.
            dhcp: match (dhcp.enable, dhcp.proxy) {
                (Some(true), Some(true)) => {
                    let default = vec!["0.0.0.0:67".to_string(), "0.0.0.0:4011".to_string()];
                    addrs(path, "dhcp.listen", Some(dhcp.listen.unwrap_or(default)), "")?
                }
                (Some(true), _) => addrs(path, "dhcp.listen", dhcp.listen, "0.0.0.0:67")?,
                _ => vec![],
            },
            dhcp_server,
            postscripts: PathBuf::from(w.postscripts.unwrap_or_else(|| "/usr/local/share/oxcat/postscripts".into())),
            console,
        })
    }
}

fn console_settings(path: &Path, w: WireConsole) -> Result<super::console::Settings> {
    let d = super::console::Settings::default();
    let keepalive = match w.keepalive {
        None => d.keepalive,
        Some(k) if (0.1..=3600.0).contains(&k) => std::time::Duration::from_secs_f64(k),
        Some(k) => {
            return Err(Error::Input(format!(
                "{}: console.keepalive: '{k}' is not allowed (seconds, from 0.1 to 3600)",
                path.display()
            )))
        }
    };
    if w.log_max.is_some_and(|m| m < 1024) {
        return Err(Error::Input(format!("{}: console.log_max: must be at least 1024 (bytes)", path.display())));
    }
    let status = w.status.unwrap_or_default();
    for p in &status {
        if let Err(e) = regex::Regex::new(p) {
            let why = e.to_string().lines().last().unwrap_or("").trim().to_string();
            return Err(Error::Input(format!(
                "{}: console.status: '{p}' is not a regular expression ({why})",
                path.display()
            )));
        }
    }
    Ok(super::console::Settings {
        status,
        enable: w.enable == Some(true),
        nodes: w.nodes.unwrap_or(d.nodes),
        log_dir: w.log_dir.map_or(d.log_dir, PathBuf::from),
        log_max: w.log_max.unwrap_or(d.log_max),
        log_keep: w.log_keep.unwrap_or(d.log_keep),
        socket: w.socket.map_or(d.socket, PathBuf::from),
        keepalive,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_errors_name_file_and_key() {
        let c = Config::parse(Path::new("o.toml"), "").unwrap();
        assert_eq!(c.http, vec!["0.0.0.0:80".parse::<SocketAddr>().unwrap()]);
        assert_eq!(c.tftp, vec!["0.0.0.0:69".parse::<SocketAddr>().unwrap()]);
        let c = Config::parse(
            Path::new("o.toml"),
            "db = \"/x.db\"\n[tftp]\nenable = false\n[http]\nlisten = [\"127.0.0.1:8080\"]\n",
        )
        .unwrap();
        assert!(c.tftp.is_empty());
        assert_eq!(c.http, vec!["127.0.0.1:8080".parse::<SocketAddr>().unwrap()]);
        let e = Config::parse(Path::new("o.toml"), "[http]\nlisten = [\"localhost\"]\n").unwrap_err().to_string();
        assert_eq!(e, "Error: o.toml: http.listen: 'localhost' is not an address:port (allowed: 0.0.0.0:80, 10.0.0.1:69, [::]:80)");
        assert_eq!(c.http_limits, HttpLimits::default());
        let c =
            Config::parse(Path::new("o.toml"), "[http]\nmax_connections = 10\nheader_timeout = 2\nidle_timeout = 3\n")
                .unwrap();
        assert_eq!(c.http_limits.max_connections, 10);
        assert_eq!(c.http_limits.header_timeout, std::time::Duration::from_secs(2));
        assert_eq!(c.http_limits.idle_timeout, std::time::Duration::from_secs(3));
        let e = Config::parse(Path::new("o.toml"), "[http]\nheader_timeout = 0\n").unwrap_err().to_string();
        assert_eq!(e, "Error: o.toml: http.header_timeout: must be at least 1");
        assert!(c.dhcp_ipv6_ra);
        assert!(!Config::parse(Path::new("o.toml"), "[dhcp]\nipv6_ra = \"off\"\n").unwrap().dhcp_ipv6_ra);
        let e = Config::parse(Path::new("o.toml"), "[dhcp]\nipv6_ra = \"on\"\n").unwrap_err().to_string();
        assert_eq!(e, "Error: o.toml: dhcp.ipv6_ra: 'on' is not allowed (allowed: empty, off)");
        assert!(!c.console.enable);
        let c = Config::parse(Path::new("o.toml"), "[console]\nenable = true\nkeepalive = 0.5\nlog_dir = \"/l\"\n")
            .unwrap();
        assert!(c.console.enable);
        assert_eq!(c.console.keepalive, std::time::Duration::from_millis(500));
        assert_eq!(c.console.log_dir, PathBuf::from("/l"));
        let e = Config::parse(Path::new("o.toml"), "[console]\nstatus = [\"login:\", \"(panic\"]\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("Error: o.toml: console.status: '(panic' is not a regular expression ("), "{e}");
        let e = Config::parse(Path::new("o.toml"), "[console]\nkeepalive = 0\n").unwrap_err().to_string();
        assert_eq!(e, "Error: o.toml: console.keepalive: '0' is not allowed (seconds, from 0.1 to 3600)");
        let e = Config::parse(Path::new("o.toml"), "[htp]\n").unwrap_err().to_string();
        assert!(e.starts_with("Error: o.toml: unknown field `htp`"), "{e}");
    }
}
