//! The IPMI commands oxcat sends, one function each (netfn and command from the IPMI 2.0 spec),
//! on top of the session; parsing uses ipmi-rs-core where it has a parser (Get Device ID, SDR
//! records, SEL entries) and is done here where it has none (chassis, boot options, FRU, LAN).

use super::session::Session;
use super::IpmiError;
use ipmi_rs_core::storage::sdr::record::{Record, RecordContents, WithSensorRecordCommon};

const NETFN_CHASSIS: u8 = 0x00;
const NETFN_SENSOR: u8 = 0x04;
const NETFN_APP: u8 = 0x06;
const NETFN_STORAGE: u8 = 0x0a;
const NETFN_TRANSPORT: u8 = 0x0c;

fn short(what: &str) -> IpmiError {
    IpmiError::Protocol(format!("short {what} answer"))
}

/// Get Chassis Status: true when the system power is on.
pub async fn power_is_on(s: &mut Session) -> Result<bool, IpmiError> {
    let d = s.request(NETFN_CHASSIS, 0x01, &[]).await?;
    Ok(d.first().ok_or_else(|| short("chassis status"))? & 0x01 != 0)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerAction {
    Off = 0,
    On = 1,
    Cycle = 2,
    Reset = 3,
    Soft = 5,
}

/// Chassis Control.
pub async fn chassis_control(s: &mut Session, a: PowerAction) -> Result<(), IpmiError> {
    s.request(NETFN_CHASSIS, 0x02, &[a as u8]).await.map(|_| ())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootDevice {
    Default = 0x00,
    Net = 0x04,
    Hd = 0x08,
    Cd = 0x14,
    Setup = 0x18,
    Floppy = 0x3c,
}

/// Set System Boot Options, parameter 5 (boot flags): the device for the next boot (or every boot
/// with `persistent`), in UEFI mode with `uefi`. `Default` clears the override.
pub async fn set_boot(s: &mut Session, dev: BootDevice, persistent: bool, uefi: bool) -> Result<(), IpmiError> {
    let flags = if dev == BootDevice::Default { 0 } else { 0x80 | (persistent as u8) << 6 | (uefi as u8) << 5 };
    s.request(NETFN_CHASSIS, 0x08, &[0x05, flags, dev as u8, 0, 0, 0]).await.map(|_| ())
}

/// The boot flags read back (Get System Boot Options, parameter 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootFlags {
    pub valid: bool,
    pub persistent: bool,
    pub uefi: bool,
    pub device: u8,
}

impl BootFlags {
    /// xCAT's words for the device.
    pub fn label(&self) -> &'static str {
        // ipmi_sim keeps the device but reports the valid bit clear: trust a set device selector.
        if !self.valid && self.device == 0 {
            return "boot override inactive";
        }
        match self.device {
            0x04 => "Network",
            0x08 => "Hard Drive",
            0x14 => "CD/DVD",
            0x18 => "BIOS Setup",
            0x3c => "Floppy",
            0x00 => "BIOS default",
            _ => "unknown boot device",
        }
    }
}

pub async fn get_boot(s: &mut Session) -> Result<BootFlags, IpmiError> {
    let d = s.request(NETFN_CHASSIS, 0x09, &[0x05, 0, 0]).await?;
    if d.len() < 4 {
        return Err(short("boot options"));
    }
    let (b1, b2) = (d[2], d[3]);
    Ok(BootFlags { valid: b1 & 0x80 != 0, persistent: b1 & 0x40 != 0, uefi: b1 & 0x20 != 0, device: b2 & 0x3c })
}

/// Get Device ID, parsed by ipmi-rs-core.
pub async fn device_id(s: &mut Session) -> Result<ipmi_rs_core::app::DeviceId, IpmiError> {
    let d = device_id_bytes(s).await?;
    ipmi_rs_core::app::DeviceId::from_data(&d).ok_or_else(|| short("device id"))
}

/// Get Device ID's answer as sent.
pub async fn device_id_bytes(s: &mut Session) -> Result<Vec<u8>, IpmiError> {
    s.request(NETFN_APP, 0x01, &[]).await
}

