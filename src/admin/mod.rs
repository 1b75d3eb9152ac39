//! The admin listener: health, readiness, metrics, and the operator's API over events and
//! dead letters.
//!
//! GET  /, /console/*          the operator's console (static shell: open; its data: the API)
//! GET  /healthz                 liveness, loaded config hash, last reload error   (open)
//! GET  /readyz                  200 when the store takes writes and we are not shutting down (open)
//! GET  /metrics                 Prometheus text format                             (open)
//! GET  /dlq?route=&after=&limit=   dead letters, a page at a time
//! POST /dlq/replay?route=       replay every dead letter (of a route): a bulk operation
//! POST /dlq/{id}/replay?route=  replay one dead letter
//! /events...                    the events API (`events`: list, detail, replay, cancel, purge)
//! DELETE /dlq?<filters>         purge dead letters
//! GET  /routes                  every route: mode, state (configured and in effect), queue;
//!                               and routes removed by a reload that still hold events
//! POST /routes/{name}/pause     hold deliveries of a route (it still accepts and stores)
//! POST /routes/{name}/resume    deliver again (also takes a disabled route back into service)

mod auth;
mod console;
mod events;
mod params;

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use http::{Method, Response, StatusCode};
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use serde_json::{Value, json};

use crate::app::App;
use crate::deliver::stranded;
use crate::event::now_ms;
use crate::metrics::METRICS;
use crate::routing::{Mode, RouteState};
use crate::store::{Replay, RouteStats, StateClass, StoreError};

use self::events::Bulk;
use self::params::Query;

const MAX_PAGE: usize = 1000;

pub struct Admin {
    app: Arc<App>,
    /// Held while a scrape sets the gauges and reads them back; the routes whose queue gauges
    /// the last one set.
    scrape: std::sync::Mutex<BTreeSet<String>>,
}

impl Admin {
    pub fn new(app: Arc<App>) -> Admin {
        Admin {
            app,
            scrape: std::sync::Mutex::new(BTreeSet::new()),
        }
    }
}

/// Sets the queue gauges of the routes in `stats`, and drops those of the routes `reported` by
/// the last scrape that the store no longer reports: a removed route, once emptied (cancelled,
/// purged), leaves the stats, and its last depth and age would stay (`HookgateQueueStuck`).
fn queue_gauges(reported: &mut BTreeSet<String>, stats: &[RouteStats], now: u64) {
    let now_reported: BTreeSet<String> = stats.iter().map(|s| s.route.clone()).collect();
    for gone in reported.difference(&now_reported) {
        let _ = METRICS.queue_depth.remove_label_values(&[gone]);
        let _ = METRICS.dead_letters.remove_label_values(&[gone]);
        let _ = METRICS.queue_oldest_age.remove_label_values(&[gone]);
    }
    for s in stats {
        METRICS
            .queue_depth
            .with_label_values(&[&s.route])
            .set(s.pending as i64);
        METRICS
            .dead_letters
            .with_label_values(&[&s.route])
            .set(s.dead as i64);
        let age = s
            .oldest_received_ms
            .map_or(0.0, |t| now.saturating_sub(t) as f64 / 1000.0);
        METRICS
            .queue_oldest_age
            .with_label_values(&[&s.route])
            .set(age);
    }
    *reported = now_reported;
}

fn reply(status: StatusCode, content_type: &str, body: Vec<u8>) -> Response<Vec<u8>> {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    let len = r.body().len();
    let h = r.headers_mut();
    if let Ok(v) = content_type.parse() {
        h.insert(http::header::CONTENT_TYPE, v);
    }
    h.insert(http::header::CONTENT_LENGTH, len.into());
    // Answers carry senders' bodies and headers: never sniffed as HTML, never cached.
    h.insert(
        http::header::X_CONTENT_TYPE_OPTIONS,
        http::HeaderValue::from_static("nosniff"),
    );
    h.insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    r
}

fn json_reply(status: StatusCode, v: &Value) -> Response<Vec<u8>> {
    reply(status, "application/json", v.to_string().into_bytes())
}

fn error(status: StatusCode, code: &str, detail: impl Into<String>) -> Response<Vec<u8>> {
    let body = crate::wire::error_body(code, &detail.into());
    reply(status, "application/json", body.into_bytes())
}

fn store_error(e: &StoreError) -> Response<Vec<u8>> {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "store_unavailable",
        e.to_string(),
    )
}

