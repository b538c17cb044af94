//! How requests reach a server: which certificate authorities are trusted,
//! through which proxy, and whether certificates are checked at all.
//!
//! The trusted roots are the union of three sets, so that a build works the
//! same on a minimal container (no CA store) and behind a company's TLS
//! inspection (its CA in the system store or given with `--ca`): Mozilla's
//! roots bundled in the binary, the host's CA store (`SSL_CERT_FILE`,
//! `SSL_CERT_DIR` or the distribution's bundle), and every `--ca FILE`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

/// The per-repository part of a connection, from its kickstart line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Transport {
    /// `--proxy`: `[protocol://][user[:password]@]host[:port]`; without
    /// it, the environment's `https_proxy`/`http_proxy`/`all_proxy`.
    pub proxy: Option<String>,
    pub certificates: CertificateCheck,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum CertificateCheck {
    #[default]
    Verify,
    /// `--noverifyssl`: any certificate is accepted. Signatures still hold
    /// where the repository has a key; without one, anyone on the path can
    /// change the image.
    Skip,
}

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error(
        "--proxy {proxy:?} is not a proxy URL; expected [http://|https://][user[:password]@]host[:port]"
    )]
    BadProxy { proxy: String },
    #[error("--ca {}: {source}", path.display())]
    CaUnreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("--ca {}: holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)", path.display())]
    CaEmpty { path: PathBuf },
}

/// Checks a `--proxy` value the way the downloads will read it. HTTP and
/// HTTPS proxies only: SOCKS support is not built in.
pub fn check_proxy(proxy: &str) -> Result<(), TransportError> {
    let scheme_ok = match proxy.split_once("://") {
        Some((scheme, _)) => scheme == "http" || scheme == "https",
        None => true,
    };
    if scheme_ok && ureq::Proxy::new(proxy).is_ok() {
        Ok(())
    } else {
        Err(TransportError::BadProxy {
            proxy: proxy.to_owned(),
        })
    }
}

/// The certificate authorities every download trusts.
#[derive(Clone)]
pub struct TrustedRoots {
    certificates: Arc<Vec<Certificate<'static>>>,
    /// How many came from the host's CA store, for the log.
    pub from_host: usize,
    /// How many came from `--ca` files.
    pub from_options: usize,
}

impl TrustedRoots {
    /// The bundled roots and the host's store.
    pub fn bundled_and_host() -> Self {
        let mut certificates: Vec<Certificate<'static>> = webpki_root_certs::TLS_SERVER_ROOT_CERTS
            .iter()
            .map(|der| Certificate::from_der(der).to_owned())
            .collect();
        // An unreadable or partly broken host store is the host's business:
        // the certificates that did load are used, and the bundled roots
        // still stand.
        let host = rustls_native_certs::load_native_certs().certs;
        let from_host = host.len();
        certificates.extend(host.iter().map(|der| Certificate::from_der(der).to_owned()));
        TrustedRoots {
            certificates: Arc::new(certificates),
            from_host,
            from_options: 0,
        }
    }

    /// These roots and the certificates of `files` (`--ca`), each of which
    /// must hold at least one.
    pub fn with_files(self, files: &[PathBuf]) -> Result<Self, TransportError> {
        let mut certificates = Arc::unwrap_or_clone(self.certificates);
        let mut from_options = self.from_options;
        for path in files {
            let added = read_pem_certificates(path)?;
            from_options += added.len();
            certificates.extend(added);
        }
        Ok(TrustedRoots {
            certificates: Arc::new(certificates),
            from_options,
            ..self
        })
    }
}

fn read_pem_certificates(path: &Path) -> Result<Vec<Certificate<'static>>, TransportError> {
    let pem = std::fs::read(path).map_err(|source| TransportError::CaUnreadable {
        path: path.to_owned(),
        source,
    })?;
    let certificates: Vec<_> = ureq::tls::parse_pem(&pem)
        .filter_map(|item| match item {
            Ok(PemItem::Certificate(certificate)) => Some(certificate),
            _ => None,
        })
        .collect();
    if certificates.is_empty() {
        return Err(TransportError::CaEmpty {
            path: path.to_owned(),
        });
    }
    Ok(certificates)
}

/// One HTTP agent per transport, made when first used and shared by every
/// clone of the fetcher (agents pool their connections).
#[derive(Clone)]
pub(super) struct Agents {
    roots: TrustedRoots,
    agents: Arc<Mutex<HashMap<Transport, ureq::Agent>>>,
    resolved: HostCache,
}

