//! `hookgate routes list|pause|resume`: route states through the admin API.

use serde_json::Value;

use super::admin_client::{AdminClient, ClientError, Target, encode};

pub enum Action {
    List { json: bool },
    Pause(String),
    Resume(String),
}

pub fn run(target: Target, action: Action) -> Result<(), String> {
    let rt = super::runtime()?;
    rt.block_on(async {
        let client = target.client()?;
        match action {
            Action::List { json } => list(&client, json).await,
            Action::Pause(route) => set(&client, &route, "pause").await,
            Action::Resume(route) => set(&client, &route, "resume").await,
        }
    })
    .map_err(|e| e.to_string())
}

async fn list(client: &AdminClient, json: bool) -> Result<(), ClientError> {
    let v = client.get("/routes").await?;
    if json {
        println!("{v}");
        return Ok(());
    }
    println!(
        "{:<16} {:<24} {:<6} {:<9} {:>10} {:>8}",
        "ROUTE", "PATH", "MODE", "STATE", "PENDING", "DEAD"
    );
    for r in v["routes"].as_array().into_iter().flatten() {
        println!(
            "{:<16} {:<24} {:<6} {:<9} {:>10} {:>8}",
            text(r, "name"),
            text(r, "path"),
            text(r, "mode"),
            state(r),
            r["pending"].as_u64().unwrap_or(0),
            r["dead"].as_u64().unwrap_or(0)
        );
    }
    // Routes a reload removed that still hold events: kept, delivered if the route returns.
    for r in v["removed_routes"].as_array().into_iter().flatten() {
        println!(
            "{:<16} {:<24} {:<6} {:<9} {:>10} {:>8}",
            text(r, "name"),
            "(removed)",
            "-",
            "stranded",
            r["pending"].as_u64().unwrap_or(0),
            r["dead"].as_u64().unwrap_or(0)
        );
    }
    Ok(())
}

fn text(v: &Value, k: &str) -> String {
    v[k].as_str().unwrap_or("").to_string()
}

/// A state set through the admin API, over the config's, is marked with `*`.
fn state(r: &Value) -> String {
    let s = text(r, "state");
    if r["state"] == r["configured_state"] {
        s
    } else {
        format!("{s}*")
    }
}

async fn set(client: &AdminClient, route: &str, verb: &str) -> Result<(), ClientError> {
    let v = client
        .post(&format!("/routes/{}/{verb}", encode(route)))
        .await?;
    println!("{v}");
    Ok(())
}
