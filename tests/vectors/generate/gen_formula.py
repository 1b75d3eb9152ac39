"""Vectors for providers that publish no verifier library: signed AND judged with the documented
formula (see ../README.md for the doc of each). Standard library only.

Run:  python gen_formula.py
"""

import base64
import hmac
from urllib.parse import parse_qs, urlsplit

from vecs import (T0, ci_get, mac, change_one_byte, compact, grow, json_response, reindent, text_response, upper_hex,
                  vector, write)


def header_hmac_judge(header, prefix, algo, enc):
    """Documented check: header == prefix + enc(HMAC(secret, raw body)), compared exactly (constant time)."""
    def judge(body, headers, k):
        got = ci_get(headers, header)
        if got is None:
            return False
        d = mac(algo, k["secret"], body)
        want = prefix + (d.hex() if enc == "hex" else base64.b64encode(d).decode())
        return hmac.compare_digest(got.encode(), want.encode())
    return judge


def maker(provider, judge, doc, **keys):
    out = []

    def mk(name, note, body, headers, expect, now=T0, **kw):
        k = dict(keys)
        for key in ("secret", "signing_secret", "verify_token"):
            if key in kw:
                k[key] = kw.pop(key)
        verdict = judge(body, headers, k)
        assert verdict == expect, (provider, name, verdict)
        out.append(vector(provider, name, f"{note}; documented formula, no official verifier ({doc})", body, headers,
                          now, verdict, **kw, **k))

    return mk, out


def hmac_provider(provider, secret, other, header, prefix, algo, enc, doc, event_fn, base_headers, extra=None,
                  legacy=None, **keys):
    """The common case set for 'HMAC of the raw body in one header' providers.
    legacy: optional (header, prefix, algo) of a second, ignored signature header sent alongside (Meta's sha1)."""
    judge = header_hmac_judge(header, prefix, algo, enc)
    mk, out = maker(provider, judge, doc, secret=secret, **keys)

    def sig(body, key=secret):
        d = mac(algo, key, body)
        return prefix + (d.hex() if enc == "hex" else base64.b64encode(d).decode())

    def hdrs(body, key=secret, s=None, primary=True):
        h = list(base_headers)
        if legacy:
            h.append([legacy[0], legacy[1] + mac(legacy[2], key, body).hex()])
        if primary:
            h.append([header, s if s is not None else sig(body, key)])
        return h

    body = event_fn(None)
    s = sig(body)
    what = f"{header}: {prefix}{enc}(HMAC-{algo.upper()}(secret, raw body))"
    if legacy:
        what += f" ({legacy[0]} {legacy[1]}... also sent, not used)"
    mk("valid", f"realistic event, {what}", body, hdrs(body), True)
    if extra:
        extra(mk, sig, hdrs)
    big = grow(event_fn)
    mk("valid_1mib", "~1 MiB event", big, hdrs(big), True)
    mk("valid_empty_body", "empty body, HMAC of zero bytes", b"", hdrs(b""), True)
    mk("wrong_secret", "signed with another secret", body, hdrs(body, key=other), False)
    mk("body_changed_one_byte", "one digit changed after signing", change_one_byte(body), hdrs(body), False)
    mk("json_reindented", "re-indented JSON, original signature", reindent(body), hdrs(body), False)
    mk("missing_signature_header", f"no {header}" + (f" (the legacy {legacy[0]} alone must not be enough)" if legacy else ""),
       body, hdrs(body, primary=False), False)
    mk("malformed_signature_header", "garbage", body, hdrs(body, s="garbage"), False)
    if prefix:
        wrong = "sha1=" if prefix != "sha1=" else "sha256="
        mk("malformed_signature_wrong_prefix", f"right digest under '{wrong}'", body, hdrs(body, s=wrong + s[len(prefix):]), False)
    mk("malformed_signature_truncated", "signature cut by one char", body, hdrs(body, s=s[:-1]), False)
    if enc == "hex":
        mk("uppercase_hex", "hex upper-cased: the documented check compares the lowercase hex string exactly", body,
           hdrs(body, s=upper_hex(s)), False)
    return mk, out


