"""gen_sdk.py's HMAC providers with a replay window (stripe, slack, standard-webhooks, svix,
gitlab-signing, paddle, mailgun): the SDK's MAC covers a timestamp (mailgun: and a token), so the SDK
is called with the clock frozen at "now".
"""

import base64
import hashlib
import hmac
import json
from datetime import datetime, timezone
from urllib.parse import parse_qsl, urlencode

from sdk_common import frozen, maker
from vecs import (T0, ci_get, change_one_byte, compact, grow, headers_dict, json_response, pretty, reindent,
                  upper_hex, without, write)

import stripe
from stripe import SignatureVerificationError
from stripe._webhook import WebhookSignature
from slack_sdk.signature import Clock, SignatureVerifier
import standardwebhooks
import svix.webhooks
from paddle_billing.Notifications import Secret, Verifier
from paddle_billing.Notifications.PaddleSignature import PaddleSignature
from mailgun.security import SecurityGuard


# --------------------------------------------------------------------------------------------
# Stripe: stripe-python WebhookSignature.generate_signature_header / verify_header (tolerance 300)
# --------------------------------------------------------------------------------------------
def stripe_vectors():
    secret = "whsec_5f1c8a3e0b7d4e6a9c2f1b8d7e6a5c4b3a2f1e0d9c8b7a6f"
    other = "whsec_0000000000000000000000000000000000000000000000"
    V = f"stripe {stripe.VERSION}"

    def judge(body, headers, now, path, k):
        with frozen(now):
            try:
                return WebhookSignature.verify_header(body, ci_get(headers, "Stripe-Signature"), k["secret"], 300)
            except SignatureVerificationError:
                return False

    def event(pad=None):
        ev = {
            "id": "evt_3SOy8fLkdIwHu7ix1eZbB2Qk",
            "object": "event",
            "api_version": "2025-10-29.clover",
            "created": T0 - 1,
            "data": {"object": {
                "id": "pi_3SOy8fLkdIwHu7ix1TdKYk2n", "object": "payment_intent", "amount": 2000,
                "amount_received": 2000, "currency": "usd", "customer": "cus_TLc4VzXzDfh0uS",
                "description": "Order #1042", "livemode": False,
                "metadata": {"order_id": "1042"} if pad is None else {"order_id": "1042", "notes": pad},
                "payment_method": "pm_1SOy8eLkdIwHu7ixTq3wVnPQ", "status": "succeeded"}},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": "req_8QvS1DZk4Nq2Lm", "idempotency_key": "b5f3c1f0-8d5e-4c61-9f0a-3f1d2c6e7a81"},
            "type": "payment_intent.succeeded",
        }
        return pretty(ev)  # Stripe sends 2-space indented JSON

    def hdrs(sig):
        return [["Content-Type", "application/json; charset=utf-8"],
                ["User-Agent", "Stripe/1.0 (+https://stripe.com/docs/webhooks)"],
                ["Stripe-Signature", sig]]

    def sign(body, ts=T0, key=secret):
        return WebhookSignature.generate_signature_header(body.decode(), key, timestamp=ts)

    mk, out = maker("stripe", judge, secret=secret)
    gen = f"signed with {V} WebhookSignature.generate_signature_header, judged by WebhookSignature.verify_header(tolerance=300)"
    body = event()
    sig = sign(body)
    v1 = sig.split("v1=")[1]
    mk("valid", f"payment_intent.succeeded event; {gen}", body, hdrs(sig), expect=True)
    big = grow(lambda p: event(p))
    mk("valid_1mib", f"~1 MiB event; {gen}", big, hdrs(sign(big)), expect=True)
    mk("valid_empty_body", f"empty body signed as t.'' ; {gen}", b"", hdrs(sign(b"")), expect=True)
    mk("wrong_secret", f"signed with another whsec_ secret; {gen}", body, hdrs(sign(body, key=other)), expect=False)
    mk("body_changed_one_byte", f"one digit of the body changed after signing; {gen}", change_one_byte(body), hdrs(sig), expect=False)
    mk("json_reindented", f"body re-serialised compact, original signature; {gen}", reindent(body), hdrs(sig), expect=False)
    mk("stale_timestamp", f"now = t + 301 s; {gen}", body, hdrs(sig), now=T0 + 301, expect=False)
    mk("future_timestamp", f"now = t - 3600 s: verify_header only rejects old t, so the SDK ACCEPTS a far-future t (reject as policy); {gen}",
       body, hdrs(sig), now=T0 - 3600, expect=True)
    mk("missing_signature_header", f"no Stripe-Signature; verify_header raises; {gen}", body, without(hdrs(sig), "Stripe-Signature"), expect=False)
    mk("malformed_signature_header", f"garbage header; verify_header raises 'Unable to extract'; {gen}", body, hdrs("garbage"), expect=False)
    mk("malformed_signature_wrong_scheme", f"valid HMAC but under v0= only (no v1); {gen}", body, hdrs(f"t={T0},v0={v1}"), expect=False)
    mk("malformed_signature_truncated", f"v1 hex truncated to 63 chars; {gen}", body, hdrs(f"t={T0},v1={v1[:-1]}"), expect=False)
    bad = sign(body, key=other).split("v1=")[1]
    mk("multiple_signatures_one_valid", f"t=,v1=<other secret>,v1=<valid>,v0=<junk> (secret roll); {gen}", body,
       hdrs(f"t={T0},v1={bad},v1={v1},v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39"), expect=True)
    mk("uppercase_hex", f"v1 hex upper-cased; secure_compare is exact; {gen}", body, hdrs(f"t={T0},v1={v1.upper()}"), expect=False)
    write("stripe", out)


