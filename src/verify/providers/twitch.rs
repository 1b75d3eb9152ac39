//! Twitch EventSub: `Twitch-Eventsub-Message-Signature: sha256=<hex HMAC-SHA256 of message id +
//! timestamp + body>`, the timestamp RFC 3339 in `Twitch-Eventsub-Message-Timestamp`, 10-minute
//! window; answers a `webhook_callback_verification` with the challenge as `text/plain`, told
//! by its signed body (it has `challenge`), never by the unsigned `Twitch-Eventsub-Message-Type`.

use std::time::{Duration, UNIX_EPOCH};

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "twitch",
    keys: &["secrets", "tolerance"],
    window: Some(600),
    event_id: "header:Twitch-Eventsub-Message-Id",
    methods: POST,
    about: About {
        headers: &["Twitch-Eventsub-Message-Signature", "Twitch-Eventsub-Message-Id", "Twitch-Eventsub-Message-Timestamp"],
        scheme: "HMAC-SHA256 of message id + timestamp + body, hex, `sha256=` prefix",
        handshake: "signed body with challenge (webhook_callback_verification) answered with it (text/plain), whatever the type header says",
    },
    sample: r#"{"subscription":{"id":"f1c2a387-161a-49f9-a165-0f21d7a4e1c4","type":"channel.follow","version":"2","status":"enabled","cost":0,"condition":{"broadcaster_user_id":"1337","moderator_user_id":"1337"},"transport":{"method":"webhook","callback":"https://example.com/webhooks/callback"},"created_at":"2019-11-16T10:11:12.634234626Z"},"event":{"user_id":"{id}","user_login":"awesome_user","user_name":"Awesome_User","broadcaster_user_id":"1337","broadcaster_user_login":"cooler_user","broadcaster_user_name":"Cooler_User","followed_at":"2020-07-15T18:16:11.17106713Z"}}"#,
    samples: &[],
    verify,
    sign,
};

const ID: &str = "Twitch-Eventsub-Message-Id";
const TS: &str = "Twitch-Eventsub-Message-Timestamp";

fn verify(s: &Settings) -> Built {
    let check = hmac(HmacSpec {
        payload: template(&format!("{{header:{ID}}}{{header:{TS}}}{{body}}")),
        timestamp: Some(TimestampCheck {
            // RFC 3339, which the header timestamp reader takes.
            source: TsSource::Header(vec![h("twitch-eventsub-message-timestamp")]),
            tolerance: s.window(),
        }),
        // Twitch's sample code compares the lowercase hex text.
        ..HmacSpec::simple(
            Algorithm::Sha256,
            s.secrets.clone(),
            header("twitch-eventsub-message-signature", Some("sha256=")),
            Encoding::HexLower,
        )
    })?;
    Ok((check, Some(Handshake::Challenge(Challenge::Twitch))))
}

fn sign(d: &mut Draft<'_>) -> Result<(), String> {
    let id = uuid();
    let ts = humantime::format_rfc3339_nanos(UNIX_EPOCH + Duration::from_secs(d.now)).to_string();
    let mac = d.hmac(Algorithm::Sha256, &[id.as_bytes(), ts.as_bytes(), &d.body])?;
    d.header(ID, id);
    d.header(TS, ts);
    d.header("Twitch-Eventsub-Message-Signature", format!("sha256={}", hex::encode(mac)));
    Ok(())
}
