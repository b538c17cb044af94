//! HTTPS on loopback: a private certificate authority made with `openssl`,
//! a server (`openssl s_server -WWW`, a real TLS peer) over a directory with
//! a certificate from it, and an HTTP `CONNECT` proxy that logs the tunnels
//! it opens, so that `--ca`, `--noverifyssl` and `--proxy` are tested
//! without leaving the machine.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

/// A certificate authority and a certificate it issued for 127.0.0.1.
pub struct PrivateCa {
    /// The CA's certificate (PEM), what `--ca` takes.
    pub ca: PathBuf,
    server_certificate: PathBuf,
    server_key: PathBuf,
}

impl PrivateCa {
    pub fn new(dir: &Path) -> PrivateCa {
        let path = |name: &str| dir.join(name);
        let openssl = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(dir)
                .output()
                .expect("openssl runs (package openssl)");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=livecompose test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ]);
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ]);
        std::fs::write(
            path("server.ext"),
            "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
        )
        .expect("writing server.ext");
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "server.ext",
            "-out",
            "server.pem",
        ]);
        PrivateCa {
            ca: path("ca.pem"),
            server_certificate: path("server.pem"),
            server_key: path("server.key"),
        }
    }
}

/// What the server sends for a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serve {
    /// The file, as a web server does (`s_server -WWW`).
    Files,
    /// The file as the whole HTTP response, status line and headers
    /// included (`s_server -HTTP`), to answer with a redirect.
    RawResponses,
}

/// `openssl s_server` serving `root` on a loopback port.
pub struct TlsServer {
    child: Child,
    pub port: u16,
}

impl TlsServer {
    pub fn serve(root: &Path, ca: &PrivateCa, serve: Serve) -> TlsServer {
        let port = free_port();
        let mode = match serve {
            Serve::Files => "-WWW",
            Serve::RawResponses => "-HTTP",
        };
        let mut child = Command::new("openssl")
            .args(["s_server", mode, "-naccept", "1000", "-accept"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("-cert")
            .arg(&ca.server_certificate)
            .arg("-key")
            .arg(&ca.server_key)
            .current_dir(root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("openssl s_server starts");
        // It says ACCEPT once it listens, then a line per file served; its
        // output is drained to the end, or a full pipe would stop it.
        let stdout = child.stdout.take().expect("s_server's stdout");
        let (listening, accepted) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("ACCEPT") {
                    let _ = listening.send(());
                }
            }
        });
        accepted
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("openssl s_server listens");
        TlsServer { child, port }
    }

    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}/", self.port)
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}

/// An HTTP proxy that only tunnels (`CONNECT host:port`), and only to
/// loopback; it records each tunnel's target.
pub struct ConnectProxy {
    pub port: u16,
    tunnels: Arc<Mutex<Vec<String>>>,
}

impl ConnectProxy {
    pub fn start() -> ConnectProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding the proxy");
        let port = listener.local_addr().expect("the proxy's address").port();
        let tunnels = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&tunnels);
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let log = Arc::clone(&log);
                std::thread::spawn(move || tunnel(client, &log));
            }
        });
        ConnectProxy { port, tunnels }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn tunnels(&self) -> Vec<String> {
        self.tunnels.lock().expect("the tunnel log").clone()
    }
}

fn tunnel(client: TcpStream, log: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(client.try_clone().expect("cloning the client socket"));
    let mut request = String::new();
    if reader.read_line(&mut request).is_err() {
        return;
    }
    // The rest of the request's header, up to the empty line.
    loop {
        let mut header = String::new();
        match reader.read_line(&mut header) {
            Ok(0) | Err(_) => return,
            Ok(_) if header == "\r\n" => break,
            Ok(_) => {}
        }
    }
    let mut client = client;
    let target = match request.split_whitespace().collect::<Vec<_>>()[..] {
        ["CONNECT", target, _] if target.starts_with("127.0.0.1:") => target.to_owned(),
        _ => {
            let _ = client.write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
            return;
        }
    };
    let Ok(server) = TcpStream::connect(&target) else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
        return;
    };
    log.lock().expect("the tunnel log").push(target);
    if client
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .is_err()
    {
        return;
    }
    let pump = |mut from: Box<dyn Read + Send>, mut to: TcpStream| {
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut from, &mut to);
            let _ = to.shutdown(Shutdown::Write);
        })
    };
    let upstream = pump(
        Box::new(reader),
        server.try_clone().expect("cloning the server socket"),
    );
    let downstream = pump(Box::new(server), client);
    let _ = upstream.join();
    let _ = downstream.join();
}
