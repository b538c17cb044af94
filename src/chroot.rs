//! Running the image's own programs (maintainer scripts, `dpkg`, `%post`,
//! `systemctl`) inside the root being built, each in the [`sandbox`]:
//! namespaces of its own, the API file systems mounted only there (so they
//! vanish with it, whatever happens to livecompose: the build host never
//! sees a mount to leak, and deleting a failed root can never recurse into
//! the host's `/dev` or `/sys`), no network unless asked for, and the
//! output appended to the build log.
//!
//! [`sandbox`]: crate::sandbox

use std::ffi::OsStr;
use std::fmt;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};

use rustix::event::{PollFd, PollFlags};

use crate::sandbox::{self, Confinement};

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
    log_path: PathBuf,
    /// Set after [`BASE_ENV`] for every command.
    env: Vec<(String, String)>,
    /// Whether commands keep the host's network.
    network: bool,
}

impl Chroot {
    /// Commands will run in `root`; their output is appended to `log`.
    pub fn new(root: &Path, log: &Path) -> Result<Self, ChrootError> {
        // The sandbox mounts under it through C strings.
        if root.as_os_str().as_encoded_bytes().contains(&0) {
            return Err(ChrootError::BadPath(root.to_owned()));
        }
        Ok(Chroot {
            root: root.to_path_buf(),
            log_path: log.to_path_buf(),
            env: Vec::new(),
            network: false,
        })
    }

    /// The same chroot, its commands keeping the host's network: for
    /// `%post`, as Anaconda runs it. Package scripts never get it.
    pub fn with_network(&self) -> Chroot {
        Chroot {
            network: true,
            ..self.clone()
        }
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

    /// A command that runs `program` (an absolute path inside the root, or
    /// the name of a program embedded in livecompose, such as rpm's Lua)
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

    /// A clean environment: [`BASE_ENV`], then this chroot's own.
    fn set_environment(&self, command: &mut Command) {
        command
            .env_clear()
            .envs(BASE_ENV.iter().copied())
            .envs(self.env.iter().map(|(key, value)| (key, value)));
    }

    fn prepared(&self, program: &str, args: &[&OsStr], enter_root: bool) -> Command {
        let mut command = sandbox::command(
            &self.root,
            Confinement {
                enter_root,
                network: self.network,
            },
            program,
            args,
        );
        self.set_environment(&mut command);
        if !enter_root {
            // The host's own tools, wherever the host keeps them.
            if let Some(path) = std::env::var_os("PATH") {
                command.env("PATH", path);
            }
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
        let spawn_error = |source| ChrootError::Spawn {
            what: what.to_string(),
            source,
        };
        let mut child = command.spawn().map_err(spawn_error)?;
        let status = wait_or_end(&mut child).map_err(spawn_error)?;
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

/// Waits for `child` (a sandbox helper), and ends it as soon as the build
/// is interrupted: its death ends the sandbox's PID namespace and every
/// process in it.
fn wait_or_end(child: &mut Child) -> std::io::Result<ExitStatus> {
    let pid = rustix::process::Pid::from_raw(child.id() as i32)
        .ok_or_else(|| std::io::Error::other("the child has no pid"))?;
    let pidfd = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty())?;
    // Often enough that Ctrl-C feels immediate; the pidfd wakes us at once
    // when the child ends.
    let tick = rustix::event::Timespec {
        tv_sec: 0,
        tv_nsec: 100_000_000,
    };
    loop {
        let mut fds = [PollFd::new(&pidfd, PollFlags::IN)];
        match rustix::event::poll(&mut fds, Some(&tick)) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(error) => return Err(error.into()),
        }
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if crate::interrupt::requested() {
            child.kill()?;
            return child.wait();
        }
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
