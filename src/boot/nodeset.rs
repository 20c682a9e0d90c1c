//! nodeset: for the named nodes only, renders the boot configs the firmware or iPXE will fetch
//! (pxelinux.cfg/01-MAC, ipxe/NODE.ipxe, grub2/grub.cfg-01-MAC under site.tftpdir), with line 1
//! recording the state, and records the state in chain.currstate. Kernel arguments carry what the
//! node needs to fetch its postscripts and report its status: its name, the server, and a fresh
//! per-node token, kept in chain.token for the HTTP endpoints to check. oxcatd renders the same
//! configs at request time from the recorded state ([`render_path`]), so nodeset need not write
//! files (10,000 nodes: a store update); `--files` writes them for other TFTP servers.

use super::render::{self, Template};
use super::servers::{self, LocalNets};
use crate::error::{Error, Result};
use crate::store::schema;
use crate::store::view::NodeView;
use crate::store::{self, get_row};
use rusqlite::Connection;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// What nodeset was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Boot this image (None: the node's nodetype.provmethod).
    Image(Option<String>),
    Boot,
    Shell,
    /// `runcmd=CMD` or `runimage=URL` (the text as given): boot like `shell`, with the task on the
    /// kernel command line as `oxcat.destiny=...` (xCAT boots genesis with `destiny=...`).
    Run(String),
    Offline,
    /// Like offline: the boot configs go (xCAT's destiny treats shutdown as offline), the state
    /// recorded is `shutdown`.
    Shutdown,
}

impl Request {
    /// Parses a nodeset state other than `stat`; the error says what is allowed.
    pub fn parse(state: &str) -> std::result::Result<Request, String> {
        Ok(match state {
            "boot" => Request::Boot,
            "shell" => Request::Shell,
            "offline" => Request::Offline,
            "shutdown" => Request::Shutdown,
            "osimage" => Request::Image(None),
            s if s.contains(',') => {
                return Err(format!(
                    "'{s}': chains of states (runimage=A,runimage=B,...) are not supported; give one state"
                ))
            }
            s => {
                if let Some(name) = s.strip_prefix("osimage=").filter(|n| !n.is_empty()) {
                    return Ok(Request::Image(Some(name.to_string())));
                }
                let task = s.strip_prefix("runcmd=").or_else(|| s.strip_prefix("runimage="));
                match task {
                    Some("") if s.starts_with("runimage") => return Err("An image path should be specified to runimage.".into()),
                    Some("") => return Err("runcmd= needs a command (e.g. runcmd=bmcsetup)".into()),
                    Some(t) if t.chars().any(char::is_whitespace) => {
                        return Err(format!("'{s}': the task goes on the kernel command line and cannot contain spaces"))
                    }
                    Some(_) => Request::Run(s.to_string()),
                    None => {
                        return Err(format!(
                            "'{s}' is not a nodeset state (allowed: osimage=NAME, osimage, boot, shell, runcmd=CMD, runimage=URL, shutdown, offline, stat)"
                        ))
                    }
                }
            }
        })
    }
}

/// The boot loaders nodeset writes a config for.
pub const LOADERS: &[&str] = &["pxelinux", "ipxe", "grub2"];