# --------------------------------------------------------------------------------------------
# Slack: slack_sdk SignatureVerifier.generate_signature / is_valid (300 s both ways)
# --------------------------------------------------------------------------------------------
def slack_vectors():
    import slack_sdk.version
    secret = "8f742231b10e8888abcd99yyyzzz85a5"
    other = "e6b19c573432dcc6b075501d51b51bb8"
    V = f"slack_sdk {slack_sdk.version.__version__}"

    class FixedClock(Clock):
        def __init__(self, now):
            self._now = now

        def now(self):
            return float(self._now)

    def judge(body, headers, now, path, k):
        return SignatureVerifier(k["secret"], clock=FixedClock(now)).is_valid(
            body, ci_get(headers, "X-Slack-Request-Timestamp"), ci_get(headers, "X-Slack-Signature"))

    def sign(body, ts=T0, key=secret):
        return SignatureVerifier(key).generate_signature(timestamp=str(ts), body=body)

    def hdrs(sig, ct="application/json", ts=T0):
        h = [["Content-Type", ct], ["User-Agent", "Slackbot 1.0 (+https://api.slack.com/robots)"],
             ["X-Slack-Request-Timestamp", str(ts)], ["X-Slack-Signature", sig]]
        return h

    def event(pad=None):
        text = "Deploy finished :tada:" if pad is None else pad
        return compact({
            "token": "XXYYZZ", "team_id": "T0ABCDEF1", "api_app_id": "A0KRD7HC3",
            "event": {"type": "message", "channel": "C0LAN2Q65", "user": "U061F7AUR", "text": text,
                      "ts": f"{T0 - 1}.000200", "event_ts": f"{T0 - 1}.000200", "channel_type": "channel"},
            "type": "event_callback", "event_id": "Ev0PV52K21", "event_time": T0 - 1,
            "authorizations": [{"enterprise_id": None, "team_id": "T0ABCDEF1", "user_id": "U0BOTUSER", "is_bot": True}],
        })

    mk, out = maker("slack", judge, secret=secret)
    gen = f"signed with {V} SignatureVerifier.generate_signature, judged by SignatureVerifier.is_valid (clock frozen at now)"
    body = event()
    sig = sign(body)
    mk("valid", f"Events API event_callback (event_id); {gen}", body, hdrs(sig), expect=True)
    form = urlencode([("token", "gIkuvaNzQIHg97ATvDxqgjtO"), ("team_id", "T0001"), ("team_domain", "example"),
                      ("enterprise_id", "E0001"), ("enterprise_name", "Globular Construct Inc"),
                      ("channel_id", "C2147483705"), ("channel_name", "test"), ("user_id", "U2147483697"),
                      ("user_name", "Steve"), ("command", "/weather"), ("text", "94070"),
                      ("response_url", "https://hooks.slack.com/commands/1234/5678"),
                      ("trigger_id", "13345224609.738474920.8088930838d88f008e0"), ("api_app_id", "A123456")]).encode()
    mk("valid_slash_command", f"form-encoded slash command; {gen}", form,
       hdrs(sign(form), ct="application/x-www-form-urlencoded"), expect=True)
    big = grow(lambda p: event(p))
    mk("valid_1mib", f"~1 MiB event; {gen}", big, hdrs(sign(big)), expect=True)
    mk("valid_empty_body", f"empty body; {gen}", b"", hdrs(sign(b"")), expect=True)
    mk("wrong_secret", f"signed with another signing secret; {gen}", body, hdrs(sign(body, key=other)), expect=False)
    mk("body_changed_one_byte", f"one digit changed after signing; {gen}", change_one_byte(body), hdrs(sig), expect=False)
    mk("json_reindented", f"re-indented JSON, original signature; {gen}", reindent(body), hdrs(sig), expect=False)
    mk("stale_timestamp", f"now = ts + 301 s; {gen}", body, hdrs(sig), now=T0 + 301, expect=False)
    mk("future_timestamp", f"now = ts - 301 s; {gen}", body, hdrs(sig), now=T0 - 301, expect=False)
    mk("missing_signature_header", f"no X-Slack-Signature; {gen}", body, without(hdrs(sig), "X-Slack-Signature"), expect=False)
    mk("missing_timestamp_header", f"no X-Slack-Request-Timestamp; {gen}", body, without(hdrs(sig), "X-Slack-Request-Timestamp"), expect=False)
    mk("malformed_signature_header", f"garbage signature; {gen}", body, hdrs("garbage"), expect=False)
    mk("malformed_signature_wrong_prefix", f"valid hex under v1= instead of v0=; {gen}", body, hdrs("v1=" + sig[3:]), expect=False)
    mk("uppercase_hex", f"hex upper-cased; compare_digest is exact; {gen}", body, hdrs(upper_hex(sig)), expect=False)
    ch = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    uv = compact({"token": "Jhj5dZrVaK7ZwHHjRyZWjbDl", "challenge": ch, "type": "url_verification"})
    mk("url_verification", f"url_verification handshake (signed); answer 200 with the challenge; {gen}", uv,
       hdrs(sign(uv)), handshake=json_response({"challenge": ch}), expect=True)
    mk("url_verification_bad_signature", f"url_verification signed with another secret: must be refused, not answered; {gen}", uv,
       hdrs(sign(uv, key=other)), expect=False)
    write("slack", out)


