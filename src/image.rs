//! The image store (addimage): OS images' kernel, initrd and root image copied under
//! `site.installdir/images/NAME/` with their SHA-256, registered as osimage + linuximage rows.
//! Whole-disk images (`--disk`) are stored as `disk.raw[.gz|.zst|.xz]` as they come (qcow2 is
//! converted to raw once, with qemu-img), with the SHA-256 and size of the uncompressed stream, the
//! one the node agent writes and checks. A failed add leaves neither rows nor files behind.

use crate::error::{Error, Result};
use crate::node;
use crate::store::schema::{self, Kind, ARCHES};
use crate::store::{self, get_row, upsert, Store};
use rusqlite::Connection;
use sha2::{Digest, Sha256};
use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// What to register. Without `from`, kernel and initrd are required.
#[derive(Debug, Default, Clone)]
pub struct ImageSpec {
    pub name: String,
    pub kernel: Option<PathBuf>,
    pub initrd: Option<PathBuf>,
    pub rootimg: Option<PathBuf>,
    pub kcmdline: Option<String>,
    pub arch: Option<String>,
    /// netboot or install.
    pub provmethod: Option<String>,
    /// Copy this registered image (its files and settings) under `name`.
    pub from: Option<String>,
    /// A whole-disk image (raw, possibly compressed, or qcow2): provmethod `disk`.
    pub disk: Option<PathBuf>,
    /// `raw` or `qcow2` (None: told by the file's magic bytes).
    pub format: Option<String>,
    /// Root device hints (linuximage.rootdevice).
    pub rootdevice: Option<String>,
    /// cloud-init user data, copied into the image directory as `user-data`.
    pub userdata: Option<PathBuf>,
}

/// One file copied into the image store.
#[derive(Debug, Clone)]
pub struct Stored {
    pub role: &'static str,
    pub path: PathBuf,
    /// Of the content (for a compressed disk image: of the uncompressed stream).
    pub sha256: String,
    pub bytes: u64,
    /// A compressed disk image: its compression and the bytes stored.
    pub compressed: Option<(&'static str, u64)>,
}

pub fn images_dir(conn: &Connection) -> Result<PathBuf> {
    let dir = store::site_value(conn, "installdir")?.unwrap_or_else(|| "/install".to_string());
    Ok(Path::new(&dir).join("images"))
}

/// Copies `src` to `dst`, returning the SHA-256 of what was written.
fn copy_hashed(src: &Path, dst: &Path) -> std::io::Result<(String, u64)> {
    let mut input = File::open(src)?;
    let mut out = File::create(dst)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = input.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])?;
        total += n as u64;
    }
    out.sync_all()?;
    Ok((hex(&hasher.finalize()), total))
}

/// The file name a role's file gets in the image directory (the root image keeps its extensions,
/// e.g. `rootimg.cpio.gz`, so HTTP clients can tell its format).
fn stored_name(role: &str, src: &Path) -> String {
    if role != "rootimg" {
        return role.to_string();
    }
    let base = src.file_name().and_then(|f| f.to_str()).unwrap_or("");
    match base.split_once('.') {
        Some((_, ext)) if !ext.is_empty() => format!("rootimg.{ext}"),
        _ => "rootimg".to_string(),
    }
}

fn check_source(role: &str, p: &Path) -> std::result::Result<(), String> {
    match fs::metadata(p) {
        Err(e) => Err(format!("Error: --{role}: cannot read {}: {e}", p.display())),
        Ok(m) if !m.is_file() => Err(format!("Error: --{role}: {} is not a regular file", p.display())),
        Ok(_) => File::open(p).map(|_| ()).map_err(|e| format!("Error: --{role}: cannot read {}: {e}", p.display())),
    }
}

/// How a disk image file is packed, told by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packing {
    Raw,
    Gz,
    Zst,
    Xz,
    Qcow2,
}

impl Packing {
    pub fn of(head: &[u8]) -> Packing {
        if head.starts_with(&[0x1f, 0x8b]) {
            Packing::Gz
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Packing::Zst
        } else if head.starts_with(&[0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]) {
            Packing::Xz
        } else if head.starts_with(QCOW2_MAGIC) {
            Packing::Qcow2
        } else {
            Packing::Raw
        }
    }

