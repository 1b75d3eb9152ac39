//! The `sha256` event ID of a request with a target counts where the event goes: one body to
//! two sub-paths is two events, the same request twice one. The query counts where the check
//! covers it; an unsigned one (though forwarded) and one not forwarded (Event Grid's `?code=`)
//! change nothing.

use crate::common;

use std::time::Duration;

use common::*;

/// Posts `body` to each of `paths` in turn (LimAI-signed with `sign`); every answer is a 200
/// whose `status` is the one `want` has at its place, and the upstream got `delivered`, in any
/// order (events of no order key are delivered side by side).
async fn post_each(
    (gw, up): (&Gateway, &Upstream),
    paths: &[&str],
    (body, sign): (&str, bool),
    want: &[&str],
    delivered: &[&str],
) {
    let c = client();
    let mut answers = Vec::new();
    for path in paths {
        let url = gw.url(path);
        let req = if sign {
            signed(&c, &url, body)
        } else {
            c.post(url)
                .header("content-type", "application/json")
                .body(body.to_string())
        };
        let r = req.send().await.unwrap();
        let s = r.status().as_u16();
        let v: serde_json::Value = r.json().await.unwrap_or_default();
        answers.push((
            *path,
            s,
            v["status"].as_str().unwrap_or_default().to_string(),
        ));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut paths: Vec<String> = up.received().into_iter().map(|r| r.path).collect();
    paths.sort();
    let statuses: Vec<(u16, &str)> = answers.iter().map(|(_, c, s)| (*c, s.as_str())).collect();
    let wanted: Vec<(u16, &str)> = want.iter().map(|s| (200, *s)).collect();
    assert_eq!(statuses, wanted, "{answers:?}; delivered to {paths:?}");
    let mut delivered = delivered.to_vec();
    delivered.sort_unstable();
    assert_eq!(paths, delivered);
}

/// A route on `/` forwards the whole path (README): the same body to two sub-paths reaches
/// both, and sent again to one of them is that one's duplicate. `scheme = "none"` covers the
/// query (nothing is verified anyway): another query is another event.
#[tokio::test]
async fn one_body_to_two_sub_paths_is_two_events() {
    let up = Upstream::start();
    let body = format!(
        "{}\n[routes.root]\npath = \"/\"\nupstream = \"orders\"\nverify = {{ scheme = \"none\" }}\n",
        upstream_block("orders", &up.url("/in"), ""),
    );
    let gw = Gateway::start("", &body, &[]);
    post_each(
        (&gw, &up),
        &[
            "/svc-a/refresh",
            "/svc-b/refresh",
            "/svc-a/refresh",
            "/svc-a/refresh?x=1",
        ],
        ("{}", false),
        &["accepted", "accepted", "duplicate", "accepted"],
        &[
            "/in/svc-a/refresh",
            "/in/svc-b/refresh",
            "/in/svc-a/refresh?x=1",
        ],
    )
    .await;
}

/// Event Grid's `?code=` is the credential, neither stored nor forwarded: the same event sent
/// with the old and the new code of a rotation (a retry after the subscription's URL changed)
/// is one event; to another sub-path it is another.
#[tokio::test]
async fn a_query_credential_that_is_not_forwarded_does_not_change_the_id() {
    let up = Upstream::start();
    let body = format!(
        "{}\n[routes.grid]\npath = \"/hooks/grid\"\nupstream = \"orders\"\nverify = {{ provider = \"azure-event-grid\", secrets = [\"code-new-1234\", \"code-old-1234\"] }}\n",
        upstream_block("orders", &up.url("/in"), ""),
    );
    let gw = Gateway::start("", &body, &[]);
    post_each(
        (&gw, &up),
        &[
            "/hooks/grid/a?code=code-old-1234",
            "/hooks/grid/a?code=code-new-1234",
            "/hooks/grid/b?code=code-new-1234",
        ],
        (
            r#"[{"id":"1","eventType":"Microsoft.Storage.BlobCreated","data":{}}]"#,
            false,
        ),
        &["accepted", "duplicate", "accepted"],
        &["/in/a", "/in/b"],
    )
    .await;
}

/// A body-only signature covers neither the sub-path nor the query: the sub-path still picks
/// another event (another resource of the upstream), an unsigned query does not, or anyone
/// holding a captured request could have it delivered again by adding `?x=1`.
#[tokio::test]
async fn an_unsigned_query_does_not_make_a_signed_body_another_event() {
    let up = Upstream::start();
    let route = limai_route("x", "/hooks/x", "orders", "")
        .replace("event_id = \"json:/eventId\"", "event_id = \"sha256\"");
    let body = format!("{}\n{route}", upstream_block("orders", &up.url("/in"), ""));
    let gw = Gateway::start("", &body, &[("LIMAI_SECRET", SECRET)]);
    post_each(
        (&gw, &up),
        &[
            "/hooks/x/a",
            "/hooks/x/a?x=1",
            "/hooks/x/b?x=1",
            "/hooks/x/b",
        ],
        (&event_body("evt_signed"), true),
        &["accepted", "duplicate", "accepted", "duplicate"],
        &["/in/a", "/in/b?x=1"],
    )
    .await;
}
