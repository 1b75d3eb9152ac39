//! The console tests' fixtures: gateways, admin calls, and driving the console in the browser.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::browser::Browser;
use crate::common::ops::ADMIN_TOKEN;
use crate::common::*;

use super::WAIT;

const TOKEN_SERVER: &str = "admin_token = \"env:ADMIN_TOKEN\"";

pub(super) fn routes(up: &Upstream) -> String {
    format!(
        "{}\n{}",
        upstream_block("orders", &up.url("/"), "max_attempts = 2"),
        limai_route("limai", "/hooks/limai", "orders", "")
    )
}

/// `store`: a `[store]` block, or `None` for the embedded store.
pub(super) fn gateway(up: &Upstream, with_token: bool, store: Option<String>) -> Gateway {
    gateway_with(&routes(up), with_token, store)
}

/// `gateway` with the routes (and upstreams) `config`.
pub(super) fn gateway_with(config: &str, with_token: bool, store: Option<String>) -> Gateway {
    Gateway::start_full(
        if with_token { TOKEN_SERVER } else { "" },
        store,
        "",
        config,
        &[("LIMAI_SECRET", SECRET), ("ADMIN_TOKEN", ADMIN_TOKEN)],
    )
}

/// A browser, an upstream and a gateway with the `limai` route; `None` when the test is skipped.
pub(super) async fn scene(
    test: &str,
    with_token: bool,
    store: Option<String>,
) -> Option<(Browser, Upstream, Gateway, reqwest::Client)> {
    let b = Browser::start(&format!("console::{test}")).await?;
    let up = Upstream::start();
    let gw = gateway(&up, with_token, store);
    Some((b, up, gw, client()))
}

pub(super) async fn admin_json(c: &reqwest::Client, gw: &Gateway, path: &str) -> Value {
    let r = c
        .get(gw.admin(path))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("admin");
    assert_eq!(r.status(), 200, "{path}");
    r.json().await.expect("json")
}

pub(super) async fn event_state(c: &reqwest::Client, gw: &Gateway, id: &str) -> String {
    let v = admin_json(c, gw, &format!("/events/{id}?route=limai")).await;
    v["state"].as_str().unwrap_or_default().to_string()
}

/// The event IDs of the list's rows, in order.
const ROW_IDS: &str =
    "return [...document.querySelectorAll('#events-body tr')].map(r => r.dataset.eventId);";

/// The value shown for one field of the event page.
pub(super) fn field(name: &str) -> String {
    format!(
        "const d = document.querySelector('#ev-fields dd[data-field=\"{name}\"]'); \
         return d && !document.getElementById('event').hidden ? d.textContent : null;"
    )
}

/// Waits until the list's row IDs (`ids` in `test`, a JS expression) make `test` truthy;
/// returns its value.
pub(super) async fn rows_where(b: &Browser, what: &str, test: &str) -> Value {
    b.wait_for(
        what,
        WAIT,
        &format!("const ids = (() => {{ {ROW_IDS} }})(); return {test};"),
    )
    .await
}

/// Waits until the list shows exactly the rows `ids`, in order.
pub(super) async fn rows_are(b: &Browser, ids: &[&str]) {
    let want = json!(ids).to_string();
    rows_where(
        b,
        &format!("rows {ids:?}"),
        &format!("JSON.stringify(ids) === {want:?}"),
    )
    .await;
}

/// Opens the console with the admin token in the fragment.
pub(super) async fn open_console(b: &Browser, gw: &Gateway) {
    b.goto(&gw.admin(&format!("/#token={ADMIN_TOKEN}"))).await;
}

/// Types `q` into the event-ID filter, searches, and waits for exactly the rows `ids`.
pub(super) async fn search(b: &Browser, q: &str, ids: &[&str]) {
    b.type_into("#f-q", q).await;
    b.click("#search").await;
    rows_are(b, ids).await;
}

/// Waits until the routes table shows `limai` in `state`.
pub(super) async fn route_state(b: &Browser, state: &str) {
    b.wait_for(
        &format!("route limai {state}"),
        WAIT,
        &format!(
            "const s = document.querySelector('#routes-body tr[data-route=limai] .route-state'); \
             return s !== null && s.textContent === '{state}';"
        ),
    )
    .await;
}

/// Clicks (a real WebDriver click) the link of the event `id` in the list. The live refresh
/// may render the list again between marking the link and clicking it: then again.
pub(super) async fn open_event(b: &Browser, id: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let found = b
            .exec(
                "const row = [...document.querySelectorAll('#events-body tr')]
                     .find(r => r.dataset.eventId === arguments[0]);
                 if (!row) return false;
                 row.querySelector('.event-link').dataset.testTarget = '1';
                 return true;",
                json!([id]),
            )
            .await;
        assert_eq!(found, true, "no row for {id}");
        if b.try_click("[data-test-target]").await {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the row of {id} was replaced every time"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    b.wait_for(
        "the event page",
        WAIT,
        "return !document.getElementById('event').hidden;",
    )
    .await;
}

/// Markup a sender controls: the event ID, a header and the body.
pub(super) const ID_PAYLOAD: &str =
    r#"<img src=x onerror="window.__pwned=1;alert(1)"><script>window.__pwned=2</script>"#;
pub(super) const HEADER_PAYLOAD: &str =
    r#"<script>window.__pwned=3</script><img src=x onerror=alert(3)>"#;
pub(super) const BODY_PAYLOAD: &str = r#"<img src=x onerror=\"window.__pwned=4;alert(4)\"><svg onload=alert(5)></svg><script>window.__pwned=5</script>"#;

/// Nothing the sender wrote ran or became an element.
pub(super) async fn nothing_ran(b: &Browser, when: &str) {
    let seen = b
        .exec(
            "return {
                pwned: window.__pwned === undefined ? null : window.__pwned,
                imgs: document.querySelectorAll('img, svg, iframe, object, embed').length,
                scripts: [...document.scripts].map(s => s.getAttribute('src')),
                csp: window.__csp,
            };",
            json!([]),
        )
        .await;
    assert_eq!(
        seen,
        json!({ "pwned": null, "imgs": 0, "scripts": ["/console/app.js"], "csp": [] }),
        "{when}"
    );
    assert_eq!(b.alert().await, None, "{when}: an alert opened");
}

/// Waits for the login form, and checks the page shows nothing else.
pub(super) async fn locked(b: &Browser) {
    b.wait_for(
        "the login form",
        WAIT,
        "return !document.getElementById('login').hidden;",
    )
    .await;
    assert!(!page_reveals(b).await);
}

/// Whether the page shows anything the test sent or configured.
pub(super) async fn page_reveals(b: &Browser) -> bool {
    let text = b
        .exec(
            "return document.body.textContent + ' ' + document.body.innerText;",
            json!([]),
        )
        .await;
    let text = text.as_str().unwrap();
    text.contains("evt-secret-7") || text.contains("limai") || text.contains("/hooks/")
}

/// Whether the event page's `button` is shown.
pub(super) async fn shown(b: &Browser, button: &str) -> bool {
    b.exec(
        "return !document.getElementById(arguments[0]).hidden;",
        json!([button]),
    )
    .await
        == true
}

/// Waits until the event page shows `state`.
pub(super) async fn page_state(b: &Browser, state: &str) {
    b.wait_for(
        &format!("the event page showing {state}"),
        WAIT,
        &format!("return (() => {{ {} }})() === '{state}';", field("State")),
    )
    .await;
}