    /// The compression as linuximage.diskimageformat records it (qcow2 is stored converted: raw).
    pub fn compression(self) -> &'static str {
        match self {
            Packing::Gz => "gz",
            Packing::Zst => "zst",
            Packing::Xz => "xz",
            Packing::Raw | Packing::Qcow2 => "raw",
        }
    }

    /// The name the image gets in the image directory.
    fn stored_name(self) -> String {
        match self.compression() {
            "raw" => "disk.raw".to_string(),
            c => format!("disk.raw.{c}"),
        }
    }
}

const QCOW2_MAGIC: &[u8] = b"QFI\xfb";

fn file_head(p: &Path) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(8);
    File::open(p)?.take(8).read_to_end(&mut head)?;
    Ok(head)
}

/// Passes what it reads through to `out` too: the compressed bytes are stored as they come while
/// the decoder reading through it yields the stream to hash.
struct Tee<R, W> {
    inner: R,
    out: W,
}

impl<R: Read, W: Write> Read for Tee<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.out.write_all(&buf[..n])?;
        Ok(n)
    }
}

/// SHA-256 (hex), length and first bytes of a stream.
fn hash_stream(mut r: impl Read) -> std::io::Result<(String, u64, Vec<u8>)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    let mut head = Vec::new();
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        if head.len() < 8 {
            let take = n.min(8 - head.len());
            head.extend_from_slice(&buf[..take]);
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((hex(&hasher.finalize()), total, head))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Stores a disk image in `dir` (qcow2 converted to raw by qemu-img, anything else copied as it
/// is) and returns what was stored, with the SHA-256 and size of the uncompressed stream.
fn store_disk(src: &Path, packing: Packing, dir: &Path, final_dir: &Path) -> Result<Stored> {
    let name = packing.stored_name();
    let dst = dir.join(&name);
    let what = || format!("--disk: {}", src.display());
    let (sha256, bytes, head, stored) = match packing {
        Packing::Qcow2 => {
            let o = std::process::Command::new("qemu-img")
                .args(["convert", "-f", "qcow2", "-O", "raw"])
                .arg(src)
                .arg(&dst)
                .output()
                .map_err(|e| Error::io("running qemu-img (package qemu-utils)", e))?;
            if !o.status.success() {
                let why = String::from_utf8_lossy(&o.stderr);
                return Err(Error::Input(format!(
                    "{}: qemu-img convert failed: {}",
                    what(),
                    why.lines().next().unwrap_or("").trim()
                )));
            }
            let (sha, n, head) = File::open(&dst).and_then(hash_stream).map_err(|e| Error::io(dst.display(), e))?;
            (sha, n, head, n)
        }
        Packing::Raw => {
            let (sha, n) = copy_hashed(src, &dst).map_err(|e| Error::io(format!("copying {}", src.display()), e))?;
            (sha, n, file_head(src).unwrap_or_default(), n)
        }
        Packing::Gz | Packing::Zst | Packing::Xz => {
            let copy = || -> std::io::Result<(String, u64, Vec<u8>, u64)> {
                let out = File::create(&dst)?;
                let mut tee = Tee { inner: File::open(src)?, out };
                let (sha, n, head) = match packing {
                    Packing::Gz => hash_stream(flate2::read::MultiGzDecoder::new(&mut tee))?,
                    Packing::Zst => hash_stream(zstd::stream::read::Decoder::new(&mut tee)?)?,
                    _ => hash_stream(liblzma::read::XzDecoder::new_multi_decoder(&mut tee))?,
                };
                // The decoder stops at the end of the stream: the rest of the file is kept too.
                std::io::copy(&mut tee, &mut std::io::sink())?;
                tee.out.sync_all()?;
                let stored = tee.out.metadata()?.len();
                Ok((sha, n, head, stored))
            };
            copy()
                .map_err(|e| Error::Input(format!("{}: not a valid {} stream: {e}", what(), packing.compression())))?
        }
    };
    if head.starts_with(QCOW2_MAGIC) {
        return Err(Error::Input(format!(
            "{}: holds a compressed qcow2 image: decompress it first (qcow2 is converted only uncompressed)",
            what()
        )));
    }
    if bytes == 0 {
        return Err(Error::Input(format!("{}: the image is empty", what())));
    }
    let compressed = (packing.compression() != "raw").then_some((packing.compression(), stored));
    Ok(Stored { role: "disk", path: final_dir.join(name), sha256, bytes, compressed })
}

/// Registers an image: checks everything, copies the files into a staging directory, then writes
/// the rows and moves the directory into place inside one transaction.
pub fn add(store: &mut Store, spec: &ImageSpec, audit: (&str, &str)) -> Result<Vec<Stored>> {
    let conn = store.conn();
    let mut errors = Vec::new();
    if let Err(e) = node::check_object_name(&spec.name) {
        errors.push(format!("Error: {e}"));
    }
    let osimage = schema::table("osimage").expect("osimage");
    let linuximage = schema::table("linuximage").expect("linuximage");
    if get_row(conn, osimage, &[&spec.name])?.is_some() {
        errors
            .push(format!("Error: osimage '{}' already exists (rmdef -t osimage {} removes it)", spec.name, spec.name));
    }
    // Sources: the files given, else those of the image copied from.
    let mut base_row: Option<(store::Row, store::Row)> = None;
    if let Some(from) = &spec.from {
        match (get_row(conn, osimage, &[from])?, get_row(conn, linuximage, &[from])?) {
            (Some(o), l) => base_row = Some((o, l.unwrap_or_else(|| vec![None; linuximage.columns.len()]))),
            (None, _) => errors.push(format!("Error: Could not find an object named '{from}' of type 'osimage'.")),
        }
    }
    let from_col = |col: &str| -> Option<PathBuf> {
        let (_, l) = base_row.as_ref()?;
        let (i, _) = linuximage.column(col)?;
        l[i].clone().map(PathBuf::from)
    };
    let boot_files_given = spec.kernel.is_some() || spec.initrd.is_some() || spec.rootimg.is_some();
    if spec.disk.is_some() && boot_files_given {
        errors.push(
            "Error: --disk: a disk image has no --kernel, --initrd or --rootimg (give --disk alone, or --kernel and --initrd)"
                .to_string(),
        );
    }
    // A disk image: --disk, or a copy of one that is given no boot files.
    let disk = spec.disk.clone().or_else(|| if boot_files_given { None } else { from_col("diskimage") });
    let sources: Vec<(&'static str, Option<PathBuf>)> = if disk.is_some() {
        vec![("disk", disk.clone()), ("userdata", spec.userdata.clone().or_else(|| from_col("userdata")))]
    } else {
        vec![
            ("kernel", spec.kernel.clone().or_else(|| from_col("kernel"))),
            ("initrd", spec.initrd.clone().or_else(|| from_col("initrd"))),
            ("rootimg", spec.rootimg.clone().or_else(|| from_col("rootimg"))),
        ]
    };
    for (role, p) in &sources {
        match p {
            Some(p) => {
                if let Err(e) = check_source(role, p) {
                    errors.push(e);
                }
            }
            None if matches!(*role, "kernel" | "initrd") => {
                errors.push(format!("Error: --{role}: missing (give --{role} PATH)"))
            }
            None => {}
        }
    }
    if disk.is_none() {
        for (flag, given) in [
            ("format", spec.format.is_some()),
            ("rootdevice", spec.rootdevice.is_some()),
            ("userdata", spec.userdata.is_some()),
        ] {
            if given {
                errors.push(format!("Error: --{flag}: only for disk images (give --disk FILE)"));
            }
        }
    }
    if let Some(f) = &spec.format {
        if let Err(e) = Kind::OneOf(&["raw", "qcow2"]).check(f) {
            errors.push(format!("Error: --format: {e}"));
        }
    }
    if let Some(r) = &spec.rootdevice {
        if let Err(e) = Kind::RootDevice.check(r) {
            errors.push(format!("Error: --rootdevice: {e}"));
        }
    }
    // How the disk image is packed: its magic bytes, checked against --format.
    let mut packing = None;
    if let Some(d) = disk.as_ref().filter(|d| check_source("disk", d).is_ok()) {
        let found = file_head(d).map(|h| Packing::of(&h)).unwrap_or(Packing::Raw);
        match spec.format.as_deref() {
            Some("qcow2") if found != Packing::Qcow2 => errors.push(format!(
                "Error: --format qcow2: {} is not a qcow2 image (it does not start with QFI\\xfb)",
                d.display()
            )),
            Some("raw") if found == Packing::Qcow2 => errors.push(format!(
                "Error: --format raw: {} is a qcow2 image (give --format qcow2, or no --format)",
                d.display()
            )),
            _ => packing = Some(found),
        }
        if packing == Some(Packing::Qcow2) && std::process::Command::new("qemu-img").arg("--version").output().is_err()
        {
            errors.push(format!(
                "Error: --disk: {} is a qcow2 image: converting it to raw needs qemu-img (install the package qemu-utils)",
                d.display()
            ));
        }
    }
    if let Some(a) = &spec.arch {
        if let Err(e) = Kind::OneOf(ARCHES).check(a) {
            errors.push(format!("Error: --arch: {e}"));
        }
    }
    if let Some(t) = &spec.provmethod {
        if disk.is_some() {
            errors.push("Error: --type: a disk image is provisioned as 'disk' (leave --type out with --disk)".into());
        } else if let Err(e) = Kind::OneOf(&["netboot", "install"]).check(t) {
            errors.push(format!("Error: --type: {e}"));
        }
    }
    let images = images_dir(conn)?;
    let final_dir = images.join(&spec.name);
    if errors.is_empty() && final_dir.exists() {
        errors.push(format!(
            "Error: {} already exists but no image '{}' is registered; move it away first",
            final_dir.display(),
            spec.name
        ));
    }
    if !errors.is_empty() {
        return Err(Error::Inputs(errors));
    }
    fs::create_dir_all(&images).map_err(|e| Error::io(images.display(), e))?;
    let staging = images.join(format!(".{}.partial-{}", spec.name, std::process::id()));
    let _ = fs::remove_dir_all(&staging);
    fs::create_dir(&staging).map_err(|e| Error::io(staging.display(), e))?;
    let result = stage_and_register(store, spec, &sources, packing, &staging, &final_dir, base_row, audit);
    if result.is_err() {
        let _ = fs::remove_dir_all(&staging);
    }
    result
}

#[allow(clippy::too_many_arguments)]
fn stage_and_register(
    store: &mut Store,
    spec: &ImageSpec,
    sources: &[(&'static str, Option<PathBuf>)],
    packing: Option<Packing>,
    staging: &Path,
    final_dir: &Path,
    base: Option<(store::Row, store::Row)>,
    audit: (&str, &str),
) -> Result<Vec<Stored>> {
    let mut stored = Vec::new();
    for (role, src) in sources {
        let Some(src) = src else { continue };
        if *role == "disk" {
            stored.push(store_disk(src, packing.unwrap_or(Packing::Raw), staging, final_dir)?);
            continue;
        }
        let name = if *role == "userdata" { "user-data".to_string() } else { stored_name(role, src) };
        let (sha256, bytes) =
            copy_hashed(src, &staging.join(&name)).map_err(|e| Error::io(format!("copying {}", src.display()), e))?;
        stored.push(Stored { role, path: final_dir.join(&name), sha256, bytes, compressed: None });
    }
    let is_disk = stored.iter().any(|s| s.role == "disk");
    let osimage = schema::table("osimage").expect("osimage");
    let linuximage = schema::table("linuximage").expect("linuximage");
    let moved = std::cell::Cell::new(false);
    let result = store.write(|c| {
        // A copied image starts from the source's rows; the new files and options override them.
        let mut base_prov = None;
        if let Some((o, l)) = &base {
            let cols: Vec<(&str, Option<&str>)> =
                osimage.columns.iter().zip(o).skip(1).map(|(col, v)| (col.name, v.as_deref())).collect();
            base_prov = cols.iter().find(|(k, _)| *k == "provmethod").and_then(|(_, v)| *v);
            upsert(c, osimage, &[&spec.name], &cols)?;
            let cols: Vec<(&str, Option<&str>)> =
                linuximage.columns.iter().zip(l).skip(1).map(|(col, v)| (col.name, v.as_deref())).collect();
            upsert(c, linuximage, &[&spec.name], &cols)?;
        }
        let mut o: Vec<(&str, Option<&str>)> = vec![("imagetype", Some("linux")), ("osname", Some("Linux"))];
        if let Some(a) = &spec.arch {
            o.push(("osarch", Some(a)));
        }
        let prov = if is_disk {
            Some("disk")
        } else if spec.provmethod.is_some() {
            spec.provmethod.as_deref()
        } else if base.is_none() || base_prov == Some("disk") {
            Some("netboot")
        } else {
            None
        };
        if let Some(p) = prov {
            o.push(("provmethod", Some(p)));
        }
        upsert(c, osimage, &[&spec.name], &o)?;
        let dir = final_dir.display().to_string();
        let mut l: Vec<(&str, Option<String>)> = vec![("rootimgdir", Some(dir))];
        for s in &stored {
            let path = Some(s.path.display().to_string());
            match s.role {
                "disk" => {
                    l.push(("diskimage", path));
                    l.push(("diskimageformat", Some(packing.unwrap_or(Packing::Raw).compression().to_string())));
                    l.push(("diskimagesha256", Some(s.sha256.clone())));
                    l.push(("diskimagesize", Some(s.bytes.to_string())));
                }
                "userdata" => l.push(("userdata", path)),
                role => {
                    l.push((role, path));
                    let sum_col = match role {
                        "kernel" => "kernelsha256",
                        "initrd" => "initrdsha256",
                        _ => "rootimgsha256",
                    };
                    l.push((sum_col, Some(s.sha256.clone())));
                }
            }
        }
        // What belongs to the other kind of image goes (a copy may change kinds).
        let others: &[&str] = if is_disk {
            &["kernel", "kernelsha256", "initrd", "initrdsha256", "rootimg", "rootimgsha256"]
        } else {
            &["diskimage", "diskimageformat", "diskimagesha256", "diskimagesize", "rootdevice", "userdata"]
        };
        for col in others {
            if !l.iter().any(|(k, _)| k == col) {
                l.push((col, None));
            }
        }
        if !stored.iter().any(|s| s.role == "rootimg") && !is_disk {
            l.push(("rootimg", None));
            l.push(("rootimgsha256", None));
        }
        if let Some(r) = &spec.rootdevice {
            l.push(("rootdevice", Some(r.clone())));
        }
        if let Some(k) = &spec.kcmdline {
            l.push(("addkcmdline", Some(k.clone())));
        }
        let l: Vec<(&str, Option<&str>)> = l.iter().map(|(k, v)| (*k, v.as_deref())).collect();
        upsert(c, linuximage, &[&spec.name], &l)?;
        store::audit(c, audit.0, &spec.name, audit.1)?;
        fs::rename(staging, final_dir).map_err(|e| Error::io(format!("moving {} into place", staging.display()), e))?;
        moved.set(true);
        Ok(())
    });
    if let Err(e) = result {
        if moved.get() {
            let _ = fs::remove_dir_all(final_dir);
        }
        return Err(e);
    }
    Ok(stored)
}

/// The image directories of osimages (only those inside the image store are ever removed).
pub fn files_of(conn: &Connection, names: &[String]) -> Result<Vec<PathBuf>> {
    let images = images_dir(conn)?;
    let linuximage = schema::table("linuximage").expect("linuximage");
    let (col, _) = linuximage.column("rootimgdir").expect("rootimgdir");
    let mut dirs = Vec::new();
    for n in names {
        if let Some(dir) = get_row(conn, linuximage, &[n])?.and_then(|r| r[col].clone()) {
            let dir = PathBuf::from(dir);
            if dir.parent() == Some(images.as_path()) && dir.file_name().is_some_and(|f| f == n.as_str()) {
                dirs.push(dir);
            }
        }
    }
    Ok(dirs)
}

pub fn remove_dir(dir: &Path) -> std::result::Result<(), String> {
    match fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("cannot remove {}: {e}", dir.display())),
    }
}
