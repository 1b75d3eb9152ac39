//! `hookgate dlq list|replay`: the dead-letter queue through the admin API.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::admin_client::{AdminClient, ClientError, encode};

pub struct Target {
    /// Admin API base URL; else `server.admin_listen` of `config`; else the default address.
    pub admin: Option<String>,
    pub config: Option<PathBuf>,
    pub token: Option<String>,
}

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

/// The admin URL, reading `server.admin_listen` without resolving the file's secrets (which
/// this command does not need).
fn admin_base(admin: Option<&str>, config: Option<&Path>) -> Result<String, String> {
    if let Some(a) = admin {
        return Ok(a.to_string());
    }
    let Some(path) = config else {
        return Ok("http://127.0.0.1:9180".to_string());
    };
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let doc: toml::Table =
        toml::from_str(&text).map_err(|e| format!("{}: {}", path.display(), e.message()))?;
    let addr = doc
        .get("server")
        .and_then(|s| s.get("admin_listen"))
        .and_then(|v| v.as_str())
        .unwrap_or("127.0.0.1:9180");
    // An unspecified bind address is reached through loopback.
    let addr = addr
        .replace("0.0.0.0:", "127.0.0.1:")
        .replace("[::]:", "[::1]:");
    Ok(format!("http://{addr}"))
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
    let base = admin_base(target.admin.as_deref(), target.config.as_deref())?;
    let rt = super::runtime()?;
    rt.block_on(async {
        let client = AdminClient::new(&base, target.token)?;
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
            "ROUTE", "EVENT ID", "ATTEMPTS", "DEAD SINCE (ms)"
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
                    s("event_id"),
                    item["attempts"].as_u64().unwrap_or(0),
                    item["finished_at_ms"]
                        .as_u64()
                        .map(|v| v.to_string())
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
