//! The networks table read as addresses: each enabled row's network and mask as bits (a mask
//! written `255.255.255.0`, `/24` or `24`, contiguous ones only), with its other values as
//! written. DHCP answers from them, and a disk deploy's network config is made from them.

use crate::error::Result;
use rusqlite::Connection;
use std::net::Ipv4Addr;

/// One enabled networks row whose net and mask make sense.
#[derive(Debug, Clone, PartialEq)]
pub struct NetRow {
    pub net: u32,
    pub mask: u32,
    pub gateway: Option<String>,
    pub nameservers: Option<String>,
    pub domain: Option<String>,
    pub dynamicrange: Option<String>,
}

impl NetRow {
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask == self.net & self.mask
    }

    pub fn prefix(&self) -> u32 {
        self.mask.leading_ones()
    }
}

/// A netmask as bits: `255.255.255.0`, `/24` or `24`; None for anything else, and for a mask
/// that is not contiguous ones (255.255.0.255 says nothing sensible).
pub fn mask_bits(m: &str) -> Option<u32> {
    let m = m.trim().trim_start_matches('/');
    let bits = match m.parse::<Ipv4Addr>() {
        Ok(a) => u32::from(a),
        Err(_) => {
            let p = m.parse::<u32>().ok().filter(|p| *p <= 32)?;
            if p == 0 {
                0
            } else {
                u32::MAX << (32 - p)
            }
        }
    };
    (bits.leading_ones() + bits.trailing_zeros() == 32).then_some(bits)
}

/// The enabled rows, in table order; rows whose net or mask do not parse are left out.
pub fn rows(conn: &Connection) -> Result<Vec<NetRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT net, mask, gateway, nameservers, domain, dynamicrange FROM networks \
         WHERE coalesce(disable, '') NOT IN ('yes', '1')",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, Option<String>>(0)?,
            r.get::<_, Option<String>>(1)?,
            r.get::<_, Option<String>>(2)?,
            r.get::<_, Option<String>>(3)?,
            r.get::<_, Option<String>>(4)?,
            r.get::<_, Option<String>>(5)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (net, mask, gateway, nameservers, domain, dynamicrange) = row?;
        let net = net.and_then(|n| n.trim().parse::<Ipv4Addr>().ok());
        let (Some(net), Some(mask)) = (net, mask.as_deref().and_then(mask_bits)) else { continue };
        out.push(NetRow { net: u32::from(net), mask, gateway, nameservers, domain, dynamicrange });
    }
    Ok(out)
}

/// The row that holds `ip`: the longest prefix, if several do.
pub fn holding(conn: &Connection, ip: Ipv4Addr) -> Result<Option<NetRow>> {
    Ok(rows(conn)?.into_iter().filter(|r| r.contains(ip)).max_by_key(NetRow::prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_in_every_form_and_only_contiguous_ones() {
        assert_eq!(mask_bits("255.255.255.0"), Some(0xffff_ff00));
        assert_eq!(mask_bits("/24"), Some(0xffff_ff00));
        assert_eq!(mask_bits("16"), Some(0xffff_0000));
        assert_eq!(mask_bits("0"), Some(0));
        assert_eq!(mask_bits("32"), Some(u32::MAX));
        assert_eq!(mask_bits("255.255.0.255"), None);
        assert_eq!(mask_bits("33"), None);
        assert_eq!(mask_bits("wide"), None);
    }
}
