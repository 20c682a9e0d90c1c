//! The BMC through the in-band interface (`/dev/ipmi0`, the kernel's IPMI driver over KCS): its
//! LAN address and MAC for the discovery report, and bmcsetup (LAN address, netmask, gateway, a
//! user with administrator rights on the LAN channel), as xCAT's genesis does with ipmitool.

use super::{Bmc, BmcSetup};
use ipmi_rs_core::connection::{IpmiConnection, LogicalUnit, Message, Request, RequestTargetAddress};
use std::path::Path;
use std::time::Duration;

const NETFN_APP: u8 = 0x06;
const NETFN_TRANSPORT: u8 = 0x0C;
/// LAN configuration parameters (IPMI 2.0 table 23-4).
const LAN_SET_IN_PROGRESS: u8 = 0;
const LAN_IP_SOURCE: u8 = 4;
const LAN_IP: u8 = 3;
const LAN_MAC: u8 = 5;
const LAN_NETMASK: u8 = 6;
const LAN_GATEWAY: u8 = 12;
/// The user bmcsetup sets (the first user after the anonymous one, as xCAT's bmcsetup).
const USER_ID: u8 = 2;

pub struct Kcs {
    dev: ipmi_rs::File,
    /// The BMC's LAN channel.
    channel: Option<u8>,
}

impl Kcs {
    pub fn open(path: &Path) -> Result<Kcs, String> {
        let dev = ipmi_rs::File::new(path, Duration::from_secs(5)).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Kcs { dev, channel: None })
    }

    /// One command; the response's data after a completion code of 0.
    fn cmd(&mut self, netfn: u8, cmd: u8, data: Vec<u8>, what: &str) -> Result<Vec<u8>, String> {
        let mut req = Request::new(Message::new_raw(netfn, cmd, data), RequestTargetAddress::Bmc(LogicalUnit::Zero));
        let resp = self.dev.send_recv(&mut req).map_err(|e| format!("{what}: {e}"))?;
        if resp.cc() != 0 {
            return Err(format!("{what}: completion code {:#04x}", resp.cc()));
        }
        Ok(resp.data().to_vec())
    }

    /// The first channel whose medium is 802.3 LAN (Get Channel Info).
    fn lan_channel(&mut self) -> Result<u8, String> {
        if let Some(c) = self.channel {
            return Ok(c);
        }
        for ch in 1..=11u8 {
            if let Ok(d) = self.cmd(NETFN_APP, 0x42, vec![ch], "get channel info") {
                if d.get(1).map(|m| m & 0x7F) == Some(0x04) {
                    self.channel = Some(ch);
                    return Ok(ch);
                }
            }
        }
        Err("the BMC has no LAN channel".into())
    }

    fn get_lan(&mut self, param: u8, len: usize) -> Result<Vec<u8>, String> {
        let ch = self.lan_channel()?;
        let d = self.cmd(NETFN_TRANSPORT, 0x02, vec![ch, param, 0, 0], &format!("get LAN parameter {param}"))?;
        // Byte 0 is the parameter revision.
        d.get(1..1 + len).map(<[u8]>::to_vec).ok_or_else(|| format!("LAN parameter {param}: short answer"))
    }

    fn set_lan(&mut self, param: u8, value: &[u8]) -> Result<(), String> {
        let ch = self.lan_channel()?;
        let mut data = vec![ch, param];
        data.extend_from_slice(value);
        self.cmd(NETFN_TRANSPORT, 0x01, data, &format!("set LAN parameter {param}")).map(|_| ())
    }

    /// The LAN channel's address and MAC.
    pub fn lan_address(&mut self) -> Result<Bmc, String> {
        let ip = self.get_lan(LAN_IP, 4)?;
        let mac = self.get_lan(LAN_MAC, 6)?;
        Ok(Bmc {
            ip: std::net::Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3]).to_string(),
            mac: mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":"),
        })
    }

    /// bmcsetup: static address, netmask, gateway; user [`USER_ID`] with the name and password
    /// given, enabled, administrator on the LAN channel with IPMI messaging.
    pub fn setup(&mut self, s: &BmcSetup) -> Result<(), String> {
        let ip4 = |v: &str, what: &str| {
            v.parse::<std::net::Ipv4Addr>()
                .map(|a| a.octets())
                .map_err(|_| format!("{what} '{v}' is not an IPv4 address"))
        };
        let (ip, mask) = (ip4(&s.ip, "address")?, ip4(&s.netmask, "netmask")?);
        if s.username.len() > 16 || s.password.len() > 20 {
            return Err("the BMC user name is at most 16 bytes, the password at most 20".into());
        }
        // Set In Progress around the changes, then Commit Write and Set Complete, as ipmitool
        // does: BMCs (ipmi_sim among them) apply them at the commit. A BMC without the parameter
        // applies each at once.
        let in_progress = self.set_lan(LAN_SET_IN_PROGRESS, &[1]).is_ok();
        let lan = (|| {
            self.set_lan(LAN_IP_SOURCE, &[1])?;
            self.set_lan(LAN_IP, &ip)?;
            self.set_lan(LAN_NETMASK, &mask)?;
            if let Some(g) = &s.gateway {
                self.set_lan(LAN_GATEWAY, &ip4(g, "gateway")?)?;
            }
            Ok::<(), String>(())
        })();
        if in_progress {
            let _ = self.set_lan(LAN_SET_IN_PROGRESS, &[2]);
            self.set_lan(LAN_SET_IN_PROGRESS, &[0])?;
        }
        lan?;
        let mut name = vec![USER_ID];
        name.extend(s.username.bytes().chain(std::iter::repeat(0)).take(16));
        self.cmd(NETFN_APP, 0x45, name, "set user name")?;
        // A password over 16 bytes is set as a 20-byte one (bit 7 of the user ID byte).
        let (width, flag) = if s.password.len() > 16 { (20, 0x80) } else { (16, 0) };
        let mut pw = vec![USER_ID | flag, 0x02];
        pw.extend(s.password.bytes().chain(std::iter::repeat(0)).take(width));
        self.cmd(NETFN_APP, 0x47, pw, "set user password")?;
        self.cmd(NETFN_APP, 0x47, vec![USER_ID, 0x01], "enable user")?;
        let ch = self.lan_channel()?;
        // Change bits: IPMI messaging on; administrator (4) on the LAN channel.
        self.cmd(NETFN_APP, 0x43, vec![0x90 | ch, USER_ID, 0x04, 0x00], "set user access")?;
        Ok(())
    }
}