# --------------------------------------------------------------------------------------------
# Standard Webhooks / Svix / GitLab signing token: Webhook(secret).sign / .verify (300 s both ways)
# --------------------------------------------------------------------------------------------
def stdwh_family(provider, lib, mod_version, prefix, secret, body_fn, extra_headers, use_json_parse_false):
    other = "whsec_" + base64.b64encode(b"another-secret-key-32-bytes-long").decode()
    msg_id = {"standard-webhooks": "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", "svix": "msg_p5jXN8AQM9LWM0D4loKWxJek",
              "gitlab-signing": "f9e8a2c4-7d6b-4b1a-9c3e-2a5d8f0b1c7e"}[provider]

    def judge(body, headers, now, path, k):
        with frozen(now):
            try:
                if use_json_parse_false:
                    lib.Webhook(k["secret"]).verify(body, headers_dict(headers), json_parse=False)
                else:
                    lib.Webhook(k["secret"]).verify(body, headers_dict(headers))
                return True
            except Exception:  # WebhookVerificationError, or ValueError/binascii.Error on garbage
                return False

    def sign(body, ts=T0, key=secret, mid=msg_id):
        return lib.Webhook(key).sign(mid, datetime.fromtimestamp(ts, tz=timezone.utc), body.decode())

    def hdrs(sig, ts=T0):
        h = [["Content-Type", "application/json"]] + extra_headers
        return h + [[f"{prefix}-id", msg_id], [f"{prefix}-timestamp", str(ts)], [f"{prefix}-signature", sig]]

    how = "Webhook.verify(body, headers, json_parse=False)" if use_json_parse_false else "Webhook.verify(body, headers)"
    gen = f"signed with {mod_version} Webhook.sign, judged by {how} (clock frozen at now)"
    mk, out = maker(provider, judge, secret=secret)
    body = body_fn(None)
    sig = sign(body)
    mk("valid", f"realistic event; {gen}", body, hdrs(sig), expect=True)
    big = grow(body_fn)
    mk("valid_1mib", f"~1 MiB event; {gen}", big, hdrs(sign(big)), expect=True)
    mk("valid_empty_body", f"empty body (signed content 'id.ts.'); {gen}", b"", hdrs(sign(b"")), expect=True)
    mk("wrong_secret", f"signed with another whsec_ secret; {gen}", body, hdrs(sign(body, key=other)), expect=False)
    mk("body_changed_one_byte", f"one digit changed after signing; {gen}", change_one_byte(body), hdrs(sig), expect=False)
    mk("json_reindented", f"re-indented JSON, original signature; {gen}", reindent(body), hdrs(sig), expect=False)
    mk("stale_timestamp", f"now = ts + 301 s; {gen}", body, hdrs(sig), now=T0 + 301, expect=False)
    mk("future_timestamp", f"now = ts - 301 s; {gen}", body, hdrs(sig), now=T0 - 301, expect=False)
    mk("missing_signature_header", f"no {prefix}-signature; {gen}", body, without(hdrs(sig), f"{prefix}-signature"), expect=False)
    mk("missing_id_header", f"no {prefix}-id (it is part of the signed content); {gen}", body, without(hdrs(sig), f"{prefix}-id"), expect=False)
    mk("malformed_signature_header", f"garbage without 'v1,' (the SDK raises ValueError); {gen}", body, hdrs("garbage"), expect=False)
    mk("malformed_signature_wrong_prefix", f"valid base64 HMAC under 'v2,' (unknown version: ignored, nothing left); {gen}", body,
       hdrs("v2," + sig.split(",")[1]), expect=False)
    mk("malformed_signature_truncated", f"v1 base64 cut by 4 chars; {gen}", body, hdrs(sig[:-4]), expect=False)
    bad = sign(body, key=other)
    mk("multiple_signatures_one_valid",
       f"space-separated list: v1 (other key), v1a (unknown version), v2, then the valid v1; {gen}", body,
       hdrs(f"{bad} v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzWInXqUuxrcYRKALhqLVgp+/VrSrfAX6ufUHjfWg== v2,Zm9vYmFy {sig}"), expect=True)
    write(provider, out)


