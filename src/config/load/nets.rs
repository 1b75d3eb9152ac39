//! CIDR lists (`server.trusted_proxies`, `routes.NAME.allow_ips`): parsed, IPv4-mapped IPv6
//! networks made IPv4 as client addresses are (`limits::client_ip::canonical`), and networks so
//! wide that they can only be a mistake refused where trusting them hands the client address
//! to the sender.

use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::Checker;
use crate::config::file::Text;

/// The widest network a proxy list may hold. IPv4: `/8`, the largest private block (10/8);
/// anything wider spans many unrelated organisations. IPv6: `/16` (a regional registry's
/// allocations are /12 and longer, a provider's /19–/32), except within the unique-local
/// `fc00::/7`, which is private as a whole like 10/8.
const NARROWEST_V4: u8 = 8;
const NARROWEST_V6: u8 = 16;

/// Why trusting `net` can only be a mistake, if it can.
pub(super) fn too_wide(net: &IpNet) -> Option<String> {
    let unique_local =
        |n: &Ipv6Net| n.prefix_len() >= 7 && n.network().segments()[0] & 0xfe00 == 0xfc00;
    match net {
        n if n.prefix_len() == 0 => Some("is every address".into()),
        IpNet::V4(n) if n.prefix_len() < NARROWEST_V4 => Some(format!(
            "is wider than /{NARROWEST_V4} ({} addresses)",
            1u64 << (32 - n.prefix_len())
        )),
        IpNet::V6(n) if n.prefix_len() < NARROWEST_V6 && !unique_local(n) => Some(format!(
            "is wider than /{NARROWEST_V6} (outside the unique-local fc00::/7)"
        )),
        _ => None,
    }
}

/// `::ffff:10.0.0.0/104` is `10.0.0.0/8`: client addresses arrive as IPv4 either way.
fn canonical(net: IpNet) -> IpNet {
    match net {
        IpNet::V6(n) if n.prefix_len() >= 96 => match n.network().to_ipv4_mapped() {
            Some(v4) => Ipv4Net::new(v4, n.prefix_len() - 96).map_or(net, IpNet::V4),
            None => net,
        },
        _ => net,
    }
}

impl Checker<'_> {
    fn net(&mut self, t: &Text, key: &str) -> Option<IpNet> {
        let s = t.get_ref().trim();
        let parsed = s
            .parse::<IpNet>()
            .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
            .map(canonical)
            .map_err(|_| {
                format!(
                    "{key}: {s:?} is not an IP network (e.g. \"10.0.0.0/8\", \"2001:db8::/32\")"
                )
            });
        self.check(t.span(), parsed)
    }

    pub(super) fn nets(&mut self, list: &[Text], key: &str) -> Vec<IpNet> {
        list.iter().filter_map(|t| self.net(t, key)).collect()
    }

    /// `server.trusted_proxies`: a proxy trusted there may name any client in
    /// X-Forwarded-For, so a network that holds senders lets them choose their address.
    pub(super) fn proxies(&mut self, list: &[Text]) -> Vec<IpNet> {
        let key = "server.trusted_proxies";
        list.iter()
            .filter_map(|t| {
                let net = self.net(t, key)?;
                let Some(why) = too_wide(&net) else {
                    return Some(net);
                };
                self.error(
                    t.span(),
                    format!(
                        "{key}: {:?} {why}: every sender in it could write its own X-Forwarded-For and choose its client address (allow_ips, per_ip rate limits); list your proxies' own networks",
                        t.get_ref().trim()
                    ),
                );
                None
            })
            .collect()
    }
}
