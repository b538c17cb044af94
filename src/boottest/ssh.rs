//! Logging in to a booted guest with the host's `ssh` client, through the
//! port that qemu's user-mode network forwards from the host's loopback to
//! the guest's port 22, and running commands there.

use std::fmt;
use std::fs::File;
use std::io::{Read, Seek};
use std::net::{Ipv4Addr, TcpListener};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::qemu::ProcessGuard;

/// The account logged in to when none is named.
pub const DEFAULT_SSH_USER: &str = "root";

/// The client looked up on PATH.
pub const DEFAULT_SSH_CLIENT: &str = "ssh";

/// The pause between two login attempts while sshd is not up yet.
const RETRY: Duration = Duration::from_secs(2);

/// How long one attempt may take to connect; the guest answers at once when
/// it is up, so a longer wait means it is not.
const CONNECT_TIMEOUT_SECS: u32 = 10;

/// Whom to log in as, and what to run.
#[derive(Debug, Clone)]
pub struct SshLogin {
    /// The private key the image's `authorized_keys` accepts.
    pub key: PathBuf,
    pub user: String,
    /// Run in order, each in its own session, through the user's shell.
    pub commands: Vec<String>,
    pub client: PathBuf,
}

/// One command as it ran in the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandRun {
    pub command: String,
    /// `None`: ended by a signal.
    pub exit_code: Option<i32>,
    /// Standard output and standard error, interleaved as written.
    pub output: String,
}

impl CommandRun {
    pub fn succeeded(&self) -> bool {
        self.exit_code == Some(0)
    }
}

impl fmt::Display for CommandRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "$ {}", self.command)?;
        for line in self.output.lines() {
            writeln!(f, "  {line}")?;
        }
        match self.exit_code {
            Some(code) => write!(f, "exit status {code}"),
            None => write!(f, "ended by a signal"),
        }
    }
}

/// The commands of one session, shown one after the other.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Runs(pub Vec<CommandRun>);

impl fmt::Display for Runs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, run) in self.0.iter().enumerate() {
            if index > 0 {
                writeln!(f)?;
            }
            write!(f, "{run}")?;
        }
        Ok(())
    }
}

/// A session that went well.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// When the first login succeeded.
    pub logged_in: Instant,
    pub runs: Runs,
}

#[derive(Debug, thiserror::Error)]
pub enum SshError {
    #[error("cannot read the SSH key {}: {source}", path.display())]
    Key {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the ssh client ({}) is not installed: install the Debian package openssh-client", client.display())]
    ClientMissing { client: PathBuf },
    #[error("cannot run {}: {source}", client.display())]
    Client {
        client: PathBuf,
        source: std::io::Error,
    },
    #[error("no free port on 127.0.0.1 for the guest's SSH port: {0}")]
    Port(std::io::Error),
    #[error("scratch space for the ssh client's output: {0}")]
    Scratch(std::io::Error),
    #[error(
        "the guest booted, but no SSH login as {user} through 127.0.0.1:{port} succeeded within {} s; the last attempt said:\n{last}",
        timeout.as_secs()
    )]
    Unreachable {
        user: String,
        port: u16,
        timeout: Duration,
        last: String,
    },
    #[error("{command:?} did not finish within {} s; it printed:\n{output}", timeout.as_secs())]
    CommandTimeout {
        command: String,
        timeout: Duration,
        output: String,
    },
    #[error("a command failed in the guest:\n{0}")]
    CommandFailed(Runs),
    #[error("interrupted; qemu was stopped")]
    Interrupted,
}

impl SshError {
    /// Whether the guest is at fault (it did not let us in, or a command
    /// failed there), as opposed to the host or the options.
    pub fn is_test_failure(&self) -> bool {
        matches!(
            self,
            SshError::Unreachable { .. }
                | SshError::CommandTimeout { .. }
                | SshError::CommandFailed(_)
        )
    }
}

/// A port on the host's loopback that nothing listens on now, for qemu to
/// forward. Another program could take it before qemu binds it; qemu then
/// ends with its own message and the boot test says so.
pub fn free_port() -> Result<u16, SshError> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .map_err(SshError::Port)
}

/// Checks what can be checked before the guest boots: the key is readable
/// and the client runs.
pub fn check(login: &SshLogin) -> Result<(), SshError> {
    File::open(&login.key).map_err(|source| SshError::Key {
        path: login.key.clone(),
        source,
    })?;
    match super::starts(&login.client, "-V") {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(SshError::ClientMissing {
            client: login.client.clone(),
        }),
        Err(source) => Err(SshError::Client {
            client: login.client.clone(),
            source,
        }),
    }
}

