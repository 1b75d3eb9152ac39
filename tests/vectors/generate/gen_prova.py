"""Vectors for providers with no official verifier (searched on npm and PyPI): made and judged by
each provider's documented algorithm (stdlib only), the documentation URL in every note.

Run:  python gen_prova.py
sentry, vercel, calendly, typeform, persona, lemon-squeezy, gitea, forgejo, bitbucket-server,
cloudflare, postmark, pipedrive, strapi.
"""

import base64
import hashlib
import hmac

from vecs import T0, change_one_byte, compact, grow, reindent, replace, upper_hex, vector, without, write


def hmac_raw(alg, key, *parts):
    m = hmac.new(key.encode(), digestmod=alg)
    for p in parts:
        m.update(p)
    return m.digest()


def family(provider, judge, secret, doc):
    """mk(name, note, body, headers, now=T0): one vector judged by `judge` (the documented check)."""
    out = []

    def mk(name, note, body, headers, now=T0):
        out.append(vector(provider, name, f"{note}; documented check: {doc}", body, headers, now,
                          judge(body, headers, now), secret=secret))

    return mk, out


def get(headers, name):
    return next((v for k, v in headers if k.lower() == name.lower()), None)


def body_mac(provider, header, prefix, alg, encode, event, doc, base_headers, extra=()):
    """A MAC of the raw body in one header: valid, 1 MiB, re-indented, one byte, wrong secret,
    missing/malformed header, uppercase hex (hex schemes: the documented exact comparison refuses it)."""
    secret = f"{provider}-webhook-secret-0123456789"

    def sig(body, key=secret):
        return prefix + encode(hmac_raw(alg, key, body))

    def judge(body, headers, now):
        presented = get(headers, header)
        return presented is not None and hmac.compare_digest(presented, sig(body))

    def hdrs(s):
        return base_headers + [[header, s]]

    mk, out = family(provider, judge, secret, doc)
    body = event(None)
    good = sig(body)
    mk("valid", "realistic event", body, hdrs(good))
    big = grow(event)
    mk("valid_1mib", "~1 MiB event", big, hdrs(sig(big)))
    mk("valid_empty_body", "empty body, signed", b"", hdrs(sig(b"")))
    mk("json_reindented", "re-indented JSON, signature kept", reindent(body), hdrs(good))
    mk("body_changed_one_byte", "one digit changed", change_one_byte(body), hdrs(good))
    mk("wrong_secret", "signed with another secret", body, hdrs(sig(body, "another-secret")))
    mk("missing_signature_header", f"no {header}", body, base_headers)
    mk("malformed_signature_header", "garbage signature", body, hdrs(prefix + "garbage"))
    if encode is HEX:
        mk("uppercase_hex", "hex upper-cased: the documented comparison is exact", body, hdrs(upper_hex(good)))
    for name, note, b, h in extra:
        mk(name, note, b, h)
    write(provider, out)


def HEX(b):
    return b.hex()


def B64(b):
    return base64.b64encode(b).decode()


