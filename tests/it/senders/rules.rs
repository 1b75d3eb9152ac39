//! A route's request rules and its answer, from the sender's side: a required header holds for
//! every copy of it, and the event ID a sender chose adds nothing to the answer's document.

use crate::common;

use common::*;
use serde_json::Value;

use super::support::{post, up_and_route};

/// `{event_id}` in a `response.body` template stands in a JSON string (the answer's default
/// type) or XML text (a route whose answer says so): an ID holding `"` or `<` — the sender's
/// to choose — is escaped, never a field or an element of the answer.
#[tokio::test]
async fn a_senders_event_id_adds_nothing_to_the_answers_document() {
    let up = Upstream::start();
    let route = |name: &str, response: &str| {
        format!(
            "[routes.{name}]\npath = \"/hooks/{name}\"\nupstream = \"flows\"\nverify = {{ scheme = \"none\" }}\nevent_id = \"json:/id\"\nresponse = {response}\n"
        )
    };
    let routes = format!(
        "{}{}",
        route("j", r#"{ body = '{"received":true,"id":"{event_id}"}' }"#),
        route(
            "x",
            r#"{ body = '<Response><Id>{event_id}</Id></Response>', headers = { "Content-Type" = "text/xml" } }"#
        ),
    );
    let gw = Gateway::start("", &up_and_route(&up, &routes), &[]);
    let c = client();
    let json_type = [("content-type", "application/json")];
    let id = r#"e1","admin":true,"x":"</Id><Admin/><Id>"#;
    let event = serde_json::json!({ "id": id }).to_string();
    let r = post(&c, &gw.url("/hooks/j"), &json_type, event.clone()).await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    let answer: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(
        answer,
        serde_json::json!({ "received": true, "id": id }),
        "{text}"
    );
    let r = post(&c, &gw.url("/hooks/x"), &json_type, event).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/xml");
    let text = r.text().await.unwrap();
    assert_eq!(
        text,
        "<Response><Id>e1&quot;,&quot;admin&quot;:true,&quot;x&quot;:&quot;&lt;/Id&gt;&lt;Admin/&gt;&lt;Id&gt;</Id></Response>"
    );
}

/// A required header sent twice must match both times, and so must a repeated `Content-Type`
/// of a route with `content_types`: the upstream gets both copies, and which one it reads
/// (first, last, joined) is its framework's choice.
#[tokio::test]
async fn a_required_header_sent_twice_must_match_every_time() {
    let up = Upstream::start();
    let route = "[routes.r]\npath = \"/hooks/r\"\nupstream = \"flows\"\nverify = { scheme = \"none\" }\nrequire_headers = { \"X-Env\" = \"~^prod$\" }\ncontent_types = [\"application/json\"]\n";
    let gw = Gateway::start("", &up_and_route(&up, route), &[]);
    let c = client();
    let url = gw.url("/hooks/r");
    let json_type = ("content-type", "application/json");
    let mut got = Vec::new();
    for (i, envs) in [
        &["prod"][..],
        &["prod", "prod"],
        &["prod", "dev"],
        &["dev", "prod"],
    ]
    .into_iter()
    .enumerate()
    {
        let mut headers = vec![json_type];
        headers.extend(envs.iter().map(|e| ("x-env", *e)));
        let r = post(&c, &url, &headers, format!(r#"{{"n":{i}}}"#)).await;
        got.push((envs, r.status().as_u16()));
    }
    assert_eq!(
        got,
        [
            (&["prod"][..], 200),
            (&["prod", "prod"], 200),
            (&["prod", "dev"], 403),
            (&["dev", "prod"], 403),
        ]
    );
    let prod = ("x-env", "prod");
    let types = [json_type, ("content-type", "application/xml")];
    let r = post(&c, &url, &[prod, types[0], types[1]], r#"{"n":9}"#).await;
    assert_eq!(
        r.status(),
        415,
        "a second Content-Type outside content_types"
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(up.count(), 2, "the two accepted requests only");
}
