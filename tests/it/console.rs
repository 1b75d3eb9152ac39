//! Issue 11, item 3: the operator's console at `/` on the admin listener, in a real headless
//! Chromium (tests/common/browser.rs): the events the test sent, one event's page, a replayed
//! dead letter seen delivered, sender values that hold markup rendered as text, a page that
//! reveals nothing without the token, and the Origin rule when no token is configured.

mod support;

use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::browser::Browser;
use crate::common::conn::delivered;
use crate::common::ops::ADMIN_TOKEN;
use crate::common::redis_server::RedisServer;
use crate::common::*;

use support::{
    BODY_PAYLOAD, HEADER_PAYLOAD, ID_PAYLOAD, admin_json, event_state, field, gateway,
    gateway_with, locked, nothing_ran, open_console, open_event, page_reveals, page_state,
    route_state, routes, rows_are, rows_where, scene, search, shown,
};

const WAIT: Duration = Duration::from_secs(20);
#[tokio::test]
async fn the_console_lists_sent_events_and_replays_a_dead_letter() {
    lists_and_replays(
        "the_console_lists_sent_events_and_replays_a_dead_letter",
        None,
    )
    .await;
}

#[tokio::test]
async fn the_console_lists_sent_events_and_replays_a_dead_letter_on_redis() {
    let redis = RedisServer::start();
    let store = format!(
        "[store]\nkind = \"redis\"\nurl = \"{}\"\nconsumer = \"console\"\n",
        redis.url()
    );
    lists_and_replays(
        "the_console_lists_sent_events_and_replays_a_dead_letter_on_redis",
        Some(store),
    )
    .await;
}

