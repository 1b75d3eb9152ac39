//! A real headless Chromium, driven through chromedriver over W3C WebDriver. The protocol is
//! JSON over HTTP, so reqwest (already a dependency) is the whole client: no WebDriver crate,
//! nothing more to build.
//!
//! Absent Chromium is a skip with a message, unless `HOOKGATE_REQUIRE_BROWSER=1`
//! (scripts/test sets it: it has installed the packages, so there it is a failure).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The key WebDriver names an element reference with.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Chromium's command line: headless, its own profile, and no connection of its own beyond this
/// machine. Left to itself Chromium reaches out at every start (component and safe-browsing
/// updates, sync, field trials, domain reliability, optimization hints, translate); here only
/// loopback exists, and the tests must not send anything elsewhere. The host resolver maps every
/// name but the loopback address to "not found", so nothing the page names can leave either.
fn chromium_args(profile: &Path) -> Vec<String> {
    [
        "--headless=new",
        // Tests run as root in containers, where Chromium's sandbox cannot start.
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--disable-default-apps",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-domain-reliability",
        "--disable-client-side-phishing-detection",
        "--disable-breakpad",
        "--no-pings",
        "--disable-quic",
        "--disable-features=OptimizationHints,Translate,MediaRouter,DialMediaRouteProvider,\
         AutofillServerCommunication,CertificateTransparencyComponentUpdater,\
         InterestFeedContentSuggestions,NetworkTimeServiceQuerying",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
        "--window-size=1280,1000",
    ]
    .into_iter()
    .map(String::from)
    .chain([format!("--user-data-dir={}", profile.display())])
    .collect()
}

#[test]
fn chromium_is_started_without_connections_of_its_own() {
    let args = chromium_args(Path::new("/tmp/profile"));
    for flag in [
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-default-apps",
        "--disable-domain-reliability",
        "--disable-client-side-phishing-detection",
        "--no-pings",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
        "--user-data-dir=/tmp/profile",
    ] {
        assert!(args.iter().any(|a| a == flag), "{flag} missing: {args:?}");
    }
    let features = args
        .iter()
        .find_map(|a| a.strip_prefix("--disable-features="))
        .expect("--disable-features");
    for f in [
        "OptimizationHints",
        "Translate",
        "MediaRouter",
        "AutofillServerCommunication",
    ] {
        assert!(
            features.split(',').any(|x| x == f),
            "{f} not disabled: {features}"
        );
    }
    // One flag each: a second --disable-features would replace the first.
    assert_eq!(
        args.iter()
            .filter(|a| a.starts_with("--disable-features="))
            .count(),
        1
    );
}

pub struct Browser {
    driver: Child,
    port: u16,
    session: String,
    http: reqwest::Client,
    _profile: tempfile::TempDir,
}

fn on_path(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    names.iter().find_map(|n| {
        std::env::split_paths(&path)
            .map(|d| d.join(n))
            .find(|p| p.is_file())
    })
}

fn program(var: &str, names: &[&str]) -> Option<PathBuf> {
    std::env::var_os(var)
        .map(PathBuf::from)
        .filter(|p| p.is_file())
        .or_else(|| on_path(names))
}

impl Browser {
    /// A fresh browser (its own profile), or `None` after saying why the test is skipped.
    pub async fn start(test: &str) -> Option<Browser> {
        let chromium = program(
            "HOOKGATE_CHROMIUM",
            &["chromium", "chromium-browser", "google-chrome"],
        );
        let driver = program("HOOKGATE_CHROMEDRIVER", &["chromedriver"]);
        let (Some(chromium), Some(driver)) = (chromium, driver) else {
            let why = "chromium and chromedriver are not installed (Debian: apt-get install \
                       chromium chromium-driver; scripts/test installs them)";
            if std::env::var("HOOKGATE_REQUIRE_BROWSER").as_deref() == Ok("1") {
                panic!("{test}: {why}");
            }
            // Straight to stderr: libtest's capture would hide eprintln! of a passing test.
            let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
            return None;
        };
        Some(Self::launch(&chromium, &driver).await)
    }