# ------------------------------------------------------------------------------------------------
def meta_vectors():
    secret, other = "c9f3a1b27d4e4f6a8b0c2d4e6f8a0b1c", "00000000000000000000000000000000"
    verify_token = "hookgate-verify-7Qm2xT"
    doc = "https://developers.facebook.com/docs/graph-api/webhooks/getting-started"

    def event(pad):
        d = {"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [{"value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
            "contacts": [{"profile": {"name": "Ren\u00e9e M\u00fcller"}, "wa_id": "16505551234"}],
            "messages": [{"from": "16505551234", "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=",
                          "timestamp": str(T0 - 1), "type": "text",
                          "text": {"body": "Ol\u00e1! \u00bfD\u00f3nde est\u00e1 mi pedido? \U0001F4E6" if pad is None else pad}}]},
            "field": "messages"}]}]}
        return compact(d)  # ensure_ascii: non-ASCII arrives as \uXXXX escapes, as Meta sends it

    base = [["Content-Type", "application/json"], ["User-Agent", "facebookexternalua"]]
    mk, out = hmac_provider("meta", secret, other, "X-Hub-Signature-256", "sha256=", "sha256", "hex", doc, event, base,
                            legacy=("X-Hub-Signature", "sha1=", "sha1"), verify_token=verify_token)
    get_h = [["User-Agent", "facebookplatform/1.0 (+http://developers.facebook.com)"], ["Accept", "*/*"]]
    for name, tok, ok in (("handshake", verify_token, True), ("handshake_wrong_verify_token", "not-the-token", False)):
        path = f"/hooks/meta?hub.mode=subscribe&hub.verify_token={tok}&hub.challenge=1158201444"
        q = parse_qs(urlsplit(path).query)
        verdict = q["hub.mode"] == ["subscribe"] and hmac.compare_digest(q["hub.verify_token"][0], verify_token)
        assert verdict == ok
        v = vector("meta", name, ("GET subscription handshake: token matches -> 200 with hub.challenge as the body"
                                  if ok else "GET handshake with a wrong hub.verify_token -> 403")
                   + f"; documented handshake, no official verifier ({doc})",
                   b"", get_h, T0, verdict, method="GET", path=path,
                   handshake=text_response("1158201444") if ok else {"status": 403},
                   secret=secret, verify_token=verify_token)
        out.append(v)
    write("meta", out)


def twitter_vectors():
    secret = "Gx3Jb7UbX9mZp2QeR5sT8vW1yA4cD6fH9kL2nP5rS8uV1xY4z"
    other = "0" * 50
    doc = "https://developer.x.com/en/docs/x-api/enterprise/account-activity-api/guides/securing-webhooks"

    def event(pad):
        return compact({"for_user_id": "2244994945", "tweet_create_events": [{
            "created_at": "Sat Nov 01 12:26:39 +0000 2025", "id": 1984614320511234567, "id_str": "1984614320511234567",
            "text": "@XDevelopers hello webhook" if pad is None else pad,
            "user": {"id": 6253282, "id_str": "6253282", "name": "X API", "screen_name": "api"},
            "timestamp_ms": str(T0 * 1000 - 900)}]})

    base = [["Content-Type", "application/json; charset=utf-8"], ["User-Agent", "X-Webhooks/1.0"]]
    mk, out = hmac_provider("twitter", secret, other, "x-twitter-webhooks-signature", "sha256=", "sha256", "base64",
                            doc, event, base)
    crc = "MjAyNS0xMS0wMVQxMjoyNjo0MFo_Y3JjX3Rva2Vu"
    resp = "sha256=" + base64.b64encode(mac("sha256", secret, crc.encode())).decode()
    out.append(vector("twitter", "crc", "CRC GET: answer 200 {\"response_token\": \"sha256=\" + base64(HMAC-SHA256(consumer secret, crc_token))}"
                      f"; documented formula, no official verifier ({doc})",
                      b"", [["User-Agent", "X-Webhooks/1.0"], ["Accept", "*/*"]], T0, True, method="GET",
                      path=f"/hooks/twitter?crc_token={crc}&nonce=MTc2MjAwMDAwMA",
                      handshake=json_response({"response_token": resp}), secret=secret))
    write("twitter", out)