/// Load the page with the token, see the events sent, filter, open one, replay a dead letter and
/// see it delivered, pause and resume the route.
async fn lists_and_replays(test: &str, store: Option<String>) {
    let started = Instant::now();
    let Some((b, up, gw, c)) = scene(test, true, store).await else {
        return;
    };
    up.set_default(Reply::status(503));
    let url = gw.url("/hooks/limai");
    accept_all(&c, &url, ["evt-dead-1".to_string()]).await;
    eventually(WAIT, async || {
        (event_state(&c, &gw, "evt-dead-1").await == "dead").then_some(())
    })
    .await
    .expect("evt-dead-1 becomes a dead letter");
    up.set_default(Reply::status(200));
    accept_all(&c, &url, ["evt-ok-1".to_string(), "evt-ok-2".to_string()]).await;
    assert!(delivered(&up, "evt-ok-2").await);

    open_console(&b, &gw).await;
    let rows = rows_where(&b, "the three events", "ids.length === 3 ? ids : null").await;
    let mut ids: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, ["evt-dead-1", "evt-ok-1", "evt-ok-2"]);
    // The fragment is gone from the address bar (and so from history and screenshots).
    let href = b.exec("return location.href;", json!([])).await;
    assert_eq!(href, json!(gw.admin("/")), "token left in the URL");
    // The routes table: the dead letter is counted.
    let route_row = b.text("#routes-body tr[data-route=limai]").await;
    assert!(route_row.contains("/hooks/limai"), "{route_row}");
    assert_eq!(b.text("#routes-body tr[data-route=limai] .dead").await, "1");
    assert_eq!(
        b.text("#routes-body tr[data-route=limai] .route-state")
            .await,
        "active"
    );

    // Live refresh: a new event appears by itself, newest first.
    accept_all(&c, &url, ["evt-live-3".to_string()]).await;
    rows_where(
        &b,
        "the new event without a click",
        "ids[0] === 'evt-live-3'",
    )
    .await;
    // Off from here: the rows stay the ones the test clicks.
    b.click("#live").await;

    // Filters: the event-ID substring narrows the list to one row.
    search(&b, "ok-2", &["evt-ok-2"]).await;
    search(&b, "dead", &["evt-dead-1"]).await;

    // The event page: state, verification, attempt timeline, headers (signature redacted), body.
    open_event(&b, "evt-dead-1").await;
    assert_eq!(b.wait_for("state", WAIT, &field("State")).await, "dead");
    assert_eq!(b.text("#ev-id").await, "evt-dead-1");
    let verification = b
        .wait_for("verification", WAIT, &field("Verification"))
        .await;
    assert_ne!(verification, "—", "a verification verdict is shown");
    let attempts = b.text("#ev-attempts").await;
    assert_eq!(
        attempts.lines().filter(|l| l.contains("HTTP 503")).count(),
        2,
        "{attempts}"
    );
    let headers = b.text("#ev-headers").await;
    assert!(headers.contains("x-webhook-signature"), "{headers}");
    assert!(headers.contains("[redacted]"), "{headers}");
    assert!(!headers.contains(&hmac_hex(SECRET, event_body("evt-dead-1").as_bytes())));
    assert_eq!(b.text("#ev-body").await, event_body("evt-dead-1"));

    // Replay: the page follows the event until it is delivered.
    b.click("#ev-replay").await;
    b.wait_for(
        "the replayed dead letter delivered",
        WAIT,
        &format!("return (() => {{ {} }})() === 'delivered';", field("State")),
    )
    .await;
    assert!(b.text("#ev-attempts").await.contains("HTTP 200"));
    assert_eq!(event_state(&c, &gw, "evt-dead-1").await, "delivered");
    assert_eq!(
        up.received()
            .iter()
            .filter(|r| String::from_utf8_lossy(&r.body).contains("evt-dead-1"))
            .count(),
        3,
        "two failed attempts, then the replay"
    );

    // Back to the list, then the pause switch of the route.
    b.click("#back").await;
    b.click("#routes-body tr[data-route=limai] .route-toggle")
        .await;
    route_state(&b, "paused").await;
    let listed = admin_json(&c, &gw, "/routes").await;
    assert_eq!(listed["routes"][0]["state"], "paused");
    // A held event: live refresh (on again) shows it pending, with its age.
    accept_all(&c, &url, ["evt-held-4".to_string()]).await;
    b.click("#live").await;
    b.wait_for(
        "one pending event",
        WAIT,
        "return document.querySelector('#routes-body tr[data-route=limai] .pending').textContent === '1';",
    )
    .await;
    let oldest = b.text("#routes-body tr[data-route=limai] .oldest").await;
    assert!(oldest.ends_with(" s"), "{oldest:?}");
    b.click("#routes-body tr[data-route=limai] .route-toggle")
        .await;
    route_state(&b, "active").await;
    assert_eq!(
        admin_json(&c, &gw, "/routes").await["routes"][0]["state"],
        "active"
    );
    assert!(
        delivered(&up, "evt-held-4").await,
        "resumed: the held event goes out"
    );
    assert!(b.alert().await.is_none());
    eprintln!(
        "{test} (browser start, load, list, live refresh, filter, open, replay, pause): {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn sender_markup_in_id_headers_and_body_is_shown_as_text() {
    let Some((b, up, gw, c)) = scene(
        "sender_markup_in_id_headers_and_body_is_shown_as_text",
        true,
        None,
    )
    .await
    else {
        return;
    };
    up.set_default(Reply::status(503));
    let body = format!(
        r#"{{"eventId":{},"eventType":"DOCUMENT_EXTRACTED","note":"{BODY_PAYLOAD}"}}"#,
        serde_json::to_string(ID_PAYLOAD).unwrap()
    );
    let r = signed(&c, &gw.url("/hooks/limai"), &body)
        .header("x-note", HEADER_PAYLOAD)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    // A dead letter keeps its headers and body (a delivered event keeps neither).
    eventually(WAIT, async || {
        let v = admin_json(&c, &gw, "/events?route=limai&state=dead").await;
        (v["events"][0]["event_id"] == ID_PAYLOAD).then_some(())
    })
    .await
    .expect("the event becomes a dead letter");

    open_console(&b, &gw).await;
    b.wait_for(
        "the list",
        WAIT,
        "return document.querySelectorAll('#events-body tr').length === 1;",
    )
    .await;
    // Watch for anything the policy had to block from now on, then render the list again.
    b.exec(
        "window.__csp = [];
         document.addEventListener('securitypolicyviolation',
             e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));",
        json!([]),
    )
    .await;
    b.click("#search").await;
    let shown = b
        .wait_for(
            "the ID as text",
            WAIT,
            "const l = document.querySelector('#events-body .event-link'); return l && l.textContent;",
        )
        .await;
    assert_eq!(shown, ID_PAYLOAD);
    nothing_ran(&b, "the list").await;

    open_event(&b, ID_PAYLOAD).await;
    b.wait_for("state", WAIT, &field("State")).await;
    assert_eq!(b.text("#ev-id").await, ID_PAYLOAD);
    let headers = b
        .exec(
            "return document.getElementById('ev-headers').textContent;",
            json!([]),
        )
        .await;
    assert!(
        headers.as_str().unwrap().contains(HEADER_PAYLOAD),
        "{headers}"
    );
    let shown_body = b
        .exec(
            "return document.getElementById('ev-body').textContent;",
            json!([]),
        )
        .await;
    assert_eq!(shown_body, json!(body));
    nothing_ran(&b, "the event page").await;
    let log = b.console_log().await;
    assert!(
        !log.iter().any(|l| l.contains("Content Security Policy")),
        "the page broke its own policy: {log:?}"
    );

    // A bulk purge runs on the second click only, and says how many it touched.
    b.click("#back").await;
    b.click("#bulk-purge").await;
    let armed = b.text("#bulk-purge").await;
    assert!(armed.starts_with("Click again"), "{armed}");
    assert_eq!(
        admin_json(&c, &gw, "/events?state=dead").await["events"]
            .as_array()
            .map(Vec::len),
        Some(1),
        "one click purged nothing"
    );
    b.click("#bulk-purge").await;
    let said = b
        .wait_for(
            "the purge's answer",
            WAIT,
            "const m = document.getElementById('message').textContent; return m.startsWith('Dead letters purged') ? m : null;",
        )
        .await;
    assert_eq!(said, "Dead letters purged: 1.");
    let left = admin_json(&c, &gw, "/events").await;
    assert_eq!(left["events"], json!([]), "{left}");
    b.wait_for(
        "an empty list",
        WAIT,
        "return document.querySelectorAll('#events-body tr').length === 0 && !document.getElementById('events-empty').hidden;",
    )
    .await;
}

