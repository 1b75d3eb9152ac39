//! The size of a request head, as bounded by `max_header_bytes`: what hookgate would store
//! with the event and send on every delivery.

use http::HeaderMap;

/// The request target plus every header field as written on the wire (`name: value\r\n`).
/// The same measure for HTTP/1.1 and HTTP/2, so the bound does not depend on the protocol.
pub fn bytes(target: &str, headers: &HeaderMap) -> usize {
    headers.iter().fold(target.len(), |n, (k, v)| {
        n.saturating_add(k.as_str().len() + v.len() + 4)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_target_names_values_and_separators() {
        let mut h = HeaderMap::new();
        h.append("a", "12".parse().unwrap());
        h.append("a", "3".parse().unwrap());
        assert_eq!(bytes("/x", &h), 2 + (1 + 2 + 4) + (1 + 1 + 4));
    }
}