def intercom_vectors():
    secret, other = "5d1b0f8e-2c4a-4e6b-9a8c-7d3f1e2b4c6a", "00000000-0000-0000-0000-000000000000"
    doc = "https://developers.intercom.com/docs/webhooks/setting-up-webhooks"

    def event(pad, topic="conversation.user.created"):
        return compact({"type": "notification_event", "app_id": "h5ykzkvx", "id": "notif_8a7c3e20-6b1f-4d5e-9c2a-1f3b5d7e9a0c",
                        "topic": topic, "delivery_status": "pending", "delivery_attempts": 1, "delivered_at": 0,
                        "first_sent_at": T0 - 1, "created_at": T0 - 1, "self": None, "links": {},
                        "data": {"type": "notification_event_data", "item": {
                            "type": "conversation", "id": "147", "created_at": T0 - 2, "state": "open",
                            "source": {"type": "conversation", "id": "403918330", "delivered_as": "customer_initiated",
                                       "body": "<p>Hi, where is my order 1042?</p>" if pad is None else pad,
                                       "author": {"type": "user", "id": "5c8f2b0e1a", "name": "Ada"}}}}})

    base = [["Content-Type", "application/json"], ["User-Agent", "intercom-parrot-service-client/1.0"]]

    def extra(mk, sig, hdrs):
        ping = compact({"type": "notification_event", "app_id": "h5ykzkvx", "id": "notif_ping_2f7d9b1e", "topic": "ping",
                        "data": {"type": "notification_event_data", "item": {"type": "ping", "message": "something something interzen"}},
                        "created_at": T0, "delivery_attempts": 1})
        mk("valid_ping", "ping topic sent on registration (an ordinary signed delivery)", ping, hdrs(ping), True)

    _, out = hmac_provider("intercom", secret, other, "X-Hub-Signature", "sha1=", "sha1", "hex", doc, event, base, extra)
    write("intercom", out)


def bitbucket_vectors():
    secret, other = "bb-webhook-secret-9f2e7c1a", "bb-webhook-secret-00000000"
    doc = "https://support.atlassian.com/bitbucket-cloud/docs/manage-webhooks/#Secure-webhooks"

    def event(pad):
        return compact({"push": {"changes": [{"new": {"type": "branch", "name": "main",
                                                        "target": {"type": "commit", "hash": "709d658dc5b6d6afcd46049c2f332ee3f515a67d",
                                                                   "message": "Fix checkout totals\n" if pad is None else pad,
                                                                   "date": "2025-11-01T12:26:30+00:00"}},
                                                "old": {"type": "branch", "name": "main",
                                                        "target": {"type": "commit", "hash": "1e65c05c1d5171631d92438a13901ca7dae9618c"}},
                                                "created": False, "closed": False, "forced": False}]},
                        "repository": {"type": "repository", "full_name": "acme/shop", "name": "shop",
                                       "uuid": "{21fa9698-f1a6-4bd1-8d5a-7e9f0c3b2a11}"},
                        "actor": {"type": "user", "display_name": "Ada Lovelace", "uuid": "{d301aafa-d676-4ee0-88be-962be7417567}"}})

    base = [["Content-Type", "application/json"], ["User-Agent", "Bitbucket-Webhooks/2.0"], ["X-Event-Key", "repo:push"],
            ["X-Request-UUID", "7b8e1c2d-3f4a-4b5c-8d6e-9f0a1b2c3d4e"], ["X-Hook-UUID", "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"],
            ["X-Attempt-Number", "1"]]
    _, out = hmac_provider("bitbucket", secret, other, "X-Hub-Signature", "sha256=", "sha256", "hex", doc, event, base)
    write("bitbucket", out)


def limai_vectors():
    secret, other = "lmai_whsec_4Qk8Zr2Tn6Vx0Bc3", "lmai_whsec_000000000000000"
    doc = "LimAI webhook docs (pasted into the project's research notes, shared/notes/providers.md)"

    def event(pad):
        return compact({"eventId": "evt_01JBQ5D3M7X2K9R4T6W8Y0Z1A3", "eventType": "call.completed",
                        "createdAt": "2025-11-01T12:26:39.000Z",
                        "data": {"callId": "call_7f3a9c2e", "agentId": "agt_51b2", "durationSeconds": 184,
                                 "status": "completed", "summary": "Customer asked about order 1042." if pad is None else pad}})

    base = [["Content-Type", "application/json"], ["User-Agent", "LimAI-Webhooks/1.0"]]

    def extra(mk, sig, hdrs):
        ch = "c8f1e2d3b4a5968778695a4b3c2d1e0f"
        vb = compact({"eventType": "VERIFICATION", "challenge": ch})
        mk("verification", "VERIFICATION handshake (signed): answer 200 with the challenge value, as JSON {\"challenge\": ...}",
           vb, hdrs(vb), True, handshake=json_response({"challenge": ch}))
        mk("verification_bad_signature", "VERIFICATION signed with another secret: refuse, do not echo the challenge",
           vb, hdrs(vb, key=other), False)

    _, out = hmac_provider("limai", secret, other, "X-Webhook-Signature", "sha256=", "sha256", "hex", doc, event, base, extra)
    write("limai", out)


