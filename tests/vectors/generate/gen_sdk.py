"""Vectors for providers with an official Python SDK (signed and judged by that SDK).

Run:  python gen_sdk.py            (needs requirements.txt installed)
Every verdict (sdk_accepts) comes from calling the SDK's verifier with the clock frozen at "now".
"""

import base64
import contextlib
import hashlib
import hmac
import json
import sys
from datetime import datetime, timezone
from unittest import mock
from urllib.parse import parse_qsl, urlencode

from vecs import FrozenDatetime as _FrozenDatetime
from vecs import (T0, ci_get, change_one_byte, compact, grow, headers_dict, json_response, pretty, reindent,
                  replace, upper_hex, vector, without, write)

import stripe
from stripe import SignatureVerificationError
from stripe._webhook import WebhookSignature
from slack_sdk.signature import Clock, SignatureVerifier
from twilio.request_validator import RequestValidator
import standardwebhooks
import svix.webhooks
from paddle_billing.Notifications import Secret, Verifier
from paddle_billing.Notifications.PaddleSignature import PaddleSignature
from square.utils.webhooks_helper import verify_signature as square_verify
from mailgun.security import SecurityGuard
from sendgrid.helpers.eventwebhook import EventWebhook
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
import discord_interactions
import nacl.signing

MISMATCHES = []


@contextlib.contextmanager
def frozen(now):
    """Freeze the clocks the SDK verifiers read (time.time, paddle's `from time import time`,
    standardwebhooks' datetime.now)."""
    _FrozenDatetime.NOW = now
    with mock.patch("time.time", return_value=float(now)), \
         mock.patch.object(sys.modules["paddle_billing.Notifications.Verifier"], "time", return_value=float(now)), \
         mock.patch("standardwebhooks.webhooks.datetime", _FrozenDatetime):
        yield


