//! `redis+sentinel://s1:26379,s2:26379/MASTER[/DB]`: the Sentinel form of `store.url`, parsed
//! here so that the config loader can check it without importing the store.

const SCHEME: &str = "redis+sentinel://";
const DEFAULT_PORT: u16 = 26379;

/// A parsed `redis+sentinel://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentinelUrl {
    /// `redis://host:port`, one per sentinel.
    pub sentinels: Vec<String>,
    pub master: String,
    pub db: i64,
}

/// `None` unless `url` is a sentinel URL; then the URL or what is wrong with it (never
/// repeating the URL).
pub fn parse(url: &str) -> Option<Result<SentinelUrl, String>> {
    let rest = url.strip_prefix(SCHEME)?;
    Some(parse_rest(rest))
}

fn parse_rest(rest: &str) -> Result<SentinelUrl, String> {
    if rest.contains('@') {
        return Err("credentials in a sentinel URL are not supported (sentinels are reached without a password; the master's is store.password)".into());
    }
    // Nothing here reads one, and a `?password=` would be echoed as part of the database.
    if rest.contains(['?', '#']) {
        return Err("a query or fragment in a sentinel URL is not supported (the master's password is store.password)".into());
    }
    let (hosts, path) = rest
        .split_once('/')
        .ok_or("expected redis+sentinel://HOST:PORT,.../MASTER_NAME")?;
    let sentinels = hosts
        .split(',')
        .map(|h| {
            let h = h.trim();
            let (host, port) = match h.rsplit_once(':') {
                Some((host, port)) if !host.ends_with(':') => (
                    host,
                    // Not quoted: the URL may be a secret (`env:`), and a misplaced
                    // password would land here.
                    port.parse::<u16>()
                        .map_err(|_| "a sentinel's port is not a number from 0 to 65535")?,
                ),
                _ => (h, DEFAULT_PORT),
            };
            if host.is_empty() {
                return Err("a sentinel without a host".to_string());
            }
            Ok(format!("redis://{host}:{port}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut parts = path.split('/');
    let master = parts.next().unwrap_or_default().to_string();
    if master.is_empty() {
        return Err("the master's name is missing (redis+sentinel://HOST:PORT/MASTER_NAME)".into());
    }
    let db = match parts.next() {
        None | Some("") => 0,
        Some(db) => db
            .parse::<i64>()
            .map_err(|_| "the database (after MASTER_NAME/) is not a number")?,
    };
    if parts.next().is_some() {
        return Err("expected redis+sentinel://HOST:PORT,.../MASTER_NAME[/DB]".into());
    }
    Ok(SentinelUrl {
        sentinels,
        master,
        db,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentinel_urls() {
        assert_eq!(parse("redis://h:6379/0"), None);
        assert_eq!(
            parse("redis+sentinel://a:26380,b/mymaster/2"),
            Some(Ok(SentinelUrl {
                sentinels: vec!["redis://a:26380".into(), "redis://b:26379".into()],
                master: "mymaster".into(),
                db: 2,
            }))
        );
        assert_eq!(
            parse("redis+sentinel://a:1/m").map(|r| r.map(|u| u.db)),
            Some(Ok(0))
        );
        for bad in [
            "redis+sentinel://a:1",
            "redis+sentinel://a:1/",
            "redis+sentinel://a:x/m",
            "redis+sentinel://u:pw@a:1/m",
            "redis+sentinel://a:1/m/zero",
            "redis+sentinel://,a:1/m",
            "redis+sentinel://a:1/m/0?password=pw-5ecret",
            "redis+sentinel://a:pw-5ecret/m",
            "redis+sentinel://a:1/m/pw-5ecret",
        ] {
            let e = parse(bad).and_then(Result::err);
            assert!(
                e.as_ref().is_some_and(|e| !e.contains("5ecret")),
                "{bad}: {e:?}"
            );
        }
    }
}
