//! genesis, the node ramdisk (xCAT's name): Debian's kernel and an initramfs of busybox, the
//! drivers real servers boot with, and the oxcat binary itself (the node agent), with
//! share/genesis/init as /init. Built by `mknb` from Debian's packages (`apt-get download`,
//! `dpkg -x`; nothing is installed on the management node) into `TFTPDIR/genesis/ARCH/`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The kernel metapackage whose current dependency is the kernel genesis boots.
pub const KERNEL_METAPACKAGE: &str = "linux-image-amd64";
/// busybox, statically linked: the shell, DHCP client, modprobe and the tools of /init.
pub const BUSYBOX_PACKAGE: &str = "busybox-static";

/// The drivers genesis carries (with the modules they depend on): virtual machines' disks and
/// NICs, the disk controllers and NICs of common servers, the FAT filesystem of a seed or an ESP,
/// and IPMI. A kernel that lacks one (renamed, built in) is reported, not fatal.
pub const MODULES: &[&str] = &[
    "virtio_pci",
    "virtio_net",
    "virtio_blk",
    "virtio_scsi",
    "sd_mod",
    "sr_mod",
    "nvme",
    "ahci",
    "ata_piix",
    "e1000",
    "e1000e",
    "igb",
    "ixgbe",
    "i40e",
    "ice",
    "mlx5_core",
    "bnxt_en",
    "tg3",
    "r8169",
    "vfat",
    "nls_cp437",
    "nls_iso8859_1",
    "ipmi_si",
    "ipmi_devintf",
    "ipmi_msghandler",
];

/// /init (POSIX sh under busybox) and the udhcpc script it runs.
pub const INIT: &str = include_str!("../../share/genesis/init");
pub const UDHCPC_SCRIPT: &str = include_str!("../../share/genesis/udhcpc.script");

/// What to build genesis from.
pub struct Options {
    pub tftpdir: PathBuf,
    pub arch: String,
    /// Where the .deb files are looked for and downloaded to; None: a temporary directory.
    pub debdir: Option<PathBuf>,
    /// The binary installed as /bin/oxcat.
    pub oxcat: PathBuf,
}