/// One node's outcome: its new state, the files to write (path, content) and to remove.
#[derive(Debug, Clone)]
pub struct Plan {
    pub node: String,
    pub state: String,
    pub files: Vec<(PathBuf, String)>,
    pub remove: Vec<PathBuf>,
    /// nodetype columns to set (osimage=NAME copies the image's name, profile, os and arch).
    pub nodetype: Vec<(&'static str, String)>,
    /// The node's boot token, when the state boots an image.
    pub token: Option<String>,
}

fn dashed(mac: &str) -> String {
    mac.replace(':', "-")
}

/// The config files of a node, by loader.
pub fn paths(tftpdir: &Path, node: &str, mac: &str) -> Vec<PathBuf> {
    vec![
        tftpdir.join("pxelinux.cfg").join(format!("01-{}", dashed(mac))),
        tftpdir.join("ipxe").join(format!("{node}.ipxe")),
        tftpdir.join("grub2").join(format!("grub.cfg-01-{}", dashed(mac))),
    ]
}

pub fn tftpdir(conn: &Connection) -> Result<PathBuf> {
    Ok(PathBuf::from(store::site_value(conn, "tftpdir")?.unwrap_or_else(|| "/tftpboot".into())))
}

struct Ctx<'a> {
    view: &'a NodeView<'a>,
    conn: &'a Connection,
    /// site.master: a node's master when noderes.xcatmaster does not name one.
    site_master: Option<String>,
    /// This machine's addresses, read when some node's master is neither set nor site.master.
    local: std::cell::OnceCell<LocalNets>,
    http_port: String,
    installdir: PathBuf,
    tftpdir: PathBuf,
    templatedir: Option<PathBuf>,
    cache: HashMap<String, Option<Template>>,
    /// Render with the token already recorded (oxcatd at request time) instead of a new one.
    reuse_token: bool,
}

impl Ctx<'_> {
    fn col(&self, node: &str, table: &str, column: &str) -> Result<Option<String>> {
        self.view.get(node, table, column)
    }

    /// The URL path under which the HTTP server serves a file of the image store.
    fn url_path(&self, file: &str) -> std::result::Result<String, String> {
        super::install_url_path(&self.installdir, file)
    }
}

/// Nodes that could not be planned, each with why; they are left alone.
pub type Failures = Vec<(String, String)>;

/// Plans every node; nodes that cannot be planned come back as (node, error) and are left alone.
pub fn plan(conn: &Connection, view: &NodeView, nodes: &[String], req: &Request) -> Result<(Vec<Plan>, Failures)> {
    plan_with(conn, view, nodes, req, false)
}

fn plan_with(
    conn: &Connection,
    view: &NodeView,
    nodes: &[String],
    req: &Request,
    reuse_token: bool,
) -> Result<(Vec<Plan>, Failures)> {
    let site = |k: &str| store::site_value(conn, k);
    let mut ctx = Ctx {
        reuse_token,
        view,
        conn,
        site_master: site("master")?,
        local: std::cell::OnceCell::new(),
        http_port: site("httpport")?.unwrap_or_else(|| "80".into()),
        installdir: PathBuf::from(site("installdir")?.unwrap_or_else(|| "/install".into())),
        tftpdir: tftpdir(conn)?,
        templatedir: Some(PathBuf::from(site("templatedir")?.unwrap_or_else(|| "/etc/oxcat/templates".into()))),
        cache: HashMap::new(),
    };
    let mut plans = Vec::with_capacity(nodes.len());
    let mut failed = Vec::new();
    for n in nodes {
        match plan_node(&mut ctx, n, req)? {
            Ok(p) => plans.push(p),
            Err(e) => failed.push((n.clone(), e)),
        }
    }
    Ok((plans, failed))
}

