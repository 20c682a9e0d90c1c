//! Root device hints (the rootdevice attribute, in the style of Ironic's): which disk a deploy
//! writes to. `name=/dev/sdb` (or `sdb`), `serial=`, `wwn=`, `model=`, `vendor=`, `size=N` /
//! `size>=N` / `size<=N` (GiB), `rotational=true|false|1|0`, comma-separated; all must match.

use super::disks::Disk;
use std::fmt;

const ALLOWED: &str = "name, serial, wwn, model, vendor, size, rotational";

#[derive(Debug, Clone, PartialEq, Eq)]
enum Hint {
    Name(String),
    Serial(String),
    Wwn(String),
    /// The text, and whether it ended in `*` (then it is a prefix).
    Model(String, bool),
    Vendor(String, bool),
    Size(Cmp, u64),
    Rotational(bool),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmp {
    Eq,
    AtLeast,
    AtMost,
}

/// Parsed hints; empty means the default choice.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hints {
    text: String,
    hints: Vec<Hint>,
}

impl fmt::Display for Hints {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Hints {
    /// Parses `text`; an error names the hint and what it allows.
    pub fn parse(text: &str) -> Result<Hints, String> {
        let text = text.trim();
        let mut hints = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let bad = |what: &str| format!("rootdevice hint '{part}': {what}");
            let at = part.find(['=', '<', '>']).ok_or_else(|| bad(&format!("not KEY=VALUE (keys: {ALLOWED})")))?;
            let key = part[..at].trim();
            let (op, value) = match &part[at..] {
                v if v.starts_with(">=") => (Cmp::AtLeast, v[2..].trim()),
                v if v.starts_with("<=") => (Cmp::AtMost, v[2..].trim()),
                v if v.starts_with('=') => (Cmp::Eq, v[1..].trim()),
                _ => return Err(bad("the operator must be = (or >=, <= for size)")),
            };
            if op != Cmp::Eq && key != "size" {
                return Err(bad("only size takes >= or <="));
            }
            if value.is_empty() {
                return Err(bad("needs a value"));
            }
            let pattern = |v: &str| match v.strip_suffix('*') {
                Some(prefix) => (prefix.trim().to_string(), true),
                None => (v.to_string(), false),
            };
            hints.push(match key {
                "name" => Hint::Name(value.strip_prefix("/dev/").unwrap_or(value).to_string()),
                "serial" => Hint::Serial(value.to_string()),
                "wwn" => Hint::Wwn(value.to_string()),
                "model" => {
                    let (v, prefix) = pattern(value);
                    Hint::Model(v, prefix)
                }
                "vendor" => {
                    let (v, prefix) = pattern(value);
                    Hint::Vendor(v, prefix)
                }
                "size" => Hint::Size(
                    op,
                    value
                        .parse()
                        .map_err(|_| bad("size is a whole number of GiB (size=100, size>=100, size<=2000)"))?,
                ),
                "rotational" => Hint::Rotational(match value {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => return Err(bad("rotational is true, false, 1 or 0")),
                }),
                _ => return Err(bad(&format!("unknown hint '{key}' (allowed: {ALLOWED})"))),
            });
        }
        Ok(Hints { text: text.to_string(), hints })
    }

    pub fn is_empty(&self) -> bool {
        self.hints.is_empty()
    }

    /// Whether every hint matches `disk`.
    pub fn matches(&self, disk: &Disk) -> bool {
        self.hints.iter().all(|h| match h {
            Hint::Name(n) => disk.name == *n,
            Hint::Serial(s) => disk.serial == *s,
            Hint::Wwn(w) => disk.wwn == *w || wwn_digits(&disk.wwn) == wwn_digits(w),
            Hint::Model(m, prefix) => text_matches(&disk.model, m, *prefix),
            Hint::Vendor(v, prefix) => text_matches(&disk.vendor, v, *prefix),
            Hint::Size(Cmp::Eq, n) => disk.size_gib() == *n,
            Hint::Size(Cmp::AtLeast, n) => disk.size_gib() >= *n,
            Hint::Size(Cmp::AtMost, n) => disk.size_gib() <= *n,
            Hint::Rotational(r) => disk.rotational == *r,
        })
    }
}

