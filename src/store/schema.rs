//! The one description of oxcat's tables: names, keys, columns, what each column means, which object
//! attribute it backs and which values it accepts. The SQL schema, `tabdump`'s header, the object
//! attribute map of mkdef/lsdef/chdef and the value checks are all derived from here (xCAT keeps the
//! tables and the object map in two places, Schema.pm's tabspec and defspec; oxcat does not).

use crate::node;
use crate::output::MASK;

/// Which object type a table's rows belong to (`mkdef -t TYPE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// Keyed by node; a row keyed by a group name supplies defaults to the group's members.
    Node,
    /// Keyed by image name; every column is an osimage attribute.
    Osimage,
    /// Keyed by (net, mask); every column is a network attribute.
    Network,
    /// Tables with no object view (site is its own object, passwd and auditlog are table-only).
    None,
}

/// What a column accepts. Regex values (`|..|..|`) are accepted on group rows and checked once
/// evaluated for a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    /// A non-negative integer.
    Int,
    /// One MAC or `|`-separated MACs (each optionally `mac!hostname`).
    Macs,
    /// An IPv4 address.
    Ip,
    /// An IPv4 address or a host name.
    Host,
    /// A comma-separated list of names.
    List,
    /// One of these words.
    OneOf(&'static [&'static str]),
    /// Root device hints for disk deploys (`serial=X,size>=100`, see deploy::hints).
    RootDevice,
}

impl Kind {
    /// Checks a plain (non-regex) value; the error says what is allowed.
    pub fn check(self, value: &str) -> Result<(), String> {
        match self {
            Kind::Text | Kind::List => Ok(()),
            Kind::Int => value
                .parse::<u64>()
                .map(|_| ())
                .map_err(|_| format!("'{value}' is not a whole number (allowed: 0, 1, 2, ...)")),
            Kind::Macs => {
                for part in value.split('|') {
                    let mac = part.split('!').next().unwrap_or(part);
                    node::parse_mac(mac)?;
                }
                Ok(())
            }
            Kind::Ip => node::parse_ipv4(value).map(|_| ()),
            Kind::Host => node::check_host(value),
            Kind::RootDevice => crate::deploy::hints::Hints::parse(value).map(|_| ()),
            Kind::OneOf(words) => {
                if words.contains(&value) {
                    Ok(())
                } else {
                    Err(format!("'{value}' is not allowed (allowed: {})", words.join(", ")))
                }
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub desc: &'static str,
    /// The object attribute backed by this column (node tables name it explicitly; osimage and
    /// network tables use the column name).
    pub attr: Option<&'static str>,
    pub kind: Kind,
    /// Printed as `********` unless `--show-secrets`.
    pub secret: bool,
}

const fn col(name: &'static str, desc: &'static str) -> Column {
    Column { name, desc, attr: None, kind: Kind::Text, secret: false }
}

impl Column {
    const fn attr(mut self, attr: &'static str) -> Column {
        self.attr = Some(attr);
        self
    }
    const fn kind(mut self, kind: Kind) -> Column {
        self.kind = kind;
        self
    }
    const fn secret(mut self) -> Column {
        self.secret = true;
        self
    }
    /// Checks a plain (non-regex) value about to be stored here: its kind, and for a secret, that
    /// it is not the mask listings print in its place.
    pub fn check(&self, value: &str) -> Result<(), String> {
        check_not_masked(self.secret, value)?;
        self.kind.check(value)
    }
    /// The attribute name this column has on its table's object, if any.
    pub fn object_attr(&self, table: &Table) -> Option<&'static str> {
        match table.owner {
            Owner::Node => self.attr,
            Owner::Osimage | Owner::Network => match self.name {
                "disable" => None,
                "comments" => Some("usercomment"),
                "imagename" | "netname" => None,
                n => Some(self.attr.unwrap_or(n)),
            },
            Owner::None => None,
        }
    }
}

#[derive(Debug)]
pub struct Table {
    pub name: &'static str,
    pub keys: &'static [&'static str],
    pub desc: &'static str,
    pub owner: Owner,
    pub columns: &'static [Column],
}

impl Table {
    pub fn column(&self, name: &str) -> Option<(usize, &Column)> {
        self.columns.iter().enumerate().find(|(_, c)| c.name == name)
    }
    pub fn column_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.columns.iter().map(|c| c.name)
    }
    pub fn key_indexes(&self) -> Vec<usize> {
        self.keys.iter().filter_map(|k| self.column(k).map(|(i, _)| i)).collect()
    }
}

const COMMENTS: Column = col("comments", "Any user-written notes.");
const DISABLE: Column = col("disable", "Set to 'yes' or '1' to comment out this row.");
const NODE_KEY: Column = col("node", "The node name or group name.");

/// Management methods (`nodehm.mgt`); oxcat drives ipmi, the rest are kept for migrated tables.
pub const MGT: &[&str] =
    &["ipmi", "openbmc", "redfish", "blade", "hmc", "ivm", "fsp", "bpa", "kvm", "esx", "rhevm", "none"];