def stamped_list(provider, header, window, event, doc, base_headers):
    """`t=<ts>,v1=<hex HMAC-SHA256 of "t.body">` with a replay window of `window` seconds both ways."""
    secret = f"{provider}-signing-key-0123456789"

    def v1(body, t=T0, key=secret):
        return hmac_raw(hashlib.sha256, key, f"{t}.".encode(), body).hex()

    def judge(body, headers, now):
        value = get(headers, header)
        if value is None:
            return False
        for group in value.split(" "):  # Persona: one t=..,v1=.. set per secret during a rotation
            parts = dict(p.split("=", 1) for p in group.split(",") if "=" in p)
            t, sig = parts.get("t"), parts.get("v1")
            if t and sig and t.isdigit() and abs(now - int(t)) <= window and \
                    hmac.compare_digest(sig, v1(body, t)):
                return True
        return False

    def hdrs(v):
        return base_headers + [[header, v]]

    mk, out = family(provider, judge, secret, doc)
    body = event(None)
    good = f"t={T0},v1={v1(body)}"
    mk("valid", "realistic event", body, hdrs(good))
    big = grow(event)
    mk("valid_1mib", "~1 MiB event", big, hdrs(f"t={T0},v1={v1(big)}"))
    mk("json_reindented", "re-indented JSON, signature kept", reindent(body), hdrs(good))
    mk("body_changed_one_byte", "one digit changed", change_one_byte(body), hdrs(good))
    mk("wrong_secret", "signed with another key", body, hdrs(f"t={T0},v1={v1(body, key='other')}"))
    mk("missing_signature_header", f"no {header}", body, base_headers)
    mk("malformed_signature_header", "no v1 part", body, hdrs(f"t={T0}"))
    mk("timestamp_changed", "t one second later (it is signed)", body, hdrs(good.replace(f"t={T0}", f"t={T0 + 1}")))
    mk("uppercase_hex", "hex upper-cased: the documented comparison is exact", body, hdrs(f"t={T0},v1={v1(body).upper()}"))
    mk("stale_timestamp", f"judged {window + 1} s after signing", body, hdrs(good), now=T0 + window + 1)
    mk("future_timestamp", f"judged {window + 1} s before signing", body, hdrs(good), now=T0 - window - 1)
    mk("inside_window", f"judged {window - 1} s after signing", body, hdrs(good), now=T0 + window - 1)
    if provider == "persona":
        other = f"t={T0 - 1},v1={v1(body, T0 - 1, 'retiring-key')}"
        mk("rotation_two_sets", "two space-separated t,v1 sets (old and new secret, own timestamps)", body,
           hdrs(f"{other} t={T0 - 2},v1={v1(body, T0 - 2)}"))
    write(provider, out)


def credential(provider, header, make_value, secret, event, doc, base_headers, wrong):
    """A static credential: the body is not covered (a changed body passes)."""
    def judge(body, headers, now):
        presented = get(headers, header)
        return presented is not None and hmac.compare_digest(presented.encode(), make_value(secret).encode())

    def hdrs(v):
        return base_headers + [[header, v]]

    mk, out = family(provider, judge, secret, doc)
    body = event(None)
    mk("valid", "realistic event with the configured credential", body, hdrs(make_value(secret)))
    big = grow(event)
    mk("valid_1mib", "~1 MiB event", big, hdrs(make_value(secret)))
    mk("body_changed_one_byte", "one digit changed: the credential does not cover the body, ACCEPTED", change_one_byte(body),
       hdrs(make_value(secret)))
    mk("wrong_secret", "another credential", body, hdrs(make_value(wrong)))
    mk("missing_credential_header", f"no {header}", body, base_headers)
    mk("credential_with_suffix", "the credential with one character appended", body, hdrs(make_value(secret) + "x"))
    write(provider, out)


def basic(cred):
    return "Basic " + base64.b64encode(cred.encode()).decode()


