//! `hookgate events list|show|replay|cancel|purge`: the events API from the command line, with
//! the API's filters. Times are printed as the API gives them (RFC 3339, UTC); whatever a
//! sender controls is printed with control characters escaped.

use clap::{Args, Subcommand};
use serde_json::Value;

use super::admin_client::{AdminClient, ClientError, Target, encode};
use super::dlq::{printable, printable_keeping};

/// The API's filters (`route`, `state`, `since`, `until`, `status`, `q`).
#[derive(Args, Debug, Default, Clone)]
pub struct Filters {
    #[arg(long)]
    pub route: Option<String>,
    /// pending, delivered, dead (comma-separated for several).
    #[arg(long)]
    pub state: Option<String>,
    /// Received at or after: RFC 3339 (2026-11-29T16:04:05Z) or epoch milliseconds.
    #[arg(long)]
    pub since: Option<String>,
    /// Received at or before: RFC 3339 or epoch milliseconds.
    #[arg(long)]
    pub until: Option<String>,
    /// The last attempt's status: a code (502), a class (5xx) or `error` (no answer).
    #[arg(long)]
    pub status: Option<String>,
    /// A substring of the event ID.
    #[arg(long)]
    pub q: Option<String>,
}

impl Filters {
    fn pairs(&self, with_state: bool) -> Vec<String> {
        let state = if with_state { &self.state } else { &None };
        [
            ("route", &self.route),
            ("state", state),
            ("since", &self.since),
            ("until", &self.until),
            ("status", &self.status),
            ("q", &self.q),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", encode(v))))
        .collect()
    }

    fn any(&self) -> bool {
        !self.pairs(true).is_empty()
    }
}

/// One event by ID, or (without one) every event the filters take.
#[derive(Args, Debug)]
pub struct Selection {
    /// The event ID; without it, every event the filters take.
    pub id: Option<String>,
    #[command(flatten)]
    pub filters: Filters,
    /// Without an ID and without filters: really every one.
    #[arg(long, conflicts_with = "id")]
    pub all: bool,
}

#[derive(Subcommand, Debug)]
pub enum Action {
    /// Events, newest first.
    List {
        #[command(flatten)]
        filters: Filters,
        /// Print at most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// One JSON object per line, exactly as the API gives them.
        #[arg(long)]
        json: bool,
    },
    /// One event in full: headers (secrets redacted), body, attempt history.
    Show {
        id: String,
        #[arg(long)]
        route: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Replay dead letters (by ID, or those the filters take; state defaults to dead).
    Replay(Selection),
    /// Cancel pending events: they stop retrying and become dead letters.
    Cancel(Selection),
    /// Delete dead letters for good.
    Purge(Selection),
}

pub fn run(target: Target, action: Action) -> Result<(), String> {
    let rt = super::runtime()?;
    rt.block_on(async {
        let client = target.client()?;
        match action {
            Action::List {
                filters,
                limit,
                json,
            } => list(&client, &filters, limit, json).await,
            Action::Show { id, route, json } => show(&client, &id, route.as_deref(), json).await,
            Action::Replay(t) => act(&client, t, "POST", "replay").await,
            Action::Cancel(t) => act(&client, t, "POST", "cancel").await,
            Action::Purge(t) => act(&client, t, "DELETE", "purge").await,
        }
    })
    .map_err(|e| e.to_string())
}

fn route_query(route: Option<&str>) -> String {
    route
        .map(|r| format!("?route={}", encode(r)))
        .unwrap_or_default()
}

async fn act(
    client: &AdminClient,
    t: Selection,
    method: &str,
    verb: &str,
) -> Result<(), ClientError> {
    let path = match &t.id {
        Some(id) => {
            let q = route_query(t.filters.route.as_deref());
            match verb {
                "purge" => format!("/events/{}{q}", encode(id)),
                _ => format!("/events/{}/{verb}{q}", encode(id)),
            }
        }
        None if !t.all && !t.filters.any() => {
            return Err(ClientError::Config(format!(
                "give an event ID, filters, or --all to {verb} every one"
            )));
        }
        None => {
            // Purging takes dead letters only: its endpoint has no `state`, so one naming others
            // is refused here rather than dropped (which purged every dead letter).
            if verb == "purge"
                && let Some(state) = &t.filters.state
                && state.split(',').any(|s| s.trim() != "dead")
            {
                return Err(ClientError::Config(format!(
                    "purge takes dead letters only: --state {state} would be ignored and every dead letter purged"
                )));
            }
            let q = t.filters.pairs(verb != "purge").join("&");
            match verb {
                "purge" => format!("/dlq?{q}"),
                _ => format!("/events/{verb}?{q}"),
            }
        }
    };
    let v = match method {
        "DELETE" => client.delete(&path).await?,
        _ => client.post(&path).await?,
    };
    println!("{v}");
    Ok(())
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => printable(s),
        v => v.to_string(),
    }
}

async fn list(
    client: &AdminClient,
    filters: &Filters,
    limit: usize,
    json: bool,
) -> Result<(), ClientError> {
    let mut after: Option<String> = None;
    let mut shown = 0;
    if !json {
        println!(
            "{:<24}  {:<12} {:<32} {:<10} {:>8}  last status / error",
            "RECEIVED", "ROUTE", "EVENT ID", "STATE", "ATTEMPTS"
        );
    }
    while shown < limit {
        let mut q = filters.pairs(true);
        q.push(format!("limit={}", (limit - shown).min(500)));
        if let Some(a) = &after {
            q.push(format!("after={}", encode(a)));
        }
        let page = client.get(&format!("/events?{}", q.join("&"))).await?;
        for e in page["events"].as_array().into_iter().flatten() {
            shown += 1;
            if json {
                println!("{e}");
                continue;
            }
            let last = match (&e["last_status"], &e["last_error"]) {
                (Value::Null, err) => text(err),
                (st, Value::Null) => st.to_string(),
                (st, err) => format!("{st} {}", text(err)),
            };
            println!(
                "{:<24}  {:<12} {:<32} {:<10} {:>8}  {last}",
                text(&e["received_at"]),
                text(&e["route"]),
                text(&e["event_id"]),
                text(&e["state"]),
                text(&e["attempts"]),
            );
        }
        match &page["next"] {
            Value::String(n) => after = Some(n.clone()),
            _ => break,
        }
    }
    Ok(())
}

async fn show(
    client: &AdminClient,
    id: &str,
    route: Option<&str>,
    json: bool,
) -> Result<(), ClientError> {
    let e = client
        .get(&format!("/events/{}{}", encode(id), route_query(route)))
        .await?;
    if json {
        println!("{e}");
        return Ok(());
    }
    for k in [
        "event_id",
        "route",
        "state",
        "received_at",
        "attempts",
        "replays",
        "last_status",
        "last_error",
        "next_attempt_at",
        "finished_at",
        "client_ip",
        "target",
        "verification",
    ] {
        println!("{k:<16} {}", text(&e[k]));
    }
    println!("\nheaders");
    for h in e["headers"].as_array().into_iter().flatten() {
        println!("  {}: {}", text(&h[0]), text(&h[1]));
    }
    println!("\nattempts (oldest first)");
    for a in e["attempt_history"].as_array().into_iter().flatten() {
        println!(
            "  {}  {:>6} ms  {}  {}  next: {}",
            text(&a["at"]),
            text(&a["duration_ms"]),
            text(&a["status"]),
            text(&a["error"]),
            text(&a["next_attempt_at"]),
        );
    }
    let b = &e["body"];
    match b["encoding"].as_str() {
        None => println!("\nbody: not kept (delivered events keep no body)"),
        Some(enc) => {
            let more = if b["truncated"] == true {
                ", truncated"
            } else {
                ""
            };
            println!("\nbody ({} bytes, {enc}{more})", text(&b["bytes"]));
            println!(
                "{}",
                printable_keeping(b["data"].as_str().unwrap_or(""), &['\n', '\t'])
            );
        }
    }
    Ok(())
}
