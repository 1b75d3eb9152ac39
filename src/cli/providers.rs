//! `hookgate providers`: every preset with what it reads, how it verifies, what it answers on
//! the provider's behalf and its defaults, as text or JSON. Read from the registry, so it
//! cannot drift from what the presets do.

use serde_json::{Value, json};

use crate::verify::providers::{ALL, Provider};

fn window(p: &Provider) -> String {
    p.window.map_or_else(|| "none".into(), |s| format!("{s}s"))
}

fn entry(p: &Provider) -> Value {
    json!({
        "name": p.name,
        "headers": p.about.headers,
        "scheme": p.about.scheme,
        "handshake": (!p.about.handshake.is_empty()).then_some(p.about.handshake),
        "window_seconds": p.window,
        "event_id": p.event_id,
        "methods": p.methods,
        "verify_keys": p.keys,
        "sample_events": p.samples.iter().map(|(t, _)| *t).collect::<Vec<_>>(),
    })
}

/// The list: one block per provider, or a JSON array.
pub fn run(as_json: bool) -> String {
    if as_json {
        return Value::Array(ALL.iter().map(|p| entry(p)).collect()).to_string();
    }
    let mut out = String::new();
    for p in ALL {
        let or_none = |items: &[&str]| {
            if items.is_empty() {
                "-".to_string()
            } else {
                items.join(", ")
            }
        };
        let events: Vec<&str> = p.samples.iter().map(|(t, _)| *t).collect();
        out.push_str(&format!(
            "{}\n  scheme:      {}\n  headers:     {}\n  handshake:   {}\n  window:      {}\n  event id:    {}\n  methods:     {}\n  verify keys: {}\n",
            p.name,
            p.about.scheme,
            or_none(p.about.headers),
            if p.about.handshake.is_empty() { "-" } else { p.about.handshake },
            window(p),
            p.event_id,
            p.methods.join(", "),
            or_none(p.keys),
        ));
        if !events.is_empty() {
            out.push_str(&format!("  events:      {}\n", events.join(", ")));
        }
    }
    out.push_str(&format!("{} providers\n", ALL.len()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_every_provider() {
        let text = run(false);
        let list: Value = serde_json::from_str(&run(true)).unwrap();
        assert_eq!(list.as_array().map(Vec::len), Some(ALL.len()));
        for p in ALL {
            assert!(text.contains(&format!("\n{}\n", p.name)) || text.starts_with(p.name));
        }
        let twilio = list
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == "twilio")
            .unwrap();
        assert_eq!(twilio["methods"], json!(["GET", "POST"]));
        assert_eq!(twilio["window_seconds"], Value::Null);
    }
}