def main():
    ct = [["Content-Type", "application/json"]]

    def sentry_event(pad):
        return compact({"action": "created", "installation": {"uuid": "7a485448-a9e2-4c85-8a3c-4f44175783c9"},
                        "data": {"issue": {"id": "1170820242", "shortId": "IPE-1", "title": pad or "Error #1: This is a test error!",
                                           "level": "error", "status": "unresolved", "project": {"id": "1", "name": "ipe", "slug": "ipe"}}},
                        "actor": {"type": "application", "id": "sentry", "name": "Sentry"}})
    body_mac("sentry", "Sentry-Hook-Signature", "", hashlib.sha256, HEX, sentry_event,
             "hex HMAC-SHA256 of the body with the client secret, https://docs.sentry.io/organization/integrations/integration-platform/webhooks/",
             ct + [["Request-ID", "7a9a5b0c-8f3e-4c2e-9a77-1d2f3e4a5b6c"], ["Sentry-Hook-Resource", "issue"], ["Sentry-Hook-Timestamp", str(T0)]])

    def vercel_event(pad):
        return compact({"id": "Ikx3Lz9wHgTw2YwpJY3S0Mks", "type": "deployment.succeeded", "createdAt": T0 * 1000, "region": "iad1",
                        "payload": {"deployment": {"id": "dpl_2euZBFqxDy6Xtj3ceE6ScCrbL9Rj", "url": "my-app-abc123.vercel.app", "name": pad or "my-app"},
                                    "project": {"id": "prj_7g8h9i"}, "target": "production"}})
    body_mac("vercel", "x-vercel-signature", "", hashlib.sha1, HEX, vercel_event,
             "hex HMAC-SHA1 of the body, https://vercel.com/docs/webhooks/webhooks-api#securing-webhooks", ct)

    def typeform_event(pad):
        return compact({"event_id": "01JBHN1FQMZ3JDH6QDRV7GKT2T", "event_type": "form_response",
                        "form_response": {"form_id": "lT4Z3j", "token": "a3a12ec67a1365927098a606107fac15", "submitted_at": "2025-11-01T12:26:39Z",
                                          "answers": [{"type": "text", "text": pad or "Lorem ipsum", "field": {"id": "DlXFaesGBpoF", "type": "long_text"}},
                                                      {"type": "number", "number": 9, "field": {"id": "Q7M2XAwY04dW", "type": "opinion_scale"}}]}})
    body_mac("typeform", "Typeform-Signature", "sha256=", hashlib.sha256, B64, typeform_event,
             "sha256= + base64 HMAC-SHA256 of the body, https://www.typeform.com/developers/webhooks/secure-your-webhooks/",
             ct + [["User-Agent", "Typeform Webhooks"]])

    def lemon_event(pad):
        return compact({"meta": {"event_name": "order_created", "custom_data": {"customer_id": 25}},
                        "data": {"type": "orders", "id": "1", "attributes": {"store_id": 1, "order_number": 1042, "user_name": pad or "Darlene Daugherty",
                                                                           "currency": "USD", "status": "paid", "total": 999}}})
    body_mac("lemon-squeezy", "X-Signature", "", hashlib.sha256, HEX, lemon_event,
             "hex HMAC-SHA256 of the body, https://docs.lemonsqueezy.com/help/webhooks/signing-requests",
             ct + [["X-Event-Name", "order_created"]])

    def forge_event(forge, pad):
        return compact({"ref": "refs/heads/main", "before": "28e1879d029cb852e4844d9c718537df08844e03",
                        "after": "bffeb74224043ba2feb48d137756c8a9331c449a",
                        "commits": [{"id": "bffeb74224043ba2feb48d137756c8a9331c449a", "message": pad or "Webhooks Yay!",
                                     "author": {"name": forge, "email": f"someone@{forge.lower()}.io", "username": forge.lower()}}],
                        "repository": {"id": 140, "name": "webhooks", "full_name": f"{forge.lower()}/webhooks", "private": False},
                        "pusher": {"id": 1, "login": forge.lower()}, "sender": {"id": 1, "login": forge.lower()}})
    body_mac("gitea", "X-Gitea-Signature", "", hashlib.sha256, HEX, lambda p: forge_event("Gitea", p),
             "hex HMAC-SHA256 of the body, https://docs.gitea.com/usage/webhooks",
             ct + [["X-Gitea-Delivery", "f6266f16-1bf3-46a5-9ea4-602e06ead473"], ["X-Gitea-Event", "push"]])
    body_mac("forgejo", "X-Forgejo-Signature", "", hashlib.sha256, HEX, lambda p: forge_event("Forgejo", p),
             "hex HMAC-SHA256 of the body, https://forgejo.org/docs/latest/user/webhooks/",
             ct + [["X-Forgejo-Delivery", "f6266f16-1bf3-46a5-9ea4-602e06ead474"], ["X-Forgejo-Event", "push"]])

    def bbs_event(pad):
        return compact({"eventKey": "repo:refs_changed", "date": "2025-11-01T12:26:39+0000",
                        "actor": {"name": "admin", "id": 1, "displayName": pad or "Administrator", "slug": "admin"},
                        "repository": {"slug": "repository", "id": 84, "project": {"key": "PROJ", "id": 84}},
                        "changes": [{"refId": "refs/heads/master", "fromHash": "ecddabb624f6f5ba43816f5926e580a5f680a932",
                                     "toHash": "178864a7d521b6f5e720b386b2c2b0ef8563e0dc", "type": "UPDATE"}]})
    body_mac("bitbucket-server", "X-Hub-Signature", "sha256=", hashlib.sha256, HEX, bbs_event,
             "sha256= + hex HMAC-SHA256 of the body, https://confluence.atlassian.com/bitbucketserver/manage-webhooks-938025878.html",
             ct + [["X-Event-Key", "repo:refs_changed"], ["X-Request-Id", "a7e2c8f4-7c2d-4b5f-9a11-2e3f4a5b6c7d"]])

    def calendly_event(pad):
        return compact({"created_at": "2025-11-01T12:26:39.000000Z", "created_by": "https://api.calendly.com/users/AAAAAAAAAAAAAAAA",
                        "event": "invitee.created",
                        "payload": {"uri": "https://api.calendly.com/scheduled_events/GBGBDCAADAEDCRZ2/invitees/DEKLVDTDRNKWYMSM",
                                    "email": "test@example.com", "name": pad or "John Doe", "status": "active"}})
    stamped_list("calendly", "Calendly-Webhook-Signature", 180, calendly_event,
                 "t=..,v1=hex HMAC-SHA256 of 't.body', 3-minute window as Calendly's example, https://developer.calendly.com/api-docs/4c305798a61d3-webhook-signatures",
                 ct)

    def persona_event(pad):
        return compact({"data": {"type": "event", "id": "evt_4Nz7a2P1qLm9sTzVwXyB", "attributes": {
            "name": "inquiry.completed", "created-at": "2025-11-01T12:26:39.000Z",
            "payload": {"data": {"type": "inquiry", "id": "inq_2CVZ4HyVg7qaboXz2VuZuXSN",
                                 "attributes": {"status": "completed", "reference-id": pad or "user-1042"}}}}}})
    stamped_list("persona", "Persona-Signature", 300, persona_event,
                 "t=..,v1=hex HMAC-SHA256 of 't.body', space-separated sets during rotation, 5-minute window (hookgate's policy), https://docs.withpersona.com/docs/webhooks-best-practices",
                 ct)

    def cf_event(pad):
        return compact({"name": "Origin health alert", "text": pad or "Origin 203.0.113.10 is unhealthy",
                        "data": {"pool_id": "17b5962d775c646f3f9725cbc7a53df4", "health_status": "Unhealthy"},
                        "ts": T0, "account_id": "023e105f4ecef8ad9ca31a8372d0c353", "alert_type": "load_balancing_health_alert"})
    credential("cloudflare", "cf-webhook-auth", lambda s: s, "cf-notification-secret-0123456789", cf_event,
               "cf-webhook-auth equals the webhook's secret, https://developers.cloudflare.com/notifications/get-started/configure-webhooks/",
               ct, "another-secret")

    def postmark_event(pad):
        return compact({"RecordType": "Delivery", "ServerID": 23, "MessageStream": "outbound", "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
                        "Recipient": "john@example.com", "DeliveredAt": "2025-11-01T12:26:39Z", "Details": pad or "Test delivery webhook details"})
    credential("postmark", "Authorization", basic, "hookgate:pm-basic-password-0123", postmark_event,
               "HTTP Basic credentials in the webhook URL, https://postmarkapp.com/developer/webhooks/webhooks-overview#protecting-your-webhook",
               ct, "hookgate:wrong")

    def pipedrive_event(pad):
        return compact({"data": {"id": 1042, "title": pad or "Big deal", "value": 5000, "currency": "USD", "status": "open"},
                        "previous": None, "meta": {"action": "create", "entity": "deal", "entity_id": "1042", "company_id": "11",
                                                   "correlation_id": "5c9b7e0e-1f2a-4b3c-8d4e-5f6a7b8c9d0e", "version": "2.0"}})
    credential("pipedrive", "Authorization", basic, "hookgate:pd-basic-password-0123", pipedrive_event,
               "HTTP Basic credentials (http_auth_user/http_auth_password), https://pipedrive.readme.io/docs/guide-for-webhooks-v2",
               ct, "hookgate:wrong")

    def strapi_event(pad):
        return compact({"event": "entry.publish", "createdAt": "2025-11-01T12:26:39.000Z", "model": "address", "uid": "api::address.address",
                        "entry": {"id": 1, "documentId": "ntv9m9rbe9gvuqj2unlwyjzw", "city": pad or "Paris", "publishedAt": "2025-11-01T12:26:39.000Z"}})
    credential("strapi", "Authorization", lambda s: f"Bearer {s}", "strapi-webhook-token-0123456789", strapi_event,
               "Authorization: Bearer <token> set as a webhook header, https://docs.strapi.io/cms/backend-customization/webhooks",
               ct, "another-token")


if __name__ == "__main__":
    main()