/// Get SDR Repository Info's 14 bytes: version, record count, free space, most recent addition
/// and erase timestamps, operation support.
pub async fn sdr_repository_info(s: &mut Session) -> Result<Vec<u8>, IpmiError> {
    let d = s.request(NETFN_STORAGE, 0x20, &[]).await?;
    if d.len() < 14 {
        return Err(short("SDR repository info"));
    }
    Ok(d[..14].to_vec())
}

/// Get System GUID, formatted as a UUID (the wire order is little-endian per SMBIOS).
pub async fn system_guid(s: &mut Session) -> Result<String, IpmiError> {
    let d = s.request(NETFN_APP, 0x37, &[]).await?;
    if d.len() < 16 {
        return Err(short("system GUID"));
    }
    let mut g: Vec<u8> = d[..16].iter().rev().copied().collect();
    g.truncate(16);
    Ok(format!("{}-{}-{}-{}-{}", hex(&g[0..4]), hex(&g[4..6]), hex(&g[6..8]), hex(&g[8..10]), hex(&g[10..16])))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Get LAN Configuration Parameters (channel 1): the BMC's MAC (parameter 5) and IP (parameter 3).
pub async fn lan_mac_and_ip(s: &mut Session) -> Result<(String, String), IpmiError> {
    let mac = s.request(NETFN_TRANSPORT, 0x02, &[0x01, 0x05, 0, 0]).await?;
    let ip = s.request(NETFN_TRANSPORT, 0x02, &[0x01, 0x03, 0, 0]).await?;
    if mac.len() < 7 || ip.len() < 5 {
        return Err(short("LAN configuration"));
    }
    let m: Vec<String> = mac[1..7].iter().map(|b| format!("{b:02x}")).collect();
    Ok((m.join(":"), format!("{}.{}.{}.{}", ip[1], ip[2], ip[3], ip[4])))
}

/// Reads FRU device 0 whole (Get FRU Inventory Area Info, then Read FRU Data in chunks).
pub async fn read_fru(s: &mut Session) -> Result<Vec<u8>, IpmiError> {
    let info = s.request(NETFN_STORAGE, 0x10, &[0]).await?;
    if info.len() < 2 {
        return Err(short("FRU area info"));
    }
    let size = u16::from_le_bytes([info[0], info[1]]) as usize;
    let mut data = Vec::with_capacity(size);
    let mut chunk = 24usize;
    while data.len() < size {
        let off = data.len() as u16;
        let n = chunk.min(size - data.len()) as u8;
        match s.request(NETFN_STORAGE, 0x11, &[0, off as u8, (off >> 8) as u8, n]).await {
            Ok(d) if d.len() > 1 && d[0] > 0 => data.extend(&d[1..1 + (d[0] as usize).min(d.len() - 1)]),
            Ok(_) => return Err(short("FRU data")),
            // "Cannot return requested number of bytes": ask for less.
            Err(IpmiError::Completion { code: 0xca, .. }) | Err(IpmiError::Completion { code: 0xc8, .. })
                if chunk > 8 =>
            {
                chunk /= 2
            }
            Err(e) => return Err(e),
        }
    }
    Ok(data)
}

/// Every SDR of the repository, each as raw bytes (header included). Records are read in chunks:
/// ipmi_sim answers a whole-record read with cah, which ipmi-rs turns into "no records".
pub async fn sdr_records(s: &mut Session) -> Result<Vec<Vec<u8>>, IpmiError> {
    let res = s.request(NETFN_STORAGE, 0x22, &[]).await?;
    if res.len() < 2 {
        return Err(short("reserve SDR"));
    }
    let (r0, r1) = (res[0], res[1]);
    let mut id: u16 = 0;
    let mut out = Vec::new();
    for _ in 0..4096 {
        let head = s.request(NETFN_STORAGE, 0x23, &[r0, r1, id as u8, (id >> 8) as u8, 0, 5]).await?;
        if head.len() < 7 {
            return Err(short("SDR header"));
        }
        let next = u16::from_le_bytes([head[0], head[1]]);
        let mut rec = head[2..7].to_vec();
        let len = rec[4] as usize + 5;
        while rec.len() < len {
            let off = rec.len() as u8;
            let n = (len - rec.len()).min(16) as u8;
            let d = s.request(NETFN_STORAGE, 0x23, &[r0, r1, id as u8, (id >> 8) as u8, off, n]).await?;
            if d.len() <= 2 {
                return Err(short("SDR data"));
            }
            rec.extend(&d[2..]);
        }
        out.push(rec);
        if next == 0xffff || next == id {
            break;
        }
        id = next;
    }
    Ok(out)
}

/// One sensor as read: its SDR's name and type, and the converted reading.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub name: String,
    /// SDR sensor type: 1 temperature, 2 voltage, 3 current, 4 fan, ...
    pub sensor_type: u8,
    /// The reading in the sensor's unit, None when unavailable.
    pub value: Option<f64>,
    /// IPMI base unit code (1 degrees C, 4 volts, 5 amps, 6 watts, 18 RPM, ...).
    pub unit: u8,
    /// Threshold status bits of Get Sensor Reading byte 3 (threshold sensors).
    pub thresholds: u8,
}

