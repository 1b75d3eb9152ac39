//! Normalisation and an event's identity: a normalised body keeps JSON numbers exactly as
//! written (in the event ID and in what the upstream receives), and an unsigned
//! `Content-Type` cannot make one signed body into several events.

use crate::common;

use common::*;
use serde_json::Value;

fn start(up: &Upstream, routes: &str) -> Gateway {
    let body = format!("{}\n{routes}", upstream_block("up", &up.url("/"), ""));
    Gateway::start(
        "",
        &body,
        &[("LIMAI_SECRET", SECRET), ("TOK", "bearer-token")],
    )
}

/// `hardening_verify::large_numeric_ids_stay_distinct` with `normalize = "json"`: the ID is
/// the number as written, and so is the body the upstream receives.
#[tokio::test]
async fn large_numeric_ids_stay_distinct_when_normalised() {
    let up = Upstream::start();
    let routes = limai_route("n", "/hooks/n", "up", "normalize = \"json\"")
        .replace("event_id = \"json:/eventId\"", "event_id = \"json:/id\"");
    let gw = start(&up, &routes);
    let c = client();
    let ids = ["12345678901234567890123", "12345678901234567890124"];
    for id in ids {
        let (status, v) = send_signed(&c, &gw.url("/hooks/n"), &format!(r#"{{"id":{id}}}"#)).await;
        assert_eq!(
            (status, v["status"].as_str()),
            (200, Some("accepted")),
            "{v}"
        );
        assert_eq!(v["event_id"], id);
    }
    let got = up.wait_for(2).await;
    let mut seen: Vec<(String, String)> = got
        .iter()
        .map(|r| {
            (
                r.header("x-hookgate-event-id").unwrap_or_default().into(),
                String::from_utf8_lossy(&r.body).into_owned(),
            )
        })
        .collect();
    seen.sort();
    let expected: Vec<(String, String)> = ids
        .iter()
        .map(|id| (id.to_string(), format!(r#"{{"id":{id}}}"#)))
        .collect();
    assert_eq!(seen, expected);
}

/// Where the query joins the event (a bearer route), the merged body still carries every
/// number as the sender wrote it.
#[tokio::test]
async fn a_merged_query_leaves_the_bodys_numbers_exact() {
    let up = Upstream::start();
    let gw = start(
        &up,
        "[routes.b]\npath = \"/hooks/b\"\nupstream = \"up\"\nverify = { scheme = \"bearer\", secrets = [\"env:TOK\"] }\nnormalize = \"json\"\nevent_id = \"json:/id\"\n",
    );
    let body = r#"{"id":12345678901234567890123,"amount":0.1000000000000000055511151231257827,"nested":{"n":-0}}"#;
    let r = client()
        .post(gw.url("/hooks/b?src=q&id=from-query"))
        .header("authorization", "Bearer bearer-token")
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["event_id"], "12345678901234567890123", "{v}");
    let got = up.wait_for(1).await;
    let text = String::from_utf8_lossy(&got[0].body).into_owned();
    for exact in [
        "\"id\":12345678901234567890123",
        "\"amount\":0.1000000000000000055511151231257827",
        "\"n\":-0",
        "\"src\":\"q\"",
    ] {
        assert!(text.contains(exact), "{exact} in {text}");
    }
    assert!(!text.contains("from-query"), "the body's id wins: {text}");
}

/// A signed XML body replayed with only its (unsigned) Content-Type changed — to a form, or to
/// multipart with a boundary that occurs inside the signed text — is not a second event: not
/// by a JSON-pointer ID (absent from the mis-read body, it would fall back to the hash), nor by
/// the `sha256` ID of a route whose check covers the query (it hashes the normalised body).
#[tokio::test]
async fn an_unsigned_content_type_does_not_split_a_signed_xml_body() {
    let (signed_up, token_up) = (Upstream::start(), Upstream::start());
    let body = format!(
        "{}\n{}\n{}\n[routes.tok]\npath = \"/hooks/tok\"\nupstream = \"t\"\nverify = {{ scheme = \"bearer\", secrets = [\"env:TOK\"] }}\nnormalize = \"json\"\nevent_id = \"sha256\"\n",
        upstream_block("s", &signed_up.url("/"), ""),
        upstream_block("t", &token_up.url("/"), ""),
        limai_route("sig", "/hooks/sig", "s", "normalize = \"json\"")
            .replace("json:/eventId", "json:/order/id"),
    );
    let gw = Gateway::start(
        "",
        &body,
        &[("LIMAI_SECRET", SECRET), ("TOK", "bearer-token")],
    );
    let xml = "<order><id>ord_1</id><note>a&amp;id=forged&amp;x=<![CDATA[\r\n--X\r\nContent-Disposition: form-data; name=\"order\"\r\n\r\nforged\r\n--X--\r\n]]></note></order>";
    let c = client();
    let types = [
        "application/xml",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=X",
    ];
    let mut answers = Vec::new();
    for ct in types {
        let r = signed_typed(&c, &gw.url("/hooks/sig"), SECRET, ct, xml)
            .send()
            .await
            .unwrap();
        answers.push(format!("sig {ct}: {}", r.status()));
        let r = c
            .post(gw.url("/hooks/tok"))
            .header("authorization", "Bearer bearer-token")
            .header("content-type", ct)
            .body(xml)
            .send()
            .await
            .unwrap();
        answers.push(format!("tok {ct}: {}", r.status()));
    }
    assert!(
        answers[..2].iter().all(|a| a.ends_with("200 OK")),
        "{answers:?}"
    );
    for (up, route) in [(&signed_up, "sig"), (&token_up, "tok")] {
        let got = up.settled().await;
        let bodies: Vec<Value> = got
            .iter()
            .map(|r| serde_json::from_slice(&r.body).unwrap_or(Value::Null))
            .collect();
        assert_eq!(
            got.len(),
            1,
            "{route}: one signed body, one event: {bodies:?} {answers:?}"
        );
        assert_eq!(bodies[0]["order"]["id"], "ord_1", "{route}");
    }
}