def maker(provider, judge, **keys):
    """Returns mk(name, note, body, headers, now=T0, expect=None, **kw) that asks `judge` for the
    verdict and records it. `expect` is only my own expectation, reported when the SDK disagrees."""
    out = []

    def mk(name, note, body, headers, now=T0, expect=None, judge_fn=None, **kw):
        k = dict(keys)
        for key in list(kw):
            if key in ("secret", "public_key", "private_key", "public_url"):
                k[key] = kw.pop(key)
        verdict = (judge_fn or judge)(body, headers, now, kw.get("path") or f"/hooks/{provider}", k)
        if expect is not None and verdict != expect:
            MISMATCHES.append(f"{provider}/{name}: sdk={verdict} expected={expect}")
        out.append(vector(provider, name, note, body, headers, now, verdict, **kw, **k))
        return out[-1]

    return mk, out


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
# Twilio: twilio-python RequestValidator.compute_signature / compute_hash / validate
# --------------------------------------------------------------------------------------------
def twilio_vectors():
    import twilio
    token = "12345678901234567890123456789012"
    other = "abcdefabcdefabcdefabcdefabcdefab"
    public_url = "https://hooks.example.com/hooks/twilio"
    V = f"twilio {twilio.__version__}"

    def signed_url(path):
        assert path.startswith("/hooks/twilio")
        return public_url + path[len("/hooks/twilio"):]

    def judge(body, headers, now, path, k):
        sig = ci_get(headers, "X-Twilio-Signature")
        if sig is None:
            return False  # validate() needs a signature: a request without one is refused
        url = signed_url(path)
        v = RequestValidator(k["secret"])
        if "bodySHA256=" in url:
            return v.validate(url, body.decode(), sig)
        return v.validate(url, dict(parse_qsl(body.decode(), keep_blank_values=True)), sig)

    sms = [("ToCountry", "US"), ("ToState", "CA"), ("SmsMessageSid", "SM1f0e8ae6ade43cb3c0ce4525424e404f"),
           ("NumMedia", "0"), ("ToCity", "SAN FRANCISCO"), ("FromZip", "94105"),
           ("SmsSid", "SM1f0e8ae6ade43cb3c0ce4525424e404f"), ("FromState", "CA"), ("SmsStatus", "received"),
           ("FromCity", "SAN FRANCISCO"), ("Body", "Hello from Twilio! Order 1042 shipped?"),
           ("FromCountry", "US"), ("To", "+15558675310"), ("MessagingServiceSid", "MG9752274e9e519418a7406176694466fa"),
           ("ToZip", "94105"), ("NumSegments", "1"), ("MessageSid", "SM1f0e8ae6ade43cb3c0ce4525424e404f"),
           ("AccountSid", "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"), ("From", "+15017122661"), ("ApiVersion", "2010-04-01")]

    def form_hdrs(sig, idem="ac1b2c3d-sms-1"):
        return [["Content-Type", "application/x-www-form-urlencoded"], ["User-Agent", "TwilioProxy/1.1"],
                ["I-Twilio-Idempotency-Token", idem], ["X-Twilio-Signature", sig]]

    def json_hdrs(sig):
        return [["Content-Type", "application/json"], ["User-Agent", "TwilioProxy/1.1"],
                ["I-Twilio-Idempotency-Token", "ac1b2c3d-evt-1"], ["X-Twilio-Signature", sig]]

    def sign_form(path, params, key=token, url=None):
        return RequestValidator(key).compute_signature(url or signed_url(path), dict(params))

    def status_event(pad=None):
        ev = {"specversion": "1.0", "type": "com.twilio.messaging.message.delivered",
              "source": "/2010-04-01/Accounts/ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX/Messages/SM1f0e8ae6ade43cb3c0ce4525424e404f.json",
              "id": "EZ6d2f8c7f2b1b4e0a9d5c3e1f7a8b9c0d", "dataschema": "https://events-schemas.twilio.com/Messaging.MessageStatus/2",
              "datacontenttype": "application/json", "time": "2025-11-01T12:26:39.000Z",
              "data": {"messageSid": "SM1f0e8ae6ade43cb3c0ce4525424e404f", "accountSid": "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
                       "to": "+15558675310", "from": "+15017122661", "messageStatus": "DELIVERED", "eventName": "com.twilio.messaging.message.delivered",
                       "timestamp": "2025-11-01T12:26:39.000Z"}}
        if pad is not None:
            ev["data"]["notes"] = pad
        return compact(ev)

    def json_path(body, sub="/status"):
        return f"/hooks/twilio{sub}?bodySHA256={RequestValidator(token).compute_hash(body.decode())}"

    mk, out = maker("twilio", judge, secret=token, public_url=public_url)
    gen = f"signed with {V} RequestValidator.compute_signature (JSON bodies: compute_hash into bodySHA256), judged by RequestValidator.validate on public_url + sub-path/query"
    p = "/hooks/twilio/sms?To=%2B1555"
    body = urlencode(sms).encode()
    sig = sign_form(p, sms)
    mk("valid", f"form-encoded incoming SMS to public_url + '/sms?To=%2B1555'; {gen}", body, form_hdrs(sig), path=p, expect=True)
    jb = status_event()
    jp = json_path(jb)
    jsig = sign_form(jp, {})
    mk("valid_json_body", f"JSON body; URL carries bodySHA256 and no params are signed; {gen}", jb, json_hdrs(jsig), path=jp, expect=True)
    big = grow(lambda pad: status_event(pad))
    bp = json_path(big)
    mk("valid_1mib", f"~1 MiB JSON body with bodySHA256; {gen}", big, json_hdrs(sign_form(bp, {})), path=bp, expect=True)
    mk("valid_empty_body", f"form POST with no params: the signature covers the URL only; {gen}", b"",
       form_hdrs(sign_form("/hooks/twilio/voice", [])), path="/hooks/twilio/voice", expect=True)
    mk("wrong_secret", f"signed with another auth token; {gen}", body, form_hdrs(sign_form(p, sms, key=other)), path=p, expect=False)
    mk("body_changed_one_byte", f"one digit of a form value changed; {gen}", change_one_byte(body), form_hdrs(sig), path=p, expect=False)
    mk("json_body_changed_one_byte", f"JSON body changed, bodySHA256 in URL no longer matches; {gen}", change_one_byte(jb), json_hdrs(jsig), path=jp, expect=False)
    mk("json_reindented", f"JSON body re-indented, URL/bodySHA256 and signature kept; {gen}", reindent(jb), json_hdrs(jsig), path=jp, expect=False)
    mk("missing_signature_header", f"no X-Twilio-Signature (validate cannot succeed without one); {gen}", body, without(form_hdrs(sig), "X-Twilio-Signature"), path=p, expect=False)
    mk("malformed_signature_header", f"garbage signature; {gen}", body, form_hdrs("garbage"), path=p, expect=False)
    mk("malformed_signature_truncated", f"base64 signature with the last 2 chars cut; {gen}", body, form_hdrs(sig[:-2]), path=p, expect=False)
    port_sig = sign_form(p, sms, url="https://hooks.example.com:443/hooks/twilio/sms?To=%2B1555")
    mk("url_with_port", f"signed over https://hooks.example.com:443/...; validate tries with and without the port; {gen}", body, form_hdrs(port_sig), path=p, expect=True)
    reordered = urlencode(list(reversed(sms))).encode()
    mk("params_reordered", f"same form params sent in reverse order (the scheme sorts names); {gen}", reordered, form_hdrs(sig), path=p, expect=True)
    mk("wrong_url", f"signed for https://other.example.com/hooks/twilio/sms?To=%2B1555; {gen}", body,
       form_hdrs(sign_form(p, sms, url="https://other.example.com/hooks/twilio/sms?To=%2B1555")), path=p, expect=False)
    mk("query_changed", f"valid signature but the query string differs from the signed one; {gen}", body, form_hdrs(sig),
       path="/hooks/twilio/sms?To=%2B1556", expect=False)
    # Status callbacks configured as GET: the parameters ride in the query, which the URL signature covers.
    gq = urlencode([("AccountSid", "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"), ("ApiVersion", "2010-04-01"),
                    ("From", "+15017122661"), ("MessageSid", "SM1f0e8ae6ade43cb3c0ce4525424e404f"),
                    ("MessageStatus", "delivered"), ("SmsStatus", "delivered"), ("To", "+15558675310")])
    gp = f"/hooks/twilio/status?{gq}"
    gsig = sign_form(gp, {})

    def get_hdrs(sig, idem="ac1b2c3d-status-1"):
        return [["User-Agent", "TwilioProxy/1.1"], ["I-Twilio-Idempotency-Token", idem], ["X-Twilio-Signature", sig]]

    mk("valid_get_status_callback", f"GET status callback: params in the query, no body; signature over the full URL; {gen}",
       b"", get_hdrs(gsig), path=gp, method="GET", expect=True)
    mk("get_query_changed", f"GET with MessageStatus=failed instead of the signed delivered; {gen}",
       b"", get_hdrs(gsig), path=gp.replace("MessageStatus=delivered", "MessageStatus=failed"), method="GET", expect=False)
    mk("get_wrong_secret", f"GET signed with another auth token; {gen}",
       b"", get_hdrs(RequestValidator(other).compute_signature(signed_url(gp), {})), path=gp, method="GET", expect=False)
    mk("get_missing_signature_header", f"GET without X-Twilio-Signature; {gen}",
       b"", without(get_hdrs(gsig), "X-Twilio-Signature"), path=gp, method="GET", expect=False)
    write("twilio", out)


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
# Square: documented formula to sign; squareup webhooks_helper.verify_signature to judge
# --------------------------------------------------------------------------------------------
def square_vectors():
    import importlib.metadata as md
    key = "Wk3Lq9ZrTnV2xB8dF5hJ1mP7sC4yG6uA"
    other = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    public_url = "https://hooks.example.com/hooks/square"
    V = f"squareup {md.version('squareup')}"

    def url_for(path):
        return public_url + path[len("/hooks/square"):]

    def judge(body, headers, now, path, k):
        sig = ci_get(headers, "x-square-hmacsha256-signature")
        if sig is None:
            return False  # verify_signature needs the header value
        return square_verify(request_body=body.decode(), signature_header=sig, signature_key=k["secret"],
                             notification_url=url_for(path))

    def sign(body, path="/hooks/square", k=key, url=None):
        mac = hmac.new(k.encode(), (url or url_for(path)).encode() + body, hashlib.sha256).digest()
        return base64.b64encode(mac).decode()

    def hdrs(sig):
        return [["Content-Type", "application/json"], ["User-Agent", "Square Connect v2"],
                ["square-environment", "Production"], ["square-initial-delivery-timestamp", "2025-11-01T12:26:39.123Z"],
                ["square-retry-number", "0"], ["x-square-hmacsha256-signature", sig]]

    def event(pad):
        d = {"merchant_id": "6SSW7HV8K2ST5", "type": "payment.updated", "event_id": "9c9d52b6-3b8e-3c1a-9e4d-6f1e2a7b8c90",
             "created_at": "2025-11-01T12:26:39.123Z",
             "data": {"type": "payment", "id": "KkAkhdMsgzn59SM8A89WgKwekxLZY",
                      "object": {"payment": {"id": "KkAkhdMsgzn59SM8A89WgKwekxLZY", "amount_money": {"amount": 1250, "currency": "USD"},
                                             "status": "COMPLETED", "location_id": "S8GWD5R9QB376", "order_id": "03O3USaPaAaFnI6kkwB1JxGgBsUZY",
                                             "note": pad or "Table 12"}}}}
        return compact(d)

    mk, out = maker("square", judge, secret=key, public_url=public_url)
    gen = f"signed with the documented formula base64(HMAC-SHA256(key, notification_url + body)), judged by {V} square.utils.webhooks_helper.verify_signature"
    body = event(None)
    sig = sign(body)
    mk("valid", f"payment.updated (event_id) to public_url exactly; {gen}", body, hdrs(sig), expect=True)
    sp = "/hooks/square/payments?location=S8GWD5R9QB376"
    mk("valid_subpath_query", f"notification URL = public_url + '/payments?location=S8GWD5R9QB376'; {gen}", body,
       hdrs(sign(body, sp)), path=sp, expect=True)
    big = grow(event)
    mk("valid_1mib", f"~1 MiB event; {gen}", big, hdrs(sign(big)), expect=True)
    mk("empty_body", f"empty body signed over the URL alone: verify_signature returns False for an empty body; {gen}", b"",
       hdrs(sign(b"")), expect=False)
    mk("wrong_secret", f"signed with another signature key; {gen}", body, hdrs(sign(body, k=other)), expect=False)
    mk("body_changed_one_byte", f"one digit changed; {gen}", change_one_byte(body), hdrs(sig), expect=False)
    mk("json_reindented", f"re-indented JSON; {gen}", reindent(body), hdrs(sig), expect=False)
    mk("missing_signature_header", f"no x-square-hmacsha256-signature; {gen}", body, without(hdrs(sig), "x-square-hmacsha256-signature"), expect=False)
    mk("malformed_signature_header", f"garbage; {gen}", body, hdrs("garbage"), expect=False)
    mk("malformed_signature_truncated", f"base64 cut by 2 chars; {gen}", body, hdrs(sig[:-2]), expect=False)
    mk("wrong_url", f"signed for http:// instead of https:// notification URL; {gen}", body,
       hdrs(sign(body, url="http://hooks.example.com/hooks/square")), expect=False)
    write("square", out)


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