/// The client's arguments up to the command: the key only (no agent, no
/// user configuration), no password prompt, and the guest's host key
/// accepted without being recorded, since every boot makes a new one.
fn client_arguments(login: &SshLogin, port: u16) -> Vec<String> {
    let options = [
        "BatchMode=yes",
        "IdentitiesOnly=yes",
        "StrictHostKeyChecking=no",
        "UserKnownHostsFile=/dev/null",
        "LogLevel=ERROR",
        &format!("ConnectTimeout={CONNECT_TIMEOUT_SECS}"),
    ]
    .map(str::to_owned);
    let mut args = vec![
        "-F".to_owned(),
        "none".to_owned(),
        "-i".to_owned(),
        login.key.to_string_lossy().into_owned(),
        "-p".to_owned(),
        port.to_string(),
    ];
    for option in options {
        args.push("-o".to_owned());
        args.push(option);
    }
    args.push(format!("{}@127.0.0.1", login.user));
    args.push("--".to_owned());
    args
}

/// Logs in as soon as sshd answers, then runs every command; the first
/// that fails ends the session. Everything must be done by `deadline`,
/// which is `timeout` after the boot started.
pub fn session(
    login: &SshLogin,
    port: u16,
    deadline: Instant,
    timeout: Duration,
) -> Result<Session, SshError> {
    let arguments = client_arguments(login, port);
    let logged_in = loop {
        // Ctrl-C reaches the client too, which then fails like a refusal.
        if crate::interrupt::requested() {
            return Err(SshError::Interrupted);
        }
        let attempt = run(login, &arguments, "true", deadline)?;
        match attempt {
            Finished::Exited(run) if run.succeeded() => break Instant::now(),
            // sshd not started yet (connection refused), or still making
            // its keys: try again while there is time.
            Finished::Exited(_) if Instant::now() + RETRY < deadline => {
                std::thread::sleep(RETRY);
            }
            Finished::Exited(CommandRun { output, .. }) | Finished::TimedOut(output) => {
                return Err(SshError::Unreachable {
                    user: login.user.clone(),
                    port,
                    timeout,
                    last: output.trim_end().to_owned(),
                });
            }
        }
    };
    let mut runs = Vec::new();
    for command in &login.commands {
        let finished = loop {
            if crate::interrupt::requested() {
                return Err(SshError::Interrupted);
            }
            match run(login, &arguments, command, deadline)? {
                // The command was never sent: try again while there is time.
                Finished::Exited(run)
                    if never_reached_the_shell(&run) && Instant::now() + RETRY < deadline =>
                {
                    std::thread::sleep(RETRY);
                }
                finished => break finished,
            }
        };
        match finished {
            Finished::Exited(run) => {
                let failed = !run.succeeded();
                runs.push(run);
                if failed {
                    return Err(SshError::CommandFailed(Runs(runs)));
                }
            }
            Finished::TimedOut(output) => {
                return Err(SshError::CommandTimeout {
                    command: command.clone(),
                    timeout,
                    output,
                });
            }
        }
    }
    Ok(Session {
        logged_in,
        runs: Runs(runs),
    })
}

/// Whether the client gave up before the guest's sshd let it in: it could
/// not connect, or sshd had not greeted it within the connect timeout (a
/// guest starved of CPU by its host, even after an earlier login). Such a
/// command never ran.
fn never_reached_the_shell(run: &CommandRun) -> bool {
    const BEFORE_LOGIN: [&str; 3] = [
        "ssh: connect to host",
        "Connection timed out during banner exchange",
        "kex_exchange_identification:",
    ];
    run.exit_code == Some(255) && BEFORE_LOGIN.iter().any(|said| run.output.contains(said))
}

enum Finished {
    Exited(CommandRun),
    /// Killed at the deadline, with what it had printed.
    TimedOut(String),
}

