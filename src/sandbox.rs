//! The sandbox every program from the image runs in (maintainer scripts,
//! scriptlets, `%post`, the image's `grub-mkimage`, `systemctl`...).
//!
//! [`Chroot`](crate::chroot::Chroot) starts this binary again as a helper
//! (`livecompose __sandbox …`, see [`HELPER_ARG`]) rather than setting up
//! between `fork` and `exec` of the threaded build: the helper is a fresh,
//! single-threaded process, so it may allocate, fork twice and wait.
//!
//! The helper unshares the mount, PID, UTS and IPC namespaces (and the
//! network namespace unless the command may use the network), then forks
//! the namespace's init. The init mounts a fresh `/proc` of the new PID
//! namespace with `/proc/sys` read-only, a read-only `/sys` and a private
//! `/dev` inside the root, chroots, and forks the program in a session of
//! its own (no controlling terminal) with the capabilities in
//! [`DROPPED_CAPABILITIES`] gone from its bounding set. When the program
//! exits, the init exits with its status, and the kernel ends every process
//! left in the namespace: a daemon a script started does not outlive it.
//! When the helper dies (the build was interrupted and killed it), the init
//! gets SIGKILL, with the same effect.

use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use rustix::fs::{FileType, Mode};
use rustix::mount::{MountFlags, MountPropagationFlags};
use rustix::process::{Pid, Signal, WaitOptions};
use rustix::thread::{CapabilitySet, UnshareFlags};

use crate::install::rpm::lua;

/// The first argument that makes the binary act as the sandbox helper.
pub const HELPER_ARG: &str = "__sandbox";

/// A program built into livecompose that runs in the sandbox as an
/// executable of the image would: it gets the arguments after its name and
/// returns the exit status.
type EmbeddedProgram = fn(&[OsString]) -> i32;

/// The embedded programs, by the name a command gives instead of a path.
const EMBEDDED: &[(&str, EmbeddedProgram)] = &[(lua::PROGRAM, lua::main)];

/// The capabilities no image build needs, removed from the bounding set of
/// every program the sandbox runs, so that neither it nor anything it
/// executes (setuid programs included) can hold them:
const DROPPED_CAPABILITIES: &[CapabilitySet] = &[
    // loading kernel modules into the build host's kernel;
    CapabilitySet::SYS_MODULE,
    // rebooting the host or loading a new kernel (kexec);
    CapabilitySet::SYS_BOOT,
    // setting the host's clock;
    CapabilitySet::SYS_TIME,
    // raw I/O ports and /dev/mem-style access to the host's hardware;
    CapabilitySet::SYS_RAWIO,
    // tracing or reading the memory of processes outside the image;
    CapabilitySet::SYS_PTRACE,
    // changing the host's security policy (SELinux, AppArmor, Smack):
    // labels are written as file attributes, which needs neither;
    CapabilitySet::MAC_ADMIN,
    CapabilitySet::MAC_OVERRIDE,
    // the host's audit rules and kernel log;
    CapabilitySet::AUDIT_CONTROL,
    CapabilitySet::AUDIT_READ,
    CapabilitySet::SYSLOG,
    // reconfiguring the host's network (a %post keeps the host's network
    // namespace, to download; it has no reason to change it);
    CapabilitySet::NET_ADMIN,
    // process accounting, timers that wake the host, blocking suspend;
    CapabilitySet::SYS_PACCT,
    CapabilitySet::WAKE_ALARM,
    CapabilitySet::BLOCK_SUSPEND,
    // the host's terminals (vhangup);
    CapabilitySet::SYS_TTY_CONFIG,
    // BPF programs and performance monitoring of the whole host;
    CapabilitySet::BPF,
    CapabilitySet::PERFMON,
    CapabilitySet::CHECKPOINT_RESTORE,
];

/// What can stop the helper before the program runs, told on standard
/// error (the build log).
#[derive(Debug, thiserror::Error)]
enum SandboxError {
    #[error("usage: {HELPER_ARG} ROOT chroot|host net|nonet PROGRAM [ARG...]")]
    Usage,
    #[error("{0} contains a NUL byte")]
    NulInPath(PathBuf),
    #[error("cannot {what}: {source}")]
    System {
        what: String,
        source: std::io::Error,
    },
}

impl SandboxError {
    fn system(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let what = what.into();
        move |source| SandboxError::System { what, source }
    }
}

/// How a program runs in the sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Confinement {
    /// Chrooted into the root (else run on the host's file system, with
    /// the root's API file systems mounted: `%post --nochroot`).
    pub enter_root: bool,
    /// Keeps the host's network (else only a loopback of its own).
    pub network: bool,
}

/// The binary that acts as the helper when it is not the running one.
static HELPER: OnceLock<PathBuf> = OnceLock::new();

/// Makes `binary` (a livecompose executable) the sandbox helper: for
/// programs other than livecompose that run the build's stages, such as
/// the test suites. The first call wins.
pub fn use_helper(binary: &Path) {
    let _first = HELPER.set(binary.to_owned());
}

