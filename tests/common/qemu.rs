//! A qemu whose serial console is its standard input and output, for the
//! boots `livecompose test` cannot make (a kernel given directly, a network
//! boot): the console is collected as it comes, waited on for a text, and
//! typed into. The process is killed when the value is dropped.

use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// qemu under TCG on two shared cores: one boot at a time.
pub fn one_boot_at_a_time() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

pub struct Qemu {
    child: Child,
    stdin: ChildStdin,
    console: Arc<Mutex<String>>,
    pub started: Instant,
}

impl Qemu {
    /// Starts `qemu`, a `qemu-system-x86_64` command whose serial port is
    /// its standard input and output (`-nographic` or `-serial stdio`).
    pub fn spawn(qemu: &mut Command) -> Self {
        let mut child = qemu
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("qemu-system-x86_64 (package qemu-system-x86; tests/run installs it)");
        let stdin = child.stdin.take().expect("stdin");
        let mut stdout = child.stdout.take().expect("stdout");
        let console = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&console);
        std::thread::spawn(move || {
            let mut buf = [0; 4096];
            while let Ok(n @ 1..) = stdout.read(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..n]);
                sink.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push_str(&text);
            }
        });
        Self {
            child,
            stdin,
            console,
            started: Instant::now(),
        }
    }

    pub fn console(&self) -> String {
        self.console
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Waits until the console, after byte `from`, contains `needle`;
    /// returns the offset just past it. Fails the test with the console's
    /// last lines when it does not come in time or qemu ends.
    pub fn wait_for(&mut self, needle: &str, from: usize, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        loop {
            let console = self.console();
            if let Some(at) = console.get(from..).and_then(|tail| tail.find(needle)) {
                return from + at + needle.len();
            }
            let tail: String = console
                .lines()
                .rev()
                .take(30)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n");
            assert!(
                Instant::now() < deadline,
                "no {needle:?} on the console within {timeout:?}; last lines:\n{tail}"
            );
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("qemu exited ({status}) before {needle:?}; last lines:\n{tail}");
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    pub fn send(&mut self, line: &str) {
        self.stdin
            .write_all(format!("{line}\n").as_bytes())
            .expect("write to the serial console");
    }
}

impl Drop for Qemu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