/// Builds genesis; lines saying what was built (with sizes) and warnings (prefixed `warning: `).
/// Errors are one line each, naming the package that is missing where one is.
pub fn build(opts: &Options) -> Result<Vec<String>, Vec<String>> {
    let fail = |what: String| vec![what];
    if opts.arch != "x86_64" {
        return Err(fail(format!("genesis for arch '{}' is not supported (allowed: x86_64)", opts.arch)));
    }
    let mut missing = Vec::new();
    for (tool, pkg) in [("dpkg", "dpkg"), ("ldd", "libc-bin")] {
        if Command::new(tool).arg("--version").output().is_err() {
            missing.push(format!("{tool} is missing (apt-get install {pkg})"));
        }
    }
    if !opts.oxcat.is_file() {
        missing.push(format!("{}: no such file (the oxcat binary for genesis, --oxcat)", opts.oxcat.display()));
    }
    if !missing.is_empty() {
        return Err(missing);
    }
    let work = WorkDir::new().map_err(fail)?;
    let debdir = match &opts.debdir {
        Some(d) => d.clone(),
        None => work.0.join("debs"),
    };
    std::fs::create_dir_all(&debdir).map_err(|e| fail(format!("{}: {e}", debdir.display())))?;
    let kpkg = kernel_package(&debdir).map_err(fail)?;
    let debs = fetch(&debdir, &work.0.join("download"), &[&kpkg, BUSYBOX_PACKAGE])?;
    let x = work.0.join("x");
    for deb in &debs {
        let o = Command::new("dpkg").arg("-x").arg(deb).arg(&x).output().map_err(|e| fail(format!("dpkg -x: {e}")))?;
        if !o.status.success() {
            let err = String::from_utf8_lossy(&o.stderr);
            return Err(fail(format!("dpkg -x {} failed: {}", deb.display(), err.trim())));
        }
    }
    let kver = kernel_version(&x).map_err(fail)?;
    let mut tree = Tree::default();
    let mut lines = Vec::new();
    let skipped = add_modules(&mut tree, &x, &kver).map_err(fail)?;
    if !skipped.is_empty() {
        lines.push(format!("warning: genesis: not in kernel {kver}, left out: {}", skipped.join(", ")));
    }
    add_busybox(&mut tree, &x.join("bin/busybox")).map_err(fail)?;
    if let Some(w) = add_oxcat(&mut tree, &opts.oxcat, &work.0).map_err(fail)? {
        lines.push(format!("warning: {w}"));
    }
    tree.file("init", 0o755, INIT.as_bytes().to_vec());
    tree.file("etc/udhcpc.script", 0o755, UDHCPC_SCRIPT.as_bytes().to_vec());
    tree.file("etc/passwd", 0o644, b"root:x:0:0:root:/root:/bin/sh\n".to_vec());
    tree.file("etc/group", 0o644, b"root:x:0:\n".to_vec());
    for d in ["proc", "sys", "dev", "run", "tmp", "root", "mnt", "var/log"] {
        tree.dir(d);
    }
    // The kernel opens /dev/console for /init before anything is mounted.
    tree.entries.insert("dev/console".into(), Entry::CharDev(0o600, 5, 1));

    let (kname, iname) = super::genesis_files(&opts.arch);
    let (kernel, initrd) = (opts.tftpdir.join(kname), opts.tftpdir.join(iname));
    let parent = kernel.parent().expect("genesis files have a directory");
    std::fs::create_dir_all(parent).map_err(|e| fail(format!("{}: {e}", parent.display())))?;
    let vmlinuz = x.join(format!("boot/vmlinuz-{kver}"));
    let image = std::fs::read(&vmlinuz).map_err(|e| fail(format!("{}: {e}", vmlinuz.display())))?;
    write_atomic(&kernel, |mut f| f.write_all(&image)).map_err(fail)?;
    let raw = tree.size();
    write_atomic(&initrd, |f| {
        let mut gz = flate2::write::GzEncoder::new(std::io::BufWriter::new(f), flate2::Compression::default());
        tree.write_cpio(&mut gz)?;
        gz.finish()?.flush()
    })
    .map_err(fail)?;
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    lines.push(format!("{} ({}, kernel {kver} from {kpkg})", kernel.display(), mib(size(&kernel))));
    lines.push(format!(
        "{} ({} gzip, {} unpacked: busybox, oxcat, {} modules)",
        initrd.display(),
        mib(size(&initrd)),
        mib(raw),
        tree.entries.keys().filter(|k| k.ends_with(".ko")).count()
    ));
    Ok(lines)
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// A temporary directory, removed on drop.
struct WorkDir(PathBuf);

impl WorkDir {
    fn new() -> Result<WorkDir, String> {
        let mut b = [0u8; 6];
        getrandom::fill(&mut b).expect("the OS random source works");
        let name: String = b.iter().map(|x| format!("{x:02x}")).collect();
        let dir = std::env::temp_dir().join(format!("oxcat-genesis.{name}"));
        std::fs::create_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(WorkDir(dir))
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The kernel package the metapackage depends on now (`apt-cache depends`); without apt's
/// lists, the newest one already in `debdir`.
fn kernel_package(debdir: &Path) -> Result<String, String> {
    let from_apt = Command::new("apt-cache").args(["depends", KERNEL_METAPACKAGE]).output().ok().and_then(|o| {
        String::from_utf8_lossy(&o.stdout).lines().find_map(|l| {
            let dep = l.trim().strip_prefix("Depends: ")?;
            dep.starts_with("linux-image-").then(|| dep.to_string())
        })
    });
    if let Some(p) = from_apt {
        return Ok(p);
    }
    let mut cached: Vec<String> = std::fs::read_dir(debdir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let pkg = name.split('_').next()?.to_string();
            let digit = pkg.strip_prefix("linux-image-")?.starts_with(|c: char| c.is_ascii_digit());
            (digit && pkg.ends_with("-amd64") && name.ends_with(".deb")).then_some(pkg)
        })
        .collect();
    cached.sort();
    cached.pop().ok_or_else(|| {
        format!(
            "no {KERNEL_METAPACKAGE} in apt's lists and no kernel package in {} (run apt-get update)",
            debdir.display()
        )
    })
}

/// The .deb of each package: from `debdir` when there, else `apt-get download`ed (into `scratch`,
/// then moved in whole, so that others sharing the cache never read half a download).
fn fetch(debdir: &Path, scratch: &Path, packages: &[&str]) -> Result<Vec<PathBuf>, Vec<String>> {
    let find = |pkg: &str| -> Option<PathBuf> {
        let prefix = format!("{pkg}_");
        let mut found: Vec<PathBuf> = std::fs::read_dir(debdir)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                let n = p.file_name().unwrap_or_default().to_string_lossy();
                n.starts_with(&prefix) && n.ends_with(".deb")
            })
            .collect();
        found.sort();
        found.pop()
    };
    let wanted: Vec<&str> = packages.iter().copied().filter(|p| find(p).is_none()).collect();
    if !wanted.is_empty() {
        std::fs::create_dir_all(scratch).map_err(|e| vec![format!("{}: {e}", scratch.display())])?;
        let o = Command::new("apt-get").args(["download", "-q"]).args(&wanted).current_dir(scratch).output();
        let err = match o {
            Ok(o) if o.status.success() => move_into(scratch, debdir).err(),
            Ok(o) => Some(
                String::from_utf8_lossy(&o.stderr).lines().rfind(|l| l.starts_with("E:")).unwrap_or("").to_string(),
            ),
            Err(e) => Some(format!("apt-get: {e}")),
        };
        if let Some(err) = err {
            return Err(wanted
                .iter()
                .filter(|p| find(p).is_none())
                .map(|p| {
                    format!("package {p} could not be downloaded (apt-get download {p}; run apt-get update?) {err}")
                })
                .collect());
        }
    }
    packages
        .iter()
        .map(|p| find(p).ok_or_else(|| vec![format!("package {p}: no .deb in {}", debdir.display())]))
        .collect()
}

