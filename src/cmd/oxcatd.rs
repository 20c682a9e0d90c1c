//! oxcatd: the provisioning daemon (HTTP and TFTP for network-booting nodes).

use super::{Ctx, Status};
use crate::daemon::{self, config::Config};
use crate::error::Result;
use clap::{Arg, ArgMatches, Command};

pub const ABOUT: &str = "Serve network-booting nodes: DHCP, HTTP (boot scripts, images, status reports) and TFTP";

/// The config file's reference: what `man oxcatd` describes.
const LONG_ABOUT: &str = "\
Serve network-booting nodes: DHCP, HTTP (boot scripts, images, status reports) and TFTP, straight \
from the store: what nodeset, chdef or addbmnode change is served at once, without a restart.

The bootstrap settings (TOML; every key optional; unknown keys are errors) are read from --config, \
else $OXCAT_CONFIG, else /etc/oxcat/oxcat.toml:

db = PATH: the store (else $OXCAT_DB, else /var/lib/oxcat/oxcat.db); \
postscripts = DIR: what /postscripts/ serves (default /usr/local/share/oxcat/postscripts).

[http] listen = [\"0.0.0.0:80\"], enable = true, \
max_connections = 4096 (served at once; at the cap the connection idle longest is closed to make \
room, else the newcomer gets 503; lowered at startup to three quarters of the descriptor limit \
when that is smaller: the shipped unit's LimitNOFILE=8192 fits the default), \
header_timeout = 20 (seconds a client has to send a request's head, and the next one on a \
kept-alive connection), idle_timeout = 60 (seconds without a byte either way before a connection \
is closed).

[tftp] listen = [\"0.0.0.0:69\"], enable = true, root = DIR (default site.tftpdir). At most 32 transfers \
per client address and 256 in all run at once: past that a request displaces the oldest transfer \
whose client has acknowledged nothing yet, or goes unanswered (clients ask again); a transfer \
whose first packet is not acknowledged ends after 5 tries a second apart.

[dhcp] enable = false (on: answer the MACs of the mac table), listen = [\"0.0.0.0:67\"], \
server = ADDRESS (this server's address in answers, and for nodes whose noderes.tftpserver and \
xcatmaster are not set the next-server on its network, where it has no other address on the \
node's; default site.master), \
interfaces = [\"eth1\"] (serve only these links, replies leave through them whatever the routes), \
proxy = false (on: proxyDHCP beside another DHCP server, boot information only, ports 67 and 4011), \
log = true (every answered exchange on standard error; problems are logged either way), \
ipv6_ra = \"empty\" (on each of the DHCP interfaces, answer IPv6 router solicitations with a \
router advertisement that configures nothing: router lifetime 0, no prefix, neither the managed \
nor the other-configuration flag. iPXE configures IPv6 beside DHCPv4 and, on a network without \
an IPv6 router, waits about 14 s for an advertisement on every boot; this one ends the wait at \
once, and hosts learn nothing from it. Sent to all nodes from the interface's link-local \
address, at most once a second per interface; only solicitations from link-local addresses \
with hop limit 255 are answered. oxcatd solicits once at startup, and where another router \
advertises on the link it stops answering there and logs it. Needs interfaces to be listed: \
without them no advertisement is sent) or \"off\".

[console] enable = false (on: keep the serial console of every selected node connected and \
logged; off by default because a BMC has a single SOL session and the service takes it, from \
ipmitool too), nodes = \"nodehm.cons==ipmi\" (a noderange, read at startup), log_dir = \
\"/var/log/oxcat/consoles\" (created 0700; NODE.log 0600 per node, every line prefixed with the \
UTC time it began, service events as [-- oxcatd: ... --] lines), log_max = 4194304 (bytes before \
NODE.log is rotated to NODE.log.1), log_keep = 2 (rotated files kept), socket = \
\"/run/oxcat/console.sock\" (where rcons attaches; 0600 in a 0700 directory), keepalive = 10 \
(seconds between keep-alives on a quiet console: Get Payload Instance Info, which also notices a \
BMC that stopped answering, after site.ipmitimeout x site.ipmiretries, and a console another \
session took), status = [] (regular expressions, e.g. [\"login:\", \"Kernel panic\"]: the last \
console line that matches one, even one still waiting for input, without terminal escapes and at \
most 200 characters, is kept as console=LINE in the node's nodelist.appstatus, other entries \
kept; lsdef NODE -i appstatus shows it). A lost or refused console is retried after 1 s, doubling to 60 s, plus a random \
share of a window of 20 ms per console held (a rack of BMCs restarting together is reconnected \
spread out, not as a storm); one another session holds is taken back. Several rcons clients can \
attach to a console at once: the first writes, the others read. The nodes are read again on \
SIGHUP or makegocons (new consoles started, those no longer selected released, those whose BMC \
changed restarted), and every console is released (SOL deactivated) when oxcatd stops.

Everything else comes from the site, networks, nodes' and osimage tables. Log lines go to standard \
error (the journal under systemd): one per DHCP exchange, and one per problem (each client and \
request at most once in five minutes): a client whose MAC no node has, a DHCP reply that cannot be \
sent, an HTTP or TFTP request refused (a wrong token, a path outside the root, a write) or for a \
file that is not there, a TFTP transfer the client abandoned (no acknowledgement, or its port \
closed), a DHCP packet dropped unread (only Ethernet BOOTREQUESTs with the DHCP magic cookie and \
well-formed options are read: hardware type 1, address length 6). Tokens are never logged. Control \
characters clients sent are logged as escapes (\\x0a, \\x1b); past 2,000 lines at once or 200 a \
second, lines are counted instead, and every 5 s a line says how many were suppressed.

A MAC no node has gets an address only from its network's discovery range (networks.dynamicrange): \
offers are held for a minute in memory, a REQUEST for a free address of the range binds it for \
site.dhcplease seconds in the dhcplease table (any other REQUEST is NAKed and binds nothing), and \
rows go an hour after their lease expired; at most 65,536 offers and leases are held.

oxcatd runs until SIGTERM or SIGINT (exit status 0). If one of its services stops (a bug), oxcatd \
logs which and why and exits with status 1, so that the service manager restarts all of it (the \
shipped unit restarts it after any exit).

A node's boot token (on its kernel command line) and what it opens are for the node only: its \
boot config (HTTP and TFTP; rendered, or a file nodeset --files wrote), its mypostscript and its status reports are answered only to \
the node's own address, hosts.ip, or with proxyDHCP the address oxcatd saw its MAC ask for or use \
in DHCP (as trustworthy as the boot network). Once the node reports installed, booted or failed, \
the token is spent: it still reports status, but opens nothing else until the next nodeset, and \
chain.token keeps only its SHA-256.

Status reports (GET or POST /status?node=N&token=T&status=S) say booting, netbooting, installing, \
installing N% (N from 0 to 100), postbooting, installed, booted, failed or failed: REASON (at most \
256 bytes, no control characters); anything else is a 400. With installed and failed, a POSTed body \
(the deploy agent's log tail: at most 16 KiB, sent within header_timeout; control characters other \
than newlines dropped) is kept in nodelist.deploylog (lsdef NODE -i deploylog).

Disk deploys: GET /deploy/plan?node=N&token=T gives the node agent of genesis its plan (JSON): the \
image's URL (http://IMAGESERVER:site.httpport/install/..., linuximage.diskimage), its format, \
SHA-256 and size (linuximage.diskimageformat, diskimagesha256, diskimagesize), the root device \
hints (noderes.rootdevice, else linuximage.rootdevice) and a cloud-init NoCloud seed: meta-data \
(instance-id, local-hostname), user-data (the file noderes.userdata or linuximage.userdata names, \
read when the plan is fetched: a file that cannot be read is a 500 and a log line; else a \
#cloud-config with the host name and the SSH keys of site.installdir/postscripts/_ssh/authorized_keys), \
vendor-data and oxcat-firstboot.sh (POSIX sh run at the first boot from disk: fetches oxcatpost and \
runs it once, which reports booted), and network-config (version 2: the node's first MAC, hosts.ip \
with the prefix, gateway and nameservers of the networks row holding it, site.nameservers and \
site.domain as fallbacks; DHCP without such a row). The plan is answered only to the node's own \
address, with its unspent token (else 403), while its state is install IMAGE of an osimage with \
provmethod=disk (else 409). Each fetch draws a new first-boot token, kept in chain.nexttoken and \
carried by the seed. installed in that state hands the node over to its disk, in one transaction: \
chain.token becomes the first-boot token, the state boot as nodeset NODE boot records it (configs \
nodeset --files wrote for the node are written again), status installed; then, for a node with \
nodehm.mgt=ipmi, oxcatd sets its next boot device to disk once (as rsetboot NODE hd) and logs the \
outcome. failed: REASON spends the token and leaves the state as it was.";

pub fn command() -> Command {
    Command::new("oxcatd").long_about(LONG_ABOUT).arg(
        Arg::new("config")
            .long("config")
            .value_name("FILE")
            .help("Bootstrap settings (default: $OXCAT_CONFIG, else /etc/oxcat/oxcat.toml)"),
    )
}

pub fn run(ctx: &mut Ctx, m: &ArgMatches) -> Result<Status> {
    let mut cfg = Config::load(m.get_one::<String>("config").map(String::as_str))?;
    if let Some(db) = ctx.db_flag() {
        cfg.db = Some(db.into());
    }
    daemon::run(cfg, ctx.out.as_mut())?;
    Ok(Status::Ok)
}