def stdwh_vectors():
    def sw_body(pad):
        d = {"type": "invoice.paid", "timestamp": "2025-11-01T12:26:39.214Z",
             "data": {"id": "in_01JB8Q0Z8M3W5K7H2N4R6T8V0X", "customer_id": "cus_4821", "amount_cents": 4900,
                      "currency": "EUR", "status": "paid"}}
        if pad is not None:
            d["data"]["memo"] = pad
        return compact(d)

    def svix_body(pad):
        d = {"type": "user.created", "id": "evt_2KWPBgLlAfxdpx2AI54pPJ85f4W",
             "data": {"id": "user_Xb7qRt2", "email": "ada@example.com", "username": "ada", "created_at": "2025-11-01T12:26:39Z"}}
        if pad is not None:
            d["data"]["bio"] = pad
        return compact(d)

    def gitlab_body(pad):
        d = {"object_kind": "push", "event_name": "push", "before": "95790bf891e76fee5e1747ab589903a6a1f80f22",
             "after": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7", "ref": "refs/heads/main", "ref_protected": True,
             "checkout_sha": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7", "user_id": 4, "user_name": "John Smith",
             "user_username": "jsmith", "project_id": 15,
             "project": {"id": 15, "name": "Diaspora", "path_with_namespace": "mike/diaspora",
                         "web_url": "https://gitlab.example.com/mike/diaspora", "default_branch": "main"},
             "commits": [{"id": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7", "message": "fixed readme",
                          "timestamp": "2025-11-01T12:20:00+00:00", "author": {"name": "GitLab dev", "email": "gitlabdev@example.com"}}],
             "total_commits_count": 1}
        if pad is not None:
            d["commits"][0]["message"] = pad
        return compact(d)

    import importlib.metadata as md
    sw = "whsec_" + base64.b64encode(b"standard-webhooks-test-secret-32").decode()
    stdwh_family("standard-webhooks", standardwebhooks, f"standardwebhooks {md.version('standardwebhooks')}",
                 "webhook", sw, sw_body, [["User-Agent", "Example-Sender/1.0"]], True)
    sv = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    stdwh_family("svix", svix.webhooks, f"svix {md.version('svix')}", "svix", sv, svix_body,
                 [["User-Agent", "Svix-Webhooks/1.80.0 (sender-4a6tq; +https://www.svix.com/http-sender/)"]], False)
    gl = "whsec_" + base64.b64encode(bytes(range(0x40, 0x60))).decode()
    stdwh_family("gitlab-signing", standardwebhooks, f"standardwebhooks {md.version('standardwebhooks')}",
                 "webhook", gl, gitlab_body,
                 [["User-Agent", "GitLab/18.6.0"], ["X-Gitlab-Event", "Push Hook"],
                  ["X-Gitlab-Event-UUID", "2b7f1d6e-4c3a-4e8b-9f10-6a2d5c8e1b47"],
                  ["X-Gitlab-Webhook-UUID", "0c7a9e3d-1f2b-4a5c-8d6e-9b0f1a2c3d4e"],
                  ["X-Gitlab-Instance", "https://gitlab.example.com"],
                  ["Idempotency-Key", "f9e8a2c4-7d6b-4b1a-9c3e-2a5d8f0b1c7e"]], True)


