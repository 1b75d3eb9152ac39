"""Vectors for the providers added by issue 15 (part b): signed and judged by the provider's own
SDK where one exists (razorpay, onfido, hubspot-api-client, box-sdk-gen, braintree, Adyen), else
by the documented formula (marked so in each vector's note).

Run:  python gen_provb.py     (needs requirements.txt installed)
"""

import base64
import contextlib
import hashlib
import hmac
import json
import sys
from datetime import datetime, timezone
from unittest import mock
from urllib.parse import urlencode

from vecs import FrozenDatetime as _FrozenDatetime
from vecs import T0, change_one_byte, ci_get, compact, grow, mac, reindent, replace, vector, without, write

MISMATCHES = []


@contextlib.contextmanager
def frozen(now):
    """Freezes time.time and the datetime.now of the SDK modules that read the clock."""
    _FrozenDatetime.NOW = now
    with contextlib.ExitStack() as st:
        st.enter_context(mock.patch("time.time", return_value=float(now)))
        if "braintree.webhook_testing_gateway" in sys.modules:
            st.enter_context(mock.patch("braintree.webhook_testing_gateway.datetime", _FrozenDatetime))
        if "hubspot.utils.signature" in sys.modules:
            st.enter_context(mock.patch("hubspot.utils.signature.datetime", _FrozenDatetime))
        yield


def b64(d):
    return base64.b64encode(d).decode()


