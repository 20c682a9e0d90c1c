//! What each hardware command does with a Redfish service, reported in the same words as over
//! IPMI (`on`, `Network`, `CPU Temp: 45 C (113 F)`, `System Serial Number: ...`). The system is
//! the Systems collection's first member, its chassis and manager the ones it links to.

use super::client::{odata_id, Client};
use super::{RedfishError as E, Target};
use crate::hw::ipmi::cmds::{BootDevice, Reading};
use crate::hw::ops::{format_reading, Fact, Inventory, Op, Power, Vitals};
use serde_json::{json, Value};

fn fact(value: impl Into<String>) -> Fact {
    Fact { label: None, value: value.into() }
}

fn labelled(label: impl Into<String>, value: impl Into<String>) -> Fact {
    Fact { label: Some(label.into()), value: value.into() }
}

/// Logs in, performs `op`, and always logs out, also after an error.
pub async fn perform(target: &Target, op: Op) -> Result<Vec<Fact>, E> {
    let mut c = Client::open(target).await?;
    let r = run(&mut c, op).await;
    c.close().await;
    r
}

async fn run(c: &mut Client, op: Op) -> Result<Vec<Fact>, E> {
    match op {
        Op::Power(p) => power(c, p).await.map(|w| vec![fact(w)]),
        Op::Boot { device, persistent, uefi } => boot(c, device.map(Boot::Device), persistent, uefi).await,
        Op::HttpBoot { uri, persistent } => boot(c, Some(Boot::Http(uri)), persistent, true).await,
        Op::Media { url, persistent, uefi } => media(c, url, persistent, uefi).await,
        Op::Inventory(what) => inventory(c, what).await,
        Op::Vitals(what) => vitals(c, what).await,
        Op::EventLog { last } => event_log(c, last).await,
        Op::ClearEventLog => clear_event_log(c).await,
        Op::Validate => {
            let (_, sys) = system(c).await?;
            let version = c.root["RedfishVersion"].as_str().unwrap_or("?").to_string();
            let name = sys["Id"].as_str().unwrap_or("?").to_string();
            Ok(vec![fact(format!("BMC answers (Redfish {version}, system {name})"))])
        }
    }
}

/// A link of the service root, or what the command cannot do without it.
fn root_link(c: &Client, name: &str) -> Result<String, E> {
    odata_id(&c.root[name]).ok_or_else(|| E::Unsupported(format!("the Redfish service has no {name}")))
}

/// The system's path and resource: the member of the Systems collection ipmi.bmcsystem names,
/// else the only one. A service with several and no choice made is refused: guessing could
/// power off another node.
async fn system(c: &mut Client) -> Result<(String, Value), E> {
    let systems = root_link(c, "Systems")?;
    let members = c.members(&systems).await?;
    let id_of = |p: &String| p.trim_end_matches('/').rsplit('/').next().unwrap_or("").to_string();
    let ids = || members.iter().map(id_of).collect::<Vec<_>>().join(", ");
    let path = match c.system_id() {
        Some(want) => members.iter().find(|p| id_of(p) == want).cloned().ok_or_else(|| {
            E::Unsupported(format!("bmcsystem: the Redfish service has no system '{want}' (its systems: {})", ids()))
        })?,
        None => match members.as_slice() {
            [one] => one.clone(),
            [] => return Err(E::Unsupported("the Redfish service lists no system".into())),
            many => {
                return Err(E::Unsupported(format!(
                    "bmcsystem: the Redfish service manages {} systems ({}): set the node's bmcsystem to its own",
                    many.len(),
                    ids()
                )))
            }
        },
    };
    let v = c.get(&path).await?;
    Ok((path, v))
}

/// The first link of `links[name]` on a resource, else the collection's first member.
async fn linked(c: &mut Client, res: &Value, name: &str) -> Result<Option<String>, E> {
    if let Some(p) = res["Links"][name].as_array().and_then(|a| a.first()).and_then(odata_id) {
        return Ok(Some(p));
    }
    let coll = if name == "ManagedBy" { "Managers" } else { name };
    match odata_id(&c.root[coll]) {
        Some(p) => Ok(c.members(&p).await?.into_iter().next()),
        None => Ok(None),
    }
}