/// Runs `command` in the guest through the client. Its output goes to one
/// file for both streams, so the lines keep the order they were written in
/// and nothing needs reading while it runs.
fn run(
    login: &SshLogin,
    arguments: &[String],
    command: &str,
    deadline: Instant,
) -> Result<Finished, SshError> {
    let mut output = tempfile::tempfile().map_err(SshError::Scratch)?;
    let stderr = output.try_clone().map_err(SshError::Scratch)?;
    let child = Command::new(&login.client)
        .args(arguments)
        .arg(command)
        .stdin(Stdio::null())
        .stdout(Stdio::from(output.try_clone().map_err(SshError::Scratch)?))
        .stderr(Stdio::from(stderr))
        .spawn()
        .map_err(|source| SshError::Client {
            client: login.client.clone(),
            source,
        })?;
    let mut guard = ProcessGuard::new(child);
    let status = guard
        .wait_timeout(deadline.saturating_duration_since(Instant::now()))
        .map_err(|source| SshError::Client {
            client: login.client.clone(),
            source,
        })?;
    // Killed first when it ran out of time, so the file is complete.
    drop(guard);
    let text = read_all(&mut output)?;
    Ok(match status {
        Some(status) => Finished::Exited(CommandRun {
            command: command.to_owned(),
            exit_code: status.code(),
            output: text,
        }),
        None => Finished::TimedOut(text),
    })
}

