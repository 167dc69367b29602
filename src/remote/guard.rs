//! The address check, applied where the connection is made. Host names are checked inside the
//! HTTP client's own resolver: the client connects only to addresses that resolver returns,
//! so the address judged is the address connected to and a DNS answer that changes between
//! a check and the connection (rebinding) cannot slip through. IP-literal URLs never reach a
//! resolver, so they are checked before the request and on every redirect hop.
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

use super::addr::non_public;
use super::allow::AllowList;

/// A fetch refused because of where it would connect. Kept as its own error type so it can be
/// recognised again after reqwest has wrapped it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("it points to a {kind} address, and internal addresses are not fetched from")]
    Address { kind: &'static str },
    #[error("only http and https URLs are fetched")]
    Scheme,
    #[error("more than {0} redirects")]
    TooManyRedirects(usize),
}

/// Returns the reason an address may not be used, `None` when it may.
pub fn check_ip(allow: &AllowList, ip: IpAddr) -> Option<Refused> {
    let kind = non_public(ip)?;
    (!allow.covers(ip)).then_some(Refused::Address { kind })
}

/// The checks a URL needs before any connection: scheme, and the address when the host is an
/// IP literal (a host name is checked by [`GuardedResolver`] instead).
pub fn check_url(allow: &AllowList, url: &Url) -> Result<(), Refused> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Refused::Scheme);
    }
    let ip = match url.host() {
        Some(Host::Ipv4(v4)) => IpAddr::V4(v4),
        Some(Host::Ipv6(v6)) => IpAddr::V6(v6),
        Some(Host::Domain(_)) | None => return Ok(()),
    };
    check_ip(allow, ip).map_or(Ok(()), Err)
}

/// The redirect policy: every hop is checked like the first URL, and the chain is bounded.
pub fn redirect_policy(allow: Arc<AllowList>, max_hops: usize) -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() > max_hops {
            return attempt.error(Refused::TooManyRedirects(max_hops));
        }
        match check_url(&allow, attempt.url()) {
            Ok(()) => attempt.follow(),
            Err(e) => {
                tracing::info!(host = attempt.url().host_str().unwrap_or(""), reason = %e, "remote fetch: redirect refused");
                attempt.error(e)
            }
        }
    })
}

/// The in-process resolver (the one reqwest uses for every other client), with every answer
/// filtered through the address check.
pub struct GuardedResolver {
    pub allow: Arc<AllowList>,
    pub dns: crate::outbound::Dns,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow = Arc::clone(&self.allow);
        let dns = self.dns.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found: Vec<SocketAddr> = dns
                .lookup(&host)
                .await?
                .into_iter()
                .map(|ip| SocketAddr::new(ip, 0))
                .collect();
            let kept = filter(&allow, &host, found)?;
            Ok::<Addrs, BoxError>(Box::new(kept.into_iter()))
        })
    }
}

/// Keeps the permitted addresses; a host the allow-list names keeps them all. When none is
/// left the refusal names the kind of the first one dropped.
fn filter(
    allow: &AllowList,
    host: &str,
    found: Vec<SocketAddr>,
) -> Result<Vec<SocketAddr>, Refused> {
    if allow.names_host(host) {
        return Ok(found);
    }
    let mut first_refusal = None;
    let kept: Vec<SocketAddr> = found
        .into_iter()
        .filter(|a| match check_ip(allow, a.ip()) {
            None => true,
            Some(r) => {
                tracing::debug!(host, addr = %a.ip(), reason = %r, "remote fetch: address dropped");
                first_refusal.get_or_insert(r);
                false
            }
        })
        .collect();
    match (kept.is_empty(), first_refusal) {
        (true, Some(r)) => {
            tracing::info!(host, reason = %r, "remote fetch: host refused");
            Err(r)
        }
        _ => Ok(kept),
    }
}

/// Finds a [`Refused`] anywhere in an error's source chain (reqwest and hyper wrap it).
pub fn refused_in(err: &(dyn std::error::Error + 'static)) -> Option<Refused> {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if let Some(r) = e.downcast_ref::<Refused>() {
            return Some(r.clone());
        }
        cur = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sock(s: &str) -> SocketAddr {
        SocketAddr::new(s.parse().unwrap(), 0)
    }

    #[test]
    fn literal_urls_are_checked_and_hostnames_left_to_the_resolver() {
        let none = AllowList::default();
        let check = |u: &str, allow: &AllowList| check_url(allow, &Url::parse(u).unwrap());
        assert_eq!(check("https://8.8.8.8/a.png", &none), Ok(()));
        assert_eq!(check("http://example.com/a.png", &none), Ok(()));
        assert_eq!(
            check("http://127.0.0.1:9/a.png", &none),
            Err(Refused::Address { kind: "loopback" })
        );
        // The URL parser normalises the tricks: decimal, hex and IPv6 forms of 127.0.0.1.
        for u in [
            "http://2130706433/",
            "http://0x7f.1/",
            "http://[::ffff:7f00:1]/",
        ] {
            assert_eq!(
                check(u, &none),
                Err(Refused::Address { kind: "loopback" }),
                "{u}"
            );
        }
        assert_eq!(
            check("http://[fe80::1]/", &none),
            Err(Refused::Address { kind: "link-local" })
        );
        assert_eq!(check("ftp://example.com/a", &none), Err(Refused::Scheme));
        assert_eq!(check("file:///etc/passwd", &none), Err(Refused::Scheme));
        let allow = AllowList::new(&["127.0.0.1"]);
        assert_eq!(check("http://127.0.0.1:9/a.png", &allow), Ok(()));
        assert!(check("http://127.0.0.2:9/a.png", &allow).is_err());
    }

    #[test]
    fn resolver_answers_are_filtered() {
        let none = AllowList::default();
        // Mixed answers keep only the public addresses.
        assert_eq!(
            filter(
                &none,
                "mixed.test",
                vec![sock("127.0.0.1"), sock("8.8.8.8")]
            ),
            Ok(vec![sock("8.8.8.8")])
        );
        assert_eq!(
            filter(&none, "localhost", vec![sock("::1"), sock("127.0.0.1")]),
            Err(Refused::Address { kind: "loopback" })
        );
        let by_range = AllowList::new(&["10.0.0.0/8"]);
        assert_eq!(
            filter(
                &by_range,
                "lan.test",
                vec![sock("10.1.1.1"), sock("192.168.0.1")]
            ),
            Ok(vec![sock("10.1.1.1")])
        );
        let by_name = AllowList::new(&["localhost"]);
        assert_eq!(
            filter(&by_name, "LocalHost", vec![sock("127.0.0.1")]),
            Ok(vec![sock("127.0.0.1")])
        );
    }

    #[test]
    fn refusals_are_found_through_wrapping() {
        #[derive(Debug, thiserror::Error)]
        #[error("outer")]
        struct Outer(#[source] Box<dyn std::error::Error + Send + Sync>);
        let e = Outer(Box::new(Refused::Scheme));
        assert_eq!(refused_in(&e), Some(Refused::Scheme));
        assert_eq!(refused_in(&std::io::Error::other("x")), None);
    }
}
