//! The operator's allow-list (`REMOTE_FETCH_ALLOWLIST`): host names, IP addresses and CIDR
//! ranges that may be fetched from even though they are private. Public addresses need no
//! entry; the list only lifts the internal-address refusal, for example for an image server on
//! the LAN.
use std::net::IpAddr;

use ipnet::IpNet;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowList {
    /// Lower-case host names, matched exactly against the URL's host.
    hosts: Vec<String>,
    /// Addresses (as /32 or /128) and ranges.
    nets: Vec<IpNet>,
}

/// One entry, as the settings validator and the list both read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    Host(String),
    Net(IpNet),
}

/// Parses `10.0.0.0/8`, `192.168.1.5`, `fd00::/8`, `::1` or a host name such as
/// `images.lan`. The error says what was expected without echoing the value.
pub fn parse_entry(raw: &str) -> Result<Entry, &'static str> {
    let s = raw.trim().trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok(Entry::Net(IpNet::from(ip)));
    }
    if let Ok(net) = s.parse::<IpNet>() {
        // `10.1.2.3/8` means the range 10.0.0.0/8.
        return Ok(Entry::Net(net.trunc()));
    }
    let host = s.trim_end_matches('.').to_ascii_lowercase();
    let valid_label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if host.is_empty() || host.len() > 253 || !host.split('.').all(valid_label) {
        return Err(
            "each entry must be a host name, an IP address or a CIDR range such as 10.0.0.0/8",
        );
    }
    Ok(Entry::Host(host))
}

impl AllowList {
    /// Builds the list from already validated entries; anything unreadable is skipped with a
    /// warning (the settings validator has refused it before it could be saved).
    pub fn new<S: AsRef<str>>(entries: &[S]) -> Self {
        let mut list = Self::default();
        for raw in entries {
            match parse_entry(raw.as_ref()) {
                Ok(Entry::Host(h)) => list.hosts.push(h),
                Ok(Entry::Net(n)) => list.nets.push(n),
                Err(reason) => tracing::warn!(reason, "skipping a REMOTE_FETCH_ALLOWLIST entry"),
            }
        }
        list
    }

    /// The URL's host is named on the list, so whatever it resolves to is permitted.
    pub fn names_host(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.');
        self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
    }

    /// The address is inside one of the listed addresses or ranges. An IPv4-mapped IPv6
    /// address is compared as its IPv4 address, so `127.0.0.1` also covers `::ffff:127.0.0.1`.
    pub fn covers(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.nets.iter().any(|n| n.contains(&ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_hosts_addresses_or_ranges() {
        assert_eq!(
            parse_entry(" Images.LAN. "),
            Ok(Entry::Host("images.lan".into()))
        );
        assert_eq!(
            parse_entry("127.0.0.1"),
            Ok(Entry::Net("127.0.0.1/32".parse().unwrap()))
        );
        assert_eq!(
            parse_entry("[::1]"),
            Ok(Entry::Net("::1/128".parse().unwrap()))
        );
        assert_eq!(
            parse_entry("10.9.8.7/8"),
            Ok(Entry::Net("10.0.0.0/8".parse().unwrap()))
        );
        for bad in ["", "a b", "http://x", "10.0.0.0/33", "-x.lan", "x/y"] {
            assert!(parse_entry(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn list_matches_hosts_exactly_and_addresses_by_range() {
        let list = AllowList::new(&["localhost", "10.0.0.0/8", "127.0.0.1", "fd00::/8"]);
        assert!(list.names_host("LOCALHOST"));
        assert!(list.names_host("localhost."));
        assert!(!list.names_host("evil-localhost"));
        assert!(list.covers("10.200.1.1".parse().unwrap()));
        assert!(list.covers("127.0.0.1".parse().unwrap()));
        assert!(list.covers("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!list.covers("127.0.0.2".parse().unwrap()));
        assert!(list.covers("fd12::1".parse().unwrap()));
        assert!(!list.covers("::1".parse().unwrap()));
    }
}
