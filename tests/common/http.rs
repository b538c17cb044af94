//! A loopback HTTP/1.1 server over a directory, so that the http path of the
//! fetcher is tested without leaving the machine. It speaks just enough:
//! `GET`, `Content-Length`, `Range: bytes=N-`, one request per connection.
//! Knobs make it misbehave per path, and every request is logged (and the
//! body bytes sent counted) so tests can tell what went over the wire.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// How to answer requests for one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Announce the full length, send this many body bytes, hang up.
    DropAfter(u64),
    /// Answer with this status and an empty body.
    Status(u16),
}

/// One request as the server saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub path: String,
    /// `N` of a `Range: bytes=N-` header.
    pub range_from: Option<u64>,
    pub status: u16,
}

struct Rule {
    fault: Fault,
    /// How many more requests it applies to; `None`: all of them.
    remaining: Option<u32>,
}

struct State {
    root: PathBuf,
    rules: HashMap<String, Rule>,
    ignore_range: bool,
    log: Vec<Request>,
    /// Body bytes sent, by path.
    sent: std::collections::BTreeMap<String, u64>,
}

pub struct Server {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl Server {
    /// Serves the files under `root` on 127.0.0.1 at a free port.
    pub fn serve(root: &Path) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().expect("local address");
        let state = Arc::new(Mutex::new(State {
            root: root.to_owned(),
            rules: HashMap::new(),
            ignore_range: false,
            log: Vec::new(),
            sent: std::collections::BTreeMap::new(),
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let acceptor = {
            let state = Arc::clone(&state);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let state = Arc::clone(&state);
                    std::thread::spawn(move || answer(stream, &state));
                }
            })
        };
        Server {
            addr,
            state,
            stop,
            acceptor: Some(acceptor),
        }
    }

    /// `http://127.0.0.1:PORT`, without a trailing `/`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Applies `fault` to the next `times` requests for `path` (`None`:
    /// until [`Server::behave`]).
    pub fn misbehave(&self, path: &str, fault: Fault, times: Option<u32>) {
        self.state.lock().unwrap().rules.insert(
            path.to_owned(),
            Rule {
                fault,
                remaining: times,
            },
        );
    }

    pub fn behave(&self, path: &str) {
        self.state.lock().unwrap().rules.remove(path);
    }

    /// Answer range requests with the whole file, as some servers do.
    pub fn ignore_range(&self, ignore: bool) {
        self.state.lock().unwrap().ignore_range = ignore;
    }

    /// The requests so far, oldest first; the log starts afresh.
    pub fn take_requests(&self) -> Vec<Request> {
        std::mem::take(&mut self.state.lock().unwrap().log)
    }

    /// The body bytes sent so far, by path (what the clients received,
    /// unless they hung up early); the count starts afresh.
    pub fn take_bytes_sent(&self) -> std::collections::BTreeMap<String, u64> {
        std::mem::take(&mut self.state.lock().unwrap().sent)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the acceptor so it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

fn answer(mut stream: TcpStream, state: &Mutex<State>) {
    let Some((path, range_from)) = read_request(&mut stream) else {
        return;
    };
    let (fault, file, ignore_range) = {
        let mut state = state.lock().unwrap();
        let fault = match state.rules.get_mut(&path) {
            Some(rule) if rule.remaining != Some(0) => {
                if let Some(n) = &mut rule.remaining {
                    *n -= 1;
                }
                Some(rule.fault)
            }
            _ => None,
        };
        (fault, local_path(&state.root, &path), state.ignore_range)
    };
    let body = file.and_then(|f| std::fs::read(f).ok());
    let (status, head, body) = match (fault, body) {
        (Some(Fault::Status(status)), _) => (status, String::new(), Vec::new()),
        (_, None) => (404, String::new(), Vec::new()),
        (_, Some(body)) => match range_from.filter(|_| !ignore_range) {
            Some(from) if from >= body.len() as u64 => (
                416,
                format!("Content-Range: bytes */{}\r\n", body.len()),
                Vec::new(),
            ),
            Some(from) => (
                206,
                format!(
                    "Content-Range: bytes {from}-{}/{}\r\n",
                    body.len() - 1,
                    body.len()
                ),
                body[from as usize..].to_vec(),
            ),
            None => (200, String::new(), body),
        },
    };
    state.lock().unwrap().log.push(Request {
        path: path.clone(),
        range_from,
        status,
    });
    let sent = match fault {
        Some(Fault::DropAfter(n)) => &body[..body.len().min(n as usize)],
        _ => &body[..],
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\n{head}Connection: close\r\n\r\n",
        body.len()
    );
    if stream.write_all(sent).is_ok() {
        *state.lock().unwrap().sent.entry(path).or_default() += sent.len() as u64;
    }
    let _ = stream.flush();
    let _ = stream.shutdown(Shutdown::Both);
}

/// The path and `Range` start of a `GET`, or `None` for anything else.
fn read_request(stream: &mut TcpStream) -> Option<(String, Option<u64>)> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8(head).ok()?;
    let mut lines = head.lines();
    let path = lines.next()?.strip_prefix("GET ")?.split(' ').next()?;
    let range_from = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("range"))
        .and_then(|(_, value)| value.trim().strip_prefix("bytes=")?.strip_suffix('-'))
        .and_then(|from| from.parse().ok());
    Some((path.to_owned(), range_from))
}

/// The file for a URL path, never outside `root`.
fn local_path(root: &Path, url_path: &str) -> Option<PathBuf> {
    let relative = Path::new(url_path.trim_start_matches('/'));
    relative
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
        .then(|| root.join(relative))
}