/// The command that runs `program` with `args` confined as `confinement`
/// says in `root`; its environment and standard streams reach the program.
pub fn command(root: &Path, confinement: Confinement, program: &str, args: &[&OsStr]) -> Command {
    // By default the kernel's name for this very binary, whatever happened
    // to its path since it started.
    let helper = HELPER
        .get()
        .map_or(Path::new("/proc/self/exe"), PathBuf::as_path);
    let mut command = Command::new(helper);
    command
        .arg(HELPER_ARG)
        .arg(root)
        .arg(if confinement.enter_root {
            "chroot"
        } else {
            "host"
        })
        .arg(if confinement.network { "net" } else { "nonet" })
        .arg(program)
        .args(args);
    command
}

/// The helper's entry point: `args` are what follows [`HELPER_ARG`]. Never
/// returns; problems are told on standard error (the build log) with exit
/// status 127, as a shell reports a command it could not start.
pub fn helper_main(args: Vec<OsString>) -> ! {
    let code = match run_helper(args) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("livecompose sandbox: {error}");
            127
        }
    };
    std::process::exit(code)
}

fn run_helper(args: Vec<OsString>) -> Result<i32, SandboxError> {
    let [root, mode, network, program, program_args @ ..] = args.as_slice() else {
        return Err(SandboxError::Usage);
    };
    let confinement = Confinement {
        enter_root: mode == "chroot",
        network: network == "net",
    };
    let root = PathBuf::from(root);
    let mut flags =
        UnshareFlags::NEWNS | UnshareFlags::NEWPID | UnshareFlags::NEWUTS | UnshareFlags::NEWIPC;
    if !confinement.network {
        flags |= UnshareFlags::NEWNET;
    }
    // SAFETY: the helper is single-threaded; nothing shares its file table.
    unsafe { rustix::thread::unshare_unsafe(flags) }
        .map_err(|e| SandboxError::system("create the namespaces")(e.into()))?;
    // SAFETY: single-threaded, so the child may do anything after fork.
    match unsafe { libc::fork() } {
        -1 => Err(SandboxError::system("fork")(std::io::Error::last_os_error())),
        0 => {
            let code = match namespace_init(&root, confinement, program, program_args) {
                Ok(code) => code,
                Err(error) => {
                    eprintln!("livecompose sandbox: {error}");
                    127
                }
            };
            std::process::exit(code)
        }
        init => Ok(wait_for(init)),
    }
}

/// PID 1 of the new PID namespace: sets up the root, runs the program and
/// reaps every process reparented to it until the program exits.
fn namespace_init(
    root: &Path,
    confinement: Confinement,
    program: &OsStr,
    args: &[OsString],
) -> Result<i32, SandboxError> {
    // The helper's death (an interrupted build killed it) ends this init,
    // and with it the namespace.
    rustix::process::set_parent_process_death_signal(Some(Signal::KILL))
        .map_err(|e| SandboxError::system("tie the sandbox to the build")(e.into()))?;
    let paths = MountPaths::new(root)?;
    paths.set_up().map_err(SandboxError::system(format!(
        "mount the API file systems in {}",
        root.display()
    )))?;
    if !confinement.network {
        loopback_up().map_err(SandboxError::system("bring up the loopback interface"))?;
    }
    if confinement.enter_root {
        rustix::process::chroot(paths.root())
            .and_then(|()| rustix::process::chdir(c"/"))
            .map_err(|e| {
                SandboxError::system(format!("chroot into {}", root.display()))(e.into())
            })?;
    }
    let embedded = EMBEDDED
        .iter()
        .find(|(name, _)| program == *name)
        .map(|(_, main)| *main);
    let child = match embedded {
        Some(main) => start_embedded(main, args)?,
        None => start_program(program, args)?,
    };
    loop {
        match rustix::process::wait(WaitOptions::empty()) {
            Ok(Some((pid, status))) if pid.as_raw_nonzero().get() == child => {
                return Ok(exit_code(status));
            }
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => {}
            Err(error) => {
                return Err(SandboxError::system("wait for the program")(error.into()));
            }
        }
    }
}

/// Starts `program`, an executable of the image (or of the host, outside
/// the root), as the sandboxed process; returns its pid.
fn start_program(program: &OsStr, args: &[OsString]) -> Result<i32, SandboxError> {
    let mut command = Command::new(program);
    command.args(args);
    // SAFETY: setsid and prctl are plain system calls.
    unsafe {
        command.pre_exec(confine_process);
    }
    let child = command.spawn().map_err(SandboxError::system(format!(
        "start {}",
        program.to_string_lossy()
    )))?;
    Ok(child.id() as i32)
}