pub const ARCHES: &[&str] = &["x86_64", "aarch64", "ppc64le", "ppc64"];
pub const NETBOOT: &[&str] = &["pxe", "xnba", "ipxe", "grub2", "grub2-http", "grub2-tftp", "petitboot", "yaboot"];

pub static TABLES: &[Table] = &[
    Table {
        name: "site",
        keys: &["key"],
        desc: "Cluster-wide settings, one key per row (installdir, tftpdir, master, dhcplease, ipmitimeout, ...).",
        owner: Owner::None,
        columns: &[col("key", "Name of the setting."), col("value", "Value of the setting."), COMMENTS, DISABLE],
    },
    Table {
        name: "nodelist",
        keys: &["node"],
        desc: "The list of all the nodes in the cluster, with their groups and status.",
        owner: Owner::Node,
        columns: &[
            NODE_KEY,
            col("groups", "Comma-separated list of groups this node belongs to.").attr("groups").kind(Kind::List),
            col("status", "Current deployment status (defined, booting, installing, netbooting, booted, failed, ...).").attr("status"),
            col("statustime", "When status was last changed.").attr("statustime"),
            col("deploylog", "The last lines of the node agent's log from the last disk deploy that failed or ended.").attr("deploylog"),
            col("appstatus", "Comma-separated application status list (app=status).").attr("appstatus"),
            col("appstatustime", "When appstatus was last changed.").attr("appstatustime"),
            col("primarysn", "Primary service node of this node.").attr("primarysn"),
            col("hidden", "1 hides the node from default listings.").attr("hidden"),
            col("updatestatus", "Status of the last updatenode run.").attr("updatestatus"),
            col("updatestatustime", "When updatestatus was last changed.").attr("updatestatustime"),
            col("zonename", "SSH zone the node belongs to.").attr("zonename"),
            COMMENTS.attr("usercomment"),
            DISABLE,
        ],
    },
    Table {
        name: "nodehm",
        keys: &["node"],
        desc: "How each node's hardware is managed (power, console).",
        owner: Owner::Node,
        columns: &[
            NODE_KEY,
            col("power", "Method for power control; defaults to mgt.").attr("power").kind(Kind::OneOf(MGT)),
            col("mgt", "Hardware management method (ipmi, openbmc, redfish, ...).").attr("mgt").kind(Kind::OneOf(MGT)),
            col("cons", "Console method; defaults to mgt.").attr("cons"),
            col("termserver", "Terminal server host name.").attr("termserver"),
            col("termport", "Terminal server port.").attr("termport"),
            col("conserver", "Console server host.").attr("conserver"),
            col("serialport", "Serial port number of the console (0 for ttyS0).").attr("serialport"),
            col("serialspeed", "Serial console speed (e.g. 115200).").attr("serialspeed"),
            col("serialflow", "Serial flow control (none, soft, hard).").attr("serialflow"),
            col("getmac", "Method to collect MACs; defaults to mgt.").attr("getmac"),
            col("cmdmapping", "Command mapping file for this hardware.").attr("cmdmapping"),
            col("consoleondemand", "yes: connect the console only when asked.").attr("consoleondemand"),
            col("consoleenabled", "Internal flag: console logging enabled.").attr("consoleenabled"),
            COMMENTS,
            DISABLE,
        ],
    },
    Table {
        name: "ipmi",
        keys: &["node"],
        desc: "How to reach each node's BMC over IPMI. Empty username/password fall back to the passwd table's 'ipmi' row.",
        owner: Owner::Node,
        columns: &[
            NODE_KEY,
            col("bmc", "BMC host name or IP address.").attr("bmc").kind(Kind::Host),
            col("bmcport", "BMC UDP port (default 623).").attr("bmcport").kind(Kind::Int),
            col("taggedvlan", "VLAN tag of the BMC interface.").attr("bmcvlantag"),
            col("bmcid", "Unique identifier of the BMC (its MAC).").attr("bmcid"),
            col("username", "BMC user name.").attr("bmcusername"),
            col("password", "BMC password.").attr("bmcpassword").secret(),
            col("ciphersuite", "RMCP+ cipher suite to use (17 or 3); default: 17, then 3.").attr("bmcciphersuite"),
            col("bmccert", "Redfish BMCs: how the TLS certificate is checked: sha256:FINGERPRINT (recorded by addbmnode --mgt redfish), ca:/path/ca.pem, or insecure.").attr("bmccert"),
            col("bmcsystem", "Redfish BMCs that manage several systems (a chassis manager): which one this node is, by its Id in the Systems collection; empty: the service's only system.").attr("bmcsystem"),
            COMMENTS,
            DISABLE,
        ],
    },
    Table {
        name: "mac",
        keys: &["node"],
        desc: "The MAC addresses of each node's network interfaces; the first is the one it boots from.",
        owner: Owner::Node,
        columns: &[
            NODE_KEY,
            col("interface", "Interface name the MAC belongs to (e.g. eth0).").attr("interface"),
            col("mac", "MAC address, or several separated by '|' (each optionally mac!hostname).").attr("mac").kind(Kind::Macs),
            COMMENTS,
            DISABLE,
        ],
    },
    Table {
        name: "hwinv",
        keys: &["node"],
        desc: "Hardware inventory of each node: CPUs, memory, disk and architecture.",
        owner: Owner::Node,
        columns: &[
            NODE_KEY,
            col("cputype", "CPU model.").attr("cputype"),
            col("cpucount", "Number of CPU cores.").attr("cpucount").kind(Kind::Int),
            col("memory", "Memory size in MB.").attr("memory").kind(Kind::Int),
            col("disksize", "Disk size in GB.").attr("disksize").kind(Kind::Int),
            col("arch", "Hardware architecture (x86_64, aarch64, ppc64le).").attr("hwarch").kind(Kind::OneOf(ARCHES)),
            COMMENTS,
            DISABLE,
        ],
    },
    Table {
        name: "noderes",
        keys: &["node"],
        desc: "Resources and servers each node uses for deployment (netboot method, service node, NICs).",
        owner: Owner::Node,
        columns: &[
            NODE_KEY,
            col("servicenode", "Service node(s) that manage this node.").attr("servicenode"),
            col("netboot", "Network boot loader (pxe, xnba, ipxe, grub2, ...).").attr("netboot").kind(Kind::OneOf(NETBOOT)),
            col("tftpserver", "TFTP server address as the node sees it.").attr("tftpserver"),
            col("tftpdir", "TFTP root for this node (default: site.tftpdir).").attr("tftpdir"),
            col("nfsserver", "Server that hosts install files.").attr("nfsserver"),
            col("monserver", "Monitoring server.").attr("monserver"),
            col("nfsdir", "Directory of the install files on nfsserver.").attr("nfsdir"),
            col("installnic", "NIC used for installation (name, MAC or 'mac').").attr("installnic"),
            col("primarynic", "NIC used for management.").attr("primarynic"),
            col("discoverynics", "NICs to use during discovery.").attr("discoverynics"),
            col("cmdinterface", "Interface for commands (not used by oxcat).").attr("cmdinterface"),
            col("xcatmaster", "Management server address as the node sees it.").attr("xcatmaster"),
            col("current_osimage", "Image currently deployed.").attr("current_osimage"),
            col("next_osimage", "Image to deploy next.").attr("next_osimage"),
            col("nimserver", "AIX NIM server (not used by oxcat).").attr("nimserver"),
            col("routenames", "Routes (names in the routes table) to set up.").attr("routenames"),
            col("nameservers", "DNS servers for the node.").attr("nameservers"),
            col("proxydhcp", "yes: answer this node's boot requests with proxyDHCP.").attr("proxydhcp"),
            col("syslog", "ignore: do not configure syslog.").attr("syslog"),
            col("rootdevice", "Root device hints for disk deploys (overrides the image's linuximage.rootdevice).").attr("rootdevice").kind(Kind::RootDevice),
            col("userdata", "cloud-init user data file for this node's disk deploys (instead of the image's).").attr("userdata"),
            COMMENTS,
            DISABLE,
        ],
    },
    Table {
        name: "nodetype",
        keys: &["node"],
        desc: "OS, architecture, profile and provisioning method of each node.",
        owner: Owner::Node,
        columns: &[
            NODE_KEY,
            col("os", "Operating system (e.g. rhels9.4, ubuntu24.04).").attr("os"),
            col("arch", "Architecture of the OS (x86_64, aarch64, ppc64le).").attr("arch").kind(Kind::OneOf(ARCHES)),
            col("profile", "Profile name (e.g. compute).").attr("profile"),
            col("provmethod", "install, netboot, statelite, or an osimage name.").attr("provmethod"),
            col("supportedarchs", "Architectures this node can run.").attr("supportedarchs"),
            col("nodetype", "osi, ppc, mp, ... (the node's hardware type).").attr("nodetype"),
            COMMENTS,
            DISABLE,
        ],
    },
    Table {
        name: "hosts",
        keys: &["node"],
        desc: "IP addresses and host names of the nodes (makehosts and DHCP reservations read it).",
        owner: Owner::Node,
        columns: &[
            NODE_KEY,
            col("ip", "IP address of the node on the management network.").attr("ip").kind(Kind::Ip),
            col("hostnames", "Extra host names (aliases).").attr("hostnames"),
            col("otherinterfaces", "Other interfaces: name:ip,name:ip.").attr("otherinterfaces"),
            COMMENTS,
            DISABLE,
        ],
    },
    Table {
        name: "networks",
        keys: &["net", "mask"],
        desc: "The networks of the cluster; DHCP serves the ones on site.dhcpinterfaces.",
        owner: Owner::Network,
        columns: &[
            col("netname", "Name of the network (the network object's name)."),
            col("net", "Network address.").kind(Kind::Ip),
            col("mask", "Netmask.").kind(Kind::Ip),
            col("mgtifname", "Interface of the management node on this network."),
            col("gateway", "Gateway; <xcatmaster> means the node's master."),
            col("dhcpserver", "DHCP server of this network."),
            col("tftpserver", "TFTP server of this network."),
            col("nameservers", "DNS servers, comma-separated."),
            col("ntpservers", "NTP servers, comma-separated."),
            col("logservers", "Syslog servers, comma-separated."),
            col("dynamicrange", "Range for unknown (discovery) clients: first-last. Empty: no discovery."),
            col("staticrange", "Range for static addresses."),
            col("staticrangeincrement", "Increment in the static range."),
            col("nodehostname", "Regex for node host names on this network."),
            col("ddnsdomain", "Domain for dynamic DNS."),
            col("vlanid", "VLAN id."),
            col("domain", "DNS domain of this network."),
            col("mtu", "MTU of this network.").kind(Kind::Int),
            COMMENTS,
            DISABLE,
        ],
    },
    Table {
        name: "osimage",
        keys: &["imagename"],
        desc: "OS images: what they are and how they deploy.",
        owner: Owner::Osimage,
        columns: &[
            col("imagename", "Name of the image."),
            col("groups", "Groups of the image."),
            col("profile", "Profile of the image (e.g. compute)."),
            col("imagetype", "Type of image: linux."),
            col("description", "Free-form description."),
            col("provmethod", "install, netboot or disk (a whole-disk image genesis writes to the node's disk).").kind(Kind::OneOf(&["install", "netboot", "statelite", "disk"])),
            col("rootfstype", "Root file system type for netboot (ramdisk, overlay, nfs)."),
            col("nfsrootopts", "NFS mount options for statelite."),
            col("osdistroname", "Name of the OS distribution."),
            col("osupdatename", "Names of OS updates."),
            col("cfmdir", "CFM directory."),
            col("osname", "Operating system family: Linux."),
            col("osvers", "OS version (e.g. rhels9.4)."),
            col("osarch", "Architecture (x86_64, aarch64, ppc64le).").kind(Kind::OneOf(ARCHES)),
            col("synclists", "Files to sync to nodes."),
            col("postscripts", "Postscripts run for nodes deployed with this image."),
            col("postbootscripts", "Postbootscripts run for nodes deployed with this image."),
            col("serverrole", "Role of a server deployed with this image."),
            col("isdeletable", "no: rmdef refuses to remove the image."),
            col("kitcomponents", "Kit components."),
            col("environvar", "Environment variables for genimage, comma-separated."),
            COMMENTS,
            DISABLE,
        ],
    },
    Table {
        name: "linuximage",
        keys: &["imagename"],
        desc: "Linux-specific settings of OS images, including the image files in the image store.",
        owner: Owner::Osimage,
        columns: &[
            col("imagename", "Name of the image."),
            col("template", "Install template (kickstart/autoinstall)."),
            col("boottarget", "Boot target name."),
            col("addkcmdline", "Extra kernel command line arguments."),
            col("pkglist", "Package list files."),
            col("pkgdir", "Package repositories."),
            col("otherpkglist", "Extra package list files."),
            col("otherpkgdir", "Extra package directories."),
            col("exlist", "Files to exclude from the netboot image."),
            col("postinstall", "Scripts run on the image after genimage."),
            col("rootimgdir", "Directory that holds the image's files."),
            col("kerneldir", "Directory of kernels for genimage."),
            col("nodebootif", "Boot interface of the node."),
            col("otherifce", "Other interfaces to bring up."),
            col("netdrivers", "Network drivers in the initrd."),
            col("kernelver", "Kernel version."),
            col("krpmver", "Kernel RPM version."),
            col("permission", "Permission of the image files."),
            col("dump", "Kdump target."),
            col("crashkernelsize", "Crash kernel size."),
            col("partitionfile", "Partition layout file."),
            col("driverupdatesrc", "Driver update sources."),
            col("kernel", "Path of the kernel in the image store."),
            col("initrd", "Path of the initrd in the image store."),
            col("rootimg", "Path of the root image in the image store."),
            col("kernelsha256", "SHA-256 of the kernel."),
            col("initrdsha256", "SHA-256 of the initrd."),
            col("rootimgsha256", "SHA-256 of the root image."),
            col("diskimage", "Path of the whole-disk image in the image store (raw, raw.gz, raw.zst or raw.xz)."),
            col("diskimageformat", "Compression of the stored disk image: raw, gz, zst or xz."),
            col("diskimagesha256", "SHA-256 of the uncompressed disk image."),
            col("diskimagesize", "Size in bytes of the uncompressed disk image."),
            col("rootdevice", "Root device hints for disk images (name=, size=, size>=, model=, vendor=, serial=, wwn=, rotational=), comma-separated; the node's noderes.rootdevice wins.").kind(Kind::RootDevice),
            col("userdata", "cloud-init user data file given to nodes deployed with this disk image."),
            COMMENTS,
            DISABLE,
        ],
    },
    Table {
        name: "postscripts",
        keys: &["node"],
        desc: "Scripts run on nodes after install (postscripts) and at boot (postbootscripts). The row 'xcatdefaults' applies to every node.",
        owner: Owner::Node,
        columns: &[
            NODE_KEY,
            col("postscripts", "Comma-separated scripts (with arguments) run after install.").attr("postscripts"),
            col("postbootscripts", "Comma-separated scripts run at first boot.").attr("postbootscripts"),
            COMMENTS,
            DISABLE,
        ],
    },
    Table {
        name: "chain",
        keys: &["node"],
        desc: "Boot state machine of each node (currstate is written by nodeset).",
        owner: Owner::Node,
        columns: &[
            NODE_KEY,
            col("currstate", "Current boot state (boot, install IMG, netboot IMG, shell, offline).").attr("currstate"),
            col("currchain", "Remaining chain of tasks.").attr("currchain"),
            col("chain", "Comma-separated chain of tasks.").attr("chain"),
            col("ondiscover", "Tasks run on discovery.").attr("ondiscover"),
            col("token", "The boot token nodeset put on the node's kernel command line; status reports and mypostscript requests must carry it.").secret(),
            col("nexttoken", "The token of the first boot after a disk deploy (given to the node in its deploy plan; becomes chain.token when it reports installed).").secret(),
            COMMENTS,
            DISABLE,
        ],
    },
    Table {
        name: "bootparams",
        keys: &["node"],
        desc: "Current boot parameters of each node, written by nodeset.",
        owner: Owner::Node,
        columns: &[
            NODE_KEY,
            col("kernel", "Kernel to boot.").attr("kernel"),
            col("initrd", "Initrd to boot.").attr("initrd"),
            col("kcmdline", "Kernel command line.").attr("kcmdline"),
            col("addkcmdline", "Extra kernel arguments for this node.").attr("addkcmdline"),
            col("dhcpstatements", "DHCP statements (not used by oxcat).").attr("dhcpstatements"),
            col("adddhcpstatements", "Extra DHCP statements (not used by oxcat).").attr("adddhcpstatements"),
            COMMENTS,
            DISABLE,
        ],
    },
    Table {
        name: "vpd",
        keys: &["node"],
        desc: "Vital product data of each node.",
        owner: Owner::Node,
        columns: &[
            NODE_KEY,
            col("serial", "Serial number.").attr("serial"),
            col("mtm", "Machine type and model.").attr("mtm"),
            col("side", "Side of a redundant component.").attr("side"),
            col("asset", "Asset tag.").attr("asset"),
            col("uuid", "System UUID.").attr("uuid"),
            COMMENTS,
            DISABLE,
        ],
    },
    Table {
        name: "nics",
        keys: &["node"],
        desc: "NIC details of each node (xCAT's confignetwork reads it; oxcat stores it for migrated clusters). Each column is a comma list of nic!value.",
        owner: Owner::Node,
        columns: &[
            NODE_KEY,
            col("nicips", "IP addresses per NIC: eth0!10.0.0.100,ib0!11.0.0.100 (several per NIC separated by |)."),
            col("nichostnamesuffixes", "Host name suffixes per NIC: eth0!-eth0,ib0!-ib0."),
            col("nichostnameprefixes", "Host name prefixes per NIC: eth0!eth0-,ib0!ib-."),
            col("nictypes", "NIC types per NIC: eth0!Ethernet,ib0!Infiniband."),
            col("niccustomscripts", "Custom configuration scripts per NIC."),
            col("nicnetworks", "Network (networks.netname) of each NIC."),
            col("nicaliases", "Host name aliases per NIC (space-separated)."),
            col("nicextraparams", "Extra configuration parameters per NIC: eth0!MTU=1500."),
            col("nicdevices", "Devices bonded or bridged into each NIC: bond0!eth0|eth2."),
            col("nicsadapter", "Adapter information collected per NIC."),
            COMMENTS,
            DISABLE,
        ],
    },
    Table {
        name: "nodepos",
        keys: &["node"],
        desc: "Physical location of each node (free-form; not used by oxcat).",
        owner: Owner::Node,
        columns: &[
            NODE_KEY,
            col("rack", "The rack (frame) the node is in.").attr("rack"),
            col("u", "The vertical position of the node in the rack.").attr("unit"),
            col("chassis", "The chassis the node is in.").attr("chassis"),
            col("slot", "The slot of the node in its chassis.").attr("slot"),
            col("room", "The room the node is in.").attr("room"),
            col("height", "The height of the node in U.").attr("height"),
            COMMENTS,
            DISABLE,
        ],
    },
    Table {
        name: "prescripts",
        keys: &["node"],
        desc: "Scripts run at the beginning and the end of nodeset: [action:]script1,script2[|action2:...] (not run by oxcat).",
        owner: Owner::Node,
        columns: &[
            NODE_KEY,
            col("begin", "Scripts run at the beginning of nodeset.").attr("prescripts-begin"),
            col("end", "Scripts run at the end of nodeset.").attr("prescripts-end"),
            COMMENTS,
            DISABLE,
        ],
    },
    Table {
        name: "switch",
        keys: &["node", "switch", "port"],
        desc: "Which switch port each node's interfaces are connected to.",
        owner: Owner::None,
        columns: &[
            NODE_KEY,
            col("switch", "The switch host name."),
            col("port", "The switch port the node is connected to."),
            col("vlan", "The tagged VLAN on this port."),
            col("interface", "The node's interface on this port (e.g. eth0; empty or primary for the primary NIC)."),
            COMMENTS,
            DISABLE,
        ],
    },
    Table {
        name: "switches",
        keys: &["switch"],
        desc: "How to reach and log in to each switch.",
        owner: Owner::None,
        columns: &[
            col("switch", "The switch host name or address."),
            col("snmpversion", "SNMP version (1 when unset)."),
            col("username", "SNMPv3 user name."),
            col("password", "SNMPv3 password, or the SNMPv1/v2 community string.").secret(),
            col("privacy", "SNMPv3 privacy protocol (DES, AES)."),
            col("auth", "SNMPv3 authentication protocol (SHA, MD5)."),
            col("linkports", "Ports that connect to other switches: port:switch,..."),
            col("sshusername", "Remote login user name."),
            col("sshpassword", "Remote login password.").secret(),
            col("protocol", "Remote login protocol: ssh (default) or telnet."),
            col("switchtype", "Switch type: Mellanox, Cisco, BNT, Juniper, ..."),
            COMMENTS,
            DISABLE,
        ],
    },
    Table {
        name: "policy",
        keys: &["priority"],
        desc: "xCAT's access control list: who may run which commands (kept for migrated clusters; oxcat does not enforce it).",
        owner: Owner::None,
        columns: &[
            col("priority", "Priority of the rule (lower first); identifies the rule."),
            col("name", "User the rule applies to (* for all)."),
            col("host", "Host the rule applies to (* for all)."),
            col("commands", "Commands the rule applies to (* for all)."),
            col("noderange", "Noderange the rule applies to."),
            col("parameters", "Regular expression on the command parameters."),
            col("time", "Time ranges (not supported)."),
            col("rule", "allow, trusted, or anything else to deny."),
            COMMENTS,
            DISABLE,
        ],
    },
    Table {
        name: "zone",
        keys: &["zonename"],
        desc: "Cluster zones: nodes that share root SSH keys (nodelist.zonename names a zone).",
        owner: Owner::None,
        columns: &[
            col("zonename", "Name of the zone."),
            col("sshkeydir", "Directory with the zone's shared root SSH keys."),
            col("sshbetweennodes", "yes/1 or no/0: passwordless SSH between the zone's nodes."),
            col("defaultzone", "yes/1: nodes in no other zone belong to this one."),
            COMMENTS,
            DISABLE,
        ],
    },
    Table {
        name: "nodegroup",
        keys: &["groupname"],
        desc: "Group definitions (static groups get their members from nodelist.groups).",
        owner: Owner::None,
        columns: &[
            col("groupname", "Name of the group."),
            col("grouptype", "static or dynamic."),
            col("members", "Members of a static group (informational; nodelist.groups is authoritative)."),
            col("membergroups", "Groups whose members belong to this group."),
            col("wherevals", "Criteria of a dynamic group."),
            COMMENTS,
            DISABLE,
        ],
    },
    Table {
        name: "passwd",
        keys: &["key", "username"],
        desc: "Default credentials (key ipmi: the BMC default; key system: root password of deployed nodes).",
        owner: Owner::None,
        columns: &[
            col("key", "What the credentials are for: ipmi, system, ..."),
            col("username", "User name."),
            col("password", "Password.").secret(),
            col("cryptmethod", "md5, sha256 or sha512 (for key system)."),
            col("authdomain", "Authentication domain."),
            COMMENTS,
            DISABLE,
        ],
    },
    Table {
        name: "dhcplease",
        keys: &["mac"],
        desc: "Addresses oxcatd's DHCP server handed out of a discovery range (networks.dynamicrange) to MACs it does not know; reservations (hosts.ip) need no lease.",
        owner: Owner::None,
        columns: &[
            col("mac", "Client MAC address."),
            col("ip", "The address handed out."),
            col("expires", "When the lease ends (seconds since 1970, UTC)."),
            col("state", "offered, bound, or declined (the address was found in use)."),
            COMMENTS,
            DISABLE,
        ],
    },
    Table {
        name: "hostkeys",
        keys: &["node"],
        desc: "SSH host public keys each node reported at boot (or that an admin accepted); xdsh, xdcp and updatenode verify nodes against them, makeknownhosts writes them as known_hosts.",
        owner: Owner::Node,
        columns: &[
            NODE_KEY,
            col("keys", "The node's host keys, comma-separated, each 'TYPE BASE64' (ssh-ed25519, ecdsa-sha2-nistp256, ssh-rsa, ...)."),
            col("reported", "When they were recorded (UTC, RFC 3339) and how: boot (the node's report) or accepted."),
            COMMENTS,
            DISABLE,
        ],
    },
    Table {
        name: "discoverydata",
        keys: &["uuid"],
        desc: "Machines discovery found (genesis's inventory reports, see nodediscoverstart): matched to a node or kept undefined (method undef) until nodediscoverdef.",
        owner: Owner::None,
        columns: &[
            col("uuid", "The machine's system UUID (DMI)."),
            col("node", "The node it was matched to; empty: undefined."),
            col("method", "How it was matched: mac, mtms, sequential, manual, or undef."),
            col("discoverytime", "When it reported (UTC, RFC 3339)."),
            col("arch", "Architecture."),
            col("cpucount", "Number of CPUs."),
            col("cputype", "CPU model."),
            col("memory", "Memory in MB."),
            col("mtm", "Machine type and model (DMI product name)."),
            col("serial", "Serial number (DMI)."),
            col("nichwaddr", "NIC MACs: IFNAME!MAC,..."),
            col("otherdata", "The whole report (JSON): disks, NIC links, BMC."),
            COMMENTS,
            DISABLE,
        ],
    },
    Table {
        name: "discoverytokens",
        keys: &["token"],
        desc: "The one-time tokens oxcatd's discovery boot scripts handed out, by their SHA-256 (never the token itself): kept in the store so that a machine's report still counts after oxcatd restarts, and a replay is refused.",
        owner: Owner::None,
        columns: &[
            col("token", "SHA-256 of the token (hex)."),
            col("ip", "The address the boot script went to: the report must come from it."),
            col("issued", "When it was handed out (seconds since 1970)."),
            col("spent", "yes once a report used it."),
            COMMENTS,
            DISABLE,
        ],
    },
    Table {
        name: "auditlog",
        keys: &["recid"],
        desc: "One row per command that changed the store (secrets never recorded).",
        owner: Owner::None,
        columns: &[
            col("recid", "Record number."),
            col("audittime", "When the command ran (UTC, RFC 3339)."),
            col("userid", "User who ran it."),
            col("clientname", "Host it ran on."),
            col("clienttype", "cli."),
            col("command", "Command name."),
            col("noderange", "Noderange it was given."),
            col("args", "Its arguments, secrets replaced by ********."),
            col("status", "allowed, or the error."),
            COMMENTS,
            DISABLE,
        ],
    },
];

