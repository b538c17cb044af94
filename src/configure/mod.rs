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
mod host_keys;
mod label;
mod locale;
mod network;
mod overlay;
mod scripts;
mod services;
mod times;

use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::chroot::{Chroot, ChrootError};
use crate::install::rootfs::Existing;
use crate::install::{InRootPath, RootError, RootFs};
use crate::interrupt::{self, Interrupted};
use crate::kickstart::{Kickstart, Origin};
use crate::source_date::SourceDate;

pub use clean::clean;
pub use label::label;
pub use times::clamp_times;

#[derive(Debug, Error)]
pub enum ConfigureError {
    #[error("in the image root: {0}")]
    Root(#[from] RootError),
    #[error(transparent)]
    Command(#[from] ChrootError),
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
    #[error("cannot clamp the times of {}: {source}", path.display())]
    Times {
        path: PathBuf,
        source: std::io::Error,
    },
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

/// What the configure stage tells the person building.
#[derive(Debug, Default)]
pub struct Report {
    /// What the image gained that the kickstart did not spell out.
    pub notes: Vec<String>,
    pub warnings: Vec<String>,
}

/// Applies the kickstart to the root, then copies `overlays` (the
/// kickstart's and the command line's, in that order) onto it, then runs the
/// `%post` scripts in order.
pub fn configure(
    root: &RootFs,
    chroot: &Chroot,
    kickstart: &Kickstart,
    overlays: &[PathBuf],
    conventions: &Conventions,
    source_date: &SourceDate,
) -> Result<Report, ConfigureError> {
    let mut warnings = Vec::new();
    let mut notes = Vec::new();
    interrupt::check()?;
    accounts::apply(root, chroot, kickstart, source_date)?;
    interrupt::check()?;
    locale::apply(root, chroot, kickstart, conventions, &mut warnings)?;
    interrupt::check()?;
    network::apply(
        root,
        &kickstart.network,
        kickstart.services.as_ref().map(|s| &s.value),
        &mut warnings,
    )?;
    // Before the services line, whose `systemctl disable` may name the unit.
    let host_keys = host_keys::apply(
        root,
        &conventions.ssh,
        kickstart.services.as_ref().map(|s| &s.value),
    )?;
    notes.extend(host_keys.note(&conventions.ssh));
    warnings.extend(host_keys.warning(&conventions.ssh));
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
    Ok(Report { notes, warnings })
}

/// How a distribution keeps what the configure stage writes; the
/// distribution back end gives it ([`crate::distro::Distro::conventions`]).
#[derive(Clone, Copy, Debug)]
pub struct Conventions {
    pub locale: LocaleStyle,
    pub keyboard: KeyboardStyle,
    /// Package-manager indexes and downloads the image must not carry.
    pub caches: &'static [CacheFiles],
    /// Files that record when the build ran (the package manager's logs,
    /// ldconfig's cache of file times): removed, as mmdebstrap and
    /// live-build do for reproducible images; their tools make them anew.
    pub build_records: &'static [&'static str],
    pub ssh: SshServer,
}

/// How the distribution runs its OpenSSH server.
#[derive(Clone, Copy, Debug)]
pub struct SshServer {
    /// The unit that starts it.
    pub service: &'static str,
    /// Files whose presence shows the image makes its own host keys at boot.
    pub keygen_units: &'static [&'static str],
    /// The package that holds `ssh-keygen`.
    pub keygen_package: &'static str,
}

/// Where `lang` goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LocaleStyle {
    /// Debian's `locales`: `/etc/default/locale`, and the locales enabled in
    /// `/etc/locale.gen` and generated by `locale-gen`.
    DebianLocales,
    /// systemd's `/etc/locale.conf`; the locales come from packages
    /// (Fedora's `glibc-langpack-*`), nothing is generated.
    LocaleConf,
}

/// Where `keyboard` goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyboardStyle {
    /// Debian's `keyboard-configuration`: `/etc/default/keyboard` (console
    /// and X), and `/etc/vconsole.conf` for systemd.
    DebianKeyboard,
    /// systemd's `/etc/vconsole.conf` and the X11 keyboard snippet that
    /// `localectl` writes.
    Vconsole,
}

/// Files a package manager leaves in `dir`, removed from the finished image.
#[derive(Clone, Copy, Debug)]
pub struct CacheFiles {
    pub dir: &'static str,
    pub names: CacheNames,
}

#[derive(Clone, Copy, Debug)]
pub enum CacheNames {
    /// Every file but the one named (a lock the tool expects).
    AllBut(&'static str),
    /// Every file.
    All,
    /// Files whose names end so.
    Suffix(&'static str),
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

/// Whether a unit the kickstart's `services` line names is `unit`, with or
/// without `.service`.
fn names_unit(list: &[String], unit: &str) -> bool {
    list.iter()
        .any(|name| name.strip_suffix(".service").unwrap_or(name) == unit)
}

/// Whether `path` exists in the image, symlinks followed inside the root.
fn exists(root: &RootFs, path: &str) -> Result<bool, ConfigureError> {
    Ok(root.existing(&in_root(path)?)? != Existing::Missing)
}