    async fn launch(chromium: &Path, driver: &Path) -> Browser {
        let port = super::free_port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn chromedriver");
        let profile = tempfile::tempdir().expect("profile dir");
        let mut b = Browser {
            driver: child,
            port,
            session: String::new(),
            http: super::client(),
            _profile: profile,
        };
        let ready = super::eventually(Duration::from_secs(20), async || {
            let r = b.http.get(b.url("/status")).send().await.ok()?;
            let v: Value = r.json().await.ok()?;
            (v["value"]["ready"] == true).then_some(())
        })
        .await;
        assert!(ready.is_some(), "chromedriver did not start");
        let args = chromium_args(b._profile.path());
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            // An alert stays open for the test to see (the XSS test asserts there is none).
            "unhandledPromptBehavior": "ignore",
            "goog:chromeOptions": { "binary": chromium, "args": args },
            "goog:loggingPrefs": { "browser": "ALL" },
        }}});
        let v = b.call("POST", "/session", caps).await;
        b.session = v["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {v}"))
            .to_string();
        b
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// One WebDriver command; its `value`, or a panic with WebDriver's error.
    async fn call(&self, method: &str, path: &str, body: Value) -> Value {
        match self.try_call(method, path, body).await {
            Ok(v) => v,
            Err(e) => panic!("WebDriver {method} {path}: {e}"),
        }
    }

    async fn try_call(&self, method: &str, path: &str, body: Value) -> Result<Value, Value> {
        let req = match method {
            "GET" => self.http.get(self.url(path)),
            "DELETE" => self.http.delete(self.url(path)),
            _ => self.http.post(self.url(path)).json(&body),
        };
        let r = req
            .timeout(Duration::from_secs(60))
            .send()
            .await
            .expect("chromedriver");
        let ok = r.status().is_success();
        let v: Value = r.json().await.expect("WebDriver JSON");
        if ok {
            Ok(v["value"].clone())
        } else {
            Err(v["value"].clone())
        }
    }

    fn session(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    pub async fn goto(&self, url: &str) {
        self.call("POST", &self.session("/url"), json!({ "url": url }))
            .await;
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page.
    pub async fn exec(&self, script: &str, args: Value) -> Value {
        self.call(
            "POST",
            &self.session("/execute/sync"),
            json!({ "script": script, "args": args }),
        )
        .await
    }

    /// Polls `script` until it returns something other than null/false, or panics after
    /// `timeout` with `what` and the page's text.
    pub async fn wait_for(&self, what: &str, timeout: Duration, script: &str) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.exec(script, json!([])).await;
            if !(v.is_null() || v == false) {
                return v;
            }
            if Instant::now() > deadline {
                let page = self.text("body").await;
                panic!("waited {timeout:?} for {what}; the page shows:\n{page}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The first element matching `css`.
    pub async fn find(&self, css: &str) -> String {
        self.try_find(css)
            .await
            .unwrap_or_else(|| panic!("no element {css}"))
    }

    /// The first element matching `css`, if there is one.
    async fn try_find(&self, css: &str) -> Option<String> {
        let found = self
            .try_call(
                "POST",
                &self.session("/element"),
                json!({ "using": "css selector", "value": css }),
            )
            .await;
        match found {
            Ok(v) => v[ELEMENT].as_str().map(str::to_string),
            Err(v) if v["error"] == "no such element" => None,
            Err(v) => panic!("WebDriver find {css}: {v}"),
        }
    }

    /// A real click (WebDriver moves the pointer there), on the first element matching `css`.
    /// Found again when a refresh replaced it between finding and clicking.
    pub async fn click(&self, css: &str) {
        for _ in 0..5 {
            if self.try_click(css).await {
                return;
            }
        }
        panic!("{css} was missing or replaced five times while clicking it");
    }

    /// As `click`, once: `false` when no element matches or the one found was replaced
    /// before the click (the page re-rendered it), for the caller to try again.
    pub async fn try_click(&self, css: &str) -> bool {
        let Some(e) = self.try_find(css).await else {
            return false;
        };
        let path = self.session(&format!("/element/{e}/click"));
        match self.try_call("POST", &path, json!({})).await {
            Ok(_) => true,
            Err(v) if v["error"] == "stale element reference" => false,
            Err(v) => panic!("WebDriver click {css}: {v}"),
        }
    }

    /// Types `text` into the first element matching `css`, as a keyboard would.
    pub async fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        self.call(
            "POST",
            &self.session(&format!("/element/{e}/clear")),
            json!({}),
        )
        .await;
        self.call(
            "POST",
            &self.session(&format!("/element/{e}/value")),
            json!({ "text": text }),
        )
        .await;
    }

    /// The rendered text of the first element matching `css`.
    pub async fn text(&self, css: &str) -> String {
        let e = self.find(css).await;
        self.call(
            "GET",
            &self.session(&format!("/element/{e}/text")),
            json!({}),
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_string()
    }

    /// The text of an open alert/confirm/prompt, if one is open.
    pub async fn alert(&self) -> Option<String> {
        self.try_call("GET", &self.session("/alert/text"), json!({}))
            .await
            .ok()
            .map(|v| v.as_str().unwrap_or_default().to_string())
    }

    /// Messages the page logged to the console (CSP violations among them).
    pub async fn console_log(&self) -> Vec<String> {
        match self
            .try_call(
                "POST",
                &self.session("/se/log"),
                json!({ "type": "browser" }),
            )
            .await
        {
            Ok(Value::Array(entries)) => entries
                .iter()
                .map(|e| e["message"].as_str().unwrap_or_default().to_string())
                .collect(),
            _ => Vec::new(),
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ends Chromium through its driver (a killed driver can leave the browser running);
        // plain blocking I/O: Drop cannot await, and this also runs when a test panics.
        if !self.session.is_empty()
            && let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port))
        {
            let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
            let _ = write!(
                s,
                "DELETE /session/{} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                self.session
            );
            let _ = s.read_to_end(&mut Vec::new());
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