def lahza_vectors():
    secret, other = "sk_test_lahza_8c2f4a6e1b3d5f7a9c0e", "sk_test_lahza_00000000000000000000"
    doc = "Lahza webhook docs (pasted into the project's research notes, shared/notes/providers.md)"

    def event(pad):
        return compact({"event": "charge.success", "data": {
            "id": 4099260516, "domain": "test", "status": "success", "reference": "re4lyvq3s3",
            "amount": 40333, "currency": "ILS", "channel": "card", "paid_at": "2025-11-01T12:26:38.000Z",
            "gateway_response": "Successful" if pad is None else pad,
            "customer": {"id": 84312, "email": "customer@example.com", "customer_code": "CUS_xnxdt6s1zg1f4nx"}}})

    base = [["Content-Type", "application/json"], ["User-Agent", "Lahza-Webhooks/1.0"]]
    _, out = hmac_provider("lahza", secret, other, "x-lahza-signature", "", "sha256", "hex", doc, event, base)
    write("lahza", out)


# ------------------------------------------------------------------------------------------------
def gitlab_vectors():
    secret = "glwht-Zm9vYmFyLXNlY3JldC10b2tlbg"
    doc = "https://docs.gitlab.com/user/project/integrations/webhooks/#create-a-webhook"

    def judge(body, headers, k):
        got = ci_get(headers, "X-Gitlab-Token")
        return got is not None and hmac.compare_digest(got.encode(), k["secret"].encode())

    def event(pad):
        return compact({"object_kind": "merge_request", "event_type": "merge_request",
                        "user": {"id": 1, "name": "Administrator", "username": "root"},
                        "project": {"id": 1, "name": "Gitlab Test", "path_with_namespace": "gitlabhq/gitlab-test",
                                    "web_url": "http://example.com/gitlabhq/gitlab-test"},
                        "object_attributes": {"id": 99, "iid": 1, "title": "MS-Viewport" if pad is None else pad,
                                              "state": "opened", "action": "open", "source_branch": "ms-viewport",
                                              "target_branch": "master", "created_at": "2025-11-01 12:26:30 UTC"}})

    def hdrs(tok):
        h = [["Content-Type", "application/json"], ["User-Agent", "GitLab/18.6.0"], ["X-Gitlab-Event", "Merge Request Hook"],
             ["X-Gitlab-Event-UUID", "13792a34-cac6-4fda-95a8-c58e00a3954e"],
             ["X-Gitlab-Webhook-UUID", "0c7a9e3d-1f2b-4a5c-8d6e-9b0f1a2c3d4e"], ["X-Gitlab-Instance", "https://gitlab.example.com"],
             ["Idempotency-Key", "d2b0e2a5-1f3c-4e7a-9b8d-6c5f4e3d2a1b"]]
        return h + ([["X-Gitlab-Token", tok]] if tok is not None else [])

    mk, out = maker("gitlab", judge, doc, secret=secret)
    body = event(None)
    mk("valid", "merge request event, X-Gitlab-Token equals the secret (constant-time compare)", body, hdrs(secret), True)
    big = grow(event)
    mk("valid_1mib", "~1 MiB event", big, hdrs(secret), True)
    mk("valid_empty_body", "empty body with the right token (the token does not cover the body)", b"", hdrs(secret), True)
    mk("wrong_secret", "X-Gitlab-Token differs from the secret", body, hdrs("glwht-not-the-right-token"), False)
    mk("wrong_secret_prefix", "X-Gitlab-Token is a strict prefix of the secret", body, hdrs(secret[:-1]), False)
    mk("missing_signature_header", "no X-Gitlab-Token", body, hdrs(None), False)
    write("gitlab", out)


def bearer_provider(provider, secret, doc, event_fn, base, extra_cases=None, signing=None):
    def judge(body, headers, k):
        got = ci_get(headers, "Authorization")
        ok = got is not None and hmac.compare_digest(got.encode(), f"Bearer {k['secret']}".encode())
        if ok and k.get("signing_secret"):
            s = ci_get(headers, "X-Lido-Signature")
            ok = s is not None and hmac.compare_digest(s.encode(), mac("sha256", k["signing_secret"], body).hex().encode())
        return ok

    mk, out = maker(provider, judge, doc, secret=secret)
    body = event_fn(None)
    auth = ["Authorization", f"Bearer {secret}"]
    mk("valid", "realistic body, Authorization: Bearer <secret>", body, base + [auth], True)
    big = grow(event_fn)
    mk("valid_1mib", "~1 MiB body with the right bearer token", big, base + [auth], True)
    mk("valid_empty_body", "empty body with the right bearer token", b"", base + [auth], True)
    mk("wrong_secret", "Authorization: Bearer <another token>", body, base + [["Authorization", "Bearer not-the-token-4f2a"]], False)
    mk("missing_signature_header", "no Authorization header", body, base, False)
    mk("basic_scheme", "the secret sent with the Basic scheme instead of Bearer", body,
       base + [["Authorization", "Basic " + base64.b64encode(f"user:{secret}".encode()).decode()]], False)
    if extra_cases:
        extra_cases(mk, body, base, auth)
    return out


