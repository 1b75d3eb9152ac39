//! Which listeners may run without a credential: the admin API replays dead letters, pauses
//! routes and shows events, so it is open only to the machine itself (loopback) unless a token
//! guards it.

use std::net::SocketAddr;

/// The error for an admin listener reachable from other machines with no token; `None` when
/// the combination is safe.
pub fn admin_without_token(admin_listen: SocketAddr, has_token: bool) -> Option<String> {
    if has_token || admin_listen.ip().to_canonical().is_loopback() {
        return None;
    }
    Some(format!(
        "server.admin_listen = \"{admin_listen}\" is reachable from other machines, so server.admin_token is required (the admin API can replay dead letters and pause routes); set admin_token = \"file:/path/to/token\" (or \"env:NAME\"), or listen on 127.0.0.1"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_may_go_without_a_token() {
        let a = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert!(admin_without_token(a("127.0.0.1:9180"), false).is_none());
        assert!(admin_without_token(a("127.9.9.9:9180"), false).is_none());
        assert!(admin_without_token(a("[::1]:9180"), false).is_none());
        assert!(admin_without_token(a("[::ffff:127.0.0.1]:9180"), false).is_none());
        for open in [
            "0.0.0.0:9180",
            "[::]:9180",
            "10.1.2.3:9180",
            "[::ffff:10.0.0.1]:1",
        ] {
            assert!(admin_without_token(a(open), false).is_some(), "{open}");
            assert!(admin_without_token(a(open), true).is_none(), "{open}");
        }
    }
}