/// Each host's addresses, looked up once for the fetcher's life (a build).
///
/// Mirrors close the connection after each file, so every download
/// connects anew; looking the name up each time cost a build a 5 s
/// resolver timeout every few files when six downloads asked at once (the
/// resolver's answers to simultaneous queries went missing). One lookup
/// per host, the others waiting for it, took the 138 MiB of
/// `debian-minimal.ks` from 40 s to seconds.
#[derive(Clone, Debug, Default)]
struct HostCache(Arc<Mutex<HashMap<String, ResolvedSocketAddrs>>>);

impl Resolver for HostCache {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let host = uri
            .authority()
            .map(|authority| format!("{} {authority}", uri.scheme_str().unwrap_or_default()));
        let Some(host) = host else {
            return DefaultResolver::default().resolve(uri, config, timeout);
        };
        // Held through the lookup: the other downloads wait for its answer
        // rather than asking at the same time.
        let mut known = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(addresses) = known.get(&host) {
            return Ok(addresses.clone());
        }
        let addresses = DefaultResolver::default().resolve(uri, config, timeout)?;
        known.insert(host, addresses.clone());
        Ok(addresses)
    }
}

impl Agents {
    pub(super) fn new(roots: TrustedRoots) -> Self {
        Agents {
            roots,
            agents: Arc::default(),
            resolved: HostCache::default(),
        }
    }

    pub(super) fn roots(&self) -> &TrustedRoots {
        &self.roots
    }

    pub(super) fn get(&self, transport: &Transport) -> ureq::Agent {
        let mut agents = self.agents.lock().unwrap_or_else(PoisonError::into_inner);
        agents
            .entry(transport.clone())
            .or_insert_with(|| self.build(transport))
            .clone()
    }

    fn build(&self, transport: &Transport) -> ureq::Agent {
        let tls = TlsConfig::builder()
            .root_certs(RootCerts::Specific(Arc::clone(&self.roots.certificates)))
            .disable_verification(transport.certificates == CertificateCheck::Skip)
            .build();
        let mut config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(30)))
            // Per read, not global: a large index on a slow link is fine as
            // long as bytes keep arriving.
            .timeout_per_read(Some(Duration::from_secs(60)))
            .user_agent(concat!("livecompose/", env!("CARGO_PKG_VERSION")))
            .tls_config(tls);
        // The plan checked the value (`check_proxy`); one that fails here
        // anyway falls back to the environment's, as without `--proxy`.
        if let Some(proxy) = transport
            .proxy
            .as_deref()
            .and_then(|p| ureq::Proxy::new(p).ok())
        {
            config = config.proxy(Some(proxy));
        }
        ureq::Agent::with_parts(
            config.build(),
            DefaultConnector::default(),
            self.resolved.clone(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_host_is_looked_up_once_per_scheme_and_port() {
        let cache = HostCache::default();
        let config = ureq::config::Config::default();
        let resolve = |url: &str| {
            let uri: ureq::http::Uri = url.parse().unwrap();
            cache
                .resolve(&uri, &config, NextTimeout::default())
                .unwrap()
        };
        let first = resolve("http://127.0.0.1:8080/dists/bookworm/InRelease");
        let expected: std::net::SocketAddr = "127.0.0.1:8080".parse().unwrap();
        assert_eq!(first.iter().collect::<Vec<_>>(), [&expected]);
        assert_eq!(resolve("http://127.0.0.1:8080/pool/a.deb"), first);
        resolve("http://127.0.0.1:9090/pool/a.deb");
        let known: Vec<String> = cache.0.lock().unwrap().keys().cloned().collect();
        assert_eq!(known.len(), 2, "{known:?}");
    }

    #[test]
    fn proxies_are_checked_as_the_downloads_read_them() {
        for good in [
            "http://proxy.invalid:3128",
            "proxy.invalid:3128",
            "user:secret@proxy.invalid:8080",
        ] {
            check_proxy(good).unwrap_or_else(|e| panic!("{good}: {e}"));
        }
        for bad in [
            "",
            "http://",
            "ftp://proxy.invalid",
            "socks5://proxy.invalid:1080",
            "http://a b",
        ] {
            assert!(check_proxy(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn the_bundled_roots_are_always_there_and_ca_files_add_to_them() {
        let bundled = TrustedRoots::bundled_and_host();
        assert!(
            bundled.certificates.len() >= 100,
            "{}",
            bundled.certificates.len()
        );
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let error = bundled
            .clone()
            .with_files(std::slice::from_ref(&empty))
            .err()
            .unwrap();
        assert!(
            error.to_string().contains("holds no PEM certificate"),
            "{error}"
        );
        let missing = dir.path().join("missing.pem");
        let error = bundled
            .with_files(std::slice::from_ref(&missing))
            .err()
            .unwrap();
        assert!(error.to_string().starts_with("--ca "), "{error}");
    }
}