fn plan_node(ctx: &mut Ctx, node: &str, req: &Request) -> Result<std::result::Result<Plan, String>> {
    let mac = ctx.col(node, "mac", "mac")?.and_then(|m| {
        m.split('|').next().and_then(|first| crate::node::parse_mac(first.split('!').next().unwrap_or(first)).ok())
    });
    if matches!(req, Request::Offline | Request::Shutdown) {
        let state = if *req == Request::Shutdown { "shutdown" } else { "offline" };
        let remove = mac
            .map(|m| paths(&ctx.tftpdir, node, &m))
            .unwrap_or_else(|| vec![ctx.tftpdir.join("ipxe").join(format!("{node}.ipxe"))]);
        return Ok(Ok(Plan {
            node: node.into(),
            state: state.into(),
            files: vec![],
            remove,
            nodetype: vec![],
            token: None,
        }));
    }
    let Some(mac) = mac else {
        return Ok(Err(format!("no MAC address (mac.mac): the boot files are named after it (chdef {node} mac=...)")));
    };
    let Some(ip) = ctx.col(node, "hosts", "ip")? else {
        return Ok(Err(format!("no IP address (hosts.ip): DHCP would have nothing to give it (chdef {node} ip=...)")));
    };
    let image = match req {
        Request::Image(Some(i)) => Some(i.clone()),
        Request::Image(None) => ctx.col(node, "nodetype", "provmethod")?,
        _ => None,
    };
    let Some(servers) = servers::of_node(ctx.view, node, ip.parse().ok(), ctx.site_master.as_deref(), &ctx.local)?
    else {
        return Ok(Err(format!(
            "no server for it: noderes.xcatmaster and site.master are not set and this machine has no address on the network of {ip} \
             (chdef -t site master=ADDRESS, the management node's address as the nodes see it)"
        )));
    };
    let mut vars: HashMap<&str, String> = HashMap::new();
    vars.insert("node", node.to_string());
    vars.insert("mac", mac.clone());
    vars.insert("ip", ip);
    // Templates fetch the kernel and initrd from {{server}}, the image server.
    vars.insert("server", servers.image.clone());
    vars.insert("xcatmaster", servers.master.clone());
    vars.insert("tftpserver", servers.tftp.clone());
    vars.insert("nfsserver", servers.image.clone());
    vars.insert("http_port", ctx.http_port.clone());
    let (state, kind, mut nodetype, token, profile, os, arch) = if *req == Request::Boot {
        vars.insert("image", String::new());
        ("boot".to_string(), "boot", vec![], None, None, None, None)
    } else {
        // shell and run tasks boot genesis and need no image (as xCAT's); an image request needs
        // its image, and a disk image (provmethod disk) boots genesis to deploy it.
        let osimage = schema::table("osimage").expect("osimage");
        let linuximage = schema::table("linuximage").expect("linuximage");
        let mut image_rows = None;
        if let Request::Image(_) = req {
            let Some(image) = image else {
                return Ok(Err("no image: give osimage=NAME, or set the node's provmethod to an osimage".into()));
            };
            let Some(o) = get_row(ctx.conn, osimage, &[&image])? else {
                return Ok(Err(format!("osimage '{image}' does not exist (lsdef -t osimage lists them)")));
            };
            let l = get_row(ctx.conn, linuximage, &[&image])?.unwrap_or_else(|| vec![None; linuximage.columns.len()]);
            image_rows = Some((image, o, l));
        }
        let ocol = |c: &str| -> Option<String> {
            image_rows.as_ref().and_then(|(_, o, _)| o[osimage.column(c).expect("osimage column").0].clone())
        };
        let lcol = |c: &str| -> Option<String> {
            image_rows.as_ref().and_then(|(_, _, l)| l[linuximage.column(c).expect("linuximage column").0].clone())
        };
        let kind = match (req, ocol("provmethod").as_deref()) {
            (Request::Shell | Request::Run(_), _) => "shell",
            (_, Some("disk")) => "deploy",
            (_, Some("install")) => "install",
            _ => "netboot",
        };
        let image = image_rows.as_ref().map(|(i, _, _)| i.clone()).unwrap_or_else(|| "genesis".into());
        let base = format!("http://{}:{}", servers.image, ctx.http_port);
        let master = format!("http://{}:{}", servers.master, ctx.http_port);
        // What to boot: genesis (from the TFTP root, which oxcatd serves over HTTP under
        // /tftpboot/), or the image's kernel and initrd.
        if kind == "deploy" && lcol("diskimage").is_none() {
            return Ok(Err(format!("osimage '{image}' has no disk image (register one with addimage --disk)")));
        }
        let (kpath, ipath, files_base) = if matches!(kind, "shell" | "deploy") {
            let arch = ctx.col(node, "nodetype", "arch")?.or_else(|| ocol("osarch")).unwrap_or_else(|| "x86_64".into());
            let (k, i) = super::genesis_files(&arch);
            if let Some(missing) = [&k, &i].into_iter().find(|f| !ctx.tftpdir.join(f).is_file()) {
                return Ok(Err(format!(
                    "genesis (the node ramdisk) for {arch} is not in the TFTP root: {} is missing (run mknb to build it)",
                    ctx.tftpdir.join(missing).display()
                )));
            }
            (format!("/tftpboot/{k}"), format!("/tftpboot/{i}"), format!("http://{}:{}", servers.tftp, ctx.http_port))
        } else {
            let (Some(kernel), Some(initrd)) = (lcol("kernel"), lcol("initrd")) else {
                return Ok(Err(format!("osimage '{image}' has no kernel and initrd (register them with addimage)")));
            };
            match (ctx.url_path(&kernel), ctx.url_path(&initrd)) {
                (Ok(k), Ok(i)) => (k, i, base.clone()),
                (Err(e), _) | (_, Err(e)) => return Ok(Err(format!("osimage '{image}': {e}"))),
            }
        };
        // A fresh token per nodeset; when rendering at request time, the one nodeset recorded.
        let token: String = if ctx.reuse_token {
            match ctx.col(node, "chain", "token")? {
                Some(t) if !token_is_spent(&t) => t,
                Some(_) => {
                    return Ok(Err(
                        "the boot token is spent (the node reported the end of its boot): run nodeset again".into(),
                    ))
                }
                None => return Ok(Err("no boot token recorded: run nodeset for this node again".into())),
            }
        } else {
            new_token()
        };
        let mut args: Vec<String> = Vec::new();
        // The image's kernel arguments are for its own kernel, not for genesis.
        if let Some(a) = lcol("addkcmdline").filter(|_| kind != "deploy") {
            args.push(a);
        }
        if let Some(a) = ctx.col(node, "bootparams", "addkcmdline")? {
            args.push(a);
        }
        if let Some(port) = ctx.col(node, "nodehm", "serialport")? {
            let speed = ctx.col(node, "nodehm", "serialspeed")?.unwrap_or_else(|| "115200".into());
            args.push(format!("console=tty0 console=ttyS{port},{speed}"));
        }
        if let Some(r) = lcol("rootimg").filter(|_| kind != "deploy") {
            match ctx.url_path(&r) {
                Ok(p) => args.push(format!("oxcat.rootimg={base}{p}")),
                Err(e) => return Ok(Err(format!("osimage '{image}': {e}"))),
            }
        }
        args.push(format!("oxcat.node={node} oxcat.server={master} oxcat.token={token}"));
        if matches!(kind, "shell" | "deploy") {
            // Genesis brings up the boot NIC (the one the configs are named after) only.
            args.push(format!("oxcat.mode={kind} oxcat.mac={mac}"));
        }
        if let Request::Run(task) = req {
            args.push(format!("oxcat.destiny={task}"));
        }
        vars.insert("kcmdline", args.join(" "));
        vars.insert("kernel_url", format!("{files_base}{kpath}"));
        vars.insert("initrd_url", format!("{files_base}{ipath}"));
        vars.insert("kernel_path", kpath);
        vars.insert("initrd_path", ipath);
        vars.insert("image", image.clone());
        let mut nodetype = Vec::new();
        if let Request::Image(Some(_)) = req {
            nodetype.push(("provmethod", image.clone()));
            for (col, from) in [("profile", "profile"), ("os", "osvers"), ("arch", "osarch")] {
                if let Some(v) = ocol(from) {
                    nodetype.push((col, v));
                }
            }
        }
        let state = match req {
            Request::Run(task) => task.clone(),
            _ if kind == "shell" => "shell".to_string(),
            // A deploy is an install, as xCAT records a diskful install.
            _ if kind == "deploy" => format!("install {image}"),
            _ => format!("{kind} {image}"),
        };
        (state, kind, nodetype, Some(token), ocol("profile"), ocol("osvers"), ocol("osarch"))
    };
    let profile = profile.or(ctx.col(node, "nodetype", "profile")?);
    let os = os.or(ctx.col(node, "nodetype", "os")?);
    let arch = arch.or(ctx.col(node, "nodetype", "arch")?);
    vars.insert("state", state.clone());
    let mut files = Vec::new();
    for (loader, path) in LOADERS.iter().zip(paths(&ctx.tftpdir, node, &mac)) {
        let names = render::candidates(loader, kind, profile.as_deref(), os.as_deref(), arch.as_deref());
        let Some(t) = render::lookup(ctx.templatedir.as_deref(), &names, &mut ctx.cache) else {
            return Ok(Err(format!("no {loader} template for {kind} (looked for {})", names.join(", "))));
        };
        match render::render(&t, &vars) {
            Ok(text) => files.push((path, text)),
            Err(e) => return Ok(Err(e)),
        }
    }
    nodetype.retain(|(_, v)| !v.is_empty());
    Ok(Ok(Plan { node: node.into(), state, files, remove: vec![], nodetype, token }))
}

