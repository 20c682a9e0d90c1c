//! The image store (addimage): OS images' kernel, initrd and root image copied under
//! `site.installdir/images/NAME/` with their SHA-256, registered as osimage + linuximage rows.
//! A failed add leaves neither rows nor files behind.

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
}

/// One file copied into the image store.
#[derive(Debug, Clone)]
pub struct Stored {
    pub role: &'static str,
    pub path: PathBuf,
    pub sha256: String,
    pub bytes: u64,
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
    let digest = hasher.finalize();
    Ok((digest.iter().map(|b| format!("{b:02x}")).collect(), total))
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
    let sources: Vec<(&'static str, Option<PathBuf>)> = vec![
        ("kernel", spec.kernel.clone().or_else(|| from_col("kernel"))),
        ("initrd", spec.initrd.clone().or_else(|| from_col("initrd"))),
        ("rootimg", spec.rootimg.clone().or_else(|| from_col("rootimg"))),
    ];
    for (role, p) in &sources {
        match p {
            Some(p) => {
                if let Err(e) = check_source(role, p) {
                    errors.push(e);
                }
            }
            None if *role != "rootimg" => errors.push(format!("Error: --{role}: missing (give --{role} PATH)")),
            None => {}
        }
    }
    if let Some(a) = &spec.arch {
        if let Err(e) = Kind::OneOf(ARCHES).check(a) {
            errors.push(format!("Error: --arch: {e}"));
        }
    }
    if let Some(t) = &spec.provmethod {
        if let Err(e) = Kind::OneOf(&["netboot", "install"]).check(t) {
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
    let result = stage_and_register(store, spec, &sources, &staging, &final_dir, base_row, audit);
    if result.is_err() {
        let _ = fs::remove_dir_all(&staging);
    }
    result
}

fn stage_and_register(
    store: &mut Store,
    spec: &ImageSpec,
    sources: &[(&'static str, Option<PathBuf>)],
    staging: &Path,
    final_dir: &Path,
    base: Option<(store::Row, store::Row)>,
    audit: (&str, &str),
) -> Result<Vec<Stored>> {
    let mut stored = Vec::new();
    for (role, src) in sources {
        let Some(src) = src else { continue };
        let name = stored_name(role, src);
        let (sha256, bytes) =
            copy_hashed(src, &staging.join(&name)).map_err(|e| Error::io(format!("copying {}", src.display()), e))?;
        stored.push(Stored { role, path: final_dir.join(&name), sha256, bytes });
    }
    let osimage = schema::table("osimage").expect("osimage");
    let linuximage = schema::table("linuximage").expect("linuximage");
    let moved = std::cell::Cell::new(false);
    let result = store.write(|c| {
        // A copied image starts from the source's rows; the new files and options override them.
        if let Some((o, l)) = &base {
            let cols: Vec<(&str, Option<&str>)> =
                osimage.columns.iter().zip(o).skip(1).map(|(col, v)| (col.name, v.as_deref())).collect();
            upsert(c, osimage, &[&spec.name], &cols)?;
            let cols: Vec<(&str, Option<&str>)> =
                linuximage.columns.iter().zip(l).skip(1).map(|(col, v)| (col.name, v.as_deref())).collect();
            upsert(c, linuximage, &[&spec.name], &cols)?;
        }
        let mut o: Vec<(&str, Option<&str>)> = vec![("imagetype", Some("linux")), ("osname", Some("Linux"))];
        if let Some(a) = &spec.arch {
            o.push(("osarch", Some(a)));
        }
        let prov = spec.provmethod.as_deref().or(if base.is_none() { Some("netboot") } else { None });
        if let Some(p) = prov {
            o.push(("provmethod", Some(p)));
        }
        upsert(c, osimage, &[&spec.name], &o)?;
        let dir = final_dir.display().to_string();
        let mut l: Vec<(&str, Option<String>)> = vec![("rootimgdir", Some(dir))];
        for s in &stored {
            l.push((s.role, Some(s.path.display().to_string())));
            let sum_col = match s.role {
                "kernel" => "kernelsha256",
                "initrd" => "initrdsha256",
                _ => "rootimgsha256",
            };
            l.push((sum_col, Some(s.sha256.clone())));
        }
        if !stored.iter().any(|s| s.role == "rootimg") {
            l.push(("rootimg", None));
            l.push(("rootimgsha256", None));
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