#[tokio::test]
async fn without_the_token_the_page_reveals_nothing() {
    let Some((b, _up, gw, c)) =
        scene("without_the_token_the_page_reveals_nothing", true, None).await
    else {
        return;
    };
    accept_all(&c, &gw.url("/hooks/limai"), ["evt-secret-7".to_string()]).await;

    // The shell itself: the same static bytes for everyone, with the policy.
    let r = c.get(gw.admin("/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "frame-ancestors 'none'",
        "require-trusted-types-for 'script'",
    ] {
        assert!(csp.contains(directive), "{csp}");
    }
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    let shell = r.text().await.unwrap();
    assert!(!shell.contains("limai") && !shell.contains("evt-secret-7"));
    for p in [
        "/events",
        "/routes",
        "/events/evt-secret-7?route=limai",
        "/console/nope",
    ] {
        let s = c.get(gw.admin(p)).send().await.unwrap().status();
        assert_eq!(s, 401, "{p} without the token");
    }

    b.goto(&gw.admin("/")).await;
    locked(&b).await;
    // A wrong token: refused, still nothing.
    b.type_into("#token", "not-the-token").await;
    b.click("#login-button").await;
    let msg = b
        .wait_for(
            "the refusal",
            WAIT,
            "const m = document.getElementById('message').textContent; return m || null;",
        )
        .await;
    assert_eq!(msg, "The token was refused.");
    assert!(!page_reveals(&b).await);
    // The right one through the login field.
    b.type_into("#token", ADMIN_TOKEN).await;
    b.click("#login-button").await;
    b.wait_for(
        "the routes",
        WAIT,
        "return document.querySelector('#routes-body tr[data-route=limai]') !== null;",
    )
    .await;
    assert!(page_reveals(&b).await, "the token opens the page");
    // Forgetting the token empties the page.
    b.click("#logout").await;
    locked(&b).await;
    // The token never reached storage or a cookie.
    let stored = b
        .exec(
            "return document.cookie + JSON.stringify(sessionStorage) + JSON.stringify(localStorage);",
            json!([]),
        )
        .await;
    assert_eq!(stored, "{}{}");
}

#[tokio::test]
async fn without_an_admin_token_only_the_consoles_own_origin_is_answered() {
    let up = Upstream::start();
    let gw = gateway(&up, false, None);
    let c = client();
    let own = format!("http://127.0.0.1:{}", gw.admin_port);
    let post = async |origin: &str, host: Option<&str>| {
        let mut headers = vec![("origin", origin)];
        headers.extend(host.map(|h| ("host", h)));
        ops::admin_call(&c, &gw, "POST", "/routes/limai/pause", &headers).await
    };
    let other_port = format!("http://127.0.0.1:{}", gw.port);
    let rebound = format!("evil.example:{}", gw.admin_port);
    let rebound_origin = format!("http://{rebound}");
    // Another site, a sandboxed page, another port of the same host, another name for it,
    // and a DNS-rebinding page whose origin matches its own Host.
    assert_eq!(post("http://evil.example", None).await, 403);
    assert_eq!(post("null", None).await, 403);
    assert_eq!(post(&other_port, None).await, 403);
    assert_eq!(
        post(&format!("http://localhost:{}", gw.admin_port), None).await,
        403
    );
    assert_eq!(post(&rebound_origin, Some(&rebound)).await, 403);
    assert_eq!(
        ops::state(&c, &gw, &[]).await,
        "active",
        "no refused request changed anything"
    );
    // The console's own origin.
    assert_eq!(post(&own, None).await, 200);
    assert_eq!(ops::state(&c, &gw, &[]).await, "paused");

    let Some(b) =
        Browser::start("console::without_an_admin_token_only_the_consoles_own_origin_is_answered")
            .await
    else {
        return;
    };
    // In the browser: no login (nothing to log in with), and its POSTs (which carry Origin) work.
    b.goto(&gw.admin("/")).await;
    route_state(&b, "paused").await;
    assert_eq!(
        b.text("#conn").await,
        "no admin token configured (loopback)"
    );
    b.click("#routes-body tr[data-route=limai] .route-toggle")
        .await;
    route_state(&b, "active").await;
    assert_eq!(ops::state(&c, &gw, &[]).await, "active");
}

#[tokio::test]
async fn with_a_token_a_foreign_origin_is_refused_even_with_the_token() {
    let up = Upstream::start();
    let gw = gateway(&up, true, None);
    let c = client();
    let bearer = format!("Bearer {ADMIN_TOKEN}");
    let call = async |origin: &str| {
        let headers = [("authorization", bearer.as_str()), ("origin", origin)];
        ops::admin_call(&c, &gw, "POST", "/routes/limai/pause", &headers).await
    };
    assert_eq!(call("http://evil.example").await, 403);
    assert_eq!(
        call(&format!("http://127.0.0.1:{}", gw.admin_port)).await,
        200
    );
}

/// A retrying (`scheduled`) event can be cancelled from its page; a replay is then followed,
/// through `in_flight`, until it is delivered, with live refresh off.
#[tokio::test]
async fn a_retrying_event_can_be_cancelled_and_a_replay_is_followed_to_the_end() {
    let Some((b, up, gw, c)) = scene(
        "a_retrying_event_can_be_cancelled_and_a_replay_is_followed_to_the_end",
        true,
        None,
    )
    .await
    else {
        return;
    };
    // A 503 asking for a minute's wait: the event waits for its retry (`scheduled`).
    up.set_default(Reply {
        headers: vec![("retry-after", "60".into())],
        ..Reply::status(503)
    });
    accept_all(&c, &gw.url("/hooks/limai"), ["evt-retry-1".to_string()]).await;
    eventually(WAIT, async || {
        (event_state(&c, &gw, "evt-retry-1").await == "scheduled").then_some(())
    })
    .await
    .expect("evt-retry-1 waits for its retry");

    open_console(&b, &gw).await;
    rows_where(&b, "the event", "ids[0] === 'evt-retry-1'").await;
    // Off: only the page's own following can show the replay's outcome.
    b.click("#live").await;
    open_event(&b, "evt-retry-1").await;
    page_state(&b, "scheduled").await;
    assert!(
        shown(&b, "ev-cancel").await,
        "Cancel retries is offered for a scheduled event"
    );
    assert!(!shown(&b, "ev-replay").await && !shown(&b, "ev-purge").await);
    b.click("#ev-cancel").await;
    page_state(&b, "dead").await;
    assert_eq!(b.text("#message").await, "Cancelled: 1.");
    assert_eq!(event_state(&c, &gw, "evt-retry-1").await, "dead");
    assert!(!shown(&b, "ev-cancel").await);

    // A slow upstream: the replayed event is in flight for a second, then delivered.
    up.set_default(Reply::status(200).after(Duration::from_millis(1200)));
    b.click("#ev-replay").await;
    page_state(&b, "delivered").await;
    assert!(b.text("#ev-attempts").await.contains("HTTP 200"));
    assert!(!shown(&b, "ev-cancel").await);
}

/// Two routes with a dead letter each; the list searched for one route. A filter changed in the
/// form without a search does not change what the bulk buttons act on.
#[tokio::test]
async fn bulk_buttons_act_on_the_list_as_shown_not_on_unsearched_filters() {
    let Some(b) =
        Browser::start("console::bulk_buttons_act_on_the_list_as_shown_not_on_unsearched_filters")
            .await
    else {
        return;
    };
    let up = Upstream::start();
    let config = format!(
        "{}\n{}",
        routes(&up),
        limai_route("other", "/hooks/other", "orders", "")
    );
    let gw = gateway_with(&config, true, None);
    let c = client();
    up.set_default(Reply::status(503));
    accept_all(&c, &gw.url("/hooks/limai"), ["evt-a-dead".to_string()]).await;
    accept_all(&c, &gw.url("/hooks/other"), ["evt-b-dead".to_string()]).await;
    eventually(WAIT, async || {
        let v = admin_json(&c, &gw, "/events?state=dead").await;
        (v["events"].as_array().map(Vec::len) == Some(2)).then_some(())
    })
    .await
    .expect("two dead letters");

    open_console(&b, &gw).await;
    rows_where(&b, "both events", "ids.length === 2").await;
    b.click("#live").await;
    b.click("#f-route option[value=limai]").await;
    b.click("#search").await;
    rows_are(&b, &["evt-a-dead"]).await;
    // Route back to "all" and an ID filter typed, neither searched: the list still shows limai's.
    b.click("#f-route option[value='']").await;
    b.type_into("#f-q", "b-dead").await;

    b.click("#bulk-purge").await;
    let armed = b.text("#bulk-purge").await;
    assert!(armed.starts_with("Click again"), "{armed}");
    assert!(
        armed.contains("route limai") && armed.contains("1 shown") && !armed.contains("b-dead"),
        "the confirmation names the list's filter and count: {armed}"
    );
    b.click("#bulk-purge").await;
    let said = b
        .wait_for(
            "the purge's answer",
            WAIT,
            "const m = document.getElementById('message').textContent; return m.startsWith('Dead letters purged') ? m : null;",
        )
        .await;
    assert_eq!(said, "Dead letters purged: 1.");
    let left = admin_json(&c, &gw, "/events?state=dead").await;
    let ids: Vec<&str> = left["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["evt-b-dead"],
        "only the shown route's dead letter went"
    );
    b.wait_for(
        "an empty list, still of route limai",
        WAIT,
        "return document.querySelectorAll('#events-body tr').length === 0 && !document.getElementById('events-empty').hidden;",
    )
    .await;
}
