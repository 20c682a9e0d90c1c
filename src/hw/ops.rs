//! The hardware operations every BMC protocol performs (`Op`), the facts they report (`Fact`),
//! and what each does with one IPMI session, and the facts it reports, in xCAT's
//! words (`on`, `Network`, `CPU Temp: 45 C (113 F)`, `System Serial Number: ...`).

use super::ipmi::cmds::{self, BootDevice, PowerAction, Reading};
use super::ipmi::sdrcache::SdrCache;
use super::ipmi::session::{Session, Target};
use super::ipmi::{fru, IpmiError};
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::Arc;

/// One reported fact: `node: value` or `node: label: value`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fact {
    pub label: Option<String>,
    pub value: String,
}

fn fact(value: impl Into<String>) -> Fact {
    Fact { label: None, value: value.into() }
}

fn labelled(label: impl Into<String>, value: impl Into<String>) -> Fact {
    Fact { label: Some(label.into()), value: value.into() }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Power {
    On,
    Off,
    Softoff,
    Reset,
    Boot,
    Cycle,
    Stat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inventory {
    All,
    Model,
    Serial,
    Asset,
    Vpd,
    DeviceId,
    Guid,
    Firm,
    Mac,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vitals {
    Temp,
    Voltage,
    Wattage,
    Fanspeed,
    Power,
    Leds,
    All,
}

/// What to do on each node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Power(Power),
    Boot {
        device: Option<BootDevice>,
        persistent: bool,
        uefi: bool,
    },
    /// UEFI HTTP boot from a URI (Redfish's Boot.HttpBootUri). The URI is leaked once per command
    /// so that `Op` stays `Copy` for the fan-out.
    HttpBoot {
        uri: &'static str,
        persistent: bool,
    },
    /// Virtual media (Redfish): insert the ISO at `url` in the virtual CD/DVD and boot from it
    /// next (every boot with `persistent`); `url: None` ejects it.
    Media {
        url: Option<&'static str>,
        persistent: bool,
        uefi: bool,
    },
    Inventory(Inventory),
    Vitals(Vitals),
    EventLog {
        last: Option<usize>,
    },
    ClearEventLog,
    /// Log in and read the device id: checks address and credentials.
    Validate,
}

impl Op {
    /// Whether the operation needs more than User privilege: it changes the machine, or reads
    /// boot options or LAN configuration, which BMCs guard at Operator.
    fn needs_operator(self) -> bool {
        match self {
            Op::Power(p) => p != Power::Stat,
            Op::Boot { .. } | Op::HttpBoot { .. } | Op::Media { .. } => true,
            Op::Inventory(i) => matches!(i, Inventory::All | Inventory::Mac),
            Op::ClearEventLog => true,
            Op::Vitals(_) | Op::EventLog { .. } | Op::Validate => false,
        }
    }
}

/// Opens a session, performs `op`, and always closes the session, also after an error. Sensor
/// records come from `sdr_cache` when there is one.
pub async fn perform(target: Target, op: Op, sdr_cache: Option<Arc<SdrCache>>) -> Result<Vec<Fact>, IpmiError> {
    let mut s = Session::open(&target, op.needs_operator()).await?;
    let r = run(&mut s, op, target.addr, sdr_cache.as_deref()).await;
    s.close().await;
    r
}

async fn run(s: &mut Session, op: Op, bmc: SocketAddr, sdr_cache: Option<&SdrCache>) -> Result<Vec<Fact>, IpmiError> {
    match op {
        Op::Power(p) => power(s, p).await.map(|v| vec![fact(v)]),
        Op::Boot { device, persistent, uefi } => {
            if let Some(d) = device {
                cmds::set_boot(s, d, persistent, uefi).await?;
            }
            Ok(vec![fact(cmds::get_boot(s).await?.label())])
        }
        Op::HttpBoot { .. } => {
            Err(IpmiError::Protocol("a UEFI HTTP boot URI is set through Redfish only (nodehm.mgt=redfish)".into()))
        }
        Op::Media { .. } => {
            Err(IpmiError::Protocol("virtual media is driven through Redfish only (nodehm.mgt=redfish)".into()))
        }
        Op::Inventory(what) => inventory(s, what).await,
        Op::Vitals(what) => vitals(s, what, bmc, sdr_cache).await,
        Op::EventLog { last } => event_log(s, last).await,
        Op::ClearEventLog => cmds::sel_clear(s).await.map(|_| vec![fact("SEL cleared")]),
        Op::Validate => {
            let id = cmds::device_id(s).await?;
            Ok(vec![fact(format!("BMC answers (cipher suite {}, device id {})", s.suite().number(), id.device_id))])
        }
    }
}

/// xCAT's power semantics: no command when the node is already in the asked state; `boot` powers
/// on a node that is off and resets one that is on.
async fn power(s: &mut Session, p: Power) -> Result<&'static str, IpmiError> {
    let on = cmds::power_is_on(s).await?;
    let (action, word) = match (p, on) {
        (Power::Stat, true) => return Ok("on"),
        (Power::Stat, false) | (Power::Off | Power::Softoff | Power::Reset, false) => return Ok("off"),
        (Power::On, true) => return Ok("on"),
        (Power::On | Power::Boot | Power::Cycle, false) => (PowerAction::On, "on"),
        (Power::Off, true) => (PowerAction::Off, "off"),
        (Power::Softoff, true) => (PowerAction::Soft, "softoff"),
        (Power::Reset | Power::Boot, true) => (PowerAction::Reset, "reset"),
        (Power::Cycle, true) => (PowerAction::Cycle, "cycle"),
    };
    cmds::chassis_control(s, action).await?;
    Ok(word)
}

async fn inventory(s: &mut Session, what: Inventory) -> Result<Vec<Fact>, IpmiError> {
    use Inventory::*;
    let mut out = Vec::new();
    let want = |w: &[Inventory]| what == All || w.contains(&what);
    let fru_data = if want(&[Model, Serial, Asset, Vpd]) {
        match cmds::read_fru(s).await {
            Ok(d) => Some(d),
            // A BMC without FRU data still gets its other facts reported under `all`.
            Err(IpmiError::Completion { .. }) if what == All => None,
            Err(e) => return Err(e),
        }
    } else {
        None
    };
    if let Some(data) = fru_data {
        let f = fru::parse(&data).map_err(IpmiError::Protocol)?;
        let mut add = |label: &str, v: &Option<String>| {
            if let Some(v) = v {
                out.push(labelled(label, v.clone()));
            }
        };
        if want(&[Model, Vpd]) {
            add("System Manufacturer", &f.product_manufacturer);
            add("System Description", &f.product_name);
            add("System Model/MTM", &f.product_part);
            add("System Revision", &f.product_version);
        }
        if want(&[Serial, Vpd]) {
            add("System Serial Number", &f.product_serial);
            add("Chassis Serial Number", &f.chassis_serial);
        }
        if want(&[Asset]) {
            add("System Asset Number", &f.product_asset);
        }
        if what == All {
            add("Board manufacturer", &f.board_manufacturer);
            add("Board Product", &f.board_product);
            add("Board Serial Number", &f.board_serial);
            add("Board Part Number", &f.board_part);
            if let Some(m) = f.board_mfg_minutes {
                out.push(labelled("Board manufacture date", fru::board_date(m)));
            }
        }
    }
    if want(&[Guid]) {
        out.push(labelled("UUID/GUID", cmds::system_guid(s).await?));
    }
    if want(&[DeviceId, Firm, Vpd]) {
        let id = cmds::device_id(s).await?;
        if want(&[Firm, Vpd]) {
            out.push(labelled("BMC Firmware", format!("{}.{:02x}", id.major_fw_revision, id.minor_fw_revision)));
        }
        if want(&[DeviceId, Vpd]) {
            out.push(labelled("Manufacturer ID", id.manufacturer_id.to_string()));
            out.push(labelled("Product ID", id.product_id.to_string()));
            out.push(labelled("Device ID", id.device_id.to_string()));
        }
    }
    if want(&[Mac]) {
        match cmds::lan_mac_and_ip(s).await {
            Ok((mac, _)) => out.push(labelled("MAC Address 1", mac)),
            // A BMC without LAN parameters (the simulator) still gets its other facts reported.
            Err(IpmiError::Completion { .. }) if what == All => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// A reading in xCAT's form: `45 C (113 F)`, `12.05 Volts`, `3600 RPM`, `250 Watts (853 BTUs/hr)`.
pub fn format_reading(r: &Reading) -> String {
    let Some(v) = r.value else { return "N/A".to_string() };
    let num = |v: f64| if (v - v.round()).abs() < 1e-6 { format!("{}", v.round() as i64) } else { format!("{v:.2}") };
    let mut s = match r.unit {
        1 => format!("{} C ({} F)", num(v), num(v * 9.0 / 5.0 + 32.0)),
        2 => format!("{} F", num(v)),
        4 => format!("{} Volts", num(v)),
        5 => format!("{} Amps", num(v)),
        6 => format!("{} Watts ({} BTUs/hr)", num(v), num(v * 3.412_141_633)),
        18 => format!("{} RPM", num(v)),
        _ => num(v),
    };
    // Get Sensor Reading byte 3: the most severe threshold crossed.
    let state = match r.thresholds {
        t if t & 0x20 != 0 => Some("At or above upper non-recoverable threshold"),
        t if t & 0x10 != 0 => Some("At or above upper critical threshold"),
        t if t & 0x08 != 0 => Some("At or above upper non-critical threshold"),
        t if t & 0x04 != 0 => Some("At or below lower non-recoverable threshold"),
        t if t & 0x02 != 0 => Some("At or below lower critical threshold"),
        t if t & 0x01 != 0 => Some("At or below lower non-critical threshold"),
        _ => None,
    };
    if let Some(st) = state {
        s.push_str(&format!(" ({st})"));
    }
    s
}

async fn vitals(
    s: &mut Session,
    what: Vitals,
    bmc: SocketAddr,
    sdr_cache: Option<&SdrCache>,
) -> Result<Vec<Fact>, IpmiError> {
    let mut out = Vec::new();
    if matches!(what, Vitals::Power | Vitals::All) {
        let on = cmds::power_is_on(s).await?;
        out.push(labelled("Power Status", if on { "on" } else { "off" }));
    }
    if what == Vitals::Leds {
        return Err(IpmiError::Protocol("LED status is OEM-specific and not read over standard IPMI".into()));
    }
    let sdrs = match sdr_cache {
        Some(c) => c.records(s, bmc).await?,
        None => cmds::sdr_records(s).await?,
    };
    let mut readings = cmds::readings(s, &sdrs).await?;
    readings.sort_by(|a, b| a.name.cmp(&b.name));
    for r in readings {
        let keep = match what {
            Vitals::All => true,
            Vitals::Temp => r.sensor_type == 0x01,
            Vitals::Voltage => r.sensor_type == 0x02,
            Vitals::Wattage | Vitals::Power => r.unit == 6,
            Vitals::Fanspeed => r.sensor_type == 0x04,
            Vitals::Leds => false,
        };
        if keep {
            out.push(labelled(r.name.clone(), format_reading(&r)));
        }
    }
    Ok(out)
}

fn sensor_type_name(t: u8) -> String {
    match t {
        0x01 => "Temperature".into(),
        0x02 => "Voltage".into(),
        0x03 => "Current".into(),
        0x04 => "Fan".into(),
        0x05 => "Physical Security".into(),
        0x07 => "Processor".into(),
        0x08 => "Power Supply".into(),
        0x0c => "Memory".into(),
        0x0f => "System Firmware Progress".into(),
        0x10 => "Event Logging Disabled".into(),
        0x12 => "System Event".into(),
        0x13 => "Critical Interrupt".into(),
        0x1d => "System Boot Initiated".into(),
        0x20 => "OS Stop/Shutdown".into(),
        0x23 => "Watchdog 2".into(),
        other => format!("Sensor type {other:02x}h"),
    }
}

/// `MM/DD/YYYY HH:MM:SS Type #N event (Asserted|Deasserted)` per SEL entry.
pub fn format_sel(e: &[u8; 16]) -> String {
    let id = u16::from_le_bytes([e[0], e[1]]);
    if e[2] != 0x02 {
        return format!("{id:04x}: OEM record type {:02x}h", e[2]);
    }
    let ts = u32::from_le_bytes([e[3], e[4], e[5], e[6]]) as u64;
    let when =
        if ts < 0x2000_0000 { "Pre-Init".to_string() } else { format!("{}:{:02}", super::ipmi::fru::utc(ts), ts % 60) };
    let dir = if e[12] & 0x80 != 0 { "Deasserted" } else { "Asserted" };
    let event_type = e[12] & 0x7f;
    let offset = e[13] & 0x0f;
    let what = if event_type == 0x01 {
        const THRESH: [&str; 12] = [
            "Lower Non-critical going low",
            "Lower Non-critical going high",
            "Lower Critical going low",
            "Lower Critical going high",
            "Lower Non-recoverable going low",
            "Lower Non-recoverable going high",
            "Upper Non-critical going low",
            "Upper Non-critical going high",
            "Upper Critical going low",
            "Upper Critical going high",
            "Upper Non-recoverable going low",
            "Upper Non-recoverable going high",
        ];
        THRESH.get(offset as usize).map(|s| s.to_string()).unwrap_or_else(|| format!("offset {offset}"))
    } else {
        format!("event type {event_type:02x}h offset {offset}")
    };
    format!("{when} {} #{} {what} ({dir})", sensor_type_name(e[10]), e[11])
}

async fn event_log(s: &mut Session, last: Option<usize>) -> Result<Vec<Fact>, IpmiError> {
    let entries = cmds::sel_entries(s).await?;
    let skip = last.map(|n| entries.len().saturating_sub(n)).unwrap_or(0);
    let mut out: Vec<Fact> = entries[skip..].iter().map(|e| fact(format_sel(e))).collect();
    if out.is_empty() {
        out.push(fact("no SEL entries"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(unit: u8, v: f64, t: u8) -> Reading {
        Reading { name: "x".into(), sensor_type: 1, value: Some(v), unit, thresholds: t }
    }

    #[test]
    fn readings_in_xcat_form() {
        assert_eq!(format_reading(&r(1, 45.0, 0)), "45 C (113 F)");
        assert_eq!(format_reading(&r(4, 12.048, 0)), "12.05 Volts");
        assert_eq!(format_reading(&r(18, 3600.0, 0)), "3600 RPM");
        assert_eq!(format_reading(&r(6, 250.0, 0)), "250 Watts (853.04 BTUs/hr)");
        assert_eq!(format_reading(&r(1, 95.0, 0x18)), "95 C (203 F) (At or above upper critical threshold)");
        let na = Reading { value: None, ..r(1, 0.0, 0) };
        assert_eq!(format_reading(&na), "N/A");
    }

    #[test]
    fn sel_entries_in_words() {
        let mut e = [0u8; 16];
        e[2] = 0x02;
        e[3..7].copy_from_slice(&1_795_496_031u32.to_le_bytes());
        e[10] = 0x01;
        e[11] = 1;
        e[12] = 0x01;
        e[13] = 0x09;
        assert_eq!(format_sel(&e), "11/24/2026 04:53:51 Temperature #1 Upper Critical going high (Asserted)");
    }
}
