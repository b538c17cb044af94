//! Running the image's own programs (maintainer scripts, `dpkg`, `%post`,
//! `systemctl`) inside the root being built.
//!
//! Every command runs in a private mount namespace of its own: the child
//! process unshares, mounts `/proc`, `/sys` and a fresh `/dev` inside the
//! root, then chroots. Those mounts exist only in that namespace, so they
//! vanish with the child, whatever happens to livecompose (an error, Ctrl-C,
//! even `kill -9`): the build host never sees a mount to leak, and deleting
//! a failed root can never recurse into the host's `/dev` or `/sys`.

use std::ffi::{CString, OsStr};
use std::fmt;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

use rustix::fs::{FileType, Mode};
use rustix::mount::{MountFlags, MountPropagationFlags};
use rustix::thread::UnshareFlags;

/// The environment every command starts from: nothing of the build host's
/// leaks in, and Debian's tools are told that nobody is there to answer.
const BASE_ENV: &[(&str, &str)] = &[
    (
        "PATH",
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    ),
    ("HOME", "/root"),
    ("LC_ALL", "C.UTF-8"),
    ("LANG", "C.UTF-8"),
    ("DEBIAN_FRONTEND", "noninteractive"),
    ("DEBCONF_NONINTERACTIVE_SEEN", "true"),
];

/// How many lines of a failed command's output an error quotes.
const TAIL_LINES: usize = 25;

#[derive(Debug, thiserror::Error)]
pub enum ChrootError {
    #[error("{0} is not a path livecompose can use as a root (it contains a NUL byte)")]
    BadPath(PathBuf),
    #[error("cannot open the build log {path}: {source}")]
    Log {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "cannot start {what}: {source} (building an image needs root: mount namespaces, chroot and device nodes)"
    )]
    Spawn {
        what: String,
        source: std::io::Error,
    },
    #[error("{what} {status}; its last output:\n{tail}")]
    Failed {
        what: String,
        status: Status,
        tail: String,
    },
    #[error("interrupted while running {what}")]
    Interrupted { what: String },
}

/// How a command ended, worded for the error message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status(ExitStatus);

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.0.code(), self.0.signal()) {
            (Some(code), _) => write!(f, "failed with exit status {code}"),
            (None, Some(signal)) => write!(f, "was killed by signal {signal}"),
            (None, None) => write!(f, "failed ({})", self.0),
        }
    }
}

/// Where commands run: a root directory and the log their output goes to.
#[derive(Debug, Clone)]
pub struct Chroot {
    root: PathBuf,
    paths: MountPaths,
    log_path: PathBuf,
    /// Set after [`BASE_ENV`] for every command.
    env: Vec<(String, String)>,
}

/// Every path the child needs after `fork`, built beforehand: between fork
/// and exec only async-signal-safe calls are allowed, so no allocation.
#[derive(Debug, Clone)]
struct MountPaths {
    root: CString,
    proc: CString,
    sys: CString,
    dev: CString,
    dev_pts: CString,
    dev_shm: CString,
    nodes: Vec<(CString, u32, u32)>,
    links: Vec<(CString, CString)>,
}

/// Character devices a script may expect in `/dev`: (name, major, minor).
const DEV_NODES: &[(&str, u32, u32)] = &[
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

const DEV_LINKS: &[(&str, &str)] = &[
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
    ("ptmx", "pts/ptmx"),
];

fn c_path(path: &Path) -> Result<CString, ChrootError> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| ChrootError::BadPath(path.to_path_buf()))
}

impl MountPaths {
    fn new(root: &Path) -> Result<Self, ChrootError> {
        let dev = root.join("dev");
        Ok(MountPaths {
            root: c_path(root)?,
            proc: c_path(&root.join("proc"))?,
            sys: c_path(&root.join("sys"))?,
            dev: c_path(&dev)?,
            dev_pts: c_path(&dev.join("pts"))?,
            dev_shm: c_path(&dev.join("shm"))?,
            nodes: DEV_NODES
                .iter()
                .map(|(name, major, minor)| Ok((c_path(&dev.join(name))?, *major, *minor)))
                .collect::<Result<_, ChrootError>>()?,
            links: DEV_LINKS
                .iter()
                .map(|(name, target)| Ok((c_path(&dev.join(name))?, c_path(Path::new(target))?)))
                .collect::<Result<_, ChrootError>>()?,
        })
    }