# --------------------------------------------------------------------------------------------
# Paddle Billing: paddle-python-sdk PaddleSignature.calculate_hmac / Notifications.Verifier (5 s)
# --------------------------------------------------------------------------------------------
def paddle_vectors():
    import importlib.metadata as md
    secret = "pdl_ntfset_01jbq4x8m2y7k3zq9v6w5t1r0s_Yc5uXo8Hq2Lz7GmB3vKd9RtWp4NjAs6E"
    other = "pdl_ntfset_01jbq4x8m2y7k3zq9v6w5t1r0s_0000000000000000000000000000000A"
    V = f"paddle-python-sdk {md.version('paddle-python-sdk')}"

    class Headers(dict):
        def get(self, key, default=None):
            for k, v in self.items():
                if k.lower() == key.lower():
                    return v
            return default

    class Req:
        def __init__(self, body, headers):
            self.body = body
            self.headers = Headers(headers)

    def judge(body, headers, now, path, k):
        with frozen(now):
            try:
                return Verifier().verify(Req(body, headers), Secret(k["secret"]))
            except (ValueError, ConnectionRefusedError):
                return False

    def h1(body, ts=T0, key=secret):
        return PaddleSignature.calculate_hmac(key, f"{ts}:{body.decode()}".encode()).hexdigest()

    def hdrs(sig):
        return [["Content-Type", "application/json"], ["User-Agent", "Paddle"], ["Paddle-Signature", sig]]

    def event(pad):
        d = {"event_id": "evt_01jbq4x9hk3c7t6e8d5w2m0n4p", "event_type": "transaction.completed",
             "occurred_at": "2025-11-01T12:26:39.114523Z", "notification_id": "ntf_01jbq4x9n7r2s6f0a3k8c5v1b9",
             "data": {"id": "txn_01jbq4w3z6e9m5q8r2t7y4u1i0", "status": "completed", "customer_id": "ctm_01h8441jn5pcwrfhwh78jqt8hk",
                      "currency_code": "USD", "origin": "web", "subscription_id": "sub_01jbq4x9b2k5m8p1s4v7y0a3d6",
                      "details": {"totals": {"subtotal": "10000", "tax": "1000", "total": "11000"}},
                      "custom_data": None if pad is None else {"notes": pad}}}
        return compact(d)

    mk, out = maker("paddle", judge, secret=secret)
    gen = f"signed with {V} PaddleSignature.calculate_hmac over 'ts:body', judged by Notifications.Verifier().verify (max variance 5 s, clock frozen)"
    body = event(None)
    sig = f"ts={T0};h1={h1(body)}"
    mk("valid", f"transaction.completed (event_id); {gen}", body, hdrs(sig), expect=True)
    big = grow(event)
    mk("valid_1mib", f"~1 MiB event; {gen}", big, hdrs(f"ts={T0};h1={h1(big)}"), expect=True)
    mk("valid_empty_body", f"empty body; {gen}", b"", hdrs(f"ts={T0};h1={h1(b'')}"), expect=True)
    mk("wrong_secret", f"signed with another pdl_ntfset_ secret; {gen}", body, hdrs(f"ts={T0};h1={h1(body, key=other)}"), expect=False)
    mk("body_changed_one_byte", f"one digit changed; {gen}", change_one_byte(body), hdrs(sig), expect=False)
    mk("json_reindented", f"re-indented JSON; {gen}", reindent(body), hdrs(sig), expect=False)
    mk("stale_timestamp", f"now = ts + 6 s (window 5 s); {gen}", body, hdrs(sig), now=T0 + 6, expect=False)
    mk("future_timestamp", f"now = ts - 6 s; {gen}", body, hdrs(sig), now=T0 - 6, expect=False)
    mk("missing_signature_header", f"no Paddle-Signature; {gen}", body, without(hdrs(sig), "Paddle-Signature"), expect=False)
    mk("malformed_signature_header", f"garbage (no ts=/h1=; parses as ts=0 and fails the time check); {gen}", body, hdrs("garbage"), expect=False)
    mk("malformed_signature_wrong_prefix", f"h2= instead of h1= (SDK raises 'Unrecognized Paddle-Signature key'); {gen}", body,
       hdrs(f"ts={T0};h2={h1(body)}"), expect=False)
    mk("malformed_signature_truncated", f"h1 hex cut by one char; {gen}", body, hdrs(f"ts={T0};h1={h1(body)[:-1]}"), expect=False)
    mk("multiple_signatures_one_valid", f"ts=;h1=<old secret>;h1=<valid> (rotation); {gen}", body,
       hdrs(f"ts={T0};h1={h1(body, key=other)};h1={h1(body)}"), expect=True)
    mk("uppercase_hex", f"h1 upper-cased; compare_digest is exact; {gen}", body, hdrs(f"ts={T0};h1={h1(body).upper()}"), expect=False)
    write("paddle", out)