/// Moves each file of `from` into `to`: renamed, or where that crosses filesystems copied as
/// NAME.part and renamed.
fn move_into(from: &Path, to: &Path) -> Result<(), String> {
    for e in std::fs::read_dir(from).map_err(|e| format!("{}: {e}", from.display()))?.flatten() {
        let dst = to.join(e.file_name());
        if std::fs::rename(e.path(), &dst).is_ok() {
            continue;
        }
        let part = to.join(format!("{}.part", e.file_name().to_string_lossy()));
        std::fs::copy(e.path(), &part)
            .and_then(|_| std::fs::rename(&part, &dst))
            .map_err(|err| format!("{}: {err}", dst.display()))?;
    }
    Ok(())
}

/// The one kernel version under lib/modules of the unpacked kernel package.
fn kernel_version(x: &Path) -> Result<String, String> {
    let dir = x.join("lib/modules");
    let mut versions: Vec<String> = std::fs::read_dir(&dir)
        .map_err(|e| format!("the kernel package has no {}: {e}", dir.display()))?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|v| x.join(format!("boot/vmlinuz-{v}")).is_file())
        .collect();
    versions.sort();
    versions.pop().ok_or_else(|| format!("the kernel package has no boot/vmlinuz-* beside {}", dir.display()))
}

/// What `modprobe` knows a module by: its file name without .ko[.xz|.zst], `-` read as `_`.
fn module_name(file: &str) -> Option<String> {
    let stem =
        file.strip_suffix(".ko").or_else(|| file.strip_suffix(".ko.xz")).or_else(|| file.strip_suffix(".ko.zst"))?;
    Some(stem.replace('-', "_"))
}

/// The module file, uncompressed (Debian compresses modules with xz or zstd since trixie).
pub fn read_module(path: &Path) -> Result<Vec<u8>, String> {
    let raw = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let name = path.to_string_lossy();
    let mut out = Vec::new();
    let r = if name.ends_with(".xz") {
        std::io::copy(&mut liblzma::read::XzDecoder::new(&raw[..]), &mut out).map(|_| out)
    } else if name.ends_with(".zst") {
        zstd::decode_all(&raw[..])
    } else {
        return Ok(raw);
    };
    r.map_err(|e| format!("{}: {e}", path.display()))
}