fn decode_segment(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

#[async_trait]
impl ServeHttp for Admin {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let req = session.req_header();
        let method = req.method.clone();
        let path = req.uri.path().to_string();
        let query = Query::parse(req.uri.query());
        if !auth::is_open(&path)
            && let Err(d) = auth::check(
                &req.headers,
                self.app.config.load().server.admin_token.as_ref(),
            )
        {
            let mut r = error(d.status, d.code, d.detail);
            if d.status == StatusCode::UNAUTHORIZED {
                r.headers_mut().insert(
                    http::header::WWW_AUTHENTICATE,
                    http::HeaderValue::from_static("Bearer"),
                );
            }
            return r;
        }
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        if let Err(r) = query.only(params::allowed(&method, &segments)) {
            return r.reply();
        }
        match (&method, segments.as_slice()) {
            (&Method::GET, [""] | ["console", _]) => console::serve(&path),
            (&Method::GET, ["healthz"]) => {
                let cfg = self.app.config.load();
                self.healthz(auth::check(&req.headers, cfg.server.admin_token.as_ref()).is_ok())
            }
            (&Method::GET, ["readyz"]) => self.readyz(),
            (&Method::GET, ["metrics"]) => self.metrics().await,
            (&Method::GET, ["dlq"]) => self.dlq(&query).await,
            (&Method::POST, ["dlq", "replay"]) => self.replay_dead(&query).await,
            (&Method::POST, ["dlq", id, "replay"]) => {
                self.replay_one(&decode_segment(id), &query).await
            }
            (&Method::GET, ["events"]) => self.list_events(&query).await,
            (&Method::POST, ["events", "replay"]) => self.bulk(Bulk::Replay, &query).await,
            (&Method::POST, ["events", "cancel"]) => self.bulk(Bulk::Cancel, &query).await,
            (&Method::DELETE, ["dlq"]) => self.bulk(Bulk::Purge, &query).await,
            (&Method::GET, ["events", id]) => self.event_detail(&decode_segment(id), &query).await,
            (&Method::DELETE, ["events", id]) => self.purge_one(&decode_segment(id), &query).await,
            (&Method::POST, ["events", id, "replay"]) => {
                self.replay_one(&decode_segment(id), &query).await
            }
            (&Method::POST, ["events", id, "cancel"]) => {
                self.cancel_one(&decode_segment(id), &query).await
            }
            (&Method::GET, ["routes"]) => self.routes().await,
            (&Method::POST, ["routes", name, "pause"]) => {
                self.set_state(&decode_segment(name), RouteState::Paused)
                    .await
            }
            (&Method::POST, ["routes", name, "resume"]) => {
                self.set_state(&decode_segment(name), RouteState::Active)
                    .await
            }
            (
                _,
                ["" | "healthz" | "readyz" | "metrics" | "dlq" | "routes"]
                | ["console", _]
                | ["dlq", "replay"]
                | ["dlq", _, "replay"]
                | ["events"]
                | ["events", _]
                | ["events", _, "replay" | "cancel"]
                | ["routes", _, "pause" | "resume"],
            ) => error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!("{method} is not allowed on {path}"),
            ),
            _ => error(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no admin endpoint {path}"),
            ),
        }
    }
}

impl Admin {
    /// Open (probes carry no token), so without the admin token's say it tells only that a
    /// reload failed, not the file's path nor the error's text (which quotes the file).
    fn healthz(&self, authorized: bool) -> Response<Vec<u8>> {
        let cfg = self.app.config.load();
        let error = self.app.life.last_reload_error();
        let mut body = json!({
            "status": "ok",
            "config_hash": cfg.hash,
            // Over the file and the secret values it resolved: changes when a rotated
            // secret file is picked up. Never the values, never a plain hash of one.
            "effective_config_hash": cfg.effective_hash,
            "last_reload_failed": error.is_some(),
        });
        if authorized {
            body["config_path"] = json!(cfg.source.display().to_string());
            body["last_reload_error"] = json!(error);
        }
        json_reply(StatusCode::OK, &body)
    }

    fn readyz(&self) -> Response<Vec<u8>> {
        let reason = if self.app.life.shutting_down() {
            Some("shutting down")
        } else if !self.app.store.ready() {
            Some("store unavailable")
        } else {
            None
        };
        match reason {
            None => json_reply(StatusCode::OK, &json!({ "ready": true })),
            Some(r) => json_reply(
                StatusCode::SERVICE_UNAVAILABLE,
                &json!({ "ready": false, "reason": r }),
            ),
        }
    }

    async fn metrics(&self) -> Response<Vec<u8>> {
        let cfg = self.app.config.load_full();
        // Routes removed by a reload too: their events are still queued.
        let routes = stranded::names(&cfg);
        // Asked before the lock: scrapes wait on the store side by side, not in a queue.
        let stats = self.app.store.stats(&routes).await;
        let now = now_ms();
        // The gauges are set from this scrape's config and store figures, then read, under
        // one lock (nothing awaited inside): a scrape never shows another's values.
        let mut reported = crate::lock::lock(&self.scrape);
        METRICS
            .rate_limit_clients
            .set(self.app.rate_limits.tracked_keys() as i64);
        let dropped = crate::logline::dropped_lines();
        METRICS
            .log_dropped
            .inc_by(dropped.saturating_sub(METRICS.log_dropped.get()));
        METRICS.running_config(
            cfg.loaded_at,
            cfg.routes
                .iter()
                .map(|r| (r.name.as_str(), self.app.states.effective(r).as_str())),
        );
        // A store that cannot answer leaves the gauges at their last values; /readyz says why.
        if let Ok(stats) = stats {
            if !stats.is_empty() {
                stranded::observe(&cfg, &stats);
            }
            queue_gauges(&mut reported, &stats, now);
        }
        reply(
            StatusCode::OK,
            "text/plain; version=0.0.4",
            METRICS.encode(),
        )
    }