fn text_matches(value: &str, want: &str, prefix: bool) -> bool {
    if prefix {
        value.starts_with(want)
    } else {
        value == want
    }
}

/// A WWN's hex digits: Ironic writes `0x5000c500a1b2c3d4`, Linux's wwid `naa.5000C500A1B2C3D4`.
fn wwn_digits(w: &str) -> String {
    let w = w.trim();
    let w = ["naa.", "eui.", "0x"].iter().find_map(|p| w.strip_prefix(p)).unwrap_or(w);
    w.to_ascii_lowercase()
}

fn names(disks: &[&Disk]) -> String {
    disks.iter().map(|d| d.name.as_str()).collect::<Vec<_>>().join(", ")
}

/// A size for people: whole GiB (as the size hints count), or MiB below one GiB.
pub fn human(bytes: u64) -> String {
    if bytes >= 1 << 30 {
        format!("{} GiB", bytes >> 30)
    } else {
        format!("{} MiB", bytes.div_ceil(1 << 20))
    }
}

/// What the node has, for a refusal: `sda 20 GiB, sdb 40 GiB removable`.
fn inventory(disks: &[Disk]) -> String {
    if disks.is_empty() {
        return "the node has no disks".to_string();
    }
    let each: Vec<String> = disks
        .iter()
        .map(|d| format!("{} {}{}", d.name, human(d.size), if d.removable { " removable" } else { "" }))
        .collect();
    format!("disks: {}", each.join(", "))
}