def iso(t):
    return datetime.fromtimestamp(t, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def family(provider, *, secret, other, sign, judge, event, sig_header, note, enc="hex", ts=False,
           ts_header=None, public_url=None, extra=None, multi=None):
    """The standard case set. sign(body, key, ts) -> headers; judge(body, headers, now, k) -> verdict
    (the SDK's, or the documented check's). ts: the signature covers a timestamp (stale/future cases)."""
    out = []
    keys = {"secret": secret}
    if public_url:
        keys["public_url"] = public_url

    def mk(name, what, body, headers, now=T0, expect=None, path=None, **kw):
        k = dict(keys, **kw)
        verdict = judge(body, headers, now, k, path or f"/hooks/{provider}")
        if expect is not None and verdict != expect:
            MISMATCHES.append(f"{provider}/{name}: judged {verdict}, expected {expect}")
        out.append(vector(provider, name, f"{what}; {note}", body, headers, now, verdict, path=path, **k))

    body = event(None)
    h = sign(body, secret, T0)
    s = ci_get(h, sig_header)
    mk("valid", "realistic event", body, h, expect=True)
    big = grow(event)
    mk("valid_1mib", "~1 MiB event", big, sign(big, secret, T0), expect=True)
    mk("valid_empty_body" if judge(b"", sign(b"", secret, T0), T0, keys, f"/hooks/{provider}") else "empty_body",
       "empty body, signed", b"", sign(b"", secret, T0))
    mk("wrong_secret", "signed with another secret", body, sign(body, other, T0), expect=False)
    mk("body_changed_one_byte", "one digit changed after signing", change_one_byte(body), h, expect=False)
    mk("json_reindented", "re-indented JSON, original signature", reindent(body), h, expect=False)
    mk("missing_signature_header", f"no {sig_header}", body, without(h, sig_header), expect=False)
    mk("malformed_signature_header", "garbage", body, replace(h, sig_header, "garbage"), expect=False)
    mk("malformed_signature_truncated", "signature cut by one char", body, replace(h, sig_header, s[:-1]), expect=False)
    if enc == "hex":
        mk("uppercase_hex", "hex digits upper-cased", body, replace(h, sig_header, s[:s.rfind("=") + 1] + s[s.rfind("=") + 1:].upper()))
    if ts:
        mk("stale_timestamp", "signed an hour before now", body, sign(body, secret, T0 - 3600), expect=False)
        mk("future_timestamp", "signed an hour after now", body, sign(body, secret, T0 + 3600))
        if ts_header:
            mk("missing_timestamp_header", f"no {ts_header}", body, without(h, ts_header), expect=False)
    if multi:
        mh = multi(body)
        mk("multiple_signatures_one_valid", "rotation: a signature with an old key and one with the current key",
           body, mh, expect=True)
    if extra:
        extra(mk, sign, body)
    return out


def exact_header(header, want_fn):
    """Documented check: the header equals the documented value exactly (constant-time compare)."""
    def judge(body, headers, now, k, path):
        want = want_fn(body, headers, k, path).encode()
        # A header sent twice (Mollie during a rotation): any instance may match.
        return any(hmac.compare_digest(v.encode(), want) for h, v in headers if h.lower() == header.lower())
    return judge


def body_mac_provider(provider, header, prefix, algo, enc, doc, event, base, secret, other, key_fn=None, sdk=None,
                      sdk_note=None, extra=None):
    """HMAC of the raw body in one header; judged by `sdk(body, signature, secret)` or the documented check."""
    key_fn = key_fn or (lambda s: s)

    def sig(body, key):
        d = mac(algo, key_fn(key), body)
        return prefix + (d.hex() if enc == "hex" else b64(d))

    def sign(body, key, ts):
        return list(base) + [[header, sig(body, key)]]

    if sdk:
        def judge(body, headers, now, k, path):
            got = ci_get(headers, header)
            if got is None:
                return False
            try:
                return bool(sdk(body, got, k["secret"]))
            except Exception:
                return False
        note = sdk_note
    else:
        judge = exact_header(header, lambda body, h, k, path: sig(body, k["secret"]))
        note = f"documented formula {header}: {prefix}{enc}(HMAC-{algo.upper()}(secret, raw body)), no official verifier ({doc})"
    write(provider, family(provider, secret=secret, other=other, sign=sign, judge=judge, event=event,
                           sig_header=header, note=note, enc=enc, extra=extra))


# ------------------------------------------------------------------------------------------------
def razorpay_vectors():
    import razorpay
    util = razorpay.Client(auth=("rzp_test_key", "rzp_test_secret")).utility

    def event(pad):
        return compact({"entity": "event", "account_id": "acc_BFQ7uQEaa7j2z7", "event": "payment.captured",
                        "contains": ["payment"], "payload": {"payment": {"entity": {
                            "id": "pay_DESlfW9H8K9uqM", "entity": "payment", "amount": 50000, "currency": "INR",
                            "status": "captured", "order_id": "order_DESlLckIVRkHWj", "method": "card",
                            "description": "Order 1042" if pad is None else pad, "captured": True}}},
                        "created_at": T0 - 1})

    base = [["Content-Type", "application/json"], ["X-Razorpay-Event-Id", "Fh2aBqYhZ1YB2F"]]
    body_mac_provider("razorpay", "X-Razorpay-Signature", "", "sha256", "hex", None, event, base,
                      "rzp_webhook_secret_7Kd2", "rzp_webhook_secret_0000",
                      sdk=lambda body, sig, secret: util.verify_webhook_signature(body.decode(), sig, secret),
                      sdk_note="signed with the documented formula, judged by razorpay 2.0.1 "
                               "Utility.verify_webhook_signature(body, X-Razorpay-Signature, secret) (raises = false)")


def onfido_vectors():
    from onfido.webhook_event_verifier import WebhookEventVerifier

    def event(pad):
        return compact({"payload": {"resource_type": "check", "action": "check.completed", "object": {
            "id": "f2302f45-227d-413d-ad61-09ec077a086a", "status": "complete",
            "completed_at_iso8601": "2025-11-01T12:26:39Z",
            "href": "https://api.eu.onfido.com/v3.6/checks/f2302f45-227d-413d-ad61-09ec077a086a" + ("" if pad is None else "?" + pad.replace(" ", "-"))}}})

    base = [["Content-Type", "application/json"]]
    body_mac_provider("onfido", "X-SHA2-Signature", "", "sha256", "hex", None, event, base,
                      "_ABC123abc123ABC123abc123ABC123", "_000000000000000000000000000000",
                      sdk=lambda body, sig, secret: WebhookEventVerifier(secret).read_payload(body.decode(), sig) is not None,
                      sdk_note="signed with the documented formula, judged by onfido-python 6.2.0 "
                               "WebhookEventVerifier(token).read_payload(body, X-SHA2-Signature) (raises = false)")


def documented_body_macs():
    def simple(fields):
        def event(pad):
            d = dict(fields)
            if pad is not None:
                d["note"] = pad
            return compact(d)
        return event

    body_mac_provider(
        "paystack", "x-paystack-signature", "", "sha512", "hex", "https://paystack.com/docs/payments/webhooks/#verify-event-origin",
        simple({"event": "charge.success", "data": {"id": 4099260516, "domain": "test", "status": "success",
                                                     "reference": "re4lyvq3s3", "amount": 50000, "currency": "NGN",
                                                     "paid_at": "2025-11-01T12:26:39.000Z", "channel": "card"}}),
        [["Content-Type", "application/json"]], "sk_test_4f1c2a9e8d7b6c5a4f3e2d1c0b9a8f7e6d5c4b3a", "sk_test_0000000000")
    body_mac_provider(
        "woocommerce", "X-WC-Webhook-Signature", "", "sha256", "base64",
        "https://woocommerce.github.io/woocommerce-rest-api-docs/#webhooks",
        simple({"id": 727, "parent_id": 0, "status": "processing", "currency": "EUR", "total": "29.99",
                "date_created": "2025-11-01T13:26:39", "billing": {"first_name": "Ada", "email": "ada@example.com"},
                "line_items": [{"id": 315, "name": "Woo Album #1", "product_id": 96, "quantity": 2, "total": "29.99"}]}),
        [["Content-Type", "application/json"], ["X-WC-Webhook-Source", "https://shop.example.com/"],
         ["X-WC-Webhook-Topic", "order.updated"], ["X-WC-Webhook-Resource", "order"], ["X-WC-Webhook-Event", "updated"],
         ["X-WC-Webhook-ID", "142"], ["X-WC-Webhook-Delivery-ID", "c8a1e2f0b7d94c6b8e3f"]],
        "wc-secret-Xk2#pL9", "wc-secret-000000")
    body_mac_provider(
        "segment", "X-Signature", "", "sha1", "hex",
        "https://segment.com/docs/connections/destinations/catalog/actions-webhook/ (shared secret: X-Signature)",
        simple({"type": "track", "event": "Order Completed", "messageId": "ajs-next-1762000000-6a4c1b2f",
                "userId": "u_1042", "timestamp": "2025-11-01T12:26:39.000Z", "properties": {"revenue": 29.99, "currency": "EUR"}}),
        [["Content-Type", "application/json"]], "segment-shared-secret-9a8b", "segment-shared-secret-0000")
    body_mac_provider(
        "quickbooks", "intuit-signature", "", "sha256", "base64",
        "https://developer.intuit.com/app/developer/qbo/docs/develop/webhooks/managing-webhooks-notifications#validating-the-notification",
        simple({"eventNotifications": [{"realmId": "9130350000000000", "dataChangeEvent": {"entities": [
            {"name": "Invoice", "id": "1042", "operation": "Create", "lastUpdated": "2025-11-01T12:26:39.000Z"}]}}]}),
        [["Content-Type", "application/json"]], "a7c3e9f1-verifier-token-5b2d", "00000000-verifier-token-0000")
    body_mac_provider(
        "mollie", "X-Mollie-Signature", "sha256=", "sha256", "hex", "https://docs.mollie.com/reference/webhooks-best-practices",
        simple({"resource": "event", "id": "event_GvJ8WHrp5isUdRub9CJyH", "type": "payment-link.paid",
                "entityId": "pl_qng5gbbv8NAZ5gpM5ZYgx", "createdAt": "2025-11-01T12:26:39+00:00",
                "_links": {"entity": {"href": "https://api.mollie.com/v2/payment-links/pl_qng5gbbv8NAZ5gpM5ZYgx",
                                      "type": "application/hal+json"}}}),
        [["Content-Type", "application/json"]], "mollie-whsec-4Kd9s2", "mollie-whsec-000000",
        extra=lambda mk, sign, body: mk(
            "multiple_signatures_one_valid", "rotation: the header sent twice, old key then current key", body,
            [["Content-Type", "application/json"],
             ["X-Mollie-Signature", "sha256=" + mac("sha256", "mollie-old-key", body).hex()],
             ["X-Mollie-Signature", "sha256=" + mac("sha256", "mollie-whsec-4Kd9s2", body).hex()]]))
    # DocuSign: one X-DocuSign-Signature-N per active key.
    doc = "https://developers.docusign.com/platform/webhooks/connect/hmac/"

    def ds_event(pad):
        return compact({"event": "envelope-completed", "apiVersion": "v2.1",
                        "uri": "/restapi/v2.1/accounts/8d2b6f0a-1c2d/envelopes/93be49ab-afa0-4adf-933c-f752070d71ec",
                        "retryCount": 0, "configurationId": 10418263, "generatedDateTime": "2025-11-01T12:26:39.1234567Z",
                        "data": {"accountId": "8d2b6f0a-1c2d", "userId": "5c1e8d7f-3a2b",
                                 "envelopeId": "93be49ab-afa0-4adf-933c-f752070d71ec",
                                 **({} if pad is None else {"envelopeSummary": {"emailSubject": pad}})}})

    ds_secret, ds_other = "Uq1n0eXvU8kS3v0fF5mWq9pN2rT6yB4cD7gH1jK5lM8=", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="

    def ds_sign(body, key, ts, n=1):
        return [["Content-Type", "application/json"], [f"X-DocuSign-Signature-{n}", b64(mac("sha256", key, body))]]

    def ds_judge(body, headers, now, k, path):
        want = b64(mac("sha256", k["secret"], body)).encode()
        return any(hmac.compare_digest(v.encode(), want) for h, v in headers if h.lower().startswith("x-docusign-signature-"))

    def ds_extra(mk, sign, body):
        mk("valid_second_key_header", "signature of this key in X-DocuSign-Signature-2 (another key's in -1)", body,
           [["Content-Type", "application/json"], ["X-DocuSign-Signature-1", b64(mac("sha256", ds_other, body))],
            ["X-DocuSign-Signature-2", b64(mac("sha256", ds_secret, body))]], expect=True)

    write("docusign", family("docusign", secret=ds_secret, other=ds_other, sign=ds_sign, judge=ds_judge, event=ds_event,
                             sig_header="X-DocuSign-Signature-1", enc="base64", extra=ds_extra,
                             note=f"documented formula X-DocuSign-Signature-N: base64(HMAC-SHA256(key, raw body)), any N matches; no official verifier ({doc})"))
    # Airtable: key = base64-decoded macSecretBase64.
    doc = "https://airtable.com/developers/web/api/webhooks-overview#webhook-notification-delivery"
    at_secret = b64(bytes(range(1, 33)))
    at_other = b64(bytes(32))

    def at_event(pad):
        return compact({"base": {"id": "appA1b2C3d4E5f6G7"}, "webhook": {"id": "achW8xYz1a2B3c4D5"},
                        "timestamp": "2025-11-01T12:26:39.000Z", **({} if pad is None else {"note": pad})})

    def at_sig(body, key):
        return "hmac-sha256=" + mac("sha256", base64.b64decode(key), body).hex()

    write("airtable", family(
        "airtable", secret=at_secret, other=at_other, event=at_event, sig_header="X-Airtable-Content-MAC",
        sign=lambda body, key, ts: [["Content-Type", "application/json"], ["X-Airtable-Content-MAC", at_sig(body, key)]],
        judge=exact_header("X-Airtable-Content-MAC", lambda body, h, k, path: at_sig(body, k["secret"])),
        note=f"documented formula X-Airtable-Content-MAC: hmac-sha256=hex(HMAC-SHA256(base64decode(macSecretBase64), raw body)); no official verifier ({doc})"))


def timestamped_documented():
    # Zendesk: base64(HMAC-SHA256(secret, timestamp + body)), RFC 3339 timestamp; window: hookgate's 5 min policy.
    doc = "https://developer.zendesk.com/documentation/webhooks/verifying/"
    z_secret, z_other = "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ==", "b3RoZXJfc2VjcmV0X25vdF90aGVfb25lX2NvbmZpZw=="

    def z_event(pad):
        return compact({"type": "zen:event-type:ticket.created", "account_id": 22129848,
                        "id": "cbe4028c-7239-495d-b020-f22348516046", "time": "2025-11-01T12:26:39Z",
                        "zendesk_event_version": "2022-11-06", "subject": "zen:ticket:35436",
                        "detail": {"id": "35436", "status": "NEW", "subject": "Where is my order?" if pad is None else pad}})

    def z_sign(body, key, ts):
        t = iso(ts)
        return [["Content-Type", "application/json"], ["X-Zendesk-Webhook-Id", "01GT7Q1DPHNYNXGM0Y5KAG6SA8"],
                ["X-Zendesk-Webhook-Invocation-Id", "8350205582"], ["X-Zendesk-Webhook-Signature-Timestamp", t],
                ["X-Zendesk-Webhook-Signature", b64(mac("sha256", key, t.encode() + body))]]

    def z_judge(body, headers, now, k, path):
        t, s = ci_get(headers, "X-Zendesk-Webhook-Signature-Timestamp"), ci_get(headers, "X-Zendesk-Webhook-Signature")
        if t is None or s is None:
            return False
        at = datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp()
        fresh = abs(now - at) <= 300
        return fresh and hmac.compare_digest(s.encode(), b64(mac("sha256", k["secret"], t.encode() + body)).encode())

    write("zendesk", family("zendesk", secret=z_secret, other=z_other, sign=z_sign, judge=z_judge, event=z_event,
                            sig_header="X-Zendesk-Webhook-Signature", enc="base64", ts=True,
                            ts_header="X-Zendesk-Webhook-Signature-Timestamp",
                            note=f"documented formula base64(HMAC-SHA256(secret, timestamp + body)); 300 s window both ways is hookgate's policy (Zendesk names none); no official verifier ({doc})"))
    # Recurly: "<ms>,<hex sig>[,<hex sig>]" over "<ms>.<body>", 5 min (the tolerance of Recurly's Ruby/Go libraries).
    doc = "https://docs.recurly.com/recurly-subscriptions/docs/signature-verification"
    r_secret, r_other = "f3c1b2a9e8d7c6b5a4f3e2d1c0b9a8f7", "00000000000000000000000000000000"

    def r_event(pad):
        return compact({"id": "t5yzh2xnk2ow", "object_type": "subscription", "site_id": "s7zcgb8vxn2x",
                        "event_type": "created", "event_time": "2025-11-01T12:26:39Z", "account_code": "acct-1042",
                        "uuid": "6a4c1b2f9e8d7c6b5a4f3e2d1c0b9a8f", **({} if pad is None else {"note": pad})})

    def r_sig(body, key, ts):
        return mac("sha256", key, f"{ts * 1000}.".encode() + body).hex()

    def r_sign(body, key, ts):
        return [["Content-Type", "application/json"], ["recurly-signature", f"{ts * 1000},{r_sig(body, key, ts)}"]]

    def r_judge(body, headers, now, k, path):
        h = ci_get(headers, "recurly-signature")
        if not h:
            return False
        parts = h.split(",")
        try:
            ms = int(parts[0])
        except ValueError:
            return False
        if abs(now * 1000 - ms) > 300_000:
            return False
        want = mac("sha256", k["secret"], parts[0].encode() + b"." + body).hex()
        return any(hmac.compare_digest(p.encode(), want.encode()) for p in parts[1:])

    def r_multi(body):
        return [["Content-Type", "application/json"],
                ["recurly-signature", f"{T0 * 1000},{r_sig(body, 'old-key', T0)},{r_sig(body, r_secret, T0)}"]]

    write("recurly", family("recurly", secret=r_secret, other=r_other, sign=r_sign, judge=r_judge, event=r_event,
                            sig_header="recurly-signature", enc="csv", ts=True, multi=r_multi,
                            note=f"documented formula recurly-signature: ms,hex(HMAC-SHA256(key, ms + '.' + body))[,...], 5 min both ways (the Ruby/Go libraries' default); the Python 4.79.0 and Node 4.81.0 clients have no verifier ({doc})"))
    # Trello: base64(HMAC-SHA1(app secret, body + callbackURL)).
    doc = "https://developer.atlassian.com/cloud/trello/guides/rest-api/webhooks/#webhook-signatures"
    url = "https://hooks.example.com/hooks/trello"
    t_secret, t_other = "b7e4c1d8a9f2e3b6c5d4a7f8e9b0c1d2a3f4e5b6c7d8e9f0a1b2c3d4e5f6a7b8", "0" * 64

    def t_event(pad):
        return compact({"model": {"id": "5a4ed2e4c8fa5c6d3a5e8a1b", "name": "Roadmap"},
                        "action": {"id": "5f1a2b3c4d5e6f7a8b9c0d1e", "idMemberCreator": "4ee7deffe582acdec80000ac",
                                   "type": "updateCard", "date": "2025-11-01T12:26:39.000Z",
                                   "data": {"card": {"id": "5a4ed2e4c8fa5c6d3a5e8a1c", "name": "Ship it" if pad is None else pad,
                                                     "idShort": 42}}}})

    def t_sig(body, key, u):
        return b64(mac("sha1", key, body + u.encode()))

    def t_judge(body, headers, now, k, path):
        got = ci_get(headers, "X-Trello-Webhook")
        signed_url = k["public_url"] + path[len("/hooks/trello"):]
        return got is not None and hmac.compare_digest(got.encode(), t_sig(body, k["secret"], signed_url).encode())

    def t_extra(mk, sign, body):
        h = [["Content-Type", "application/json"], ["X-Trello-Webhook", t_sig(body, t_secret, "https://evil.example/hooks/trello")]]
        mk("wrong_url", "signed for another callback URL", body, h, expect=False)

    write("trello", family("trello", secret=t_secret, other=t_other, public_url=url, event=t_event,
                           sig_header="X-Trello-Webhook", enc="base64", extra=t_extra, judge=t_judge,
                           sign=lambda body, key, ts: [["Content-Type", "application/json"], ["X-Trello-Webhook", t_sig(body, key, url)]],
                           note=f"documented formula X-Trello-Webhook: base64(HMAC-SHA1(app secret, body + callback URL)); no official verifier ({doc})"))


def hubspot_vectors():
    from hubspot.utils.signature import Signature
    url = "https://hooks.example.com/hooks/hubspot"
    secret, other = "c7a0b1d2-e3f4-4a5b-8c6d-7e8f9a0b1c2d", "00000000-0000-0000-0000-000000000000"

    def event(pad):
        return compact([{"eventId": 4099260516, "subscriptionId": 2881778, "portalId": 62515, "appId": 1160452,
                         "occurredAt": T0 * 1000 - 900, "subscriptionType": "contact.propertyChange", "attemptNumber": 0,
                         "objectId": 1246965, "propertyName": "email",
                         "propertyValue": "ada@example.com" if pad is None else pad, "changeSource": "CRM"}])

    def sig(body, key, ts, u=url):
        return b64(mac("sha256", key, b"POST" + u.encode() + body + str(ts * 1000).encode()))

    def sign(body, key, ts):
        return [["Content-Type", "application/json"], ["X-HubSpot-Request-Timestamp", str(ts * 1000)],
                ["X-HubSpot-Signature-v3", sig(body, key, ts)]]

    def judge(body, headers, now, k, path):
        s, t = ci_get(headers, "X-HubSpot-Signature-v3"), ci_get(headers, "X-HubSpot-Request-Timestamp")
        if s is None:
            return False
        try:
            with frozen(now):
                return Signature.is_valid(s, k["secret"], body.decode(), k["public_url"] + path[len("/hooks/hubspot"):],
                                          "POST", "v3", t)
        except Exception:
            return False

    def extra(mk, sign, body):
        mk("wrong_url", "signed for another URI", body,
           [["Content-Type", "application/json"], ["X-HubSpot-Request-Timestamp", str(T0 * 1000)],
            ["X-HubSpot-Signature-v3", sig(body, secret, T0, "https://evil.example/hooks/hubspot")]], expect=False)

    write("hubspot", family("hubspot", secret=secret, other=other, public_url=url, sign=sign, judge=judge, event=event,
                            sig_header="X-HubSpot-Signature-v3", enc="base64", ts=True,
                            ts_header="X-HubSpot-Request-Timestamp", extra=extra,
                            note="signed with the documented v3 formula base64(HMAC-SHA256(client secret, 'POST' + URI + body + ms)), "
                                 "judged by hubspot-api-client 12.0.0 Signature.is_valid(..., 'POST', 'v3', timestamp) "
                                 "(raises = false; it checks only the past: now - t < 300 s), clock frozen"))


def box_vectors():
    from box_sdk_gen.managers.webhooks import WebhooksManager
    primary, secondary = "SamplePrimaryKey4Box0123456789ab", "SampleSecondaryKey4Box0123456789"
    other = "NotTheKey000000000000000000000000"

    def event(pad):
        return compact({"type": "webhook_event", "id": "c4b1a2f3-8e9d-4c7b-a6f5-e4d3c2b1a098",
                        "created_at": "2025-11-01T05:26:39-07:00", "trigger": "FILE.UPLOADED",
                        "webhook": {"id": "1234567890", "type": "webhook"},
                        "created_by": {"type": "user", "id": "2030392653", "name": "Ada"},
                        "source": {"id": "1623449712311", "type": "file", "name": "report.pdf" if pad is None else pad}})

    def hdrs(body, ts, p=primary, s=None):
        t = iso(ts)
        h = [["Content-Type", "application/json"], ["box-delivery-id", "f96bb54b-ee16-4fc5-aa65-8c2d9e5b546f"],
             ["box-delivery-timestamp", t], ["box-signature-algorithm", "HmacSHA256"], ["box-signature-version", "1"]]
        if p:
            h.append(["box-signature-primary", b64(mac("sha256", p, body + t.encode()))])
        if s:
            h.append(["box-signature-secondary", b64(mac("sha256", s, body + t.encode()))])
        return h

    def judge(body, headers, now, k, path):
        try:
            with frozen(now):
                return WebhooksManager.validate_message(body.decode(), {a.lower(): b for a, b in headers}, primary,
                                                        secondary_key=secondary)
        except Exception:
            return False

    def extra(mk, sign, body):
        mk("valid_secondary_key", "signed with the secondary key only (rotation)", body, hdrs(body, T0, p=None, s=secondary),
           expect=True, secret=secondary)
        mk("both_signatures_secondary_valid", "primary from an old key, secondary valid", body,
           hdrs(body, T0, p=other, s=secondary), expect=True, secret=secondary)
        mk("wrong_signature_version", "box-signature-version 2", body, replace(hdrs(body, T0), "box-signature-version", "2"),
           expect=False)
        mk("wrong_signature_algorithm", "box-signature-algorithm HmacSHA1", body,
           replace(hdrs(body, T0), "box-signature-algorithm", "HmacSHA1"), expect=False)
        mk("timestamp_with_offset", "box-delivery-timestamp with a -07:00 offset, signed as sent", body,
           [[a, b] for a, b in hdrs(body, T0) if not a.startswith("box-signature-p") and a != "box-delivery-timestamp"]
           + [["box-delivery-timestamp", "2025-11-01T05:26:40-07:00"],
              ["box-signature-primary", b64(mac("sha256", primary, body + b"2025-11-01T05:26:40-07:00"))]], expect=True)

    out = family("box", secret=primary, other=other, sign=lambda body, key, ts: hdrs(body, ts, p=key), judge=judge,
                 event=event, sig_header="box-signature-primary", enc="base64", ts=True, ts_header="box-delivery-timestamp",
                 extra=extra,
                 note="signed with the documented formula base64(HMAC-SHA256(key, body + box-delivery-timestamp)), judged by "
                      "box-sdk-gen 1.17.0 WebhooksManager.validate_message(body, headers, primary, secondary_key=secondary) "
                      "(10 min in the past, none in the future), clock frozen")
    write("box", out)


def form_fields(body):
    from urllib.parse import parse_qs
    q = parse_qs(body.decode(), keep_blank_values=True)
    return {k: v[0] for k, v in q.items()}


def braintree_vectors():
    import braintree
    from braintree.util.crypto import Crypto
    public, private, other = "hg7x2rbvq9kp4d3m", "1f3c5e7a9b2d4f6a8c0e1b3d5f7a9c2e", "00000000000000000000000000000000"

    def gateway(priv=private, pub=public):
        return braintree.BraintreeGateway(braintree.Configuration(
            environment=braintree.Environment.Sandbox, merchant_id="hookgatemerchant", public_key=pub, private_key=priv))

    def form(sig, payload):
        return urlencode({"bt_signature": sig, "bt_payload": payload}).encode()

    def judge(body, headers, now, k, path):
        f = form_fields(body)
        try:
            with frozen(now):
                return gateway().webhook_notification.parse(f.get("bt_signature"), f.get("bt_payload")) is not None
        except Exception:
            return False

    note = ("signed with braintree 4.48.0 WebhookTesting.sample_notification (or Crypto.sha1_hmac_hash, its signer, for "
            "built payloads), judged by braintree 4.48.0 WebhookNotification.parse(bt_signature, bt_payload) (raises = false)")
    ct = [["Content-Type", "application/x-www-form-urlencoded"]]
    out = []

    def mk(name, what, body, expect):
        verdict = judge(body, ct, T0, None, "/hooks/braintree")
        if verdict != expect:
            MISMATCHES.append(f"braintree/{name}: judged {verdict}, expected {expect}")
        out.append(vector("braintree", name, f"{what}; {note}", body, ct, T0, verdict, secret=private, public_key=public))

    with frozen(T0):
        sample = gateway().webhook_testing.sample_notification(
            braintree.WebhookNotification.Kind.SubscriptionChargedSuccessfully, "sub_8fk2p9")
    sig, payload = sample["bt_signature"], sample["bt_payload"].decode()
    mk("valid", "subscription_charged_successfully sample notification", form(sig, payload), True)

    def signed(xml, priv=private, pub=public):
        p = base64.encodebytes(xml).decode()
        return f"{pub}|{Crypto.sha1_hmac_hash(priv, p)}", p

    def xml(pad):
        return (f'<notification><timestamp type="datetime">{iso(T0)}</timestamp><kind>check</kind>'
                f'<subject><check type="boolean">true</check><note>{pad or ""}</note></subject></notification>').encode()

    # ~1 MiB form: base64 grows the XML by 4/3, form-encoding its newlines and '+', '/' by ~3.
    big_xml = xml("x" * 300_000)
    mk("valid_large", "a ~400 KB base64 payload (check notification)", form(*signed(big_xml)), True)
    mk("wrong_secret", "signed with another private key", form(*signed(xml(None), priv=other)), False)
    mk("wrong_public_key", "right MAC under another public key's name", form(*signed(xml(None), pub="someone-else")), False)
    mk("several_pairs_one_matching", "bt_signature with another key's pair first",
       form(f"someone-else|{'ab' * 20}&{signed(xml(None))[0]}", signed(xml(None))[1]), True)
    p = payload.replace("A", "B", 1) if "A" in payload else payload[:-2] + "B\n"
    mk("payload_changed_one_char", "one base64 character of bt_payload changed", form(sig, p), False)
    mk("payload_without_trailing_newline", "signed over the payload with its trailing newline, sent without it (the lib also tries payload + newline)",
       form(sig, payload.rstrip("\n")), True)
    s2, p2 = signed(xml(None))
    mk("signed_without_newline_sent_with", "signed over the payload without its final newline, sent with it",
       form(f"{public}|{Crypto.sha1_hmac_hash(private, p2.rstrip(chr(10)))}", p2.rstrip("\n") + "\n"), False)
    mk("missing_signature_field", "no bt_signature", urlencode({"bt_payload": payload}).encode(), False)
    mk("missing_payload_field", "no bt_payload", urlencode({"bt_signature": sig}).encode(), False)
    mk("malformed_signature", "bt_signature without a pair", form("garbage", payload), False)
    mk("uppercase_hex", "the MAC's hex upper-cased", form(sig.split("|")[0] + "|" + sig.split("|")[1].upper(), payload), False)
    mk("empty_body", "no body", b"", False)
    write("braintree", out)


def adyen_vectors():
    from Adyen.util import generate_notification_sig, is_valid_hmac_notification
    key, other = "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056", "00" * 32

    def item(ref="order-1042", value=1130, pad=None, **kw):
        d = {"additionalData": {"authCode": "58747", "cardSummary": "1111", "expiryDate": "8/2028"},
             "amount": {"currency": "EUR", "value": value}, "eventCode": "AUTHORISATION",
             "eventDate": "2025-11-01T13:26:39+01:00", "merchantAccountCode": "AcmeShopECOM",
             "merchantReference": ref, "paymentMethod": "visa", "pspReference": "QFQTPCQ8HXSKGK82",
             "reason": "58747:1111:8/2028" if pad is None else pad, "success": "true"}
        d.update(kw)
        return d

    def sign_item(d, k=key):
        d = json.loads(json.dumps(d))
        bare = {a: b for a, b in d.items() if a != "additionalData"}
        d["additionalData"]["hmacSignature"] = generate_notification_sig(bare, k).decode()
        return d

    def body(*items):
        return compact({"live": "false", "notificationItems": [{"NotificationRequestItem": i} for i in items]})

    def judge(b, headers, now, k, path):
        try:
            return bool(is_valid_hmac_notification(json.loads(b), k["secret"]))
        except Exception:
            return False

    note = ("signed with Adyen 16.0.0 util.generate_notification_sig, judged by Adyen 16.0.0 "
            "util.is_valid_hmac_notification(json, hmac_key) (raises/None = false; it checks the first item only)")
    ct = [["Content-Type", "application/json"]]
    out = []

    def mk(name, what, b, expect):
        k = {"secret": key}
        verdict = judge(b, ct, T0, k, None)
        if verdict != expect:
            MISMATCHES.append(f"adyen/{name}: judged {verdict}, expected {expect}")
        out.append(vector("adyen", name, f"{what}; {note}", b, ct, T0, verdict, secret=key))

    good = sign_item(item())
    mk("valid", "AUTHORISATION notification", body(good), True)
    mk("valid_1mib", "~1 MiB notification (long reason)", grow(lambda pad: body(sign_item(item(pad=pad)))), True)
    mk("wrong_secret", "signed with another HMAC key", body(sign_item(item(), other)), False)
    mk("signed_field_changed", "amount value changed after signing",
       body(dict(good, amount={"currency": "EUR", "value": 99999})), False)
    mk("unsigned_field_changed", "eventDate changed after signing: Adyen's signature does not cover it",
       body(dict(good, eventDate="2030-01-01T00:00:00+01:00")), True)
    mk("json_reindented", "the same notification re-indented (the signature covers field values)",
       reindent(body(good)), True)
    mk("missing_signature", "no hmacSignature in additionalData",
       body(dict(good, additionalData={"authCode": "58747"})), False)
    mk("missing_additional_data", "no additionalData at all", body({a: b for a, b in good.items() if a != "additionalData"}), False)
    mk("malformed_signature", "hmacSignature is not base64", body(dict(good, additionalData={"hmacSignature": "garbage!"})), False)
    mk("second_item_forged", "first item valid, second item forged (signature of the first)",
       body(good, dict(good, merchantReference="order-6666", amount={"currency": "EUR", "value": 1})), True)
    mk("two_items_valid", "two items, each signed", body(good, sign_item(item(ref="order-1043", value=2000))), True)
    mk("lowercase_hex_key_valid", "signed with the same key written in lowercase hex",
       body(sign_item(item(ref="order-1044"), key.lower())), True)
    mk("empty_body", "no body", b"", False)
    write("adyen", out)


def figma_vectors():
    doc = "https://www.figma.com/developers/api#webhooks-v2-security"
    passcode, other = "hookgate-figma-passcode-5Kq2", "not-the-passcode"

    def event(pad=None, code=passcode, kind="FILE_UPDATE"):
        d = {"event_type": kind, "file_key": "hB6uTZv0yEPi1Qkz8a4Ttd", "file_name": "Design system" if pad is None else pad,
             "passcode": code, "timestamp": "2025-11-01T12:26:39Z", "webhook_id": "1523419"}
        if code is None:
            del d["passcode"]
        return compact(d)

    def judge(b, headers, now, k, path):
        try:
            got = json.loads(b).get("passcode")
        except Exception:
            return False
        return isinstance(got, str) and hmac.compare_digest(got.encode(), k["secret"].encode())

    note = f"documented check: the body's passcode equals the webhook's, constant-time compare; no official verifier ({doc})"
    ct = [["Content-Type", "application/json"]]
    out = []

    def mk(name, what, b, expect):
        verdict = judge(b, ct, T0, {"secret": passcode}, None)
        assert verdict == expect, name
        out.append(vector("figma", name, f"{what}; {note}", b, ct, T0, verdict, secret=passcode))

    mk("valid", "FILE_UPDATE event", event(), True)
    mk("valid_ping", "PING event sent when the webhook is created", event(kind="PING"), True)
    mk("valid_1mib", "~1 MiB event", grow(lambda pad: event(pad)), True)
    mk("wrong_passcode", "another passcode", event(code=other), False)
    mk("missing_passcode", "no passcode field", event(code=None), False)
    mk("passcode_not_a_string", "passcode is a number", compact({"event_type": "PING", "passcode": 5}), False)
    mk("passcode_prefix", "the passcode's first half only", event(code=passcode[:10]), False)
    mk("unsigned_field_changed", "another file_name: Figma signs nothing, the passcode still matches",
       event(pad="Design system v2"), True)
    mk("json_reindented", "re-indented JSON with the right passcode", reindent(event()), True)
    mk("empty_body", "no body", b"", False)
    write("figma", out)


def mandrill_vectors():
    doc = "https://mailchimp.com/developer/transactional/guides/track-respond-activity-webhooks/#authenticating-webhook-requests"
    url = "https://hooks.example.com/hooks/mandrill"
    key, other = "hg-mandrill-webhook-key-Z8pQ3w", "not-the-webhook-key"

    def events(pad=None):
        ev = [{"event": "send", "_id": "9f2e7c1a5b3d4e6f", "ts": T0 - 1,
               "msg": {"email": "ada@example.com", "subject": "Your order" if pad is None else pad, "state": "sent"}}]
        return json.dumps(ev, separators=(",", ":"))

    def params_sig(params, k, u=url):
        data = u + "".join(a + b for a, b in sorted(params.items()))
        return b64(mac("sha1", k, data.encode()))

    def mkbody(pad=None):
        return urlencode({"mandrill_events": events(pad)}).encode()

    def hdrs(b, k=key, u=url):
        return [["Content-Type", "application/x-www-form-urlencoded"], ["X-Mandrill-Signature", params_sig(form_fields(b), k, u)]]

    def judge(b, headers, now, k, path):
        got = ci_get(headers, "X-Mandrill-Signature")
        u = k["public_url"] + path[len("/hooks/mandrill"):]
        return got is not None and hmac.compare_digest(got.encode(), params_sig(form_fields(b), k["secret"], u).encode())

    note = f"documented formula base64(HMAC-SHA1(key, url + sorted name+value pairs)); no official verifier ({doc})"
    out = []

    def mk(name, what, b, h, expect, path=None):
        verdict = judge(b, h, T0, {"secret": key, "public_url": url}, path or "/hooks/mandrill")
        assert verdict == expect, name
        out.append(vector("mandrill", name, f"{what}; {note}", b, h, T0, verdict, path=path, secret=key, public_url=url))

    b = mkbody()
    mk("valid", "mandrill_events form POST", b, hdrs(b), True)
    big = grow(lambda pad: mkbody(pad))
    mk("valid_1mib", "~1 MiB form", big, hdrs(big), True)
    two = urlencode({"mandrill_events": events(), "a_extra": "1"}).encode()
    swapped = urlencode({"a_extra": "1", "mandrill_events": events()}).encode()
    mk("params_reordered", "the same parameters in another order (names are sorted before signing)", swapped, hdrs(two), True)
    mk("wrong_secret", "signed with another key", b, hdrs(b, k=other), False)
    mk("body_changed_one_byte", "one digit changed after signing", change_one_byte(b), hdrs(b), False)
    mk("wrong_url", "signed for another URL", b, hdrs(b, u="https://evil.example/hooks/mandrill"), False)
    mk("valid_subpath_query", "URL with a sub-path and query, signed as called", b,
       hdrs(b, u=url + "/tx?env=live"), True, path="/hooks/mandrill/tx?env=live")
    mk("missing_signature_header", "no X-Mandrill-Signature", b, hdrs(b)[:1], False)
    mk("malformed_signature_header", "garbage", b, replace(hdrs(b), "X-Mandrill-Signature", "garbage"), False)
    write("mandrill", out)


def bigcommerce_vectors():
    doc = ("https://developer.bigcommerce.com/docs/integrations/webhooks (custom `headers` on the hook; the preset "
           "expects Authorization: Bearer <secret> there)")
    secret = "bc-hook-token-8Wq3Zr5Tk1"

    def event(pad):
        return compact({"created_at": T0 - 1, "store_id": "1025646", "producer": "stores/abcde",
                        "scope": "store/order/statusUpdated", "hash": "3f9ea420af83450d7ef9f78b08c8af25b2213637",
                        "data": {"type": "order", "id": 173331, "status": {"previous_status_id": 0, "new_status_id": 11}},
                        **({} if pad is None else {"note": pad})})

    def judge(body, headers, now, k, path):
        got = ci_get(headers, "Authorization")
        return got is not None and hmac.compare_digest(got.encode(), f"Bearer {k['secret']}".encode())

    base = [["Content-Type", "application/json"]]
    note = f"documented check: the custom header set on the hook equals Authorization: Bearer <secret>; BigCommerce signs nothing ({doc})"
    out = []

    def mk(name, what, body, headers, expect):
        verdict = judge(body, headers, T0, {"secret": secret}, None)
        assert verdict == expect, name
        out.append(vector("bigcommerce", name, f"{what}; {note}", body, headers, T0, verdict, secret=secret))

    body = event(None)
    auth = ["Authorization", f"Bearer {secret}"]
    mk("valid", "store/order/statusUpdated", body, base + [auth], True)
    mk("valid_1mib", "~1 MiB body with the right token", grow(event), base + [auth], True)
    mk("valid_empty_body", "empty body with the right token (the token does not cover the body)", b"", base + [auth], True)
    mk("wrong_secret", "another token", body, base + [["Authorization", "Bearer bc-hook-token-0000000000"]], False)
    mk("wrong_secret_prefix", "the token less its last character", body, base + [["Authorization", f"Bearer {secret[:-1]}"]], False)
    mk("missing_signature_header", "no Authorization header", body, base, False)
    mk("basic_scheme", "the token under the Basic scheme", body,
       base + [["Authorization", "Basic " + b64(f"user:{secret}".encode())]], False)
    write("bigcommerce", out)


if __name__ == "__main__":
    only = set(sys.argv[1:])
    for name, fn in [("razorpay", razorpay_vectors), ("onfido", onfido_vectors), ("documented", documented_body_macs),
                     ("timestamped", timestamped_documented), ("hubspot", hubspot_vectors), ("box", box_vectors),
                     ("braintree", braintree_vectors), ("adyen", adyen_vectors), ("figma", figma_vectors),
                     ("mandrill", mandrill_vectors), ("bigcommerce", bigcommerce_vectors)]:
        if not only or name in only:
            fn()
    if MISMATCHES:
        print("verdicts differing from expectations:\n  " + "\n  ".join(MISMATCHES))
