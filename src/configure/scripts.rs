//! `%post` scripts, in kickstart order: inside the image with their
//! interpreter, or on the build host with `--nochroot` and `INSTALL_ROOT`
//! set, as livecd-creator runs them.
//!
//! Chroot scripts get the build host's `resolv.conf` for their run, so that
//! they can reach the network; the image's own is put back afterwards,
//! whatever the scripts did.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use crate::chroot::{Chroot, ChrootError};
use crate::install::rootfs::Meta;
use crate::install::{InRootPath, RootFs};
use crate::interrupt;
use crate::kickstart::sections::{Script, ScriptKind};

use super::{ConfigureError, exists, in_root, read_text};

/// Names of our temporary files in the image's `/tmp` start with this, so
/// [`super::clean`] can recognise leftovers of an interrupted build.
pub(super) const TEMP_PREFIX: &str = "livecompose-";

const DEFAULT_INTERPRETER: &str = "/bin/sh";
const RESOLV_CONF: &str = "/etc/resolv.conf";

pub(super) fn run_all(
    root: &RootFs,
    chroot: &Chroot,
    scripts: &[Script],
    host_resolv_conf: &Path,
    warnings: &mut Vec<String>,
) -> Result<(), ConfigureError> {
    for script in scripts.iter().filter(|s| s.kind != ScriptKind::Post) {
        warnings.push(format!(
            "{}: {} scripts are not run when building an image (livecd-creator does not run them either); the script is ignored",
            script.origin,
            script.kind.section()
        ));
    }
    let posts: Vec<&Script> = scripts
        .iter()
        .filter(|s| s.kind == ScriptKind::Post)
        .collect();
    let lent = if posts.iter().any(|s| !s.nochroot) {
        LentResolvConf::lend(root, host_resolv_conf)?
    } else {
        None
    };
    let result = posts.iter().enumerate().try_for_each(|(index, script)| {
        interrupt::check()?;
        run_one(root, chroot, script, index, warnings)
    });
    let restored = lent.map_or(Ok(()), |lent| lent.restore(root));
    result.and(restored)
}

fn run_one(
    root: &RootFs,
    chroot: &Chroot,
    script: &Script,
    index: usize,
    warnings: &mut Vec<String>,
) -> Result<(), ConfigureError> {
    let what = format!("%post at {}", script.origin);
    let interpreter = script.interpreter.as_deref().unwrap_or(DEFAULT_INTERPRETER);
    if !interpreter.starts_with('/') {
        return Err(ConfigureError::Script {
            origin: script.origin.clone(),
            message: format!("--interpreter={interpreter} must be an absolute path"),
        });
    }
    let log_start = fs::metadata(chroot.log_path()).map_or(0, |m| m.len());
    // Anaconda gives %post the network (to fetch files, register the
    // system); `--nonet` takes it away.
    let chroot = &if script.nonet {
        chroot.clone()
    } else {
        chroot.with_network()
    };
    let outcome = if script.nochroot {
        run_on_host(chroot, script, interpreter, &what)
    } else {
        run_in_root(root, chroot, script, interpreter, index, &what)
    };
    if let Some(log) = &script.log {
        copy_output(root, chroot.log_path(), log_start, log, script.nochroot).map_err(|error| {
            ConfigureError::Script {
                origin: script.origin.clone(),
                message: format!("--log={log}: {error}"),
            }
        })?;
    }
    match outcome {
        Err(ConfigureError::Command(error @ ChrootError::Failed { .. }))
            if !script.error_on_fail =>
        {
            warnings.push(format!(
                "{error}\n(the build goes on: the script has no --erroronfail)"
            ));
            Ok(())
        }
        other => other,
    }
}

