"""gen_provb.py's providers without a verifier library (paystack, woocommerce, segment, quickbooks,
mollie, docusign, airtable, zendesk, recurly, trello, figma, mandrill, bigcommerce): signed and judged
by the documented check, marked so in each vector's note.
"""

import base64
import hmac
import json
from datetime import datetime
from urllib.parse import urlencode

from provb_common import b64, body_mac_provider, exact_header, family, form_fields, iso
from vecs import T0, change_one_byte, ci_get, compact, grow, mac, reindent, replace, vector, write


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
