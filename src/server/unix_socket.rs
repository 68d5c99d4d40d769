//! A Unix domain socket file for `Server::bind_unix`: made with its mode already set, a
//! stale file from a dead process replaced, a live one refused, and removed when the
//! listener goes.
//!
//! Owns the file's life only. The socket is bound in a private directory (mode 0700) beside
//! the target, given its mode there, and renamed into place, so no client ever finds it with
//! the wrong permissions. At removal the file is checked to still be ours (same device and
//! inode), so a successor's socket at the same path is left alone.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

/// A socket file herald made: removed on drop if it is still the same file.
#[derive(Debug)]
pub struct SocketFile {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        if let Ok(meta) = fs::symlink_metadata(&self.path)
            && meta.dev() == self.dev
            && meta.ino() == self.ino
        {
            let _ = fs::remove_file(&self.path);
        }
    }
}

impl SocketFile {
    /// The path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Listen on a Unix socket at `path`, with file mode `mode` (say 0o660) if given.
///
/// Errors: `AddrInUse` if a process listens there already; `AlreadyExists` if the path
/// is something other than a socket; what binding or renaming fails with.
pub fn bind(path: &Path, mode: Option<u32>) -> io::Result<(UnixListener, SocketFile)> {
    match fs::symlink_metadata(path) {
        // Nobody listening: a stale file from a process that is gone, replaced below.
        Ok(meta) if meta.file_type().is_socket() => {
            if UnixStream::connect(path).is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("another process listens on {}", path.display()),
                ));
            }
        }
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists and is not a socket", path.display()),
            ));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
    let private = parent.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let _ = fs::remove_dir_all(&private);
    fs::DirBuilder::new().mode(0o700).create(&private)?;
    let staged = private.join("s");
    let made = (|| -> io::Result<UnixListener> {
        let listener = UnixListener::bind(&staged)?;
        if let Some(mode) = mode {
            fs::set_permissions(&staged, fs::Permissions::from_mode(mode))?;
        }
        fs::rename(&staged, path)?;
        Ok(listener)
    })();
    let _ = fs::remove_dir_all(&private);
    let listener = made?;
    let meta = fs::symlink_metadata(path)?;
    Ok((
        listener,
        SocketFile {
            path: path.to_path_buf(),
            dev: meta.dev(),
            ino: meta.ino(),
        },
    ))
}
