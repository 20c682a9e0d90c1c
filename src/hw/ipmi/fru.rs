//! FRU inventory (Platform Management FRU Information Storage Definition 1.0): parsing of the
//! chassis, board and product areas, and building an image (tests give one to the simulator).

/// The fields oxcat reports, by xCAT's labels.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Fru {
    pub chassis_part: Option<String>,
    pub chassis_serial: Option<String>,
    pub board_mfg_minutes: Option<u32>,
    pub board_manufacturer: Option<String>,
    pub board_product: Option<String>,
    pub board_serial: Option<String>,
    pub board_part: Option<String>,
    pub product_manufacturer: Option<String>,
    pub product_name: Option<String>,
    pub product_part: Option<String>,
    pub product_version: Option<String>,
    pub product_serial: Option<String>,
    pub product_asset: Option<String>,
}

/// Decodes one type/length field; returns the text (None when empty) and the bytes consumed.
fn field(data: &[u8]) -> Option<(Option<String>, usize)> {
    let tl = *data.first()?;
    if tl == 0xc1 {
        return None;
    }
    let len = (tl & 0x3f) as usize;
    let body = data.get(1..1 + len)?;
    let text = match tl >> 6 {
        0b11 => body.iter().map(|&b| b as char).collect::<String>(),
        0b10 => unpack6(body),
        0b01 => body.iter().flat_map(|b| [b >> 4, b & 0x0f]).map(bcd_plus).collect(),
        _ => body.iter().map(|b| format!("{b:02x}")).collect(),
    };
    let text = text.trim_end_matches(['\0', ' ']).to_string();
    Some((Some(text).filter(|t| !t.is_empty()), 1 + len))
}

fn bcd_plus(n: u8) -> char {
    match n {
        0..=9 => (b'0' + n) as char,
        0xa => ' ',
        0xb => '-',
        0xc => '.',
        _ => '?',
    }
}

/// 6-bit packed ASCII: four characters in three bytes, 0x20 offset.
fn unpack6(b: &[u8]) -> String {
    let mut bits: u32 = 0;
    let mut n = 0;
    let mut out = String::new();
    for &byte in b {
        bits |= (byte as u32) << n;
        n += 8;
        while n >= 6 {
            out.push(((bits & 0x3f) as u8 + 0x20) as char);
            bits >>= 6;
            n -= 6;
        }
    }
    out
}

/// Reads the fields of an area that starts at `start` (after its fixed bytes `skip`).
fn fields(data: &[u8], start: usize, skip: usize, max: usize) -> Vec<Option<String>> {
    let mut out = Vec::new();
    let mut i = start + skip;
    while out.len() < max {
        match data.get(i..).and_then(field) {
            Some((text, used)) => {
                out.push(text);
                i += used;
            }
            None => break,
        }
    }
    out.resize(max, None);
    out
}

pub fn parse(data: &[u8]) -> Result<Fru, String> {
    if data.len() < 8 || data[0] != 0x01 {
        return Err("no FRU common header (format version 1)".into());
    }
    if data[..8].iter().fold(0u8, |a, b| a.wrapping_add(*b)) != 0 {
        return Err("FRU common header checksum is wrong".into());
    }
    let at = |i: usize| data[i] as usize * 8;
    let mut f = Fru::default();
    if data[2] != 0 {
        let v = fields(data, at(2), 3, 2);
        (f.chassis_part, f.chassis_serial) = (v[0].clone(), v[1].clone());
    }
    if data[3] != 0 {
        let b = at(3);
        if let Some(m) = data.get(b + 3..b + 6) {
            f.board_mfg_minutes = Some(u32::from_le_bytes([m[0], m[1], m[2], 0])).filter(|&m| m != 0);
        }
        let v = fields(data, b, 6, 4);
        (f.board_manufacturer, f.board_product, f.board_serial, f.board_part) =
            (v[0].clone(), v[1].clone(), v[2].clone(), v[3].clone());
    }
    if data[4] != 0 {
        let v = fields(data, at(4), 3, 6);
        (
            f.product_manufacturer,
            f.product_name,
            f.product_part,
            f.product_version,
            f.product_serial,
            f.product_asset,
        ) = (v[0].clone(), v[1].clone(), v[2].clone(), v[3].clone(), v[4].clone(), v[5].clone());
    }
    Ok(f)
}