# --------------------------------------------------------------------------------------------
# SendGrid: ECDSA P-256 signed with `cryptography`; judged by sendgrid EventWebhook.verify_signature
# --------------------------------------------------------------------------------------------
def sendgrid_vectors():
    import importlib.metadata as md
    V = f"sendgrid {md.version('sendgrid')}"
    def key_from(label):  # fixed keys so regeneration is reproducible
        return ec.derive_private_key(int.from_bytes(hashlib.sha256(label).digest()[:31], "big"), ec.SECP256R1())
    priv = key_from(b"hookgate sendgrid test key")
    other = key_from(b"some other sendgrid key")
    pub_b64 = base64.b64encode(priv.public_key().public_bytes(serialization.Encoding.DER,
                               serialization.PublicFormat.SubjectPublicKeyInfo)).decode()
    priv_b64 = base64.b64encode(priv.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())).decode()

    def judge(body, headers, now, path, k):
        sig = ci_get(headers, "X-Twilio-Email-Event-Webhook-Signature")
        ts = ci_get(headers, "X-Twilio-Email-Event-Webhook-Timestamp")
        if sig is None or ts is None:
            return False
        try:
            return EventWebhook(k["public_key"]).verify_signature(body.decode(), sig, ts)
        except Exception:  # undecodable base64 / DER
            return False

    def sign(body, ts=T0, key=priv):
        der = key.sign(str(ts).encode() + body, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
        return base64.b64encode(der).decode()

    def hdrs(sig, ts=T0):
        return [["Content-Type", "application/json"], ["User-Agent", "SendGrid Event API"],
                ["X-Twilio-Email-Event-Webhook-Signature", sig], ["X-Twilio-Email-Event-Webhook-Timestamp", str(ts)]]

    def events(pad):
        evs = [{"email": "alice@example.com", "timestamp": T0 - 5, "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>",
                "event": "processed", "category": ["cat facts"], "sg_event_id": "rbtnWrG1DVDGGGFHFyun0A==",
                "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0"},
               {"email": "alice@example.com", "timestamp": T0 - 2, "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>",
                "event": "delivered", "category": ["cat facts"], "sg_event_id": "Bmgv2kD8QhKxQqM5P4Kq1g==",
                "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0", "response": "250 OK"}]
        if pad is not None:
            evs[1]["response"] = pad
        return compact(evs) + b"\r\n"  # SendGrid's raw body ends with CRLF; it is signed too

    mk, out = maker("sendgrid", judge, public_key=pub_b64, private_key=priv_b64)
    gen = f"signed with cryptography ECDSA-P256-SHA256 (RFC 6979 deterministic) over timestamp+body, judged by {V} EventWebhook.verify_signature"
    body = events(None)
    sig = sign(body)
    mk("valid", f"array of 2 events (sg_event_id), body ends with CRLF; {gen}", body, hdrs(sig), expect=True)
    big = grow(events)
    mk("valid_1mib", f"~1 MiB event array; {gen}", big, hdrs(sign(big)), expect=True)
    mk("valid_empty_body", f"empty body (signed content = timestamp alone); {gen}", b"", hdrs(sign(b"")), expect=True)
    mk("wrong_secret", f"signed with another P-256 key; {gen}", body, hdrs(sign(body, key=other)), expect=False)
    mk("body_changed_one_byte", f"one digit changed; {gen}", change_one_byte(body), hdrs(sig), expect=False)
    mk("json_reindented", f"re-indented JSON; {gen}", reindent(body), hdrs(sig), expect=False)
    mk("timestamp_header_changed", f"timestamp header +1 s (it is signed); {gen}", body,
       replace(hdrs(sig), "X-Twilio-Email-Event-Webhook-Timestamp", str(T0 + 1)), expect=False)
    mk("missing_signature_header", f"no X-Twilio-Email-Event-Webhook-Signature; {gen}", body,
       without(hdrs(sig), "X-Twilio-Email-Event-Webhook-Signature"), expect=False)
    mk("malformed_signature_header", f"not base64 DER; {gen}", body, hdrs("garbage"), expect=False)
    mk("malformed_signature_truncated", f"DER signature with its last 4 base64 chars cut; {gen}", body, hdrs(sig[:-4]), expect=False)
    # The SDK checks no age; hookgate's default window is 300 s both ways (the deviation is listed in presets.rs).
    mk("stale_timestamp", f"signed 301 s before now (a replay): the SDK accepts any age; {gen}", body, hdrs(sig), now=T0 + 301, expect=True)
    mk("future_timestamp", f"signed 301 s after now: the SDK accepts any age; {gen}", body, hdrs(sig), now=T0 - 301, expect=True)
    mk("inside_window", f"judged 299 s after signing; {gen}", body, hdrs(sig), now=T0 + 299, expect=True)
    write("sendgrid", out)


# --------------------------------------------------------------------------------------------
# Discord: PyNaCl Ed25519 key, signed with nacl SigningKey.sign, judged by discord_interactions.verify_key
# --------------------------------------------------------------------------------------------
def discord_vectors():
    import importlib.metadata as md
    V = f"discord-interactions {md.version('discord-interactions')}"
    sk = nacl.signing.SigningKey(hashlib.sha256(b"hookgate discord test key").digest())
    other = nacl.signing.SigningKey(hashlib.sha256(b"some other discord app").digest())
    pub = sk.verify_key.encode().hex()

    def judge(body, headers, now, path, k):
        sig = ci_get(headers, "X-Signature-Ed25519")
        ts = ci_get(headers, "X-Signature-Timestamp")
        if sig is None or ts is None:
            return False  # the lib's decorator answers 401
        import io
        with contextlib.redirect_stdout(io.StringIO()):  # verify_key prints the exception
            return discord_interactions.verify_key(body, sig, ts, k["public_key"])

    def sign(body, ts=T0, key=sk):
        return key.sign(str(ts).encode() + body).signature.hex()

    def hdrs(sig, ts=T0):
        return [["Content-Type", "application/json"], ["User-Agent", "Discord-Interactions/1.0 (+https://discord.com)"],
                ["X-Signature-Ed25519", sig], ["X-Signature-Timestamp", str(ts)]]

    def interaction(pad):
        d = {"app_permissions": "442368", "application_id": "1161371938301833256", "channel_id": "1161371987865931796",
             "data": {"id": "1161372211007348756", "name": "ping", "type": 1,
                      "options": [] if pad is None else [{"name": "text", "type": 3, "value": pad}]},
             "guild_id": "1161371987865931793", "id": "1302230187361173584", "locale": "en-US",
             "member": {"user": {"id": "53908232506183680", "username": "mason", "global_name": "Mason"}},
             "token": "aW50ZXJhY3Rpb246MTMwMjIzMDE4NzM2MTE3MzU4NDp0b2tlbg", "type": 2, "version": 1}
        return compact(d)

    mk, out = maker("discord", judge, public_key=pub, private_key=sk.encode().hex())
    gen = f"signed with PyNaCl SigningKey.sign over timestamp+body, judged by {V} verify_key"
    body = interaction(None)
    sig = sign(body)
    mk("valid", f"APPLICATION_COMMAND interaction (id); {gen}", body, hdrs(sig), expect=True)
    big = grow(interaction)
    mk("valid_1mib", f"~1 MiB interaction; {gen}", big, hdrs(sign(big)), expect=True)
    mk("valid_empty_body", f"empty body (signed content = timestamp alone); {gen}", b"", hdrs(sign(b"")), expect=True)
    mk("wrong_secret", f"signed with another Ed25519 key; {gen}", body, hdrs(sign(body, key=other)), expect=False)
    mk("body_changed_one_byte", f"one digit changed; {gen}", change_one_byte(body), hdrs(sig), expect=False)
    mk("json_reindented", f"re-indented JSON; {gen}", reindent(body), hdrs(sig), expect=False)
    mk("timestamp_header_changed", f"X-Signature-Timestamp +1 (it is signed); {gen}", body,
       replace(hdrs(sig), "X-Signature-Timestamp", str(T0 + 1)), expect=False)
    mk("missing_signature_header", f"no X-Signature-Ed25519 -> 401; {gen}", body, without(hdrs(sig), "X-Signature-Ed25519"), expect=False)
    mk("malformed_signature_header", f"non-hex signature; {gen}", body, hdrs("garbage"), expect=False)
    mk("malformed_signature_truncated", f"hex signature cut by 2 chars (63 bytes); {gen}", body, hdrs(sig[:-2]), expect=False)
    mk("uppercase_hex", f"hex signature upper-cased: bytes.fromhex is case-insensitive, the lib ACCEPTS; {gen}", body,
       hdrs(sig.upper()), expect=True)
    ping = compact({"application_id": "1161371938301833256", "id": "1302230187361173585", "token": "aW50ZXJhY3Rpb246cGluZw", "type": 1, "version": 1})
    mk("ping", f"PING type 1 (signed) -> 200 {{\"type\":1}}; {gen}", ping, hdrs(sign(ping)),
       handshake=json_response({"type": 1}), expect=True)
    mk("ping_bad_signature", f"PING signed with another key (Discord's own probe) -> must be 401; {gen}", ping,
       hdrs(sign(ping, key=other)), expect=False)
    # The SDK checks no age; hookgate's default window is 300 s both ways (the deviation is listed in presets.rs).
    mk("stale_timestamp", f"signed 301 s before now (a replay): the SDK accepts any age; {gen}", body, hdrs(sig), now=T0 + 301, expect=True)
    mk("future_timestamp", f"signed 301 s after now: the SDK accepts any age; {gen}", body, hdrs(sig), now=T0 - 301, expect=True)
    mk("inside_window", f"judged 299 s after signing; {gen}", body, hdrs(sig), now=T0 + 299, expect=True)
    write("discord", out)


if __name__ == "__main__":
    stripe_vectors()
    slack_vectors()
    twilio_vectors()
    stdwh_vectors()
    paddle_vectors()
    square_vectors()
    mailgun_vectors()
    sendgrid_vectors()
    discord_vectors()
    if MISMATCHES:
        print("SDK verdicts differing from my expectation (recorded as the SDK says):")
        print("\n".join("  " + m for m in MISMATCHES))
    sys.exit(0)
