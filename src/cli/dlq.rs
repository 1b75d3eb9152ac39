//! `hookgate dlq list|replay`: the dead-letter queue through the admin API.

use serde_json::Value;

use super::admin_client::{AdminClient, ClientError, Target, encode};

pub enum Action {
    List {
        route: Option<String>,
        json: bool,
    },
    Replay {
        id: Option<String>,
        route: Option<String>,
        all: bool,
    },
}

pub fn run(target: Target, action: Action) -> Result<(), String> {
    if let Action::Replay {
        id: None,
        all: false,
        ..
    } = action
    {
        return Err("give an event ID, or --all".into());
    }
    let rt = super::runtime()?;
    rt.block_on(async {
        let client = target.client()?;
        let route_query = |route: &Option<String>| {
            route
                .as_ref()
                .map(|r| format!("?route={}", encode(r)))
                .unwrap_or_default()
        };
        match action {
            Action::List { route, json } => list(&client, route.as_deref(), json).await,
            Action::Replay {
                id: Some(id),
                route,
                ..
            } => {
                let v = client
                    .post(&format!(
                        "/dlq/{}/replay{}",
                        encode(&id),
                        route_query(&route)
                    ))
                    .await?;
                println!("{v}");
                Ok(())
            }
            Action::Replay {
                id: None, route, ..
            } => {
                let v = client
                    .post(&format!("/dlq/replay{}", route_query(&route)))
                    .await?;
                println!("{v}");
                Ok(())
            }
        }
    })
    .map_err(|e| e.to_string())
}

async fn list(client: &AdminClient, route: Option<&str>, json: bool) -> Result<(), ClientError> {
    let mut after: Option<String> = None;
    if !json {
        println!(
            "{:<16} {:<40} {:>8}  {:<24}  last error",
            "ROUTE", "EVENT ID", "ATTEMPTS", "DEAD SINCE"
        );
    }
    loop {
        let mut q = vec!["limit=500".to_string()];
        if let Some(r) = route {
            q.push(format!("route={}", encode(r)));
        }
        if let Some(a) = &after {
            q.push(format!("after={}", encode(a)));
        }
        let page = client.get(&format!("/dlq?{}", q.join("&"))).await?;
        if json {
            println!("{page}");
        } else {
            for item in page["items"].as_array().into_iter().flatten() {
                let s = |k: &str| item[k].as_str().unwrap_or("").to_string();
                println!(
                    "{:<16} {:<40} {:>8}  {:<24}  {}",
                    s("route"),
                    printable(&s("event_id")),
                    item["attempts"].as_u64().unwrap_or(0),
                    item["finished_at_ms"]
                        .as_u64()
                        .map(crate::event::rfc3339_ms)
                        .unwrap_or_default(),
                    s("last_error")
                );
            }
        }
        match &page["next"] {
            Value::String(n) => after = Some(n.clone()),
            _ => return Ok(()),
        }
    }
}

/// An event ID for the terminal: control characters (a newline, an escape sequence) are shown
/// as `\u{..}` so a sender's ID can neither break the table nor drive the terminal. `--json`
/// prints the exact IDs.
pub(super) fn printable(id: &str) -> String {
    printable_keeping(id, &[])
}

/// `printable`, but keeping the characters of `keep` (a body's newlines and tabs).
pub(super) fn printable_keeping(id: &str, keep: &[char]) -> String {
    id.chars()
        .map(|c| {
            if c.is_control() && !keep.contains(&c) {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn control_characters_are_escaped_for_the_terminal() {
        assert_eq!(super::printable("evt/with spaces"), "evt/with spaces");
        assert_eq!(super::printable("a\nb\u{1b}[2J"), "a\\u{a}b\\u{1b}[2J");
    }
}