/// How chain.token keeps a spent token: the node reported the end of its boot's work
/// (installed, booted, failed), so its token may only report status until the next nodeset, and
/// only its digest is kept.
const SPENT: &str = "sha256:";

/// A fresh token: 16 random bytes, hex (the boot token nodeset draws, and the first-boot token a
/// disk deploy's plan draws).
pub fn new_token() -> String {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).expect("the OS random source works");
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// SHA-256 of a token, hex.
pub fn token_digest(token: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// What chain.token holds once `token` is spent (see [`SPENT`]).
pub fn spent_token(token: &str) -> String {
    format!("{SPENT}{}", token_digest(token))
}

pub fn token_is_spent(stored: &str) -> bool {
    stored.starts_with(SPENT)
}

/// True when `given` is the token chain.token holds (plain, or spent). Digests are compared, so
/// the time taken says nothing about how much of the token matched.
pub fn token_matches(stored: &str, given: &str) -> bool {
    if given.is_empty() {
        return false;
    }
    let given = token_digest(given);
    match stored.strip_prefix(SPENT) {
        Some(digest) => digest == given,
        None => token_digest(stored) == given,
    }
}

/// Records the plans in the store (inside the caller's transaction).
pub fn record(conn: &Connection, plans: &[Plan]) -> Result<()> {
    let chain = schema::table("chain").expect("chain");
    let nodetype = schema::table("nodetype").expect("nodetype");
    for p in plans {
        // A new state drops a disk deploy's first-boot token not yet handed over (see
        // crate::deploy::plan): only `installed` of that deploy may make it the node's token.
        let mut cols: Vec<(&str, Option<&str>)> = vec![("currstate", Some(&p.state)), ("nexttoken", None)];
        if let Some(t) = &p.token {
            cols.push(("token", Some(t)));
        }
        store::upsert(conn, chain, &[&p.node], &cols)?;
        if !p.nodetype.is_empty() {
            let cols: Vec<(&str, Option<&str>)> = p.nodetype.iter().map(|(c, v)| (*c, Some(v.as_str()))).collect();
            store::upsert(conn, nodetype, &[&p.node], &cols)?;
        }
    }
    Ok(())
}

/// Records the plans (one transaction, with the audit entry `(command, range, args)`), then brings
/// the TFTP root in line: with `files` the configs are written; without, configs an earlier
/// `--files` run left are removed, so that what oxcatd serves (a file on disk wins over
/// rendering) follows the new state.
pub fn commit(
    st: &mut store::Store,
    mut plans: Vec<Plan>,
    files: bool,
    audit: (&str, &str, &str),
) -> Result<Vec<Plan>> {
    if plans.is_empty() {
        return Ok(plans);
    }
    // A node booted now installs the cluster's SSH key from its mypostscript or deploy seed, so
    // the key must exist before it boots, not at the first xdsh.
    crate::remote::keys::ensure(st)?;
    st.write(|c| {
        record(c, &plans)?;
        store::audit(c, audit.0, audit.1, audit.2)
    })?;
    if !files {
        for p in &mut plans {
            p.remove.extend(p.files.drain(..).map(|(path, _)| path));
        }
    }
    apply(&plans).map_err(Error::Io)?;
    Ok(plans)
}

/// Writes the planned files (each through a temporary name, so a reader never sees half a file)
/// and removes the planned removals.
pub fn apply(plans: &[Plan]) -> std::result::Result<(), String> {
    let mut made: std::collections::HashSet<PathBuf> = std::collections::HashSet::new();
    for p in plans {
        for (path, text) in &p.files {
            if let Some(dir) = path.parent() {
                if made.insert(dir.to_path_buf()) {
                    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
                }
            }
            let tmp = path.with_extension("oxcat-tmp");
            std::fs::write(&tmp, text).map_err(|e| format!("{}: {e}", tmp.display()))?;
            std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))?;
        }
        for path in &p.remove {
            match std::fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(format!("{}: {e}", path.display())),
            }
        }
    }
    Ok(())
}