/// `@Redfish.AllowableValues` for a property, when the service states them.
fn allowed(res: &Value, prop: &str) -> Option<Vec<String>> {
    res[format!("{prop}@Redfish.AllowableValues")]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
}

fn is_on(sys: &Value) -> Result<bool, E> {
    match sys["PowerState"].as_str() {
        Some("On" | "PoweringOff") => Ok(true),
        Some("Off" | "PoweringOn") => Ok(false),
        Some(other) => Err(E::Protocol(format!("unknown PowerState '{other}'"))),
        None => Err(E::Unsupported("the system reports no PowerState".into())),
    }
}

/// The ResetType values the Reset action takes: its AllowableValues, else its ActionInfo's.
async fn reset_types(c: &mut Client, action: &Value) -> Result<Option<Vec<String>>, E> {
    if let Some(a) = allowed(action, "ResetType") {
        return Ok(Some(a));
    }
    if let Some(info) = action["@Redfish.ActionInfo"].as_str() {
        let info = c.get(info).await?;
        let p = info["Parameters"].as_array().and_then(|ps| ps.iter().find(|p| p["Name"] == "ResetType"));
        if let Some(vals) = p.and_then(|p| p["AllowableValues"].as_array()) {
            return Ok(Some(vals.iter().filter_map(|v| v.as_str().map(str::to_string)).collect()));
        }
    }
    Ok(None)
}

/// xCAT's power semantics as over IPMI: no request when the node is already in the asked state;
/// `boot` powers on a node that is off and resets one that is on. Each action takes the first
/// ResetType of its list that the service allows.
async fn power(c: &mut Client, p: Power) -> Result<&'static str, E> {
    let (path, sys) = system(c).await?;
    let on = is_on(&sys)?;
    let (types, word): (&[&str], _) = match (p, on) {
        (Power::Stat, true) | (Power::On, true) => return Ok("on"),
        (Power::Stat, false) | (Power::Off | Power::Softoff | Power::Reset, false) => return Ok("off"),
        (Power::On | Power::Boot | Power::Cycle, false) => (&["On", "ForceOn"], "on"),
        (Power::Off, true) => (&["ForceOff"], "off"),
        (Power::Softoff, true) => (&["GracefulShutdown"], "softoff"),
        (Power::Reset | Power::Boot, true) => (&["ForceRestart", "GracefulRestart"], "reset"),
        (Power::Cycle, true) => (&["PowerCycle", "ForceRestart"], "cycle"),
    };
    let action = sys["Actions"]["#ComputerSystem.Reset"].clone();
    let target = action["target"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| E::Unsupported(format!("{path} has no ComputerSystem.Reset action")))?;
    let reset = match reset_types(c, &action).await? {
        None => types[0],
        Some(ok) => *types.iter().find(|t| ok.iter().any(|a| a == *t)).ok_or_else(|| {
            E::Unsupported(format!(
                "ResetType {} is not allowed by the BMC (allowed: {})",
                types.join(" or "),
                ok.join(", ")
            ))
        })?,
    };
    c.post(&target, &json!({ "ResetType": reset })).await?;
    Ok(word)
}

