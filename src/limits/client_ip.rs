//! The real client address: the TCP peer, or, only when that peer is a trusted proxy, the
//! right-most address in X-Forwarded-For that is not itself a trusted proxy. A hop that cannot
//! be read on the way there (`unknown`, `unix:`, bytes that are not text) makes the client
//! unknown (`0.0.0.0`): what stands left of it was written by whoever the proxy could not name,
//! and the proxy's own address must not stand in for it (an allowlist covering the proxy's
//! network would let that sender in).

use std::net::{IpAddr, Ipv4Addr};

use http::HeaderMap;
use ipnet::IpNet;

/// A client that no trusted hop could name: matches no allowlist short of `0.0.0.0/0`, and
/// shares one rate-limit bucket with every other such client.
pub const UNKNOWN: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);

pub fn resolve(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let peer = canonical(peer);
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    // Every hop of every line, left to right: `None` for one that cannot be read. Bytes, not
    // text: a line with one byte that is not ASCII must not vanish as a whole.
    let hops: Vec<Option<IpAddr>> = headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b','))
        .map(<[u8]>::trim_ascii)
        .filter(|hop| !hop.is_empty())
        .map(|hop| {
            std::str::from_utf8(hop)
                .ok()
                .and_then(parse_hop)
                .map(canonical)
        })
        .collect();
    // Walk from the nearest hop outwards; the first untrusted one is the client. When every hop
    // is trusted, the left-most is the best we know.
    for hop in hops.iter().rev() {
        match hop {
            Some(ip) if is_trusted(ip) => continue,
            Some(ip) => return *ip,
            None => return UNKNOWN,
        }
    }
    hops.first().copied().flatten().unwrap_or(peer)
}

/// Accepts `1.2.3.4`, `1.2.3.4:567`, `2001:db8::1`, `[2001:db8::1]` and `[2001:db8::1]:567`.
fn parse_hop(s: &str) -> Option<IpAddr> {
    if let Ok(ip) = s.parse() {
        return Some(ip);
    }
    if let Some(ip) = s
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .and_then(|r| r.parse::<std::net::Ipv6Addr>().ok())
    {
        return Some(IpAddr::V6(ip));
    }
    if let Ok(sa) = s.parse::<std::net::SocketAddr>() {
        return Some(sa.ip());
    }
    None
}

/// IPv4-mapped IPv6 (`::ffff:1.2.3.4`, from dual-stack listeners) is treated as IPv4.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

pub fn allowed(ip: IpAddr, allow: &[IpNet]) -> bool {
    allow.iter().any(|n| n.contains(&ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(xff: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", xff.parse().unwrap());
        h
    }

    #[test]
    fn untrusted_peer_ignores_xff() {
        let t: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        assert_eq!(
            resolve("203.0.113.9".parse().unwrap(), &h("1.1.1.1"), &t),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn trusted_peer_takes_rightmost_untrusted_hop() {
        let t: Vec<IpNet> = vec![
            "127.0.0.1/32".parse().unwrap(),
            "10.0.0.0/8".parse().unwrap(),
        ];
        let ip = resolve(
            "127.0.0.1".parse().unwrap(),
            &h("203.0.113.7, 198.51.100.2, 10.0.0.5"),
            &t,
        );
        assert_eq!(ip, "198.51.100.2".parse::<IpAddr>().unwrap());
        let ip = resolve("127.0.0.1".parse().unwrap(), &h("10.1.1.1, 10.0.0.5"), &t);
        assert_eq!(ip, "10.1.1.1".parse::<IpAddr>().unwrap());
        // A hop that cannot be read: the client is unknown, never the proxy itself.
        let ip = resolve("127.0.0.1".parse().unwrap(), &h("garbage"), &t);
        assert_eq!(ip, UNKNOWN);
        let ip = resolve("127.0.0.1".parse().unwrap(), &h("203.0.113.7, unknown"), &t);
        assert_eq!(ip, UNKNOWN);
        let mut raw = HeaderMap::new();
        raw.insert(
            "x-forwarded-for",
            http::HeaderValue::from_bytes(b"\xff, 198.51.100.1").unwrap(),
        );
        let ip = resolve("127.0.0.1".parse().unwrap(), &raw, &t);
        assert_eq!(ip, "198.51.100.1".parse::<IpAddr>().unwrap());
        raw.insert(
            "x-forwarded-for",
            http::HeaderValue::from_bytes(b"198.51.100.1, \xff").unwrap(),
        );
        assert_eq!(resolve("127.0.0.1".parse().unwrap(), &raw, &t), UNKNOWN);
        // No header: the proxy itself sent it (a health check).
        let ip = resolve("127.0.0.1".parse().unwrap(), &HeaderMap::new(), &t);
        assert_eq!(ip, "127.0.0.1".parse::<IpAddr>().unwrap());
        // Empty items carry no address.
        let ip = resolve("127.0.0.1".parse().unwrap(), &h("203.0.113.7, , "), &t);
        assert_eq!(ip, "203.0.113.7".parse::<IpAddr>().unwrap());
        let ip = resolve("127.0.0.1".parse().unwrap(), &h("[2001:db8::1]:443"), &t);
        assert_eq!(ip, "2001:db8::1".parse::<IpAddr>().unwrap());
        let ip = resolve("127.0.0.1".parse().unwrap(), &h("[2001:db8::1]"), &t);
        assert_eq!(ip, "2001:db8::1".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn mapped_v4_is_v4() {
        assert_eq!(
            canonical("::ffff:192.0.2.1".parse().unwrap()),
            "192.0.2.1".parse::<IpAddr>().unwrap()
        );
        let allow: Vec<IpNet> = vec!["2001:db8::/32".parse().unwrap()];
        assert!(allowed("2001:db8::5".parse().unwrap(), &allow));
        assert!(!allowed("2001:db9::5".parse().unwrap(), &allow));
    }
}