fn read_all(file: &mut File) -> Result<String, SshError> {
    let mut bytes = Vec::new();
    file.rewind()
        .and_then(|()| file.read_to_end(&mut bytes))
        .map_err(SshError::Scratch)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    use super::*;

    /// A stand-in for `ssh`: it records its arguments, refuses the first
    /// `refusals` connections as a guest whose sshd is not up yet does,
    /// then runs the command (its last argument) with the local shell.
    fn fake_client(dir: &Path, refusals: u32) -> SshLogin {
        fake_client_failing(
            dir,
            &format!("[ \"$tries\" -lt {refusals} ]"),
            "ssh: connect to host 127.0.0.1 port 2222: Connection refused",
        )
    }

    /// The same, failing the connections (counted from 0 as `$tries`) for
    /// which the shell test `when` holds, saying `message`.
    fn fake_client_failing(dir: &Path, when: &str, message: &str) -> SshLogin {
        let client = dir.join("ssh");
        let script = format!(
            "#!/bin/sh\n\
             [ \"$1\" = -V ] && exit 0\n\
             echo \"$@\" >> '{dir}/arguments'\n\
             tries=$(cat '{dir}/tries' 2>/dev/null || echo 0)\n\
             echo $((tries + 1)) > '{dir}/tries'\n\
             if {when}; then\n\
               echo '{message}' >&2\n\
               exit 255\n\
             fi\n\
             for command; do :; done\n\
             cd '{dir}' && exec sh -c \"$command\"\n",
            dir = dir.display()
        );
        std::fs::write(&client, script).expect("client");
        std::fs::set_permissions(&client, std::fs::Permissions::from_mode(0o755))
            .expect("executable");
        let key = dir.join("id_ed25519");
        std::fs::write(&key, "key").expect("key");
        SshLogin {
            key,
            user: "live".to_owned(),
            commands: vec![],
            client,
        }
    }

    fn soon(seconds: u64) -> (Instant, Duration) {
        let timeout = Duration::from_secs(seconds);
        (Instant::now() + timeout, timeout)
    }

    #[test]
    fn waits_for_sshd_then_runs_commands_until_one_fails() {
        let dir = tempfile::tempdir().expect("temp dir");
        let login = SshLogin {
            commands: vec![
                "echo out; echo err >&2; echo out again".to_owned(),
                "echo failing; exit 3".to_owned(),
                "touch third-ran".to_owned(),
            ],
            ..fake_client(dir.path(), 1)
        };
        check(&login).expect("key and client are there");
        let (deadline, timeout) = soon(60);
        let error = session(&login, 2222, deadline, timeout).expect_err("the second fails");
        assert!(error.is_test_failure());
        let SshError::CommandFailed(runs) = &error else {
            panic!("{error}");
        };
        assert_eq!(
            runs.0,
            [
                CommandRun {
                    command: "echo out; echo err >&2; echo out again".to_owned(),
                    exit_code: Some(0),
                    output: "out\nerr\nout again\n".to_owned(),
                },
                CommandRun {
                    command: "echo failing; exit 3".to_owned(),
                    exit_code: Some(3),
                    output: "failing\n".to_owned(),
                },
            ]
        );
        assert!(!dir.path().join("third-ran").exists());
        assert_eq!(
            error.to_string(),
            "a command failed in the guest:\n\
             $ echo out; echo err >&2; echo out again\n  out\n  err\n  out again\nexit status 0\n\
             $ echo failing; exit 3\n  failing\nexit status 3"
        );
        // A refusal, the login, two commands.
        let arguments = std::fs::read_to_string(dir.path().join("arguments")).expect("arguments");
        assert_eq!(arguments.lines().count(), 4, "{arguments}");
        let first = arguments.lines().next().expect("a line");
        assert_eq!(
            first,
            format!(
                "-F none -i {} -p 2222 -o BatchMode=yes -o IdentitiesOnly=yes \
                 -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
                 -o ConnectTimeout=10 live@127.0.0.1 -- true",
                login.key.display()
            )
        );
    }

    #[test]
    fn a_command_whose_connection_times_out_before_login_is_sent_again() {
        let dir = tempfile::tempdir().expect("temp dir");
        let login = SshLogin {
            commands: vec!["echo a >> ran".to_owned()],
            ..fake_client_failing(
                dir.path(),
                "[ \"$tries\" -eq 1 ]",
                "Connection timed out during banner exchange",
            )
        };
        let (deadline, timeout) = soon(60);
        let session = session(&login, 2222, deadline, timeout).expect("sent again");
        assert_eq!(session.runs.to_string(), "$ echo a >> ran\nexit status 0");
        let ran = std::fs::read_to_string(dir.path().join("ran")).expect("it ran");
        assert_eq!(ran, "a\n", "once");
        // The login, the connection that timed out, the command.
        let arguments = std::fs::read_to_string(dir.path().join("arguments")).expect("arguments");
        assert_eq!(arguments.lines().count(), 3, "{arguments}");
    }

    #[test]
    fn commands_that_all_succeed_are_reported() {
        let dir = tempfile::tempdir().expect("temp dir");
        let login = SshLogin {
            commands: vec!["echo a".to_owned(), "true".to_owned()],
            ..fake_client(dir.path(), 0)
        };
        let (deadline, timeout) = soon(60);
        let before = Instant::now();
        let session = session(&login, 2222, deadline, timeout).expect("both succeed");
        assert!(session.logged_in >= before && session.logged_in <= Instant::now());
        assert_eq!(
            session.runs.to_string(),
            "$ echo a\n  a\nexit status 0\n$ true\nexit status 0"
        );
    }

    #[test]
    fn a_guest_that_never_lets_us_in_or_a_command_that_hangs_fails_in_time() {
        let dir = tempfile::tempdir().expect("temp dir");
        let login = fake_client(dir.path(), u32::MAX);
        let started = Instant::now();
        let (deadline, timeout) = soon(3);
        let error = session(&login, 2222, deadline, timeout).expect_err("refused");
        assert!(started.elapsed() < Duration::from_secs(10));
        assert!(error.is_test_failure());
        assert!(
            error.to_string().ends_with(
                "within 3 s; the last attempt said:\nssh: connect to host 127.0.0.1 port 2222: Connection refused"
            ),
            "{error}"
        );

        let dir = tempfile::tempdir().expect("temp dir");
        let login = SshLogin {
            commands: vec!["echo started; exec sleep 60".to_owned()],
            ..fake_client(dir.path(), 0)
        };
        let started = Instant::now();
        let (deadline, timeout) = soon(2);
        let error = session(&login, 2222, deadline, timeout).expect_err("too slow");
        assert!(started.elapsed() < Duration::from_secs(10));
        let SshError::CommandTimeout { output, .. } = &error else {
            panic!("{error}");
        };
        assert_eq!(output, "started\n");
    }

    #[test]
    fn a_missing_key_or_client_is_not_the_guests_fault() {
        let dir = tempfile::tempdir().expect("temp dir");
        let login = fake_client(dir.path(), 0);
        let no_key = SshLogin {
            key: dir.path().join("absent"),
            ..login.clone()
        };
        let error = check(&no_key).expect_err("no key");
        assert!(matches!(error, SshError::Key { .. }) && !error.is_test_failure());
        let no_client = SshLogin {
            client: dir.path().join("absent-ssh"),
            ..login
        };
        let error = check(&no_client).expect_err("no client");
        assert!(error.to_string().contains("openssh-client"), "{error}");
        assert!(!error.is_test_failure());
    }

    #[test]
    fn free_ports_are_on_loopback_and_free() {
        let port = free_port().expect("a port");
        TcpListener::bind((Ipv4Addr::LOCALHOST, port)).expect("still free");
    }
}