/// The `key=value` strings of an ELF64 module's .modinfo section.
pub fn modinfo(elf: &[u8]) -> Result<Vec<(String, String)>, String> {
    let u16at = |o: usize| elf.get(o..o + 2).map(|b| u16::from_le_bytes([b[0], b[1]]) as usize);
    let u32at = |o: usize| elf.get(o..o + 4).map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize);
    let u64at = |o: usize| elf.get(o..o + 8).map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")) as usize);
    if elf.get(..6) != Some(b"\x7fELF\x02\x01") {
        return Err("not a little-endian ELF64 module".into());
    }
    let bad = || "truncated ELF section table".to_string();
    let (shoff, shentsize, shnum, shstrndx) = (
        u64at(0x28).ok_or_else(bad)?,
        u16at(0x3a).ok_or_else(bad)?,
        u16at(0x3c).ok_or_else(bad)?,
        u16at(0x3e).ok_or_else(bad)?,
    );
    let section = |i: usize| -> Option<(usize, usize, usize)> {
        let h = shoff.checked_add(i.checked_mul(shentsize)?)?;
        Some((u32at(h)?, u64at(h + 0x18)?, u64at(h + 0x20)?))
    };
    let (_, stroff, strsize) = section(shstrndx).ok_or_else(bad)?;
    let strtab = elf.get(stroff..stroff.checked_add(strsize).ok_or_else(bad)?).ok_or_else(bad)?;
    for i in 0..shnum {
        let (name, off, size) = section(i).ok_or_else(bad)?;
        let n = strtab.get(name..).unwrap_or_default();
        if n.split(|b| *b == 0).next() == Some(b".modinfo") {
            let data = elf.get(off..off.checked_add(size).ok_or_else(bad)?).ok_or_else(bad)?;
            return Ok(data
                .split(|b| *b == 0)
                .filter_map(|s| {
                    let s = std::str::from_utf8(s).ok()?;
                    let (k, v) = s.split_once('=')?;
                    Some((k.to_string(), v.to_string()))
                })
                .collect());
        }
    }
    Err("no .modinfo section".into())
}

/// Adds MODULES and their dependencies (uncompressed) under lib/modules/KVER/, with the
/// modules.dep and modules.alias busybox's modprobe reads. Returns the wanted modules the kernel
/// has neither as a module nor built in.
fn add_modules(tree: &mut Tree, x: &Path, kver: &str) -> Result<Vec<String>, String> {
    let base = x.join("lib/modules").join(kver);
    let mut files: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut stack = vec![base.join("kernel")];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Some(name) = module_name(&e.file_name().to_string_lossy()) {
                files.insert(name, p);
            }
        }
    }
    let builtin: BTreeSet<String> = std::fs::read_to_string(base.join("modules.builtin"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| module_name(l.rsplit('/').next()?))
        .collect();
    // name -> (path in the tree relative to lib/modules/KVER, dependencies, aliases)
    let mut mods: BTreeMap<String, (String, Vec<String>, Vec<String>)> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut skipped = Vec::new();
    let mut todo: Vec<String> = MODULES.iter().rev().map(|m| m.to_string()).collect();
    while let Some(name) = todo.pop() {
        if mods.contains_key(&name) {
            continue;
        }
        let Some(path) = files.get(&name) else {
            if !builtin.contains(&name) {
                skipped.push(name);
            }
            continue;
        };
        let elf = read_module(path)?;
        let info = modinfo(&elf).map_err(|e| format!("{}: {e}", path.display()))?;
        let deps: Vec<String> = info
            .iter()
            .filter(|(k, _)| k == "depends")
            .flat_map(|(_, v)| v.split(',').filter(|d| !d.is_empty()).map(|d| d.replace('-', "_")))
            .collect();
        let aliases = info.iter().filter(|(k, _)| k == "alias").map(|(_, v)| v.clone()).collect();
        let rel = path.strip_prefix(&base).expect("found under base").to_string_lossy().into_owned();
        let rel = format!(
            "{}.ko",
            rel.strip_suffix(".xz").or(rel.strip_suffix(".zst")).unwrap_or(&rel).trim_end_matches(".ko")
        );
        tree.file(&format!("lib/modules/{kver}/{rel}"), 0o644, elf);
        todo.extend(deps.iter().cloned());
        mods.insert(name.clone(), (rel, deps, aliases));
        order.push(name);
    }
    // modules.dep lists every module a module needs, transitively, the one to load last first
    // (as depmod writes it; modprobe loads the list from its end).
    let mut dep = String::new();
    let mut alias = String::new();
    for name in &order {
        let mut load = Vec::new();
        let mut seen = BTreeSet::new();
        load_order(&mods, name, &mut seen, &mut load);
        load.pop(); // the module itself
        let needs: Vec<&str> = load.iter().rev().map(|m| mods[m].0.as_str()).collect();
        dep.push_str(&format!("{}: {}\n", mods[name].0, needs.join(" ")).replace(": \n", ":\n"));
        for a in &mods[name].2 {
            alias.push_str(&format!("alias {a} {name}\n"));
        }
    }
    tree.file(&format!("lib/modules/{kver}/modules.dep"), 0o644, dep.into_bytes());
    tree.file(&format!("lib/modules/{kver}/modules.alias"), 0o644, alias.into_bytes());
    if let Ok(b) = std::fs::read(base.join("modules.builtin")) {
        tree.file(&format!("lib/modules/{kver}/modules.builtin"), 0o644, b);
    }
    Ok(skipped)
}