fn run_in_root(
    root: &RootFs,
    chroot: &Chroot,
    script: &Script,
    interpreter: &str,
    index: usize,
    what: &str,
) -> Result<(), ConfigureError> {
    if !exists(root, interpreter)? {
        return Err(ConfigureError::Script {
            origin: script.origin.clone(),
            message: format!(
                "the interpreter {interpreter} is not in the image; add the package that provides it to %packages"
            ),
        });
    }
    root.create_dir(&in_root("/tmp")?, &Meta::root_owned(0o1777))?;
    let name = format!("/tmp/{TEMP_PREFIX}post-{index}");
    let path = in_root(&name)?;
    root.write_bytes(&path, script.body.as_bytes(), 0o700)?;
    let result = chroot.run(chroot.command(interpreter, &[OsStr::new(&name)]), what);
    root.remove_file(&path)?;
    Ok(result?)
}

fn run_on_host(
    chroot: &Chroot,
    script: &Script,
    interpreter: &str,
    what: &str,
) -> Result<(), ConfigureError> {
    let host = |source| ConfigureError::HostFile {
        what: format!("a temporary file for {what}"),
        source,
    };
    let mut body = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .tempfile()
        .map_err(host)?;
    body.write_all(script.body.as_bytes()).map_err(host)?;
    body.flush().map_err(host)?;
    let command = chroot.host_command(interpreter, &[body.path().as_os_str()]);
    Ok(chroot.run(command, what)?)
}

/// Appends what the script printed (the build log from `start`, without the
/// lines [`Chroot::run`] writes around it) to its `--log` file: inside the image
/// for a chroot script, on the host for a `--nochroot` one.
fn copy_output(
    root: &RootFs,
    build_log: &Path,
    start: u64,
    log: &str,
    on_host: bool,
) -> Result<(), ConfigureError> {
    let host = |source| ConfigureError::HostFile {
        what: log.to_owned(),
        source,
    };
    let mut file = File::open(build_log).map_err(host)?;
    file.seek(SeekFrom::Start(start)).map_err(host)?;
    let mut output = Vec::new();
    file.read_to_end(&mut output).map_err(host)?;
    let body = crate::chroot::command_output(&output);
    if on_host {
        let mut target = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(host)?;
        return target.write_all(body).map_err(host);
    }
    let path = InRootPath::parse(log)?;
    let mut text = root.read(&path)?.unwrap_or_default();
    text.extend_from_slice(body);
    root.write_bytes(&path, &text, 0o600)?;
    Ok(())
}

/// The image's own `/etc/resolv.conf`, kept aside while the host's is lent.
enum Original {
    Missing,
    Link(OsString),
    File(Vec<u8>),
}

struct LentResolvConf(Original);

impl LentResolvConf {
    /// Puts the host's resolver configuration in the image; `None` when the
    /// host has none to lend.
    fn lend(root: &RootFs, host: &Path) -> Result<Option<Self>, ConfigureError> {
        let Ok(lent) = fs::read(host) else {
            return Ok(None);
        };
        let path = in_root(RESOLV_CONF)?;
        let original = match root.read_link(&path)? {
            Some(target) => Original::Link(target),
            None => match root.read(&path)? {
                Some(bytes) => Original::File(bytes),
                None => Original::Missing,
            },
        };
        root.write_bytes(&path, &lent, 0o644)?;
        Ok(Some(Self(original)))
    }

    fn restore(self, root: &RootFs) -> Result<(), ConfigureError> {
        let path = in_root(RESOLV_CONF)?;
        match self.0 {
            Original::Missing => {
                root.remove_file(&path)?;
            }
            Original::Link(target) => root.symlink(&path, &target, &Meta::root_owned(0o777))?,
            Original::File(bytes) => root.write_bytes(&path, &bytes, 0o644)?,
        }
        Ok(())
    }
}