    /// Runs in the forked child: a private mount namespace with the API
    /// filesystems mounted inside the root. With `enter`, also chroots.
    fn set_up(&self, enter: bool) -> std::io::Result<()> {
        let nosuid_nodev = MountFlags::NOSUID | MountFlags::NODEV;
        // Device nodes need their exact modes (0666), whatever the umask.
        let umask = rustix::process::umask(Mode::empty());
        // SAFETY: called in a freshly forked, single-threaded child; no file
        // descriptor table is shared with another thread.
        unsafe { rustix::thread::unshare_unsafe(UnshareFlags::NEWNS) }?;
        // The host's `/` is usually a shared mount; without this, our mounts
        // would propagate back to the host.
        rustix::mount::mount_change(
            c"/",
            MountPropagationFlags::REC | MountPropagationFlags::PRIVATE,
        )?;
        rustix::mount::mount(
            c"proc",
            self.proc.as_c_str(),
            c"proc",
            nosuid_nodev | MountFlags::NOEXEC,
            None,
        )?;
        rustix::mount::mount(
            c"sysfs",
            self.sys.as_c_str(),
            c"sysfs",
            nosuid_nodev | MountFlags::NOEXEC | MountFlags::RDONLY,
            None,
        )?;
        rustix::mount::mount(
            c"tmpfs",
            self.dev.as_c_str(),
            c"tmpfs",
            MountFlags::NOSUID,
            c"mode=0755",
        )?;
        for (path, major, minor) in &self.nodes {
            rustix::fs::mknodat(
                rustix::fs::CWD,
                path.as_c_str(),
                FileType::CharacterDevice,
                Mode::from_raw_mode(0o666),
                rustix::fs::makedev(*major, *minor),
            )?;
        }
        for (path, target) in &self.links {
            rustix::fs::symlinkat(target.as_c_str(), rustix::fs::CWD, path.as_c_str())?;
        }
        for dir in [&self.dev_pts, &self.dev_shm] {
            rustix::fs::mkdirat(rustix::fs::CWD, dir.as_c_str(), Mode::from_raw_mode(0o755))?;
        }
        rustix::mount::mount(
            c"devpts",
            self.dev_pts.as_c_str(),
            c"devpts",
            nosuid_nodev | MountFlags::NOEXEC,
            c"newinstance,ptmxmode=0666,mode=0620",
        )?;
        rustix::process::umask(umask);
        if enter {
            rustix::process::chroot(self.root.as_c_str())?;
            rustix::process::chdir(c"/")?;
        }
        Ok(())
    }
}

impl Chroot {
    /// Commands will run in `root`; their output is appended to `log`.
    pub fn new(root: &Path, log: &Path) -> Result<Self, ChrootError> {
        Ok(Chroot {
            root: root.to_path_buf(),
            paths: MountPaths::new(root)?,
            log_path: log.to_path_buf(),
            env: Vec::new(),
        })
    }