# --------------------------------------------------------------------------------------------
# Mailgun: documented formula to sign; mailgun SecurityGuard.verify_webhook to judge (900 s)
# --------------------------------------------------------------------------------------------
def mailgun_vectors():
    import importlib.metadata as md
    key = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"
    other = "key-0000000000000000000000000000000a"
    V = f"mailgun {md.version('mailgun')}"
    token = "b0a5a1f1f3d5d8e2c4b6a8f0e2d4c6b8a0f2e4d6c8b0a2f4e6"

    def judge(body, headers, now, path, k):
        ct = ci_get(headers, "Content-Type") or ""
        if ct.startswith("application/json"):
            try:
                s = json.loads(body)["signature"]
                tok, ts, sig = s["token"], s["timestamp"], s["signature"]
            except (ValueError, KeyError, TypeError):
                return False  # no signature object: nothing to verify
        else:
            f = dict(parse_qsl(body.decode(), keep_blank_values=True))
            if not all(x in f for x in ("token", "timestamp", "signature")):
                return False
            tok, ts, sig = f["token"], f["timestamp"], f["signature"]
        with frozen(now):
            try:
                return SecurityGuard.verify_webhook(k["secret"], tok, ts, sig, max_age_seconds=900)
            except (TypeError, ValueError):
                return False

    def sig_for(ts=T0, tok=token, k=key):
        return hmac.new(k.encode(), f"{ts}{tok}".encode(), hashlib.sha256).hexdigest()

    def event(sig, pad=None, ts=T0, tok=token, drop_sig=False):
        d = {"signature": {"token": tok, "timestamp": str(ts), "signature": sig},
             "event-data": {"id": "CPgfbmQMTCKtHW6uIWtuVe", "timestamp": T0 - 1.5, "log-level": "info", "event": "delivered",
                            "recipient": "alice@example.com", "recipient-domain": "example.com",
                            "message": {"headers": {"to": "Alice <alice@example.com>", "message-id": "20251101122638.1.2B1C1D@mg.example.com",
                                                    "from": "Bob <bob@mg.example.com>", "subject": "Your order 1042"}},
                            "delivery-status": {"code": 250, "message": "OK", "attempt-no": 1},
                            "user-variables": {"order_id": "1042"} if pad is None else {"order_id": "1042", "notes": pad}}}
        if drop_sig:
            del d["signature"]
        return compact(d)

    def hdrs(ct="application/json"):
        return [["Content-Type", ct], ["User-Agent", "mailgun/treq-16.12.0"]]

    mk, out = maker("mailgun", judge, secret=key)
    gen = f"signature = documented hex(HMAC-SHA256(key, timestamp+token)); judged by {V} SecurityGuard.verify_webhook(max_age_seconds=900) on the body's signature fields"
    s = sig_for()
    body = event(s)
    mk("valid", f"JSON body with signature object (event-data.id); {gen}", body, hdrs(), expect=True)
    form = urlencode([("event", "delivered"), ("recipient", "alice@example.com"), ("domain", "mg.example.com"),
                      ("message-id", "20251101122638.1.2B1C1D@mg.example.com"), ("timestamp", str(T0)),
                      ("token", token), ("signature", s)]).encode()
    mk("valid_form", f"legacy form-encoded webhook with timestamp/token/signature fields; {gen}", form,
       hdrs("application/x-www-form-urlencoded"), expect=True)
    big = grow(lambda p: event(s, pad=p))
    mk("valid_1mib", f"~1 MiB JSON body; {gen}", big, hdrs(), expect=True)
    mk("empty_body", f"empty body carries no signature fields: refused; {gen}", b"", hdrs(), expect=False)
    mk("wrong_secret", f"signature made with another signing key; {gen}", event(sig_for(k=other)), hdrs(), expect=False)
    changed = body.replace(b'"code":250', b'"code":550')
    assert changed != body
    mk("body_changed_one_byte", f"one byte of event-data changed (250->550): event-data is NOT signed, so the SDK ACCEPTS; {gen}",
       changed, hdrs(), expect=True)
    mk("signature_token_changed_one_byte", f"one char of the signed token changed; {gen}",
       body.replace(token.encode(), token[:-1].encode() + b"7"), hdrs(), expect=False)
    mk("json_reindented", f"re-indented JSON: the signature covers only timestamp+token, so the SDK ACCEPTS; {gen}",
       reindent(body), hdrs(), expect=True)
    mk("stale_timestamp", f"now = timestamp + 901 s; {gen}", body, hdrs(), now=T0 + 901, expect=False)
    mk("future_timestamp", f"now = timestamp - 901 s (SDK checks both ways); {gen}", body, hdrs(), now=T0 - 901, expect=False)
    mk("missing_signature_header", f"no signature object in the body (Mailgun has no signature header); {gen}",
       event(s, drop_sig=True), hdrs(), expect=False)
    mk("malformed_signature_header", f"signature field 'garbage'; {gen}", event("garbage"), hdrs(), expect=False)
    mk("uppercase_hex", f"signature hex upper-cased; compare_digest is exact; {gen}", event(s.upper()), hdrs(), expect=False)
    write("mailgun", out)
