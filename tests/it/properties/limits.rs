//! The client address behind trusted proxies (`limits::client_ip`), from X-Forwarded-For.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use http::{HeaderMap, HeaderValue};
use ipnet::IpNet;
use proptest::prelude::*;

use hookgate::limits::client_ip::{UNKNOWN, canonical, resolve};

use super::{config, header_bytes};

/// Addresses from a few small ranges, so trusted and untrusted ones meet often.
fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        (0u8..4, 0u8..4).prop_map(|(a, b)| IpAddr::V4(Ipv4Addr::new(10, 0, a, b))),
        (0u8..4).prop_map(|b| IpAddr::V4(Ipv4Addr::new(203, 0, 113, b))),
        (0u16..4).prop_map(|b| IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, b))),
        (0u8..4).prop_map(|b| IpAddr::V6(Ipv4Addr::new(10, 0, 0, b).to_ipv6_mapped())),
        Just(IpAddr::V4(Ipv4Addr::LOCALHOST)),
    ]
}

fn net() -> impl Strategy<Value = IpNet> {
    proptest::sample::select(vec![
        "10.0.0.0/8",
        "10.0.1.0/24",
        "10.0.0.3/32",
        "127.0.0.1/32",
        "2001:db8::/126",
        "2001:db8::2/128",
        "203.0.113.0/30",
        "::ffff:10.0.0.0/104",
    ])
    .prop_map(|n| n.parse().unwrap())
}

/// One X-Forwarded-For entry as proxies write them, or junk.
fn hop() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => ip().prop_map(|ip| ip.to_string()),
        1 => (ip(), 1u16..65535).prop_map(|(ip, port)| std::net::SocketAddr::new(ip, port).to_string()),
        1 => "[a-z0-9:.\\[\\] ]{0,12}",
        1 => Just(String::new()),
    ]
}

/// The model's reading of one hop (independent of `client_ip`'s): an address, with or without
/// a port, IPv6 with or without brackets.
fn read_hop(s: &str) -> Option<IpAddr> {
    s.parse::<IpAddr>()
        .ok()
        .or_else(|| s.parse::<std::net::SocketAddr>().ok().map(|a| a.ip()))
        .or_else(|| {
            s.strip_prefix('[')
                .and_then(|r| r.strip_suffix(']'))
                .and_then(|r| r.parse::<Ipv6Addr>().ok())
                .map(IpAddr::V6)
        })
        .map(canonical)
}

fn xff(hops: &[String], spaced: bool) -> String {
    hops.join(if spaced { ", " } else { "," })
}

proptest! {
    #![proptest_config(config(256))]

    /// The answer is a trusted proxy only when the peer and every address the headers name
    /// are trusted; an untrusted peer is the answer whatever the headers say; the answer is
    /// always the peer, an address the headers name, or unknown (a hop on the way that cannot
    /// be read).
    #[test]
    fn never_a_trusted_proxy_unless_every_hop_is(
        peer in ip(),
        trusted in proptest::collection::vec(net(), 0..4),
        lines in proptest::collection::vec(proptest::collection::vec(hop(), 0..5), 0..3),
        spaced in any::<bool>(),
    ) {
        let mut h = HeaderMap::new();
        for hops in &lines {
            h.append("x-forwarded-for", HeaderValue::from_str(&xff(hops, spaced)).unwrap());
        }
        let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
        let got = resolve(peer, &h, &trusted);
        let named: Vec<IpAddr> = lines
            .iter()
            .flatten()
            .filter_map(|s| read_hop(s.trim()))
            .collect();
        if is_trusted(&got) {
            prop_assert!(is_trusted(&canonical(peer)), "peer {peer} untrusted, got {got}");
            prop_assert!(named.iter().all(is_trusted), "got trusted {got} though {named:?} has an untrusted hop");
        }
        if !is_trusted(&canonical(peer)) {
            prop_assert_eq!(got, canonical(peer));
        } else {
            // From the right: past trusted hops to the first untrusted one; a hop that cannot
            // be read on the way makes the client unknown; every hop trusted, the left-most;
            // no hop at all, the peer.
            let hops: Vec<Option<IpAddr>> = lines
                .iter()
                .flatten()
                .map(|s| s.trim())
                .filter(|s| !s.is_empty())
                .map(read_hop)
                .collect();
            let expected = hops
                .iter()
                .rev()
                .find_map(|h| match h {
                    Some(ip) if is_trusted(ip) => None,
                    Some(ip) => Some(*ip),
                    None => Some(UNKNOWN),
                })
                .or(hops.first().copied().flatten())
                .unwrap_or(canonical(peer));
            prop_assert_eq!(got, expected);
            prop_assert!(got == canonical(peer) || got == UNKNOWN || named.contains(&got));
        }
    }

    #[test]
    fn random_forwarded_for_never_panics(peer in ip(), trusted in proptest::collection::vec(net(), 0..3), values in proptest::collection::vec(header_bytes(80), 0..3)) {
        let mut h = HeaderMap::new();
        for v in &values {
            h.append("x-forwarded-for", HeaderValue::from_bytes(v).unwrap());
        }
        let _ = resolve(peer, &h, &trusted);
    }
}