/// Starts an embedded program as the sandboxed process, in a child of the
/// (single-threaded) init; returns its pid.
fn start_embedded(main: EmbeddedProgram, args: &[OsString]) -> Result<i32, SandboxError> {
    // SAFETY: the init is single-threaded, so the child may run anything.
    match unsafe { libc::fork() } {
        -1 => Err(SandboxError::system("fork")(std::io::Error::last_os_error())),
        0 => {
            let status = match confine_process() {
                Ok(()) => main(args),
                Err(error) => {
                    eprintln!("livecompose sandbox: cannot confine the program: {error}");
                    127
                }
            };
            // C stdio is where an embedded interpreter may have written.
            // SAFETY: flushing all C streams, then leaving without running
            // the init's exit handlers twice.
            unsafe {
                libc::fflush(std::ptr::null_mut());
                libc::_exit(status)
            }
        }
        pid => Ok(pid),
    }
}

/// What the sandboxed process itself gets: a session of its own (no
/// controlling terminal) and a bounding set without the dropped
/// capabilities. Only system calls: it runs between fork and exec.
fn confine_process() -> std::io::Result<()> {
    rustix::process::setsid()?;
    for capability in DROPPED_CAPABILITIES {
        rustix::thread::remove_capability_from_bounding_set(*capability)?;
    }
    Ok(())
}

/// Waits for the namespace's init and returns the status to exit with.
fn wait_for(init: libc::pid_t) -> i32 {
    let Some(pid) = Pid::from_raw(init) else {
        return 127;
    };
    loop {
        match rustix::process::waitpid(Some(pid), WaitOptions::empty()) {
            Ok(Some((_, status))) => return exit_code(status),
            Ok(None) | Err(rustix::io::Errno::INTR) => {}
            Err(error) => {
                eprintln!("livecompose sandbox: cannot wait for the sandbox: {error}");
                return 127;
            }
        }
    }
}

/// A wait status as a shell reports it: the exit code, or 128 + the
/// signal that killed the process.
fn exit_code(status: rustix::process::WaitStatus) -> i32 {
    if let Some(code) = status.exit_status() {
        code
    } else if let Some(signal) = status.terminating_signal() {
        128 + signal
    } else {
        127
    }
}

/// Sets `lo` up: a new network namespace starts with it down, and programs
/// that talk to themselves over 127.0.0.1 expect it.
fn loopback_up() -> std::io::Result<()> {
    // SAFETY: plain socket and ioctl calls on a zeroed, well-formed ifreq.
    unsafe {
        let socket = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if socket < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut request: libc::ifreq = std::mem::zeroed();
        for (slot, byte) in request.ifr_name.iter_mut().zip(b"lo\0") {
            *slot = *byte as libc::c_char;
        }
        request.ifr_ifru.ifru_flags = (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
        let result = libc::ioctl(socket, libc::SIOCSIFFLAGS, &request);
        let error = std::io::Error::last_os_error();
        libc::close(socket);
        if result < 0 {
            return Err(error);
        }
    }
    Ok(())
}

/// The paths the sandbox mounts on, inside the root.
#[derive(Debug, Clone)]
struct MountPaths {
    root: CString,
    proc: CString,
    proc_sys: CString,
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

fn c_path(path: &Path) -> Result<CString, SandboxError> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| SandboxError::NulInPath(path.to_owned()))
}

impl MountPaths {
    fn new(root: &Path) -> Result<Self, SandboxError> {
        let dev = root.join("dev");
        let proc = root.join("proc");
        Ok(MountPaths {
            root: c_path(root)?,
            proc_sys: c_path(&proc.join("sys"))?,
            proc: c_path(&proc)?,
            sys: c_path(&root.join("sys"))?,
            dev: c_path(&dev)?,
            dev_pts: c_path(&dev.join("pts"))?,
            dev_shm: c_path(&dev.join("shm"))?,
            nodes: DEV_NODES
                .iter()
                .map(|(name, major, minor)| Ok((c_path(&dev.join(name))?, *major, *minor)))
                .collect::<Result<_, SandboxError>>()?,
            links: DEV_LINKS
                .iter()
                .map(|(name, target)| Ok((c_path(&dev.join(name))?, c_path(Path::new(target))?)))
                .collect::<Result<_, SandboxError>>()?,
        })
    }

    fn root(&self) -> &std::ffi::CStr {
        &self.root
    }

    /// Mounts the API file systems inside the root, in the mount namespace
    /// the caller has just unshared (so they vanish with it, whatever
    /// happens to the build: the host never sees a mount to leak).
    fn set_up(&self) -> std::io::Result<()> {
        let nosuid_nodev = MountFlags::NOSUID | MountFlags::NODEV;
        // Device nodes need their exact modes (0666), whatever the umask.
        let umask = rustix::process::umask(Mode::empty());
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
        // Kernel settings are the host's (only the network ones are per
        // namespace): a script's `sysctl -w` must not change the host.
        rustix::mount::mount_bind(self.proc_sys.as_c_str(), self.proc_sys.as_c_str())?;
        rustix::mount::mount_remount(
            self.proc_sys.as_c_str(),
            MountFlags::BIND | MountFlags::RDONLY | nosuid_nodev | MountFlags::NOEXEC,
            c"",
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
        Ok(())
    }
}