/// The request a recorded state (chain.currstate) stands for; None for offline or no state.
fn request_of(state: &str) -> Option<Request> {
    match state.split_once(' ') {
        Some(("netboot" | "install", image)) => Some(Request::Image(Some(image.to_string()))),
        _ => match state {
            "boot" => Some(Request::Boot),
            "shell" => Some(Request::Shell),
            s if s.starts_with("runcmd=") || s.starts_with("runimage=") => Some(Request::Run(s.to_string())),
            _ => None,
        },
    }
}

/// What oxcatd serves at a config path under the TFTP root (`ipxe/NODE.ipxe`,
/// `pxelinux.cfg/01-MAC`, `grub2/grub.cfg-01-MAC`): the node's config rendered from its recorded
/// state, with its recorded token, and the node it is for. None when the path is no config or the
/// node has no boot state.
/// The node that boots from `mac`: the rows that spell it out first (one query), else, where
/// some mac row holds a regex value, every node's resolved value.
pub fn node_with_mac(conn: &Connection, mac: &str) -> Result<Option<String>> {
    let Ok(mac) = crate::node::parse_mac(mac) else { return Ok(None) };
    let has = |macs: &str| crate::node::macs_of(macs).any(|m| m == mac);
    let rows: Vec<(String, String)> = conn
        .prepare_cached("SELECT node, mac FROM mac WHERE mac LIKE ?1 AND coalesce(disable, '') NOT IN ('yes', '1')")?
        .query_map([format!("%{mac}%")], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    // A node's own row wins over its groups': a row that holds the MAC answers for its node,
    // if that is a node (not a group row, not disabled).
    let candidates: Vec<String> = rows.into_iter().filter(|(_, m)| has(m)).map(|(n, _)| n).collect();
    if let Some(n) = NodeView::of_nodes(conn, &candidates)?.nodes().first() {
        return Ok(Some(n.clone()));
    }
    // Else the MAC can only come from a group row: one that spells it out (a candidate that is
    // no node) or a regex value.
    let regex_rows: Vec<String> = conn
        .prepare_cached("SELECT mac FROM mac WHERE substr(mac, 1, 1) IN ('|', '/')")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    if candidates.is_empty() && !regex_rows.iter().any(|v| crate::store::regexval::is_regex_value(v)) {
        return Ok(None);
    }
    let view = NodeView::load(conn)?;
    for n in view.nodes() {
        if view.get(n, "mac", "mac")?.is_some_and(|m| has(&m)) {
            return Ok(Some(n.clone()));
        }
    }
    Ok(None)
}

/// The node whose boot config a path under the TFTP root names (`ipxe/NODE.ipxe`,
/// `pxelinux.cfg/01-MAC`, `grub2/grub.cfg-01-MAC`), if a node has that name or MAC. Such a file
/// holds the node's token, whether rendered or written by `nodeset --files`: the servers hand it
/// to that node only.
pub fn config_node(conn: &Connection, rel: &str) -> Result<Option<String>> {
    Ok(config_of(conn, rel)?.map(|(_, node)| node))
}

/// True when `rel` has the form of a node's boot config path (no store read): the servers ask
/// [`config_node`] only then.
pub fn names_a_config(rel: &str) -> bool {
    config_key(rel).is_some()
}

/// Which of a node's files (0 pxelinux, 1 iPXE, 2 GRUB) a path names, and the node.
fn config_of(conn: &Connection, rel: &str) -> Result<Option<(usize, String)>> {
    let Some((loader, key)) = config_key(rel) else { return Ok(None) };
    let node = if loader == 1 { Some(key) } else { node_with_mac(conn, &key)? };
    Ok(node.map(|n| (loader, n)))
}

/// Which of a node's files a path names, and its key: the node's name (iPXE) or its MAC.
fn config_key(rel: &str) -> Option<(usize, String)> {
    let rel = rel.trim_start_matches('/');
    if let Some(n) = rel.strip_prefix("ipxe/").and_then(|r| r.strip_suffix(".ipxe")) {
        Some((1, n.to_string()))
    } else if let Some(m) = rel.strip_prefix("pxelinux.cfg/01-") {
        Some((0, m.replace('-', ":")))
    } else {
        rel.strip_prefix("grub2/grub.cfg-01-").map(|m| (2, m.replace('-', ":")))
    }
}

/// A node's boot config, rendered from its recorded state, for a path [`config_node`] knows.
pub fn render_path(conn: &Connection, rel: &str) -> Result<Option<(String, String)>> {
    let Some((loader, node)) = config_of(conn, rel)? else { return Ok(None) };
    // Only this node's rows: a boot storm asks once per node, and the cluster may be large.
    let view = NodeView::of_nodes(conn, std::slice::from_ref(&node))?;
    if !view.is_node(&node) {
        return Ok(None);
    }
    let Some(state) = view.get(&node, "chain", "currstate")? else { return Ok(None) };
    let Some(req) = request_of(&state) else { return Ok(None) };
    let (plans, failed) = plan_with(conn, &view, std::slice::from_ref(&node), &req, true)?;
    // A node with a boot state but no config (its osimage removed since nodeset, say): the daemon
    // logs why, so the bare 404 the node gets can be explained.
    if let Some((_, why)) = failed.into_iter().next() {
        return Err(Error::Input(format!("{node} (state '{state}') has no boot config: {why}")));
    }
    Ok(plans.into_iter().next().and_then(|p| p.files.into_iter().nth(loader)).map(|(_, text)| (node, text)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_states_parse_and_render_again_from_the_record() {
        let run = Request::Run("runcmd=bmcsetup".into());
        assert_eq!(Request::parse("runcmd=bmcsetup"), Ok(run.clone()));
        // oxcatd renders a node's config from chain.currstate: a runcmd state stays one.
        assert_eq!(request_of("runcmd=bmcsetup"), Some(run));
        assert_eq!(request_of("runimage=http://h/i.tgz"), Some(Request::Run("runimage=http://h/i.tgz".into())));
        assert_eq!(request_of("shutdown"), None);
        assert_eq!(Request::parse("shutdown"), Ok(Request::Shutdown));
        assert!(Request::parse("runcmd=a b").is_err());
        assert!(Request::parse("runimage=a,runimage=b").is_err());
    }
}