/// Whether `/etc/resolv.conf` in the image is a copy of the host's: a leak
/// of the build machine's network into the image.
pub(super) fn has_host_resolv_conf(root: &RootFs, host: &Path) -> Result<bool, ConfigureError> {
    let path = in_root(RESOLV_CONF)?;
    if root.read_link(&path)?.is_some() {
        return Ok(false);
    }
    let Ok(host_text) = fs::read_to_string(host) else {
        return Ok(false);
    };
    Ok(read_text(root, &path)?.is_some_and(|text| text == host_text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use crate::kickstart::Origin;

    fn image() -> (tempfile::TempDir, RootFs) {
        let dir = tempfile::tempdir().expect("temp dir");
        fs::create_dir(dir.path().join("etc")).expect("etc");
        let root = RootFs::open(dir.path()).expect("root");
        (dir, root)
    }

    #[test]
    fn the_host_resolver_is_lent_and_the_images_own_put_back() {
        let host = tempfile::NamedTempFile::new().expect("host file");
        fs::write(host.path(), "nameserver 192.0.2.1\n").expect("host");
        let (dir, root) = image();
        let resolv = dir.path().join("etc/resolv.conf");
        for original in [None, Some("link"), Some("file")] {
            let _ = fs::remove_file(&resolv);
            match original {
                Some("link") => std::os::unix::fs::symlink("../run/stub", &resolv).expect("link"),
                Some(_) => fs::write(&resolv, "nameserver 198.51.100.1\n").expect("file"),
                None => {}
            }
            let lent = LentResolvConf::lend(&root, host.path())
                .expect("lent")
                .expect("the host has one");
            assert_eq!(
                fs::read_to_string(&resolv).expect("lent"),
                "nameserver 192.0.2.1\n"
            );
            assert!(has_host_resolv_conf(&root, host.path()).expect("compared"));
            lent.restore(&root).expect("restored");
            match original {
                Some("link") => assert_eq!(
                    fs::read_link(&resolv).expect("link"),
                    Path::new("../run/stub")
                ),
                Some(_) => assert_eq!(
                    fs::read_to_string(&resolv).expect("file"),
                    "nameserver 198.51.100.1\n"
                ),
                None => assert!(fs::symlink_metadata(&resolv).is_err()),
            }
            assert!(!has_host_resolv_conf(&root, host.path()).expect("compared"));
        }
    }

    #[test]
    fn script_output_is_appended_to_its_log_without_the_header() {
        let (dir, root) = image();
        let build_log = dir.path().join("build.log");
        fs::write(&build_log, "earlier output\n").expect("log");
        let start = fs::metadata(&build_log).expect("log").len();
        fs::write(&build_log, "earlier output\n==> %post at ks:3\none\ntwo\n").expect("log");
        fs::write(dir.path().join("etc/post.log"), "before\n").expect("existing log");
        copy_output(&root, &build_log, start, "/etc/post.log", false).expect("copied");
        assert_eq!(
            fs::read_to_string(dir.path().join("etc/post.log")).expect("log"),
            "before\none\ntwo\n"
        );
        let host_log = dir.path().join("host.log");
        copy_output(
            &root,
            &build_log,
            start,
            host_log.to_str().expect("utf-8"),
            true,
        )
        .expect("copied");
        assert_eq!(
            fs::read_to_string(&host_log).expect("host log"),
            "one\ntwo\n"
        );
    }

    #[test]
    fn pre_scripts_are_not_run_but_named() {
        let (dir, root) = image();
        let chroot = Chroot::new(dir.path(), &dir.path().join("log")).expect("chroot");
        let origin = Origin::new(Arc::from(Path::new("ks.cfg")), 4);
        let mut pre = Script::new(ScriptKind::Pre, &origin);
        pre.body = "touch /should-not-exist\n".to_owned();
        let mut warnings = Vec::new();
        run_all(
            &root,
            &chroot,
            &[pre],
            Path::new("/nonexistent"),
            &mut warnings,
        )
        .expect("nothing run");
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0].starts_with("ks.cfg:4: %pre scripts are not run"),
            "{warnings:?}"
        );
    }
}