/// Dependencies first, each once.
fn load_order(
    mods: &BTreeMap<String, (String, Vec<String>, Vec<String>)>,
    name: &str,
    seen: &mut BTreeSet<String>,
    out: &mut Vec<String>,
) {
    if !seen.insert(name.to_string()) {
        return;
    }
    if let Some((_, deps, _)) = mods.get(name) {
        for d in deps {
            load_order(mods, d, seen, out);
        }
        out.push(name.to_string());
    }
}

/// /bin/busybox with a link for each applet where busybox puts it (`--list-full`), so /init's
/// `#!/bin/sh` and every tool are there from the start.
fn add_busybox(tree: &mut Tree, busybox: &Path) -> Result<(), String> {
    let bytes = std::fs::read(busybox).map_err(|e| format!("{} (from {BUSYBOX_PACKAGE}): {e}", busybox.display()))?;
    tree.file("bin/busybox", 0o755, bytes);
    let list = Command::new(busybox).arg("--list-full").output().map_err(|e| format!("{}: {e}", busybox.display()))?;
    for applet in String::from_utf8_lossy(&list.stdout).lines().map(str::trim).filter(|l| !l.is_empty()) {
        if applet != "bin/busybox" && !tree.entries.contains_key(applet) {
            let depth = applet.matches('/').count();
            tree.symlink(applet, &format!("{}bin/busybox", "../".repeat(depth)));
        }
    }
    if !tree.entries.contains_key("bin/sh") {
        tree.symlink("bin/sh", "busybox");
    }
    Ok(())
}

/// /bin/oxcat without its debug info, the shared libraries it links (as `ldd` finds them) and the
/// dynamic loader. Returns a warning when strip is missing.
fn add_oxcat(tree: &mut Tree, oxcat: &Path, work: &Path) -> Result<Option<String>, String> {
    let stripped = work.join("oxcat");
    let ok = Command::new("strip")
        .arg("--strip-debug")
        .arg("-o")
        .arg(&stripped)
        .arg(oxcat)
        .output()
        .is_ok_and(|o| o.status.success());
    let (bytes, warning) = if ok {
        (std::fs::read(&stripped), None)
    } else {
        let w = format!(
            "strip is missing or failed (apt-get install binutils): {} copied with its debug info",
            oxcat.display()
        );
        (std::fs::read(oxcat), Some(w))
    };
    tree.file("bin/oxcat", 0o755, bytes.map_err(|e| format!("{}: {e}", oxcat.display()))?);
    let o = Command::new("ldd").arg(oxcat).output().map_err(|e| format!("ldd: {e}"))?;
    let text = String::from_utf8_lossy(&o.stdout);
    if !o.status.success() {
        // A static binary: nothing to copy.
        return Ok(warning);
    }
    for line in text.lines() {
        // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)"
        let path = match line.split_once("=>") {
            Some((_, rest)) => rest.split_whitespace().next(),
            None => line.split_whitespace().next().filter(|p| p.starts_with('/')),
        };
        let Some(path) = path.filter(|p| p.starts_with('/')) else {
            if line.contains("not found") {
                return Err(format!("{}: {}", oxcat.display(), line.trim()));
            }
            continue;
        };
        let bytes = std::fs::read(path).map_err(|e| format!("{path} (a library of {}): {e}", oxcat.display()))?;
        tree.file(path.trim_start_matches('/'), 0o755, bytes);
    }
    Ok(warning)
}

/// Writes `path` through `path.part`, renamed into place once complete.
fn write_atomic(path: &Path, write: impl FnOnce(std::fs::File) -> std::io::Result<()>) -> Result<(), String> {
    let part = PathBuf::from(format!("{}.part", path.display()));
    let r = std::fs::File::create(&part).and_then(write).and_then(|_| std::fs::rename(&part, path));
    r.map_err(|e| {
        let _ = std::fs::remove_file(&part);
        format!("{}: {e}", path.display())
    })
}

