//! The real client address. By default it is the socket's peer. Behind a reverse proxy every
//! client would then share the proxy's address, so one guesser would lock out everyone: with
//! `TRUSTED_PROXIES` set, a request whose peer is one of them has its address taken from
//! `Forwarded` (or, without it, `X-Forwarded-For`), read from the right and skipping further
//! trusted hops. The rightmost untrusted entry is the first one a trusted proxy saw and wrote
//! itself; anything left of it was sent by the client and may be forged.
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use arc_swap::ArcSwap;
use ipnet::IpNet;
use poem::Request;
use poem::http::HeaderMap;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
}

impl TrustedProxies {
    /// From validated `TRUSTED_PROXIES` entries (addresses and CIDR ranges).
    pub fn new<S: AsRef<str>>(entries: &[S]) -> Self {
        let nets = entries
            .iter()
            .filter_map(|e| parse_net(e.as_ref()))
            .collect();
        Self { nets }
    }

    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.nets.iter().any(|n| n.contains(&ip))
    }

    /// The client address of a request that arrived from `peer` with these headers.
    pub fn resolve(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if self.nets.is_empty() || !self.trusts(peer) {
            return peer;
        }
        let chain = forwarded_chain(headers);
        let mut client = peer;
        for hop in chain.iter().rev() {
            // An entry that is not an address ("unknown", an obfuscated name) ends the walk:
            // the last trusted hop is the best that is known.
            let Some(ip) = hop else { return client };
            client = ip.to_canonical();
            if !self.trusts(client) {
                return client;
            }
        }
        client
    }
}

/// One address or range; `None` for anything else (the validator refused it before).
pub fn parse_net(raw: &str) -> Option<IpNet> {
    let s = raw.trim().trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(IpNet::from(ip));
    }
    s.parse::<IpNet>().ok().map(|n| n.trunc())
}

/// The hops named by `Forwarded` (its `for=` parameters), or else by `X-Forwarded-For`, left
/// to right, over every instance of the header. `None` marks an entry that is not an address.
fn forwarded_chain(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let forwarded: Vec<&str> = headers
        .get_all("forwarded")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if !forwarded.is_empty() {
        let mut out = Vec::new();
        for value in forwarded {
            for element in value.split(',') {
                let for_param = element.split(';').find_map(|pair| {
                    let (k, v) = pair.split_once('=')?;
                    k.trim().eq_ignore_ascii_case("for").then(|| v.trim())
                });
                if let Some(v) = for_param {
                    out.push(parse_node(v.trim_matches('"')));
                }
            }
        }
        return out;
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| parse_node(s.trim()))
        .collect()
}

/// `192.0.2.1`, `192.0.2.1:4711`, `[2001:db8::1]`, `[2001:db8::1]:4711` or a bare IPv6 address.
fn parse_node(s: &str) -> Option<IpAddr> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Some(sa.ip());
    }
    s.strip_prefix('[')
        .and_then(|r| r.split_once(']'))
        .and_then(|(ip, _)| ip.parse().ok())
}

/// The live `TRUSTED_PROXIES`, swapped when the setting changes; readers never block.
#[derive(Clone, Default)]
pub struct ClientAddrs(Arc<ArcSwap<TrustedProxies>>);

impl ClientAddrs {
    pub fn new(trusted: TrustedProxies) -> Self {
        Self(Arc::new(ArcSwap::from_pointee(trusted)))
    }

    pub fn set(&self, trusted: TrustedProxies) {
        if **self.0.load() != trusted {
            self.0.store(Arc::new(trusted));
        }
    }

    pub fn resolve(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        self.0.load().resolve(peer, headers)
    }
}

/// The client address of a request: its peer, or what trusted proxies say it is.
pub fn client_ip(req: &Request) -> Option<IpAddr> {
    let peer = req.remote_addr().as_socket_addr()?.ip();
    Some(match req.data::<crate::AppState>() {
        Some(state) => state.client_addrs.resolve(peer, req.headers()),
        None => peer.to_canonical(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                poem::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn untrusted_peers_keep_their_own_address() {
        let t = TrustedProxies::new(&["10.0.0.0/8"]);
        let h = headers(&[("x-forwarded-for", "203.0.113.7")]);
        assert_eq!(t.resolve(ip("198.51.100.1"), &h), ip("198.51.100.1"));
        assert_eq!(
            TrustedProxies::default().resolve(ip("10.0.0.1"), &h),
            ip("10.0.0.1"),
            "empty list: headers are ignored"
        );
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let t = TrustedProxies::new(&["10.0.0.0/8", "127.0.0.1"]);
        // The client forged the first entry; the proxies appended the rest.
        let h = headers(&[("x-forwarded-for", "1.2.3.4, 203.0.113.7, 10.0.0.5")]);
        assert_eq!(t.resolve(ip("127.0.0.1"), &h), ip("203.0.113.7"));
        let two = headers(&[
            ("x-forwarded-for", "1.2.3.4"),
            ("x-forwarded-for", "203.0.113.8"),
        ]);
        assert_eq!(t.resolve(ip("10.1.1.1"), &two), ip("203.0.113.8"));
        let all_trusted = headers(&[("x-forwarded-for", "10.0.0.9, 10.0.0.5")]);
        assert_eq!(t.resolve(ip("10.1.1.1"), &all_trusted), ip("10.0.0.9"));
        let none = headers(&[]);
        assert_eq!(t.resolve(ip("10.1.1.1"), &none), ip("10.1.1.1"));
    }

    #[test]
    fn forwarded_wins_and_reads_ports_and_brackets() {
        let t = TrustedProxies::new(&["10.0.0.0/8"]);
        let h = headers(&[
            (
                "forwarded",
                "for=1.2.3.4, for=\"[2001:db8::7]:4711\";proto=https, for=10.0.0.2",
            ),
            ("x-forwarded-for", "9.9.9.9"),
        ]);
        assert_eq!(t.resolve(ip("10.0.0.1"), &h), ip("2001:db8::7"));
        let port = headers(&[("forwarded", "for=203.0.113.9:1234")]);
        assert_eq!(t.resolve(ip("10.0.0.1"), &port), ip("203.0.113.9"));
        let unknown = headers(&[("forwarded", "for=unknown, for=10.0.0.3")]);
        assert_eq!(
            t.resolve(ip("10.0.0.1"), &unknown),
            ip("10.0.0.3"),
            "a hop that is not an address stops the walk at the last trusted one"
        );
    }

    #[test]
    fn mapped_addresses_compare_as_ipv4() {
        let t = TrustedProxies::new(&["127.0.0.1"]);
        let h = headers(&[("x-forwarded-for", "203.0.113.7")]);
        assert_eq!(t.resolve(ip("::ffff:127.0.0.1"), &h), ip("203.0.113.7"));
    }
}
