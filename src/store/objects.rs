//! xCAT's object layer (mkdef/lsdef/chdef/rmdef): object types and their attributes, derived from
//! `schema.rs` so the attribute map and the tables cannot disagree.

use super::schema::{Column, Owner, Table, TABLES};
use crate::error::{Error, Result};
use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjType {
    Node,
    Group,
    Osimage,
    Network,
    Site,
}

pub const OBJ_TYPES: &[&str] = &["node", "group", "osimage", "network", "site"];

impl ObjType {
    pub fn parse(s: &str) -> Result<ObjType> {
        Ok(match s {
            "node" => ObjType::Node,
            "group" => ObjType::Group,
            "osimage" => ObjType::Osimage,
            "network" => ObjType::Network,
            "site" => ObjType::Site,
            other => {
                return Err(Error::Usage(format!(
                    "'{other}' is not a valid object type (allowed: {})",
                    OBJ_TYPES.join(", ")
                )))
            }
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            ObjType::Node => "node",
            ObjType::Group => "group",
            ObjType::Osimage => "osimage",
            ObjType::Network => "network",
            ObjType::Site => "site",
        }
    }

    fn owner(self) -> Owner {
        match self {
            ObjType::Node | ObjType::Group => Owner::Node,
            ObjType::Osimage => Owner::Osimage,
            ObjType::Network => Owner::Network,
            ObjType::Site => Owner::None,
        }
    }
}

/// One object attribute and the column behind it.
#[derive(Debug)]
pub struct Attr {
    pub name: &'static str,
    pub table: &'static Table,
    pub col: usize,
}

impl Attr {
    pub fn column(&self) -> &'static Column {
        &self.table.columns[self.col]
    }
}

/// Attributes of an object type, sorted by name (site has none: its attributes are its keys).
pub fn attributes(t: ObjType) -> &'static [Attr] {
    static MAPS: OnceLock<[Vec<Attr>; 3]> = OnceLock::new();
    let maps = MAPS.get_or_init(|| [build(Owner::Node), build(Owner::Osimage), build(Owner::Network)]);
    match t.owner() {
        Owner::Node => &maps[0],
        Owner::Osimage => &maps[1],
        Owner::Network => &maps[2],
        Owner::None => &[],
    }
}

fn build(owner: Owner) -> Vec<Attr> {
    let mut v: Vec<Attr> = TABLES
        .iter()
        .filter(|t| t.owner == owner)
        .flat_map(|t| {
            t.columns.iter().enumerate().filter_map(move |(col, c)| {
                // Image comments live on the osimage row only.
                if t.name == "linuximage" && c.name == "comments" {
                    return None;
                }
                c.object_attr(t).map(|name| Attr { name, table: t, col })
            })
        })
        .collect();
    v.sort_by_key(|a| a.name);
    v
}

pub fn attribute(t: ObjType, name: &str) -> Result<&'static Attr> {
    attributes(t).binary_search_by_key(&name, |a| a.name).map(|i| &attributes(t)[i]).map_err(|_| {
        Error::Input(format!("'{name}' is not a valid attribute name for an object type of '{}'.", t.name()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_attributes_map_to_xcat_columns() {
        let a = attribute(ObjType::Node, "bmc").unwrap();
        assert_eq!((a.table.name, a.column().name), ("ipmi", "bmc"));
        let a = attribute(ObjType::Node, "bmcusername").unwrap();
        assert_eq!((a.table.name, a.column().name), ("ipmi", "username"));
        let a = attribute(ObjType::Node, "usercomment").unwrap();
        assert_eq!((a.table.name, a.column().name), ("nodelist", "comments"));
        let a = attribute(ObjType::Node, "memory").unwrap();
        assert_eq!((a.table.name, a.column().name), ("hwinv", "memory"));
        assert!(attribute(ObjType::Node, "node").is_err());
        assert_eq!(
            attribute(ObjType::Node, "foo").unwrap_err().to_string(),
            "Error: 'foo' is not a valid attribute name for an object type of 'node'."
        );
    }

    #[test]
    fn image_and_network_attributes() {
        let a = attribute(ObjType::Osimage, "osarch").unwrap();
        assert_eq!(a.table.name, "osimage");
        let a = attribute(ObjType::Osimage, "kernel").unwrap();
        assert_eq!(a.table.name, "linuximage");
        assert!(attribute(ObjType::Osimage, "imagename").is_err());
        assert!(attribute(ObjType::Network, "net").is_ok());
        assert!(attribute(ObjType::Network, "netname").is_err());
    }

    #[test]
    fn attribute_names_are_unique_per_type() {
        for t in [ObjType::Node, ObjType::Osimage, ObjType::Network] {
            let names: Vec<_> = attributes(t).iter().map(|a| a.name).collect();
            let mut dedup = names.clone();
            dedup.dedup();
            assert_eq!(names, dedup, "{t:?}");
        }
    }
}