    /// The same chroot, its commands also given `key=value`.
    pub fn with_env(&self, key: &str, value: &str) -> Chroot {
        let mut chroot = self.clone();
        chroot.env.push((key.to_owned(), value.to_owned()));
        chroot
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// A command that runs `program` (an absolute path inside the root)
    /// chrooted into the root, with a clean environment.
    pub fn command(&self, program: &str, args: &[&OsStr]) -> Command {
        self.prepared(program, args, true)
    }

    /// A command that runs `program` on the build host, with the root's
    /// API filesystems mounted and `INSTALL_ROOT` naming the root, the way
    /// livecd-creator runs `%post --nochroot`.
    pub fn host_command(&self, program: &str, args: &[&OsStr]) -> Command {
        let mut command = self.prepared(program, args, false);
        command.env("INSTALL_ROOT", &self.root);
        command
    }

    /// A command that, instead of executing a program, runs `body` in the
    /// forked child once it is chrooted into the root, and exits with the
    /// status `body` returns: for interpreters livecompose embeds (rpm's
    /// Lua), which must never chroot the main process. The child has the
    /// command's environment, standard streams and working directory `/`.
    ///
    /// `body` runs between fork and exec, where only the forking thread
    /// exists: it may allocate (glibc's allocator is reset for the child
    /// at fork) but must not take locks other threads of this process use.
    pub fn function_command(
        &self,
        mut body: impl FnMut() -> i32 + Send + Sync + 'static,
    ) -> Command {
        // Never executed: `body` exits first.
        let mut command = self.prepared("/", &[], true);
        // SAFETY: see above; the child leaves through `_exit`, after
        // flushing C stdio (where the embedded interpreter writes), so it
        // never returns into the parent's copy of the program.
        unsafe {
            command.pre_exec(move || {
                let status = body();
                libc::fflush(std::ptr::null_mut());
                libc::_exit(status)
            });
        }
        command
    }

    fn prepared(&self, program: &str, args: &[&OsStr], enter: bool) -> Command {
        let mut command = Command::new(program);
        command
            .args(args)
            .env_clear()
            .envs(BASE_ENV.iter().copied())
            .envs(self.env.iter().map(|(key, value)| (key, value)));
        if !enter {
            // The host's own tools, wherever the host keeps them.
            if let Some(path) = std::env::var_os("PATH") {
                command.env("PATH", path);
            }
        }
        let paths = self.paths.clone();
        // SAFETY: `set_up` only makes raw system calls on data prepared
        // before the fork; it neither allocates nor takes locks.
        unsafe {
            command.pre_exec(move || paths.set_up(enter));
        }
        command
    }

    /// Runs `command` with its output appended to the log; `what` names it
    /// in errors ("the postinst of dbus", "%post at ks.cfg:40").
    pub fn run(&self, command: Command, what: &str) -> Result<(), ChrootError> {
        self.run_with_input(command, what, None)
    }

    /// [`Chroot::run`] with `stdin` fed from a file (a script body, say).
    pub fn run_with_input(
        &self,
        mut command: Command,
        what: &str,
        stdin: Option<File>,
    ) -> Result<(), ChrootError> {
        let log_err = |source| ChrootError::Log {
            path: self.log_path.clone(),
            source,
        };
        let mut log = File::options()
            .create(true)
            .append(true)
            .read(true)
            .open(&self.log_path)
            .map_err(log_err)?;
        let start = log.seek(SeekFrom::End(0)).map_err(log_err)?;
        use std::io::Write as _;
        writeln!(log, "==> {what}").map_err(log_err)?;
        let stdout = log.try_clone().map_err(log_err)?;
        let stderr = log.try_clone().map_err(log_err)?;
        command
            .stdin(stdin.map_or_else(Stdio::null, Stdio::from))
            .stdout(stdout)
            .stderr(stderr);
        let started = std::time::Instant::now();
        let status = command.status().map_err(|source| ChrootError::Spawn {
            what: what.to_string(),
            source,
        })?;
        // The time each command took, for whoever wonders where a slow
        // build spends it.
        writeln!(
            log,
            "<== {what}: {status} after {:.1} s",
            started.elapsed().as_secs_f64()
        )
        .map_err(log_err)?;
        if crate::interrupt::requested() {
            return Err(ChrootError::Interrupted {
                what: what.to_string(),
            });
        }
        if status.success() {
            return Ok(());
        }
        Err(ChrootError::Failed {
            what: what.to_string(),
            status: Status(status),
            tail: tail_since(&mut log, start),
        })
    }
}

/// What one command printed, from the log bytes written for it: the
/// `==>` line before and the `<==` line after are ours, not its.
pub fn command_output(logged: &[u8]) -> &[u8] {
    let body = match logged.iter().position(|b| *b == b'\n') {
        Some(end) => &logged[end + 1..],
        None => &[],
    };
    let without_newline = body.strip_suffix(b"\n").unwrap_or(body);
    match without_newline.iter().rposition(|b| *b == b'\n') {
        Some(end) if without_newline[end + 1..].starts_with(b"<== ") => &body[..=end],
        None if without_newline.starts_with(b"<== ") => &[],
        _ => body,
    }
}

/// The last lines written to `log` after byte offset `start`.
fn tail_since(log: &mut File, start: u64) -> String {
    let mut bytes = Vec::new();
    if log.seek(SeekFrom::Start(start)).is_err() || log.read_to_end(&mut bytes).is_err() {
        return String::from("  (the build log could not be read back)");
    }
    let text = String::from_utf8_lossy(command_output(&bytes));
    let lines: Vec<&str> = text.lines().collect();
    let shown = &lines[lines.len().saturating_sub(TAIL_LINES)..];
    if shown.is_empty() {
        return String::from("  (no output)");
    }
    shown
        .iter()
        .map(|line| format!("  {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::command_output;

    #[test]
    fn command_output_drops_our_header_and_footer_lines() {
        assert_eq!(
            command_output(b"==> x\none\ntwo\n<== x: exit status: 0 after 0.1 s\n"),
            b"one\ntwo\n"
        );
        assert_eq!(command_output(b"==> x\n<== x: ok\n"), b"");
        assert_eq!(
            command_output(b"==> x\nno footer yet\n"),
            b"no footer yet\n"
        );
        assert_eq!(command_output(b"==> x"), b"");
    }
}
