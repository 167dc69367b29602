//! What every outbound HTTP client shares: TLS that trusts the Mozilla roots built into the
//! binary (webpki-roots), plus whatever else the system's certificate store holds, and host
//! names resolved in-process (hickory) rather than through glibc's NSS. Neither needs a file
//! or a shared library from the host, so the static binary in the container image (built
//! `FROM scratch`: no certificate store, no NSS modules) connects as the dynamic one does.
use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{GOOGLE, LookupIpStrategy, ResolverConfig};
use hickory_resolver::net::NetError;
use hickory_resolver::net::runtime::TokioRuntimeProvider;

/// The certificate authorities outbound TLS trusts, read once per process.
#[derive(Debug)]
pub struct Roots {
    pub store: rustls::RootCertStore,
    /// Mozilla's set, compiled in: all a public upstream needs, with or without a system store.
    pub bundled: usize,
    /// Further roots from the system store (`SSL_CERT_FILE` / `SSL_CERT_DIR`, else the
    /// platform's usual files), such as a company's TLS-inspecting proxy. The image has none
    /// unless one is mounted and named by `SSL_CERT_FILE`.
    pub from_system: usize,
}

pub fn roots() -> &'static Roots {
    static ROOTS: OnceLock<Roots> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let system = rustls_native_certs::load_native_certs();
        if !system.errors.is_empty() {
            // Expected in the image, which has no store: the bundled roots are enough.
            tracing::debug!(errors = ?system.errors, "system certificate store not read");
        }
        with_system_roots(system.certs)
    })
}

/// The bundled roots plus those of `system` that are not among them already.
fn with_system_roots(system: Vec<rustls::pki_types::CertificateDer<'static>>) -> Roots {
    let mut store = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let bundled = store.len();
    let mut known: HashSet<(Vec<u8>, Vec<u8>)> = store
        .roots
        .iter()
        .map(|a| (a.subject.to_vec(), a.subject_public_key_info.to_vec()))
        .collect();
    let mut extra = rustls::RootCertStore::empty();
    // A store may hold certificates rustls cannot use as anchors; they are skipped.
    extra.add_parsable_certificates(system);
    for anchor in extra.roots {
        let key = (
            anchor.subject.to_vec(),
            anchor.subject_public_key_info.to_vec(),
        );
        if known.insert(key) {
            store.roots.push(anchor);
        }
    }
    let from_system = store.len() - bundled;
    Roots {
        store,
        bundled,
        from_system,
    }
}

/// The rustls setup handed to reqwest, which uses a preconfigured one as it is.
pub fn tls_config() -> Result<rustls::ClientConfig, rustls::Error> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots().store.clone())
        .with_no_client_auth();
    // reqwest negotiates ALPN only on configs it builds itself: offer HTTP/2 first, as it does.
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

#[derive(Debug, thiserror::Error)]
#[error("cannot set up TLS: {0}")]
pub struct TlsSetupError(#[from] rustls::Error);

/// A client builder with the shared TLS setup. reqwest's `hickory-dns` feature already makes
/// every client resolve names in-process.
pub fn client_builder() -> Result<reqwest::ClientBuilder, TlsSetupError> {
    Ok(reqwest::Client::builder().tls_backend_preconfigured(tls_config()?))
}

/// An in-process resolver for code that resolves names itself (the remote-fetch guard checks
/// every address before connecting). Built on first use, inside the runtime that uses it, as
/// reqwest does with its own: one per client, never shared across runtimes.
#[derive(Clone, Default)]
pub struct Dns(Arc<tokio::sync::OnceCell<TokioResolver>>);

impl Dns {
    /// Every address `host` resolves to, IPv6 and IPv4 (the hosts file first, then DNS).
    pub async fn lookup(&self, host: &str) -> Result<Vec<IpAddr>, NetError> {
        let resolver = self.0.get_or_try_init(|| async { new_resolver() }).await?;
        Ok(resolver.lookup_ip(host).await?.iter().collect())
    }
}

/// The system's `/etc/resolv.conf` (and hosts file); without one, Google's public DNS, which
/// is what reqwest's own resolver falls back to, so both resolvers always agree.
fn new_resolver() -> Result<TokioResolver, NetError> {
    let mut builder = TokioResolver::builder_tokio().unwrap_or_else(|e| {
        tracing::debug!(error = %e, "no system DNS configuration; using Google's public DNS");
        TokioResolver::builder_with_config(
            ResolverConfig::udp_and_tcp(&GOOGLE),
            TokioRuntimeProvider::default(),
        )
    });
    builder.options_mut().ip_strategy = LookupIpStrategy::Ipv6AndIpv4;
    builder.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_roots_are_the_full_public_set() {
        // Mozilla's programme holds well over 100 roots; a handful would mean a truncated bundle.
        let r = with_system_roots(Vec::new());
        assert!(r.bundled > 100, "{}", r.bundled);
        assert_eq!((r.store.len(), r.from_system), (r.bundled, 0));
    }

    #[test]
    fn system_roots_add_only_what_the_bundle_lacks() {
        let system = rustls_native_certs::load_native_certs().certs;
        let r = with_system_roots(system.clone());
        assert_eq!(r.store.len(), r.bundled + r.from_system);
        // The same store again adds nothing new: duplicates are recognised.
        assert!(r.from_system <= system.len());
        let again = with_system_roots(system.iter().chain(&system).cloned().collect());
        assert_eq!(again.from_system, r.from_system);
    }

    #[test]
    fn reqwest_accepts_the_preconfigured_tls() {
        // A rustls version other than reqwest's would be an unknown backend: build() fails.
        client_builder().unwrap().build().unwrap();
    }

    #[tokio::test]
    async fn resolves_from_the_hosts_file_without_libc() {
        let found = Dns::default().lookup("localhost").await.unwrap();
        assert!(found.iter().all(|ip| ip.is_loopback()), "{found:?}");
        assert!(!found.is_empty());
    }
}