pub fn table(name: &str) -> Option<&'static Table> {
    TABLES.iter().find(|t| t.name == name)
}

/// Refuses the mask (`********`) as a secret's value: it is what `lsdef` and `tabdump` print in a
/// secret's place, and a dump made without `--show-secrets` fed back would replace every password.
pub fn check_not_masked(secret: bool, value: &str) -> Result<(), String> {
    if secret && value == MASK {
        return Err(format!(
            "'{MASK}' is the mask printed in place of a secret, not its value (dump with --show-secrets to carry secrets)"
        ));
    }
    Ok(())
}

/// A site key's check and the words saying what it allows.
type SiteRule = (fn(&str) -> bool, &'static str);

/// What a site key oxcat reads accepts: checked when written, so a typo is refused at once instead
/// of being replaced by the default where the value is used. Other keys take any text.
fn site_rule(key: &str) -> Option<SiteRule> {
    fn whole(v: &str) -> bool {
        v.parse::<u32>().is_ok()
    }
    fn port(v: &str) -> bool {
        v.parse::<u16>().is_ok_and(|p| p > 0)
    }
    fn seconds(v: &str) -> bool {
        v.parse::<f64>().is_ok_and(|s| s.is_finite() && s >= 0.0)
    }
    fn positive(v: &str) -> bool {
        v.parse::<u64>().is_ok_and(|n| n > 0)
    }
    fn ipv4(v: &str) -> bool {
        v.parse::<std::net::Ipv4Addr>().is_ok()
    }
    fn yes_no(v: &str) -> bool {
        matches!(v, "y" | "n" | "yes" | "no" | "1" | "0")
    }
    fn abs_path(v: &str) -> bool {
        v.starts_with('/')
    }
    Some(match key {
        "master" => (ipv4, "the management node's IPv4 address as the nodes see it, e.g. 10.0.0.1"),
        "httpport" | "xcatiport" | "xcatdport" => (port, "a port number, 1-65535"),
        "ipmitimeout" | "syspowerinterval" => (seconds, "a number of seconds, e.g. 2 or 0.5"),
        "ipmiretries" | "syspowermaxnodes" => (whole, "a whole number, 0, 1, 2, ..."),
        "dhcplease" => (whole, "a whole number of seconds, e.g. 43200"),
        "nodestatus" | "ipmisdrcache" => (yes_no, "y or n"),
        "noderangelimit" => (positive, "a number of names, at least 1"),
        "installdir" | "tftpdir" | "templatedir" => (abs_path, "an absolute path, e.g. /install"),
        _ => return None,
    })
}

/// Checks a site value as it is written (chdef -t site, tabrestore site.csv): the error names the
/// key and says what is allowed. An empty value unsets the key.
pub fn check_site(key: &str, value: &str) -> Result<(), String> {
    match site_rule(key) {
        Some((ok, allowed)) if !value.is_empty() && !ok(value) => {
            Err(format!("site.{key}: '{value}' is not allowed (allowed: {allowed})"))
        }
        _ => Ok(()),
    }
}

/// Checks a value written straight into a table cell (tabrestore), where kinds are not checked
/// (rows keyed by a group may hold regex values): no masked secret, and a site value must suit its
/// key. `key` is the row's first key value.
pub fn check_cell(t: &Table, key: &str, col: usize, value: &str) -> Result<(), String> {
    let c = &t.columns[col];
    check_not_masked(c.secret, value).map_err(|e| format!("{}.{}: {e}", t.name, c.name))?;
    if t.name == "site" && c.name == "value" {
        check_site(key, value)?;
    }
    Ok(())
}

/// Default site settings written when a store is created (xCAT's initial site table).
pub const SITE_DEFAULTS: &[(&str, &str)] = &[
    ("installdir", "/install"),
    ("tftpdir", "/tftpboot"),
    ("dhcplease", "43200"),
    ("ipmitimeout", "2"),
    ("ipmiretries", "3"),
    ("httpport", "80"),
    ("xcatiport", "3002"),
    ("nodestatus", "y"),
    ("syspowerinterval", "0"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_table_has_its_keys_comments_and_disable() {
        for t in TABLES {
            for k in t.keys {
                assert!(t.column(k).is_some(), "{}: key {k} is not a column", t.name);
            }
            let names: Vec<_> = t.column_names().collect();
            assert_eq!(&names[names.len() - 2..], &["comments", "disable"], "{}", t.name);
            let unique: HashSet<_> = names.iter().collect();
            assert_eq!(unique.len(), names.len(), "{}: duplicate column", t.name);
        }
    }

    #[test]
    fn node_attributes_are_unique_across_tables() {
        let mut seen = HashSet::new();
        for t in TABLES.iter().filter(|t| t.owner == Owner::Node) {
            assert_eq!(t.keys, &["node"], "{}", t.name);
            for c in t.columns {
                if let Some(a) = c.object_attr(t) {
                    assert!(seen.insert(a), "node attribute {a} is backed twice ({}.{})", t.name, c.name);
                }
            }
        }
        assert!(seen.contains("bmcpassword") && seen.contains("hwarch"));
    }

    #[test]
    fn site_checks_accept_the_defaults_and_refuse_typos() {
        for (k, v) in SITE_DEFAULTS {
            assert_eq!(check_site(k, v), Ok(()), "{k}={v}");
        }
        assert!(check_site("ipmitimeout", "0.5").is_ok() && check_site("master", "").is_ok());
        assert!(check_site("domain", "anything goes").is_ok());
        for (k, v) in [
            ("ipmitimeout", "abc"),
            ("ipmitimeout", "-1"),
            ("httpport", "0"),
            ("httpport", "99999"),
            ("noderangelimit", "0"),
            ("noderangelimit", "1e6"),
        ] {
            assert!(check_site(k, v).is_err(), "{k}={v}");
        }
        assert!(check_site("master", "mn.example").unwrap_err().contains("IPv4"));
        let site = table("site").unwrap();
        assert!(check_cell(site, "tftpdir", 1, "tftpboot").unwrap_err().contains("absolute path"));
        let ipmi = table("ipmi").unwrap();
        let (pw, _) = ipmi.column("password").unwrap();
        assert!(check_cell(ipmi, "n1", pw, MASK).unwrap_err().starts_with("ipmi.password: '********' is the mask"));
        assert!(check_cell(ipmi, "n1", 1, MASK).is_ok());
    }

    #[test]
    fn kinds_check_values() {
        assert!(Kind::Int.check("12").is_ok());
        assert_eq!(Kind::Int.check("x").unwrap_err(), "'x' is not a whole number (allowed: 0, 1, 2, ...)");
        assert!(Kind::Macs.check("52:54:00:00:00:01|52:54:00:00:00:02!n1-eth1").is_ok());
        assert!(Kind::Macs.check("52:54:00").is_err());
        assert!(Kind::OneOf(ARCHES).check("x86_64").is_ok());
        assert!(Kind::OneOf(ARCHES).check("i386").unwrap_err().contains("allowed: x86_64, aarch64"));
    }
}
