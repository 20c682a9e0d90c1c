//! The cluster's root SSH key pair (xCAT keeps /root/.ssh/id_rsa; oxcat keeps its own): ed25519,
//! generated on first need beside the store (`ssh/id_ed25519`, 0600, in a 0700 directory), its
//! path in `site.sshkey` (the public key is the same path with `.pub`).

use crate::error::{Error, Result};
use crate::store::{self, schema, Store};
use russh::keys::ssh_key::{private::Ed25519Keypair, LineEnding};
use russh::keys::PrivateKey;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The key pair: where the private key is, the key itself, and its public line for
/// authorized_keys (`ssh-ed25519 AAAA... oxcat`).
pub struct ClusterKey {
    pub path: PathBuf,
    pub key: PrivateKey,
    pub public: String,
}

/// Where the private key is: `site.sshkey`, else `ssh/id_ed25519` beside the store.
pub fn path(st: &Store) -> Result<PathBuf> {
    if let Some(p) = store::site_value(st.conn(), "sshkey")?.filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let dir = st.path().parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let dir = std::fs::canonicalize(dir).map_err(|e| Error::io(dir.display(), e))?;
    Ok(dir.join("ssh").join("id_ed25519"))
}

/// The key pair, generated (and recorded in site.sshkey) when it does not exist yet.
pub fn ensure(st: &mut Store) -> Result<ClusterKey> {
    let path = path(st)?;
    if !path.exists() {
        generate(&path)?;
    }
    if store::site_value(st.conn(), "sshkey")?.is_none() {
        let site = schema::table("site").expect("site");
        let p = path.display().to_string();
        st.write(|c| store::upsert(c, site, &["sshkey"], &[("value", Some(&p))]))?;
    }
    load(&path)
}

/// The cluster's public key line, when the key pair exists (site.sshkey and its `.pub`): what
/// nodes put in root's authorized_keys (mypostscript's OXCAT_SSH_KEY, a disk deploy's seed).
pub fn public_line(conn: &rusqlite::Connection) -> Result<Option<String>> {
    let Some(path) = store::site_value(conn, "sshkey")?.filter(|p| !p.is_empty()) else { return Ok(None) };
    match std::fs::read_to_string(format!("{path}.pub")) {
        Ok(t) => Ok(t.lines().next().map(|l| l.trim().to_string()).filter(|l| !l.is_empty())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(format!("{path}.pub"), e)),
    }
}

/// Reads the private key at `path`.
pub fn load(path: &Path) -> Result<ClusterKey> {
    let key = russh::keys::load_secret_key(path, None)
        .map_err(|e| Error::Input(format!("cannot read the cluster SSH key {}: {e}", path.display())))?;
    let public = key.public_key().to_openssh().map_err(|e| Error::Input(e.to_string()))?;
    Ok(ClusterKey { path: path.to_path_buf(), key, public })
}

/// A new ed25519 key at `path` (0600) and its public half at `path.pub`; never overwrites.
fn generate(path: &Path) -> Result<()> {
    let io = |e: std::io::Error| Error::io(path.display(), e);
    if let Some(dir) = path.parent() {
        if !dir.exists() {
            std::fs::create_dir_all(dir).map_err(io)?;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
        }
    }
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| Error::Io(format!("no randomness for a key: {e}")))?;
    let key = PrivateKey::new(Ed25519Keypair::from_seed(&seed).into(), "oxcat")
        .map_err(|e| Error::Io(format!("cannot build a key: {e}")))?;
    let private = key.to_openssh(LineEnding::LF).map_err(|e| Error::Io(format!("cannot encode the key: {e}")))?;
    let public = key.public_key().to_openssh().map_err(|e| Error::Io(format!("cannot encode the key: {e}")))?;
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(io)?;
    f.write_all(private.as_bytes()).map_err(io)?;
    let pub_path = PathBuf::from(format!("{}.pub", path.display()));
    std::fs::write(&pub_path, format!("{public}\n")).map_err(|e| Error::io(pub_path.display(), e))?;
    Ok(())
}