/// The disk to write an image of `image_size` bytes to: with hints, the one disk they match;
/// without, the smallest non-removable disk of at least the image size. Otherwise the reason.
pub fn choose<'a>(disks: &'a [Disk], hints: &Hints, image_size: u64) -> Result<&'a Disk, String> {
    if !hints.is_empty() {
        let found: Vec<&Disk> = disks.iter().filter(|d| hints.matches(d)).collect();
        return match found.as_slice() {
            [one] if one.size < image_size => Err(format!(
                "disk {} ({} bytes) that rootdevice \"{hints}\" chooses is smaller than the image ({image_size} bytes)",
                one.name, one.size
            )),
            [one] => Ok(one),
            [] => Err(format!("no disk matches rootdevice \"{hints}\" ({})", inventory(disks))),
            many => {
                Err(format!("{} disks match rootdevice \"{hints}\" ({}): add serial= or wwn=", many.len(), names(many)))
            }
        };
    }
    let fitting = disks.iter().filter(|d| !d.removable && d.size >= image_size);
    let Some(smallest) = fitting.clone().map(|d| d.size).min() else {
        return Err(format!(
            "no non-removable disk of at least {} (the image's size, {image_size} bytes; {})",
            human(image_size),
            inventory(disks)
        ));
    };
    let tied: Vec<&Disk> = fitting.filter(|d| d.size == smallest).collect();
    match tied.as_slice() {
        [one] => Ok(one),
        many => Err(format!(
            "{} disks of the same size fit the image ({}): set rootdevice, e.g. serial= or wwn=",
            many.len(),
            names(many)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disk(name: &str, gib: u64, rotational: bool, removable: bool, serial: &str) -> Disk {
        Disk {
            name: name.into(),
            size: gib << 30,
            rotational,
            removable,
            model: format!("QEMU HARDDISK {name}"),
            vendor: "ATA".into(),
            serial: serial.into(),
            wwn: format!("naa.5000C500A1B2C3D{}", name.as_bytes()[2] - b'a'),
        }
    }

    fn lab() -> Vec<Disk> {
        vec![
            disk("sda", 40, true, false, "S1"),
            disk("sdb", 20, false, false, "S2"),
            disk("sdc", 20, false, false, "S3"),
            disk("sdd", 8, false, true, "USB1"),
        ]
    }

    fn pick(hints: &str) -> Result<String, String> {
        let disks = lab();
        choose(&disks, &Hints::parse(hints)?, 1 << 30).map(|d| d.name.clone())
    }

    #[test]
    fn hints_choose_exactly_one_disk() {
        assert_eq!(pick("name=/dev/sdb"), Ok("sdb".into()));
        assert_eq!(pick("name=sdc"), Ok("sdc".into()));
        assert_eq!(pick("serial=S3"), Ok("sdc".into()));
        assert_eq!(pick(" serial = S3 "), Ok("sdc".into()));
        assert_eq!(pick("wwn=0x5000c500a1b2c3d0"), Ok("sda".into()));
        assert_eq!(pick("wwn=naa.5000C500A1B2C3D2"), Ok("sdc".into()));
        assert_eq!(pick("rotational=true"), Ok("sda".into()));
        assert_eq!(pick("rotational=0,size=20,model=QEMU HARDDISK sdb"), Ok("sdb".into()));
        assert_eq!(pick("size>=30"), Ok("sda".into()));
        assert_eq!(pick("size<=10"), Ok("sdd".into()));
        assert_eq!(pick("model=QEMU*,vendor=ATA,rotational=1"), Ok("sda".into()));
        assert_eq!(pick("vendor=AT*,serial=USB1"), Ok("sdd".into()));
    }

    #[test]
    fn no_match_and_ambiguity_are_refused_naming_the_disks() {
        assert_eq!(
            pick("serial=nope"),
            Err("no disk matches rootdevice \"serial=nope\" (disks: sda 40 GiB, sdb 20 GiB, sdc 20 GiB, sdd 8 GiB removable)"
                .into())
        );
        assert_eq!(pick("size=20"), Err("2 disks match rootdevice \"size=20\" (sdb, sdc): add serial= or wwn=".into()));
        // Exact, case-sensitive, no prefix without `*`.
        assert!(pick("vendor=ata").is_err());
        assert!(pick("model=QEMU").is_err());
        let disks = lab();
        assert_eq!(
            choose(&disks, &Hints::parse("name=sdd").unwrap(), 9 << 30).map(|d| d.name.clone()),
            Err("disk sdd (8589934592 bytes) that rootdevice \"name=sdd\" chooses is smaller than the image (9663676416 bytes)"
                .into())
        );
        assert!(choose(&[], &Hints::parse("name=sda").unwrap(), 1).unwrap_err().contains("the node has no disks"));
    }

    #[test]
    fn without_hints_the_smallest_fixed_disk_that_fits_wins() {
        let disks = lab();
        let none = Hints::parse("").unwrap();
        // sdd (removable) is smallest; sdb and sdc tie at 20 GiB.
        assert_eq!(
            choose(&disks, &none, 1 << 30).map(|d| d.name.clone()),
            Err("2 disks of the same size fit the image (sdb, sdc): set rootdevice, e.g. serial= or wwn=".into())
        );
        assert_eq!(choose(&disks, &none, 21 << 30).map(|d| d.name.clone()), Ok("sda".into()));
        assert_eq!(choose(&disks[..2], &none, 1 << 30).map(|d| d.name.clone()), Ok("sdb".into()));
        assert_eq!(
            choose(&disks, &none, 41 << 30).map(|d| d.name.clone()),
            Err("no non-removable disk of at least 41 GiB (the image's size, 44023414784 bytes; disks: sda 40 GiB, sdb 20 GiB, sdc 20 GiB, sdd 8 GiB removable)"
                .into())
        );
    }

    #[test]
    fn bad_hints_name_the_hint_and_what_is_allowed() {
        let err = |t: &str| Hints::parse(t).unwrap_err();
        assert_eq!(err("colour=red"), "rootdevice hint 'colour=red': unknown hint 'colour' (allowed: name, serial, wwn, model, vendor, size, rotational)");
        assert_eq!(
            err("size=big"),
            "rootdevice hint 'size=big': size is a whole number of GiB (size=100, size>=100, size<=2000)"
        );
        assert_eq!(err("size>100"), "rootdevice hint 'size>100': the operator must be = (or >=, <= for size)");
        assert_eq!(err("rotational=yes"), "rootdevice hint 'rotational=yes': rotational is true, false, 1 or 0");
        assert_eq!(err("serial>=3"), "rootdevice hint 'serial>=3': only size takes >= or <=");
        assert_eq!(err("serial="), "rootdevice hint 'serial=': needs a value");
        assert_eq!(
            err("sda"),
            "rootdevice hint 'sda': not KEY=VALUE (keys: name, serial, wwn, model, vendor, size, rotational)"
        );
        assert!(Hints::parse(" , ").unwrap().is_empty());
    }
}