/// Board manufacture date from minutes since 1996-01-01 00:00 UTC, as MM/DD/YYYY HH:MM.
pub fn board_date(minutes: u32) -> String {
    let secs = 820_454_400u64 + minutes as u64 * 60;
    crate::hw::ipmi::fru::utc(secs)
}

/// `MM/DD/YYYY HH:MM` for seconds since the Unix epoch (UTC).
pub fn utc(secs: u64) -> String {
    let days = (secs / 86400) as i64;
    let (h, m) = ((secs % 86400) / 3600, (secs % 3600) / 60);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    format!("{mo:02}/{d:02}/{y} {h:02}:{m:02}")
}

fn area(fixed: &[u8], texts: &[&str]) -> Vec<u8> {
    let mut a = fixed.to_vec();
    for t in texts {
        a.push(0xc0 | t.len().min(63) as u8);
        a.extend(t.bytes().take(63));
    }
    a.push(0xc1);
    while (a.len() + 1) % 8 != 0 {
        a.push(0);
    }
    a[1] = ((a.len() + 1) / 8) as u8;
    a.push(a.iter().fold(0u8, |x, b| x.wrapping_add(*b)).wrapping_neg());
    a
}

/// Builds a FRU image with chassis, board and product areas (8-bit ASCII fields).
pub fn build(f: &Fru) -> Vec<u8> {
    let s = |v: &Option<String>| v.clone().unwrap_or_default();
    let chassis = area(&[0x01, 0, 0x17], &[&s(&f.chassis_part), &s(&f.chassis_serial)]);
    let m = f.board_mfg_minutes.unwrap_or(0).to_le_bytes();
    let board = area(
        &[0x01, 0, 0x19, m[0], m[1], m[2]],
        &[&s(&f.board_manufacturer), &s(&f.board_product), &s(&f.board_serial), &s(&f.board_part), ""],
    );
    let product = area(
        &[0x01, 0, 0x19],
        &[
            &s(&f.product_manufacturer),
            &s(&f.product_name),
            &s(&f.product_part),
            &s(&f.product_version),
            &s(&f.product_serial),
            &s(&f.product_asset),
            "",
        ],
    );
    let c = 1u8;
    let b = c + (chassis.len() / 8) as u8;
    let p = b + (board.len() / 8) as u8;
    let mut header = vec![0x01, 0, c, b, p, 0, 0];
    header.push(header.iter().fold(0u8, |x, y| x.wrapping_add(*y)).wrapping_neg());
    [header, chassis, board, product].concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_and_parse_round_trip() {
        let f = Fru {
            chassis_part: Some("CH-100".into()),
            chassis_serial: Some("CS123".into()),
            board_mfg_minutes: Some(15_000_000),
            board_manufacturer: Some("Oxide Boards".into()),
            board_product: Some("X9".into()),
            board_serial: Some("BS42".into()),
            board_part: Some("BP-1".into()),
            product_manufacturer: Some("Rackmakers".into()),
            product_name: Some("R640".into()),
            product_part: Some("7X02".into()),
            product_version: Some("A1".into()),
            product_serial: Some("SN0001".into()),
            product_asset: Some("ASSET7".into()),
        };
        let img = build(&f);
        assert_eq!(img.len() % 8, 0);
        assert_eq!(parse(&img).unwrap(), f);
    }

    #[test]
    fn packed_and_bcd_fields_and_bad_headers() {
        // "IPMI" in 6-bit packed ASCII is 29 dc a6; BCD plus 0x12 0x3b -> "123-".
        assert_eq!(field(&[0x83, 0x29, 0xdc, 0xa6]).unwrap().0.as_deref(), Some("IPMI"));
        assert_eq!(field(&[0x42, 0x12, 0x3b]).unwrap().0.as_deref(), Some("123-"));
        assert!(parse(&[0u8; 8]).is_err());
        assert!(parse(&[1, 0, 0, 0, 0, 0, 0, 1]).is_err());
        assert_eq!(board_date(0), "01/01/1996 00:00");
        assert_eq!(utc(1_795_496_031), "11/24/2026 04:53");
    }
}