def locoia_vectors():
    doc = "Locoia flow webhook docs (pasted into the project's research notes, shared/notes/providers.md)"

    def event(pad):
        return compact({"event": "invoice.created", "id": "inv_2025_11_0042", "customer": {"id": 5812, "name": "ACME GmbH"},
                        "amount": 119.0, "currency": "EUR", "comment": pad or "net 30"})

    out = bearer_provider("locoia", "lc_tok_7Hq2Xz9Mv4Rb6Nd1", doc, event,
                          [["Content-Type", "application/json"], ["User-Agent", "acme-erp/3.2"]])
    write("locoia", out)


def lido_vectors():
    doc = "Lido 'Send Webhook' docs (pasted into the project's research notes, shared/notes/providers.md); X-Lido-Signature format unspecified, assumed hex HMAC-SHA256(signing_secret, raw body)"
    secret, signing = "lido_bearer_3Fj8Kq2Wz6Xv", "lido_sig_9Rt4Yp7Ub1Nc"

    def event(pad):
        return compact({"runId": "run_01JBQ6A2C4E6G8J0K2M4N6P8R0", "workflow": "Invoice extraction",
                        "status": "completed", "completedAt": "2025-11-01T12:26:39Z",
                        "rows": [{"Invoice Number": "INV-1042", "Total": "119.00", "Vendor": "ACME GmbH" if pad is None else pad}]})

    base = [["Content-Type", "application/json"], ["User-Agent", "Lido-Webhooks/1.0"]]

    def extra(mk, body, base, auth):
        good = mac("sha256", signing, body).hex()
        mk("valid_with_signature", "bearer valid and X-Lido-Signature = hex HMAC-SHA256(signing_secret, raw body)",
           body, base + [auth, ["X-Lido-Signature", good]], True, signing_secret=signing)
        mk("signature_wrong", "bearer valid but X-Lido-Signature made with another key", body,
           base + [auth, ["X-Lido-Signature", mac("sha256", "other", body).hex()]], False, signing_secret=signing)
        mk("signature_body_changed_one_byte", "bearer valid, signature valid for the original body, one digit changed",
           change_one_byte(body), base + [auth, ["X-Lido-Signature", good]], False, signing_secret=signing)
        mk("signature_missing", "bearer valid, signing_secret configured, no X-Lido-Signature", body, base + [auth], False,
           signing_secret=signing)

    write("lido", bearer_provider("lido", secret, doc, event, base, extra))


def lindo_vectors():
    doc = "Lindo webhook docs (pasted into the project's research notes, shared/notes/providers.md)"

    def judge(body, headers, k):
        return ci_get(headers, "User-Agent") == "LindoAI-Webhooks/1.0"

    def event(pad):
        return compact({"event": "form.submitted", "timestamp": "2025-11-01T12:26:39.512Z",
                        "data": {"website_id": "ws_8f2a1c", "form_id": "contact", "submission_id": "sub_4b7e9d",
                                 "fields": {"name": "Ada", "email": "ada@example.com",
                                            "message": "Please call me back about order 1042" if pad is None else pad}}})

    mk, out = maker("lindo", judge, doc)
    ua = [["Content-Type", "application/json"], ["User-Agent", "LindoAI-Webhooks/1.0"]]
    body = event(None)
    mk("valid", "unsigned body with User-Agent: LindoAI-Webhooks/1.0 (User-Agent check only)", body, ua, True)
    big = grow(event)
    mk("valid_1mib", "~1 MiB body with the Lindo User-Agent", big, ua, True)
    mk("missing_user_agent", "no User-Agent header: fails the User-Agent check", body, [["Content-Type", "application/json"]], False)
    mk("other_user_agent", "User-Agent curl/8.5.0: fails the User-Agent check", body,
       [["Content-Type", "application/json"], ["User-Agent", "curl/8.5.0"]], False)
    write("lindo", out)


if __name__ == "__main__":
    meta_vectors()
    twitter_vectors()
    intercom_vectors()
    bitbucket_vectors()
    limai_vectors()
    lahza_vectors()
    gitlab_vectors()
    locoia_vectors()
    lido_vectors()
    lindo_vectors()