enum Entry {
    Dir,
    File(u32, Vec<u8>),
    Symlink(String),
    CharDev(u32, u32, u32),
}

/// The initramfs's files by path (no leading /); parents sort before their children.
#[derive(Default)]
struct Tree {
    entries: BTreeMap<String, Entry>,
}

impl Tree {
    fn dir(&mut self, path: &str) {
        let mut at = String::new();
        for part in path.split('/') {
            if !at.is_empty() {
                at.push('/');
            }
            at.push_str(part);
            self.entries.entry(at.clone()).or_insert(Entry::Dir);
        }
    }

    fn parent(&mut self, path: &str) {
        if let Some((p, _)) = path.rsplit_once('/') {
            self.dir(p);
        }
    }

    fn file(&mut self, path: &str, mode: u32, bytes: Vec<u8>) {
        self.parent(path);
        self.entries.insert(path.into(), Entry::File(mode, bytes));
    }

    fn symlink(&mut self, path: &str, target: &str) {
        self.parent(path);
        self.entries.insert(path.into(), Entry::Symlink(target.into()));
    }

    fn size(&self) -> u64 {
        self.entries.values().map(|e| if let Entry::File(_, b) = e { b.len() as u64 } else { 0 }).sum()
    }

    /// The tree as a cpio archive in the "newc" format the kernel unpacks.
    fn write_cpio(&self, out: &mut impl Write) -> std::io::Result<()> {
        for (ino, (path, e)) in (1..).zip(&self.entries) {
            let (mode, data, rdev): (u32, &[u8], (u32, u32)) = match e {
                Entry::Dir => (0o040755, &[], (0, 0)),
                Entry::File(m, b) => (0o100000 | m, b, (0, 0)),
                Entry::Symlink(t) => (0o120777, t.as_bytes(), (0, 0)),
                Entry::CharDev(m, major, minor) => (0o020000 | m, &[], (*major, *minor)),
            };
            let nlink = if matches!(e, Entry::Dir) { 2 } else { 1 };
            cpio_entry(out, ino, mode, nlink, path, data, rdev)?;
        }
        cpio_entry(out, 0, 0, 1, "TRAILER!!!", &[], (0, 0))
    }
}

fn cpio_entry(
    out: &mut impl Write,
    ino: u32,
    mode: u32,
    nlink: u32,
    name: &str,
    data: &[u8],
    rdev: (u32, u32),
) -> std::io::Result<()> {
    let fields = [ino, mode, 0, 0, nlink, 0, data.len() as u32, 0, 0, rdev.0, rdev.1, name.len() as u32 + 1, 0];
    let mut header = String::from("070701");
    for f in fields {
        header.push_str(&format!("{f:08x}"));
    }
    out.write_all(header.as_bytes())?;
    out.write_all(name.as_bytes())?;
    let pad = |n: usize| (4 - n % 4) % 4;
    out.write_all(&[0u8; 4][..1 + pad(110 + name.len() + 1)])?;
    out.write_all(data)?;
    out.write_all(&[0u8; 4][..pad(data.len())])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpio_entries_are_padded_to_four_bytes() {
        let mut t = Tree::default();
        t.file("bin/x", 0o755, b"hello".to_vec());
        t.symlink("bin/sh", "busybox");
        let mut out = Vec::new();
        t.write_cpio(&mut out).unwrap();
        assert_eq!(out.len() % 4, 0);
        let text = String::from_utf8_lossy(&out);
        assert!(text.starts_with("070701"));
        assert_eq!(text.matches("070701").count(), 4, "bin, bin/sh, bin/x, trailer");
        assert!(text.contains("bin/x\0"));
        assert!(text.ends_with("TRAILER!!!\0\0\0\0"), "{text:?}");
    }

    #[test]
    fn module_names_are_what_modprobe_calls_them() {
        assert_eq!(module_name("nls_cp437.ko").as_deref(), Some("nls_cp437"));
        assert_eq!(module_name("mlx5-core.ko.zst").as_deref(), Some("mlx5_core"));
        assert_eq!(module_name("virtio_net.ko.xz").as_deref(), Some("virtio_net"));
        assert_eq!(module_name("modules.dep"), None);
    }
}