#[derive(Debug, Clone, Copy)]
enum Boot {
    Device(BootDevice),
    Http(&'static str),
}

fn boot_label(b: &Value) -> String {
    let target = b["BootSourceOverrideTarget"].as_str().unwrap_or("None");
    if b["BootSourceOverrideEnabled"] == "Disabled" || target == "None" {
        return "boot override inactive".into();
    }
    let mut s = match target {
        "Pxe" => "Network".to_string(),
        "Hdd" => "Hard Drive".into(),
        "Cd" => "CD/DVD".into(),
        "BiosSetup" => "BIOS Setup".into(),
        "Floppy" => "Floppy".into(),
        "UefiHttp" => "HTTP boot".into(),
        "Usb" => "USB".into(),
        other => other.to_string(),
    };
    if let Some(uri) = b["HttpBootUri"].as_str().filter(|u| !u.is_empty() && *u != "None") {
        s.push_str(&format!(" (HttpBootUri {uri})"));
    }
    s
}

/// Sets the boot override (target, Once or Continuous, UEFI with -u) through a PATCH of the
/// system's Boot, checking each value against the service's AllowableValues, then reads it back.
async fn boot(c: &mut Client, what: Option<Boot>, persistent: bool, uefi: bool) -> Result<Vec<Fact>, E> {
    let (path, sys) = system(c).await?;
    if let Some(what) = what {
        let b = &sys["Boot"];
        let check = |prop: &str, v: &str| -> Result<(), E> {
            match allowed(b, prop) {
                Some(ok) if !ok.iter().any(|a| a == v) => {
                    Err(E::Unsupported(format!("{prop} {v} is not allowed by the BMC (allowed: {})", ok.join(", "))))
                }
                _ => Ok(()),
            }
        };
        let mut patch = serde_json::Map::new();
        let target = match what {
            Boot::Device(BootDevice::Default) => None,
            Boot::Device(BootDevice::Net) => Some("Pxe"),
            Boot::Device(BootDevice::Hd) => Some("Hdd"),
            Boot::Device(BootDevice::Cd) => Some("Cd"),
            Boot::Device(BootDevice::Setup) => Some("BiosSetup"),
            Boot::Device(BootDevice::Floppy) => Some("Floppy"),
            Boot::Http(_) => Some("UefiHttp"),
        };
        match target {
            None => {
                patch.insert("BootSourceOverrideEnabled".into(), "Disabled".into());
                patch.insert("BootSourceOverrideTarget".into(), "None".into());
            }
            Some(t) => {
                check("BootSourceOverrideTarget", t)?;
                let enabled = if persistent { "Continuous" } else { "Once" };
                check("BootSourceOverrideEnabled", enabled)?;
                patch.insert("BootSourceOverrideTarget".into(), t.into());
                patch.insert("BootSourceOverrideEnabled".into(), enabled.into());
                if uefi {
                    check("BootSourceOverrideMode", "UEFI")?;
                    patch.insert("BootSourceOverrideMode".into(), "UEFI".into());
                }
            }
        }
        if let Boot::Http(uri) = what {
            if b.get("HttpBootUri").is_none() {
                return Err(E::Unsupported("the BMC does not take an HTTP boot URI (no Boot.HttpBootUri)".into()));
            }
            patch.insert("HttpBootUri".into(), uri.into());
        }
        c.patch(&path, &json!({ "Boot": patch })).await?;
    }
    let sys = c.get(&path).await?;
    Ok(vec![fact(boot_label(&sys["Boot"]))])
}

/// The virtual CD/DVD drive: the system's VirtualMedia (Redfish 2021.1 on), else its manager's.
async fn virtual_cd(c: &mut Client, sys: &Value) -> Result<(String, Value), E> {
    let mut collections: Vec<String> = odata_id(&sys["VirtualMedia"]).into_iter().collect();
    if let Some(m) = linked(c, sys, "ManagedBy").await? {
        let mgr = c.get(&m).await?;
        collections.extend(odata_id(&mgr["VirtualMedia"]));
    }
    for coll in collections {
        let Ok(drives) = c.members(&coll).await else { continue };
        for d in drives {
            let v = c.get(&d).await?;
            let types = v["MediaTypes"].as_array().cloned().unwrap_or_default();
            if types.iter().any(|t| t == "CD" || t == "DVD") {
                return Ok((d, v));
            }
        }
    }
    Err(E::Unsupported("the BMC has no virtual CD/DVD drive (VirtualMedia with MediaTypes CD or DVD)".into()))
}

/// VirtualMedia.EjectMedia, or a PATCH where the drive has no such action.
async fn eject(c: &mut Client, path: &str, drive: &Value) -> Result<(), E> {
    match drive["Actions"]["#VirtualMedia.EjectMedia"]["target"].as_str() {
        Some(t) => c.post(t, &json!({})).await.map(|_| ()),
        None => c.patch(path, &json!({"Image": null, "Inserted": false})).await.map(|_| ()),
    }
}

/// Inserts the ISO at `url` (ejecting what was there) and sets a boot from the CD; or ejects.
async fn media(c: &mut Client, url: Option<&str>, persistent: bool, uefi: bool) -> Result<Vec<Fact>, E> {
    let (_, sys) = system(c).await?;
    let (path, drive) = virtual_cd(c, &sys).await?;
    let Some(url) = url else {
        if drive["Inserted"] == true {
            eject(c, &path, &drive).await?;
        }
        return Ok(vec![fact("virtual media ejected")]);
    };
    if drive["Inserted"] == true {
        eject(c, &path, &drive).await?;
    }
    let body = json!({"Image": url, "Inserted": true, "WriteProtected": true});
    match drive["Actions"]["#VirtualMedia.InsertMedia"]["target"].as_str() {
        Some(t) => c.post(t, &body).await.map(|_| ())?,
        None => c.patch(&path, &body).await.map(|_| ())?,
    }
    let facts = boot(c, Some(Boot::Device(BootDevice::Cd)), persistent, uefi).await?;
    let drive = c.get(&path).await?;
    let image = text(&drive["Image"]).unwrap_or_default();
    if drive["Inserted"] != true || image != url {
        return Err(E::Protocol(format!(
            "{path} reads back Image '{image}', Inserted {}, not {url}",
            drive["Inserted"]
        )));
    }
    Ok(facts.into_iter().map(|f| fact(format!("{} (virtual media {image})", f.value))).collect())
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The members of a linked collection, each read (inline members are used as they are).
async fn each_member(c: &mut Client, coll: &str) -> Result<Vec<Value>, E> {
    let list = c.get(coll).await?;
    let mut out = Vec::new();
    for m in list["Members"].as_array().cloned().unwrap_or_default() {
        let full = m.as_object().is_some_and(|o| o.len() > 1);
        match odata_id(&m) {
            Some(p) if !full => out.push(c.get(&p).await?),
            _ => out.push(m),
        }
    }
    Ok(out)
}

/// A linked collection's members; a collection the service lacks or fails on counts as empty
/// under `all`, like FRU-less BMCs over IPMI.
async fn optional_members(c: &mut Client, res: &Value, name: &str, all: bool) -> Result<Vec<Value>, E> {
    let Some(p) = odata_id(&res[name]) else { return Ok(Vec::new()) };
    match each_member(c, &p).await {
        Ok(v) => Ok(v),
        Err(E::Http { .. }) if all => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

async fn inventory(c: &mut Client, what: Inventory) -> Result<Vec<Fact>, E> {
    use Inventory::*;
    let (_, sys) = system(c).await?;
    let all = what == All;
    let want = |w: &[Inventory]| what == All || w.contains(&what);
    let mut out = Vec::new();
    let add = |out: &mut Vec<Fact>, label: &str, v: &Value| {
        if let Some(t) = text(v) {
            out.push(labelled(label, t));
        }
    };
    if want(&[Model, Vpd]) {
        add(&mut out, "System Manufacturer", &sys["Manufacturer"]);
        add(&mut out, "System Description", &sys["Name"]);
        add(&mut out, "System Model/MTM", &sys["Model"]);
        add(&mut out, "System Part Number", &sys["PartNumber"]);
    }
    if want(&[Serial, Vpd]) {
        add(&mut out, "System Serial Number", &sys["SerialNumber"]);
    }
    if want(&[Asset]) {
        add(&mut out, "System Asset Number", &sys["AssetTag"]);
    }
    if want(&[Guid]) {
        add(&mut out, "UUID/GUID", &sys["UUID"]);
    }
    if want(&[Firm, Vpd, DeviceId]) {
        if want(&[Firm, Vpd]) {
            add(&mut out, "BIOS Version", &sys["BiosVersion"]);
        }
        if let Some(m) = linked(c, &sys, "ManagedBy").await? {
            let mgr = c.get(&m).await?;
            if want(&[Firm, Vpd]) {
                add(&mut out, "BMC Firmware", &mgr["FirmwareVersion"]);
            }
            if want(&[DeviceId, Vpd]) {
                add(&mut out, "BMC Model", &mgr["Model"]);
                add(&mut out, "BMC UUID", &mgr["UUID"]);
                add(&mut out, "Manager ID", &mgr["Id"]);
            }
        }
    }
    if all {
        add(&mut out, "Processor Count", &sys["ProcessorSummary"]["Count"]);
        for (i, p) in optional_members(c, &sys, "Processors", all).await?.iter().enumerate() {
            let mut s = text(&p["Model"]).unwrap_or_else(|| "unknown model".into());
            if let Some(n) = text(&p["TotalCores"]) {
                s.push_str(&format!(" ({n} cores)"));
            }
            out.push(labelled(format!("CPU {}", i + 1), s));
        }
        if let Some(g) = text(&sys["MemorySummary"]["TotalSystemMemoryGiB"]) {
            out.push(labelled("Total Memory", format!("{g} GiB")));
        }
        for (i, d) in optional_members(c, &sys, "Memory", all).await?.iter().enumerate() {
            if let Some(mib) = text(&d["CapacityMiB"]) {
                out.push(labelled(format!("DIMM {}", i + 1), format!("{mib} MiB")));
            }
        }
    }
    if want(&[Mac]) {
        let nics = optional_members(c, &sys, "EthernetInterfaces", all).await?;
        let macs: Vec<String> =
            nics.iter().filter_map(|n| text(&n["MACAddress"]).or(text(&n["PermanentMACAddress"]))).collect();
        if macs.is_empty() && !all {
            return Err(E::Unsupported("the system lists no EthernetInterfaces with a MAC".into()));
        }
        for (i, m) in macs.iter().enumerate() {
            out.push(labelled(format!("MAC Address {}", i + 1), m.to_lowercase()));
        }
    }
    Ok(out)
}

/// The IPMI sensor type and unit codes of a Redfish reading, so both protocols print readings
/// through one formatter.
fn reading(name: &str, value: &Value, kind: u8, unit: u8, res: &Value) -> Reading {
    let v = value.as_f64();
    let over = |k: &str| v.zip(res[k].as_f64()).is_some_and(|(v, t)| v >= t);
    let under = |k: &str| v.zip(res[k].as_f64()).is_some_and(|(v, t)| v <= t);
    let thresholds = if over("UpperThresholdFatal") {
        0x20
    } else if over("UpperThresholdCritical") {
        0x10
    } else if over("UpperThresholdNonCritical") {
        0x08
    } else if under("LowerThresholdFatal") {
        0x04
    } else if under("LowerThresholdCritical") {
        0x02
    } else if under("LowerThresholdNonCritical") {
        0x01
    } else {
        0
    };
    Reading { name: name.to_string(), sensor_type: kind, value: v, unit, thresholds }
}

const TEMP: u8 = 0x01;
const VOLT: u8 = 0x02;
const FAN: u8 = 0x04;
const POWER: u8 = 0x08;

/// Readings from the chassis' Sensors collection where the service has one (Redfish 2018.3 on),
/// else from its Thermal and Power resources.
async fn readings(c: &mut Client, chassis: &Value) -> Result<Vec<Reading>, E> {
    let mut out = Vec::new();
    if let Some(p) = odata_id(&chassis["Sensors"]) {
        for s in each_member(c, &p).await? {
            let name = text(&s["Name"]).or(text(&s["Id"])).unwrap_or_default();
            let th = &s["Thresholds"];
            // Sensor thresholds are objects with a Reading each; flatten to the Thermal names.
            let flat = json!({
                "UpperThresholdFatal": th["UpperFatal"]["Reading"],
                "UpperThresholdCritical": th["UpperCritical"]["Reading"],
                "UpperThresholdNonCritical": th["UpperCaution"]["Reading"],
                "LowerThresholdFatal": th["LowerFatal"]["Reading"],
                "LowerThresholdCritical": th["LowerCritical"]["Reading"],
                "LowerThresholdNonCritical": th["LowerCaution"]["Reading"],
            });
            let (kind, unit) = match s["ReadingType"].as_str().unwrap_or("") {
                "Temperature" => (TEMP, 1),
                "Voltage" => (VOLT, 4),
                "Power" => (POWER, 6),
                "Current" => (0x03, 5),
                "Rotational" => (FAN, if s["ReadingUnits"] == "%" { 0 } else { 18 }),
                _ => (0, 0),
            };
            out.push(reading(&name, &s["Reading"], kind, unit, &flat));
        }
        return Ok(out);
    }
    let thermal = match odata_id(&chassis["Thermal"]) {
        Some(p) => Some(c.get(&p).await?),
        None => None,
    };
    if let Some(t) = &thermal {
        for s in t["Temperatures"].as_array().into_iter().flatten() {
            out.push(reading(&text(&s["Name"]).unwrap_or_default(), &s["ReadingCelsius"], TEMP, 1, s));
        }
        for f in t["Fans"].as_array().into_iter().flatten() {
            let name = text(&f["Name"]).or(text(&f["FanName"])).unwrap_or_default();
            let unit = if f["ReadingUnits"] == "Percent" { 0 } else { 18 };
            out.push(reading(&name, &f["Reading"], FAN, unit, f));
        }
    }
    if let Some(p) = odata_id(&chassis["Power"]) {
        let pw = c.get(&p).await?;
        for v in pw["Voltages"].as_array().into_iter().flatten() {
            out.push(reading(&text(&v["Name"]).unwrap_or_default(), &v["ReadingVolts"], VOLT, 4, v));
        }
        for pc in pw["PowerControl"].as_array().into_iter().flatten() {
            let name = text(&pc["Name"]).unwrap_or_else(|| "System Power".into());
            out.push(reading(&name, &pc["PowerConsumedWatts"], POWER, 6, &Value::Null));
        }
    }
    Ok(out)
}

async fn vitals(c: &mut Client, what: Vitals) -> Result<Vec<Fact>, E> {
    let (_, sys) = system(c).await?;
    let mut out = Vec::new();
    if matches!(what, Vitals::Power | Vitals::All) {
        out.push(labelled("Power Status", if is_on(&sys)? { "on" } else { "off" }));
    }
    if what == Vitals::Leds {
        return match text(&sys["IndicatorLED"]) {
            Some(led) => Ok(vec![labelled("Identify LED", led)]),
            None => Err(E::Unsupported("the system reports no IndicatorLED".into())),
        };
    }
    let Some(ch) = linked(c, &sys, "Chassis").await? else {
        return Err(E::Unsupported("the Redfish service lists no chassis".into()));
    };
    let chassis = c.get(&ch).await?;
    let mut rs = readings(c, &chassis).await?;
    rs.sort_by(|a, b| a.name.cmp(&b.name));
    for r in rs {
        let keep = match what {
            Vitals::All => true,
            Vitals::Temp => r.sensor_type == TEMP,
            Vitals::Voltage => r.sensor_type == VOLT,
            Vitals::Wattage | Vitals::Power => r.unit == 6,
            Vitals::Fanspeed => r.sensor_type == FAN,
            Vitals::Leds => false,
        };
        if keep {
            let value = if r.unit == 0 && r.sensor_type == FAN {
                r.value.map(|v| format!("{v}%")).unwrap_or_else(|| "N/A".into())
            } else {
                format_reading(&r)
            };
            out.push(labelled(r.name.clone(), value));
        }
    }
    Ok(out)
}

/// The event log: the first LogService with entries, the manager's (the SEL on most BMCs) before
/// the system's.
async fn log_service(c: &mut Client) -> Result<(String, Value), E> {
    let (_, sys) = system(c).await?;
    let mut owners = Vec::new();
    if let Some(m) = linked(c, &sys, "ManagedBy").await? {
        owners.push(c.get(&m).await?);
    }
    owners.push(sys);
    for o in owners {
        let Some(coll) = odata_id(&o["LogServices"]) else { continue };
        let Ok(services) = c.members(&coll).await else { continue };
        for s in services {
            let v = c.get(&s).await?;
            if v.get("Entries").is_some() {
                return Ok((s, v));
            }
        }
    }
    Err(E::Unsupported("the Redfish service has no LogServices with entries".into()))
}

/// `MM/DD/YYYY HH:MM:SS Severity Message`, the IPMI SEL line's shape.
fn format_entry(e: &Value) -> String {
    let when = e["Created"]
        .as_str()
        .and_then(|t| {
            let (d, rest) = t.split_once('T')?;
            let mut p = d.split('-');
            let (y, m, day) = (p.next()?, p.next()?, p.next()?);
            Some(format!("{m}/{day}/{y} {}", rest.get(..8)?))
        })
        .unwrap_or_else(|| "Pre-Init".into());
    let sev = text(&e["Severity"]).unwrap_or_else(|| "OK".into());
    let msg = text(&e["Message"]).unwrap_or_default();
    format!("{when} {sev} {msg}")
}

async fn event_log(c: &mut Client, last: Option<usize>) -> Result<Vec<Fact>, E> {
    let (_, svc) = log_service(c).await?;
    let entries_path = odata_id(&svc["Entries"]).unwrap_or_default();
    let entries = each_member(c, &entries_path).await?;
    let skip = last.map(|n| entries.len().saturating_sub(n)).unwrap_or(0);
    let mut out: Vec<Fact> = entries[skip..].iter().map(|e| fact(format_entry(e))).collect();
    if out.is_empty() {
        out.push(fact("no SEL entries"));
    }
    Ok(out)
}

async fn clear_event_log(c: &mut Client) -> Result<Vec<Fact>, E> {
    let (path, svc) = log_service(c).await?;
    let target = svc["Actions"]["#LogService.ClearLog"]["target"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| E::Unsupported(format!("{path} has no LogService.ClearLog action")))?;
    c.post(&target, &json!({})).await?;
    Ok(vec![fact("SEL cleared")])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_labels() {
        assert_eq!(
            boot_label(&json!({"BootSourceOverrideEnabled": "Once", "BootSourceOverrideTarget": "Pxe"})),
            "Network"
        );
        assert_eq!(
            boot_label(&json!({"BootSourceOverrideEnabled": "Disabled", "BootSourceOverrideTarget": "Pxe"})),
            "boot override inactive"
        );
        assert_eq!(
            boot_label(
                &json!({"BootSourceOverrideEnabled": "Once", "BootSourceOverrideTarget": "UefiHttp", "HttpBootUri": "http://h/x.efi"})
            ),
            "HTTP boot (HttpBootUri http://h/x.efi)"
        );
    }

    #[test]
    fn entries_in_sel_shape() {
        let e = json!({"Created": "2026-11-24T04:53:51+00:00", "Severity": "Critical", "Message": "CPU 1 over temperature"});
        assert_eq!(format_entry(&e), "11/24/2026 04:53:51 Critical CPU 1 over temperature");
    }

    #[test]
    fn thermal_thresholds() {
        let r = reading("CPU", &json!(95), TEMP, 1, &json!({"UpperThresholdCritical": 90, "UpperThresholdFatal": 100}));
        assert_eq!(format_reading(&r), "95 C (203 F) (At or above upper critical threshold)");
    }
}