    /// The route asked for (even one no longer configured: it may still hold events), or all.
    fn route_names(&self, query: &Query) -> Vec<String> {
        match query.value("route") {
            Some(r) => vec![r.to_string()],
            _ => self.app.config.load().routes.names(),
        }
    }

    async fn dlq(&self, query: &Query) -> Response<Vec<u8>> {
        let limit = match params::page_limit(query.get("limit"), 100, MAX_PAGE) {
            Ok(n) => n,
            Err(r) => return r.reply(),
        };
        match self
            .app
            .store
            .dead_letters(&self.route_names(query), query.get("after"), limit)
            .await
        {
            Ok(page) => json_reply(StatusCode::OK, &json!(page)),
            Err(e) => events::list_error(&e),
        }
    }

    async fn replay_one(&self, id: &str, query: &Query) -> Response<Vec<u8>> {
        let route = match self.route_of(id, query, StateClass::Dead).await {
            Ok(r) => r,
            Err(r) => return r,
        };
        match self.app.store.replay(&route, id).await {
            Ok(Replay::Replayed) => {
                tracing::info!(%route, event_id = %id, "dead letter replayed");
                json_reply(
                    StatusCode::OK,
                    &json!({ "replayed": 1, "route": route, "event_id": id }),
                )
            }
            Ok(Replay::NotDead) => error(
                StatusCode::CONFLICT,
                "not_dead",
                format!("{id:?} on route {route} is not a dead letter"),
            ),
            Ok(Replay::NotFound) => error(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no dead letter {id:?} on route {route}"),
            ),
            Ok(Replay::Lost) => error(
                StatusCode::CONFLICT,
                "lost",
                format!(
                    "{id:?} on route {route} was lost to damage on disk: there is nothing to \
                     replay; ask its sender to send it again"
                ),
            ),
            Err(e) => store_error(&e),
        }
    }

    async fn routes(&self) -> Response<Vec<u8>> {
        let cfg = self.app.config.load_full();
        let names = stranded::names(&cfg);
        if let Err(e) = self.app.states.refresh(self.app.store.as_ref()).await {
            return store_error(&e);
        }
        let stats = match self.app.store.stats(&names).await {
            Ok(s) => s,
            Err(e) => return store_error(&e),
        };
        let now = now_ms();
        let list: Vec<Value> = cfg
            .routes
            .iter()
            .map(|r| {
                let st = stats.iter().find(|s| s.route == r.name);
                let oldest = st.and_then(|s| s.oldest_received_ms);
                json!({
                    "name": r.name,
                    "path": r.path,
                    "upstream": r.upstream.name,
                    "mode": match r.mode { Mode::Async => "async", Mode::Sync { .. } => "sync" },
                    "state": self.app.states.effective(r).as_str(),
                    "configured_state": r.state.as_str(),
                    "pending": st.map_or(0, |s| s.pending),
                    "oldest_pending_at": oldest.map(crate::event::rfc3339_ms),
                    "oldest_age_ms": oldest.map(|t| now.saturating_sub(t)),
                    "dead": st.map_or(0, |s| s.dead),
                })
            })
            .collect();
        // Never silently stranded: what routes removed by a reload still hold.
        let removed: Vec<Value> = stranded::removed(&cfg, &stats)
            .into_iter()
            .map(|s| {
                json!({
                    "name": s.route,
                    "pending": s.pending,
                    "dead": s.dead,
                    "note": "no longer configured: events are kept and delivered if the route is configured again",
                })
            })
            .collect();
        json_reply(
            StatusCode::OK,
            &json!({ "routes": list, "removed_routes": removed }),
        )
    }

    async fn set_state(&self, name: &str, state: RouteState) -> Response<Vec<u8>> {
        let cfg = self.app.config.load_full();
        let Some(route) = cfg.routes.iter().find(|r| r.name == name) else {
            return error(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no route named {name:?}"),
            );
        };
        if let Err(e) = self
            .app
            .states
            .set(self.app.store.as_ref(), route, state)
            .await
        {
            return store_error(&e);
        }
        tracing::info!(route = %name, state = state.as_str(), "route state set through the admin API");
        if state == RouteState::Active {
            // Held events are due now.
            self.app.store.work_signal().due();
        }
        json_reply(
            StatusCode::OK,
            &json!({ "route": name, "state": self.app.states.effective(route).as_str() }),
        )
    }
}