/// Reads every full (threshold) sensor of `sdrs` (parsed by ipmi-rs-core) with Get Sensor Reading.
pub async fn readings(s: &mut Session, sdrs: &[Vec<u8>]) -> Result<Vec<Reading>, IpmiError> {
    let mut out = Vec::new();
    for raw in sdrs {
        let Ok(rec) = Record::parse(raw) else { continue };
        let RecordContents::FullSensor(full) = &rec.contents else { continue };
        let common = full.common();
        let num = raw.get(7).copied().unwrap_or(0);
        let unit = raw.get(21).copied().unwrap_or(0);
        let name = common.sensor_id.to_string();
        let d = match s.request(NETFN_SENSOR, 0x2d, &[num]).await {
            Ok(d) => d,
            Err(IpmiError::Completion { code: 0xcb | 0xcd, .. }) => {
                out.push(Reading { name, sensor_type: raw[12], value: None, unit, thresholds: 0 });
                continue;
            }
            Err(e) => return Err(e),
        };
        // Byte 2 bit 5: reading unavailable; bit 6: scanning disabled.
        let available = d.len() >= 2 && d[1] & 0x20 == 0;
        let value = available.then(|| {
            let m = full.m as f64;
            let b = full.b as f64 * 10f64.powi(full.b_exponent as i32);
            let x = match full.analog_data_format {
                Some(ipmi_rs_core::storage::sdr::record::DataFormat::TwosComplement) => d[0] as i8 as f64,
                Some(ipmi_rs_core::storage::sdr::record::DataFormat::OnesComplement) => {
                    let v = d[0] as i8;
                    if v < 0 {
                        (v + 1) as f64
                    } else {
                        v as f64
                    }
                }
                _ => d[0] as f64,
            };
            (m * x + b) * 10f64.powi(full.result_exponent as i32)
        });
        out.push(Reading {
            name,
            sensor_type: raw[12],
            value,
            unit,
            thresholds: d.get(2).copied().unwrap_or(0) & 0x3f,
        });
    }
    Ok(out)
}

/// The raw 16-byte System Event Log entries, oldest first.
pub async fn sel_entries(s: &mut Session) -> Result<Vec<[u8; 16]>, IpmiError> {
    let info = s.request(NETFN_STORAGE, 0x40, &[]).await?;
    if info.len() < 3 {
        return Err(short("SEL info"));
    }
    let count = u16::from_le_bytes([info[1], info[2]]);
    let mut out = Vec::new();
    if count == 0 {
        return Ok(out);
    }
    let mut id: u16 = 0;
    for _ in 0..=count {
        let d = s.request(NETFN_STORAGE, 0x43, &[0, 0, id as u8, (id >> 8) as u8, 0, 0xff]).await?;
        if d.len() < 18 {
            return Err(short("SEL entry"));
        }
        out.push(d[2..18].try_into().expect("16 bytes"));
        let next = u16::from_le_bytes([d[0], d[1]]);
        if next == 0xffff {
            break;
        }
        id = next;
    }
    Ok(out)
}

/// Reserve SEL, then Clear SEL (initiate erase).
pub async fn sel_clear(s: &mut Session) -> Result<(), IpmiError> {
    let r = s.request(NETFN_STORAGE, 0x42, &[]).await?;
    if r.len() < 2 {
        return Err(short("reserve SEL"));
    }
    s.request(NETFN_STORAGE, 0x47, &[r[0], r[1], b'C', b'L', b'R', 0xaa]).await.map(|_| ())
}
