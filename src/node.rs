//! Validated values that every command shares: node names, MAC addresses, IPv4 addresses, host names.

use std::net::Ipv4Addr;

/// Node and group names: letters, digits, `-` and `_`, starting with a letter or digit, at most
/// 63 characters (a DNS label). xCAT refuses `.` in node names for the same reason.
pub fn check_name(name: &str) -> Result<(), String> {
    let why = if name.is_empty() {
        "it is empty"
    } else if name.len() > 63 {
        "it is longer than 63 characters"
    } else if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        "it must start with a letter or digit"
    } else if name.contains('.') {
        "'.' cannot be used in node names"
    } else if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        "only letters, digits, '-' and '_' are allowed"
    } else if name == "all" || name == "xcatdefaults" {
        "it is a reserved group name"
    } else {
        return Ok(());
    };
    Err(format!("invalid name '{name}': {why}"))
}

/// Names of images and networks: like node names but `.` is allowed (`rhels9.4-x86_64-netboot-compute`).
pub fn check_object_name(name: &str) -> Result<(), String> {
    let why = if name.is_empty() {
        "it is empty"
    } else if name.len() > 128 {
        "it is longer than 128 characters"
    } else if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        "it must start with a letter or digit"
    } else if !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
        "only letters, digits, '-', '_' and '.' are allowed"
    } else {
        return Ok(());
    };
    Err(format!("invalid name '{name}': {why}"))
}

/// The MACs of a `mac.mac` value (`MAC[!IFNAME]|MAC[!IFNAME]...`), canonical, in order; entries
/// that are no MAC are skipped.
pub fn macs_of(value: &str) -> impl Iterator<Item = String> + '_ {
    value.split('|').filter_map(|part| parse_mac(part.split('!').next().unwrap_or(part)).ok())
}

/// Parses a MAC written as `52:54:00:ab:cd:ef`, `52-54-00-AB-CD-EF` or `525400abcdef` and returns it
/// in the canonical lower-case, colon-separated form.
pub fn parse_mac(text: &str) -> Result<String, String> {
    let hex: String = if text.len() == 12 {
        text.to_string()
    } else {
        let parts: Vec<&str> = text.split([':', '-']).collect();
        if parts.len() == 6 && parts.iter().all(|p| p.len() == 2) {
            parts.concat()
        } else {
            String::new()
        }
    };
    if hex.len() != 12 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!("'{text}' is not a MAC address (allowed: six hex octets such as 52:54:00:12:34:56)"));
    }
    let hex = hex.to_ascii_lowercase();
    let octets: Vec<&str> = (0..6).map(|i| &hex[2 * i..2 * i + 2]).collect();
    Ok(octets.join(":"))
}

/// A dotted-quad IPv4 address (no leading zeros, no shorthand).
pub fn parse_ipv4(text: &str) -> Result<Ipv4Addr, String> {
    text.parse::<Ipv4Addr>()
        .map_err(|_| format!("'{text}' is not an IPv4 address (allowed: four numbers 0-255, as in 10.1.0.5)"))
}

/// An IPv4 address or a host name (RFC 1123 labels).
pub fn check_host(text: &str) -> Result<(), String> {
    if text.parse::<Ipv4Addr>().is_ok() {
        return Ok(());
    }
    let looks_numeric = text.chars().all(|c| c.is_ascii_digit() || c == '.');
    let labels_ok = !text.is_empty()
        && text.len() <= 253
        && text.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if looks_numeric || !labels_ok {
        return Err(format!("'{text}' is not an IPv4 address or host name (allowed: 10.1.0.5 or bmc-n01.example.com)"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["n01", "node-001", "f1n2", "0rack", "a_b"] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        assert_eq!(check_name("n.1").unwrap_err(), "invalid name 'n.1': '.' cannot be used in node names");
        for bad in ["", "-n1", "n 1", "n@1", "n[1]", "all", &"x".repeat(64)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn macs_are_canonical() {
        assert_eq!(parse_mac("52:54:00:AB:cd:0F").unwrap(), "52:54:00:ab:cd:0f");
        assert_eq!(parse_mac("52-54-00-ab-cd-0f").unwrap(), "52:54:00:ab:cd:0f");
        assert_eq!(parse_mac("525400abcd0f").unwrap(), "52:54:00:ab:cd:0f");
        for bad in ["52:54:00:ab:cd", "52:54:00:ab:cd:0g", "5:54:00:ab:cd:0f1", "", "52:54:00:ab:cd:0f:11"] {
            assert!(parse_mac(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ips_and_hosts() {
        assert!(parse_ipv4("10.1.0.5").is_ok());
        assert!(parse_ipv4("10.1.0.256").is_err());
        assert!(parse_ipv4("10.1.0").is_err());
        assert!(check_host("bmc-n01.example.com").is_ok());
        assert!(check_host("10.0.0.300").is_err());
        assert!(check_host("bad_host").is_err());
        assert!(check_host("-x").is_err());
    }
}
