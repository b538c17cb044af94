//! Configure stage: the installed root becomes the system the kickstart
//! describes (accounts, locale, host name, services, overlays, `%post`), then
//! [`clean`] removes what only the build needed, and [`label`] gives every
//! file its SELinux label when the image has a policy.
//!
//! Every file is written through [`RootFs`], so a symlink in the image can
//! never redirect a write onto the build host; the image's own tools
//! (`useradd`, `chpasswd`, `systemctl`, `locale-gen`) run through [`Chroot`].

mod accounts;
mod clean;
mod crypt;
mod label;
mod locale;
mod network;
mod overlay;
mod scripts;
mod services;

use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::chroot::{Chroot, ChrootError};
use crate::install::rootfs::Existing;
use crate::install::{InRootPath, RootError, RootFs};
use crate::interrupt::{self, Interrupted};
use crate::kickstart::{Kickstart, Origin};

pub use clean::clean;
pub use label::label;

#[derive(Debug, Error)]
pub enum ConfigureError {
    #[error("in the image root: {0}")]
    Root(#[from] RootError),
    #[error(transparent)]
    Command(#[from] ChrootError),
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
    #[error("cannot read random bytes for a password salt: {0}")]
    Random(std::io::Error),
    #[error("{command}: {message}")]
    Invalid {
        command: &'static str,
        message: String,
    },
    #[error("{origin}: services: {message}")]
    Services { origin: Origin, message: String },
    #[error("{origin}: services: {source}")]
    Unit { origin: Origin, source: ChrootError },
    #[error("overlay {}: {source}", path.display())]
    OverlayRead {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("overlay {}: {message}", path.display())]
    Overlay { path: PathBuf, message: String },
    #[error("{origin}: {message}")]
    Script { origin: Origin, message: String },
    #[error("{what}: {source}")]
    HostFile {
        what: String,
        source: std::io::Error,
    },
}

impl ConfigureError {
    fn invalid(command: &'static str, message: impl Into<String>) -> Self {
        ConfigureError::Invalid {
            command,
            message: message.into(),
        }
    }
}

/// Applies the kickstart to the root, then copies `overlays` (the
/// kickstart's and the command line's, in that order) onto it, then runs the
/// `%post` scripts in order. Returns the warnings worth showing a person.
pub fn configure(
    root: &RootFs,
    chroot: &Chroot,
    kickstart: &Kickstart,
    overlays: &[PathBuf],
) -> Result<Vec<String>, ConfigureError> {
    let mut warnings = Vec::new();
    interrupt::check()?;
    accounts::apply(root, chroot, kickstart)?;
    interrupt::check()?;
    locale::apply(root, chroot, kickstart, &mut warnings)?;
    interrupt::check()?;
    network::apply(
        root,
        &kickstart.network,
        kickstart.services.as_ref().map(|s| &s.value),
        &mut warnings,
    )?;
    services::apply(root, chroot, kickstart, &mut warnings)?;
    for path in overlays {
        interrupt::check()?;
        overlay::copy(root, path)?;
    }
    scripts::run_all(
        root,
        chroot,
        &kickstart.scripts,
        Path::new(HOST_RESOLV_CONF),
        &mut warnings,
    )?;
    Ok(warnings)
}

/// The build host's resolver configuration, lent to `%post` scripts.
const HOST_RESOLV_CONF: &str = "/etc/resolv.conf";

/// `path` as a path inside the root; only for literals and names the image
/// itself gave (a home directory from `/etc/passwd`, a zone name).
fn in_root(path: &str) -> Result<InRootPath, ConfigureError> {
    Ok(InRootPath::parse(path)?)
}

/// A text file of the image, if it exists (bytes that are not UTF-8 are
/// replaced: these are configuration files people edit).
fn read_text(root: &RootFs, path: &InRootPath) -> Result<Option<String>, ConfigureError> {
    Ok(root
        .read(path)?
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned()))
}

/// Whether `path` exists in the image, symlinks followed inside the root.
fn exists(root: &RootFs, path: &str) -> Result<bool, ConfigureError> {
    Ok(root.existing(&in_root(path)?)? != Existing::Missing)
}
