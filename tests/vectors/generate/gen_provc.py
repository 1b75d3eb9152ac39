"""Vectors for twitch, dropbox, asana, okta, microsoft-graph, azure-event-grid, xero, netlify,
monday and jira. None of them publishes a verifier library (checked: twitch has no server SDK;
dropbox, asana, xero, okta, msgraph and azure-eventgrid SDKs ship no webhook check; jira.js is a
community package), so every vector is signed AND judged with the provider's documented check,
written here independently of hookgate. The JWT schemes (netlify, monday) are judged by PyJWT
(requirements.txt), the library those providers' docs point to.

Run:  python gen_provc.py        (PyJWT installed; then split_large.py from tests/vectors/)
"""

import base64
import hashlib
import hmac
import json
from datetime import datetime, timezone
from urllib.parse import parse_qs, quote, urlsplit

import jwt

from gen_formula import ci_get, hmac_provider, mac, maker
from vecs import (T0, change_one_byte, compact, grow, json_response, reindent, text_response, upper_hex,
                  vector, write)

UUID = "0f3c7a52-8d4e-4f1b-9a6c-2e5d7b8c9a01"


def with_headers(resp, headers):
    resp = dict(resp)
    resp["headers"] = headers
    return resp


# ------------------------------------------------------------------------------------------------
def twitch_vectors():
    secret, other = "s3cre7-twitch-eventsub-0123456789", "another-twitch-secret-0123456789"
    rotated = "r0tated-twitch-eventsub-secret-42"
    doc = "https://dev.twitch.tv/docs/eventsub/handling-webhook-events/#verifying-the-event-message"
    window = 600

    def rfc3339(t):
        return datetime.fromtimestamp(t, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + "634234626Z"

    def parse(ts):
        return datetime.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc).timestamp()

    def judge(body, headers, k, now=T0):
        mid, ts = ci_get(headers, "Twitch-Eventsub-Message-Id"), ci_get(headers, "Twitch-Eventsub-Message-Timestamp")
        sig = ci_get(headers, "Twitch-Eventsub-Message-Signature")
        if None in (mid, ts, sig):
            return False
        want = "sha256=" + mac("sha256", k["secret"], mid.encode() + ts.encode() + body).hex()
        # Documented: not older than 10 minutes. Future stamps are refused too (policy, both ways).
        return hmac.compare_digest(sig.encode(), want.encode()) and abs(now - parse(ts)) <= window

    out = []

    def mk(name, note, body, headers, expect, now=T0, handshake=None, key=secret):
        verdict = judge(body, headers, {"secret": key}, now)
        assert verdict == expect, ("twitch", name)
        out.append(vector("twitch", name, f"{note}; documented formula, no official verifier ({doc})", body, headers,
                          now, verdict, handshake=handshake, secret=key))

    def event(pad):
        return compact({"subscription": {"id": "f1c2a387-161a-49f9-a165-0f21d7a4e1c4", "type": "channel.follow",
                                         "version": "2", "status": "enabled", "cost": 0,
                                         "condition": {"broadcaster_user_id": "1337", "moderator_user_id": "1337"},
                                         "transport": {"method": "webhook", "callback": "https://example.com/webhooks/callback"},
                                         "created_at": "2019-11-16T10:11:12.634234626Z"},
                        "event": {"user_id": "1234", "user_login": "cool_user", "user_name": pad or "Cool_User",
                                  "broadcaster_user_id": "1337", "broadcaster_user_login": "cooler_user",
                                  "broadcaster_user_name": "Cooler_User", "followed_at": "2025-11-01T12:26:39.17106713Z"}})

    def hdrs(body, key=secret, ts=T0, kind="notification", sig=None, drop=None):
        stamp = rfc3339(ts)
        s = sig if sig is not None else "sha256=" + mac("sha256", key, UUID.encode() + stamp.encode() + body).hex()
        h = [["Content-Type", "application/json"], ["Twitch-Eventsub-Message-Id", UUID],
             ["Twitch-Eventsub-Message-Retry", "0"], ["Twitch-Eventsub-Message-Type", kind],
             ["Twitch-Eventsub-Message-Signature", s], ["Twitch-Eventsub-Message-Timestamp", stamp],
             ["Twitch-Eventsub-Subscription-Type", "channel.follow"], ["Twitch-Eventsub-Subscription-Version", "2"]]
        return [x for x in h if x[0] != drop]

    body = event(None)
    good = hdrs(body)
    mk("valid", "channel.follow notification, sha256=hex(HMAC(secret, id + timestamp + body))", body, good, True)
    mk("rotation_second_secret", "signed with the second configured secret", body, hdrs(body, key=rotated), True,
       key=rotated)
    mk("wrong_secret", "signed with another secret", body, hdrs(body, key=other), False)
    mk("body_changed_one_byte", "one digit changed after signing", change_one_byte(body), good, False)
    mk("json_reindented", "re-indented JSON, original signature", reindent(body), good, False)
    mk("missing_signature_header", "no Twitch-Eventsub-Message-Signature", body,
       hdrs(body, drop="Twitch-Eventsub-Message-Signature"), False)
    mk("missing_message_id", "no Twitch-Eventsub-Message-Id (it is signed)", body, hdrs(body, drop="Twitch-Eventsub-Message-Id"), False)
    mk("missing_timestamp", "no Twitch-Eventsub-Message-Timestamp", body, hdrs(body, drop="Twitch-Eventsub-Message-Timestamp"), False)
    s = dict(good)["Twitch-Eventsub-Message-Signature"]
    mk("malformed_signature_header", "garbage", body, hdrs(body, sig="garbage"), False)
    mk("uppercase_hex", "hex upper-cased: Twitch's sample compares the lowercase text", body, hdrs(body, sig=upper_hex(s)), False)
    mk("stale_timestamp", "signed 11 minutes before now (window 10 min)", body, hdrs(body, ts=T0 - 660), False)
    mk("future_timestamp", "signed 11 minutes after now", body, hdrs(body, ts=T0 + 660), False)
    mk("inside_window", "signed 9 minutes before now", body, hdrs(body, ts=T0 - 540), True)
    mk("valid_empty_body", "empty body, HMAC over id + timestamp", b"", hdrs(b""), True)
    challenge = "pogchamp-kappa-360noscope-vohiyo"
    vb = compact({"challenge": challenge, "subscription": {"id": "f1c2a387-161a-49f9-a165-0f21d7a4e1c4",
                  "status": "webhook_callback_verification_pending", "type": "channel.follow", "version": "2",
                  "cost": 0, "condition": {"broadcaster_user_id": "12826"},
                  "transport": {"method": "webhook", "callback": "https://example.com/webhooks/callback"},
                  "created_at": "2019-11-16T10:11:12.634234626Z"}})
    mk("handshake", "webhook_callback_verification (signed) -> 200 text/plain challenge", vb,
       hdrs(vb, kind="webhook_callback_verification"), True, handshake=text_response(challenge))
    mk("handshake_bad_signature", "webhook_callback_verification signed with another secret -> 401", vb,
       hdrs(vb, key=other, kind="webhook_callback_verification"), False)
    big = grow(event)
    mk("valid_1mib", "~1 MiB event", big, hdrs(big), True)
    write("twitch", out)


# ------------------------------------------------------------------------------------------------
def dropbox_vectors():
    secret, other = "dbx-app-secret-9f8e7d6c", "dbx-other-secret-00000000"
    doc = "https://www.dropbox.com/developers/reference/webhooks"

    def event(pad):
        d = {"list_folder": {"accounts": ["dbid:AAH4f99T0taONIb-OurWxbNQ6ywGRopQngc"]},
             "delta": {"users": [12345678]}}
        if pad is not None:
            d["pad"] = pad
        return compact(d)

    mk, out = hmac_provider("dropbox", secret, other, "X-Dropbox-Signature", "", "sha256", "hex", doc, event,
                            [["Content-Type", "application/json"], ["User-Agent", "DropboxWebhooks/1.0"]])
    for name, q, resp in (("handshake", "challenge=kHJ2aB9x-Zq7", text_response("kHJ2aB9x-Zq7")),
                          ("handshake_markup_refused", "challenge=%3Cscript%3E", {"status": 400})):
        resp = with_headers(resp, [["X-Content-Type-Options", "nosniff"]]) if resp["status"] == 200 else resp
        out.append(vector("dropbox", name, f"GET ?{q} -> echo as text/plain with nosniff (only a plain token); "
                          f"documented handshake ({doc})", b"", [["User-Agent", "DropboxWebhooks/1.0"]], T0,
                          resp["status"] == 200, method="GET", path=f"/hooks/dropbox?{q}", handshake=resp, secret=secret))
    write("dropbox", out)


# ------------------------------------------------------------------------------------------------
def asana_vectors():
    secret = "b537207f20cbfa02357cf448134da559e8bd39d61597dcd5631b8012eae53e81"
    other = "0000000000000000000000000000000000000000000000000000000000000000"
    doc = "https://developers.asana.com/docs/webhooks-guide"

    def event(pad):
        return compact({"events": [{"user": {"gid": "1199", "resource_type": "user"},
                                    "created_at": "2025-11-01T12:26:40.000Z", "action": "changed",
                                    "resource": {"gid": "1203456789", "resource_type": "task",
                                                 "resource_subtype": "default_task", "name": pad or "Task"},
                                    "parent": None, "change": {"field": "assignee", "action": "changed"}}]})

    mk, out = hmac_provider("asana", secret, other, "X-Hook-Signature", "", "sha256", "hex", doc, event,
                            [["Content-Type", "application/json; charset=utf-8"]])
    resp = with_headers({"status": 200, "content_type": "text/plain", "body": ""}, [["X-Hook-Secret", secret]])
    out.append(vector("asana", "handshake", "POST with X-Hook-Secret and no X-Hook-Signature -> 200 echoing "
                      f"X-Hook-Secret; documented handshake ({doc})", b"", [["X-Hook-Secret", secret]], T0, True,
                      handshake=resp, secret=secret))
    write("asana", out)


# ------------------------------------------------------------------------------------------------
def okta_vectors():
    secret = "okta-hook-Auth-5f2b9c"
    doc = "https://developer.okta.com/docs/concepts/event-hooks/"

    def judge(body, headers, k):
        got = ci_get(headers, "Authorization")
        return got is not None and hmac.compare_digest(got.encode(), k["secret"].encode())

    mk, out = maker("okta", judge, doc, secret=secret)

    def event(pad):
        return compact({"eventType": "com.okta.event_hook", "eventTypeVersion": "1.0", "cloudEventsVersion": "0.1",
                        "source": "https://example.okta.com/api/v1/eventHooks/whoql0HfiLGPWc8Jx0g3",
                        "eventId": "b5a188b9-5ece-4636-b041-482ffda96311", "eventTime": "2025-11-01T12:26:40.000Z",
                        "contentType": "application/json",
                        "data": {"events": [{"uuid": "5cb5e8b0-9a8c-11ef-a5ef-6d1b9e1a3f0c",
                                             "published": "2025-11-01T12:26:39.000Z", "eventType": "user.session.start",
                                             "severity": "INFO", "displayMessage": pad or "User login to Okta"}]}})

    base = [["Content-Type", "application/json"], ["User-Agent", "Okta Event Hooks"]]
    body = event(None)
    mk("valid", "Authorization carries the configured secret verbatim", body, base + [["Authorization", secret]], True)
    mk("wrong_secret", "another value", body, base + [["Authorization", "okta-hook-Auth-5f2b9d"]], False)
    mk("bearer_prefixed", "'Bearer <secret>': Okta sends the value as configured, so this is another value", body,
       base + [["Authorization", "Bearer " + secret]], False)
    mk("missing_header", "no Authorization", body, base, False)
    mk("body_changed_one_byte", "the secret is not bound to the body: still accepted", change_one_byte(body),
       base + [["Authorization", secret]], True)
    big = grow(event)
    mk("valid_1mib", "~1 MiB event", big, base + [["Authorization", secret]], True)
    get = [["Authorization", secret], ["x-okta-verification-challenge", "Ow1T9f6RDmN1bVHg3uXlOqP3ryJwJ3Y9fjT4aX5S"]]
    out.append(vector("okta", "handshake", "verification GET with the auth header -> {\"verification\": challenge}; "
                      f"documented ({doc})", b"", get, T0, True, method="GET",
                      handshake=json_response({"verification": "Ow1T9f6RDmN1bVHg3uXlOqP3ryJwJ3Y9fjT4aX5S"}),
                      secret=secret))
    out.append(vector("okta", "handshake_wrong_auth", "verification GET with a wrong auth header -> 401 (no echo); "
                      f"documented ({doc})", b"", [["Authorization", "nope"], get[1]], T0, False, method="GET",
                      secret=secret))
    write("okta", out)


# ------------------------------------------------------------------------------------------------
def graph_vectors():
    secret = "SecretClientState-7d1f"
    doc = "https://learn.microsoft.com/en-us/graph/change-notifications-delivery-webhooks"

    def judge(body, headers, k):
        try:
            items = json.loads(body)["value"]
        except (ValueError, KeyError, TypeError):
            return False
        return bool(items) and all(isinstance(i.get("clientState"), str)
                                   and hmac.compare_digest(i["clientState"].encode(), k["secret"].encode()) for i in items)

    mk, out = maker("microsoft-graph", judge, doc, secret=secret)

    def note(state, pad=None, n=1):
        item = {"subscriptionId": "7f105c7d-2dc5-4530-97cd-4e7ae6534c07",
                "subscriptionExpirationDateTime": "2025-11-03T12:26:40.000Z", "changeType": "created",
                "resource": "Users/ab3b4cf4/Messages/AAMkAGUwNjQ4ZjIxAAA=",
                "resourceData": {"@odata.type": "#Microsoft.Graph.Message", "id": "AAMkAGUwNjQ4ZjIxAAA=",
                                 "note": pad or "x"},
                "clientState": state, "tenantId": "84bd8158-6d4d-4958-8b9f-9d6445542f95"}
        items = [item] if isinstance(state, str) else [dict(item, clientState=s) for s in state]
        return compact({"value": items * n if isinstance(state, str) else items})

    base = [["Content-Type", "application/json; charset=utf-8"]]
    body = note(secret)
    mk("valid", "one notification with the right clientState", body, base, True)
    mk("valid_batch", "three notifications, each with the right clientState", note(secret, n=3), base, True)
    mk("wrong_client_state", "clientState of another subscription", note("SecretClientState-7d1e"), base, False)
    mk("one_of_batch_wrong", "a batch where one notification has another clientState", note([secret, "x"]), base, False)
    mk("missing_client_state", "no clientState", compact({"value": [{"subscriptionId": "7f10", "changeType": "created"}]}),
       base, False)
    mk("empty_body", "no notifications at all", b"", base, False)
    big = grow(lambda pad: note(secret, pad))
    mk("valid_1mib", "~1 MiB notification", big, base, True)
    token = "Validation: Testing client application reachability for subscription Request-Id: 4ae1ae4a-3b5d-4a27-bd5b-6b0e2f0b2e28"
    out.append(vector("microsoft-graph", "handshake", "POST ?validationToken=... (empty body) -> 200 text/plain token; "
                      f"documented ({doc})", b"", [["Content-Type", "text/plain; charset=utf-8"]], T0, True,
                      path="/hooks/microsoft-graph?validationToken=" + quote(token),
                      handshake=with_headers(text_response(token), [["X-Content-Type-Options", "nosniff"]]),
                      secret=secret))
    write("microsoft-graph", out)


# ------------------------------------------------------------------------------------------------
def event_grid_vectors():
    secret = "eg-Secret-0d9b7f3a"
    doc = "https://learn.microsoft.com/en-us/azure/event-grid/end-point-validation-event-grid-events-schema"
    p = "/hooks/azure-event-grid"

    def judge(body, headers, k, path=p):
        q = parse_qs(urlsplit(path).query).get("code")
        got = q[0] if q else ci_get(headers, "aeg-sas-key")
        return got is not None and hmac.compare_digest(got.encode(), k["secret"].encode())

    out = []

    def mk(name, note, body, headers, expect, path=p, handshake=None, method="POST"):
        verdict = judge(body, headers, {"secret": secret}, path)
        assert verdict == expect, name
        out.append(vector("azure-event-grid", name, f"{note}; documented ({doc})", body, headers, T0, verdict,
                          method=method, path=path, handshake=handshake, secret=secret))

    def event(pad):
        return compact([{"id": "831e1650-001e-001b-66ab-eeb76e069631", "topic": "/subscriptions/0000/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/acct",
                         "subject": "/blobServices/default/containers/c/blobs/b.txt", "eventType": "Microsoft.Storage.BlobCreated",
                         "eventTime": "2025-11-01T12:26:40.000Z", "data": {"api": "PutBlob", "contentLength": 524, "note": pad or ""},
                         "dataVersion": "", "metadataVersion": "1"}])

    base = [["Content-Type", "application/json"], ["aeg-event-type", "Notification"]]
    body = event(None)
    mk("valid_query_code", "secret in the endpoint URL's ?code=", body, base, True, path=p + "?code=" + secret)
    mk("valid_header", "secret in an aeg-sas-key delivery-property header", body, base + [["aeg-sas-key", secret]], True)
    mk("wrong_query_code", "another ?code=", body, base, False, path=p + "?code=eg-Secret-0d9b7f3b")
    mk("wrong_header", "another aeg-sas-key", body, base + [["aeg-sas-key", "nope"]], False)
    mk("missing_secret", "neither ?code= nor aeg-sas-key", body, base, False)
    big = grow(event)
    mk("valid_1mib", "~1 MiB event", big, base + [["aeg-sas-key", secret]], True)
    vbody = compact([{"id": "2d1781af-3a4c-4d7c-bd0c-e34b19da4e66", "topic": "/subscriptions/0000",
                      "subject": "", "data": {"validationCode": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6",
                                              "validationUrl": "https://rp-eastus2.eventgrid.azure.net:553/eventsubscriptions/x/validate?id=512d38b6&t=2025-11-01T12:26:40.0000000Z"},
                      "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent", "eventTime": "2025-11-01T12:26:40.000Z",
                      "metadataVersion": "1", "dataVersion": "2"}])
    vh = [["Content-Type", "application/json"], ["aeg-event-type", "SubscriptionValidation"]]
    mk("handshake", "SubscriptionValidationEvent with the secret -> {\"validationResponse\": code}", vbody, vh, True,
       path=p + "?code=" + secret, handshake=json_response({"validationResponse": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"}))
    mk("handshake_without_secret", "SubscriptionValidationEvent without the secret -> 401", vbody, vh, False)
    mk("handshake_cloudevents_options", "CloudEvents OPTIONS with WebHook-Request-Origin -> 200 WebHook-Allowed-Origin "
       "(admits no event, needs no secret)", b"", [["WebHook-Request-Origin", "eventgrid.azure.net"]], False,
       method="OPTIONS", handshake=with_headers({"status": 200, "content_type": "text/plain", "body": ""},
                                                [["WebHook-Allowed-Origin", "eventgrid.azure.net"]]))
    out[-1]["sdk_accepts"] = True
    write("azure-event-grid", out)


# ------------------------------------------------------------------------------------------------
def xero_vectors():
    secret = "OSd0eLlVIY9ZhViEqlDUh4+6n6M+Lo+eDaEJheJ6OCCgWwIz2D3JIAU6jPMipHRbgKTLz2uJ+xiACXGDBLrgdA=="
    other = "AAd0eLlVIY9ZhViEqlDUh4+6n6M+Lo+eDaEJheJ6OCCgWwIz2D3JIAU6jPMipHRbgKTLz2uJ+xiACXGDBLrgdA=="
    doc = "https://developer.xero.com/documentation/guides/webhooks/configuring-your-server/"

    def event(pad):
        return compact({"events": [{"resourceUrl": "https://api.xero.com/api.xro/2.0/Contacts/717f2bfc-c6d4-41fd-b238-3f2f0c0cf777",
                                    "resourceId": "717f2bfc-c6d4-41fd-b238-3f2f0c0cf777", "eventDateUtc": "2025-11-01T12:26:40.263",
                                    "eventType": "CREATE", "eventCategory": "CONTACT",
                                    "tenantId": "c2cc9b6e-9458-4c7d-93cc-f02b81b0594f", "tenantType": "ORGANISATION"}],
                        "firstEventSequence": 1, "lastEventSequence": 1, "entropy": pad or "S0m3r4Nd0mt3xt"})

    mk, out = hmac_provider("xero", secret, other, "x-xero-signature", "", "sha256", "base64", doc, event,
                            [["Content-Type", "application/json; charset=utf-8"]])
    itr = compact({"events": [], "firstEventSequence": 0, "lastEventSequence": 0, "entropy": "FMLHZNKCVK"})
    sig = base64.b64encode(mac("sha256", secret, itr)).decode()
    bad = base64.b64encode(mac("sha256", other, itr)).decode()
    mk("handshake_intent_to_receive", "intent to receive, correctly signed -> 200 with an empty body", itr,
       [["x-xero-signature", sig]], True)
    out[-1]["handshake_response"] = {"status": 200, "content_type": "text/plain", "body": ""}
    mk("handshake_intent_to_receive_bad_signature", "intent to receive, incorrectly signed -> 401", itr,
       [["x-xero-signature", bad]], False)
    write("xero", out)


# ------------------------------------------------------------------------------------------------
def jwt_judge(header, prefix, options):
    def judge(body, headers, k, now=T0):
        got = ci_get(headers, header)
        if got is None:
            return False
        if prefix and got.lower().startswith(prefix.lower()):
            got = got[len(prefix):]
        try:
            claims = jwt.decode(got, k["secret"], algorithms=["HS256"], leeway=60, **options(now))
        except jwt.PyJWTError:
            return False
        if "sha256" in claims or header == "X-Webhook-Signature":
            return hmac.compare_digest(claims.get("sha256", "").encode(), hashlib.sha256(body).hexdigest().encode())
        return True
    return judge


def netlify_vectors():
    secret, other = "netlify-jws-Secret-4c8e0a", "netlify-jws-Other-000000"
    doc = "https://docs.netlify.com/site-deploys/deploy-notifications/#payload-signature"

    class Now:
        t = T0

    judge = jwt_judge("X-Webhook-Signature", None,
                      lambda now: {"issuer": "netlify", "options": {"require": ["iss", "sha256"]}})
    out = []

    def mk(name, note, body, headers, expect):
        verdict = judge(body, headers, {"secret": secret})
        assert verdict == expect, name
        out.append(vector("netlify", name, f"{note}; documented scheme, JWS judged by PyJWT 2.10.1 jwt.decode(HS256) "
                          f"+ sha256 claim ({doc})", body, headers, T0, verdict, secret=secret))

    def event(pad):
        return compact({"id": "5ebc34bf4fea0b01f02efa3a", "site_id": "fa4dd95a-994e-4f89-8a7a-2d9e9fc36a32",
                        "build_id": "5ebc34bf4fea0b01f02efa38", "state": "ready", "name": "my-site",
                        "url": "https://example.com", "branch": "main", "context": "production",
                        "created_at": "2025-11-01T12:26:40.000Z", "title": pad})

    def tok(body, key=secret, claims=None, alg="HS256"):
        c = claims if claims is not None else {"iss": "netlify", "sha256": hashlib.sha256(body).hexdigest()}
        return jwt.encode(c, key, algorithm=alg)

    base = [["Content-Type", "application/json"], ["User-Agent", "Netlify"]]
    body = event(None)
    mk("valid", "JWS {iss: netlify, sha256: hex(sha256(body))} HS256", body, base + [["X-Webhook-Signature", tok(body)]], True)
    mk("wrong_secret", "signed with another secret", body, base + [["X-Webhook-Signature", tok(body, other)]], False)
    mk("body_changed_one_byte", "body changed: its sha256 no longer matches the claim", change_one_byte(body),
       base + [["X-Webhook-Signature", tok(body)]], False)
    mk("json_reindented", "re-indented JSON", reindent(body), base + [["X-Webhook-Signature", tok(body)]], False)
    mk("wrong_issuer", "iss other than netlify", body,
       base + [["X-Webhook-Signature", tok(body, claims={"iss": "evil", "sha256": hashlib.sha256(body).hexdigest()})]], False)
    mk("alg_none", "unsigned token (alg none)", body,
       base + [["X-Webhook-Signature", tok(body, key=None, alg="none")]], False)
    mk("alg_hs512", "HS512 under the right secret: the algorithm is fixed to HS256", body,
       base + [["X-Webhook-Signature", tok(body, alg="HS512")]], False)
    mk("missing_header", "no X-Webhook-Signature", body, base, False)
    mk("malformed_header", "not a JWS", body, base + [["X-Webhook-Signature", "garbage"]], False)
    mk("valid_empty_body", "empty body, sha256 of zero bytes", b"", base + [["X-Webhook-Signature", tok(b"")]], True)
    big = grow(event)
    mk("valid_1mib", "~1 MiB event", big, base + [["X-Webhook-Signature", tok(big)]], True)
    write("netlify", out)


def monday_vectors():
    secret, other = "monday-signing-Secret-71aa", "monday-signing-Other-0000"
    doc = "https://developer.monday.com/apps/docs/integration-authorization"
    url = "https://hooks.example.com/hooks/monday"
    judge = jwt_judge("Authorization", "Bearer ",
                      lambda now: {"audience": url, "options": {"require": ["exp"]}})
    out = []

    def mk(name, note, body, headers, expect, now=T0, handshake=None):
        import unittest.mock as m
        with m.patch("time.time", return_value=float(now)), m.patch("jwt.api_jwt.datetime") as dt:
            dt.now.return_value = datetime.fromtimestamp(now, tz=timezone.utc)
            dt.fromtimestamp = datetime.fromtimestamp
            verdict = judge(body, headers, {"secret": secret}, now)
        assert verdict == expect, name
        out.append(vector("monday", name, f"{note}; documented scheme, JWT judged by PyJWT 2.10.1 jwt.decode(HS256, "
                          f"audience, require exp), clock frozen ({doc})", body, headers, now, verdict,
                          handshake=handshake, secret=secret, public_url=url))

    def event(pad):
        return compact({"event": {"app": "monday", "type": "update_column_value", "triggerTime": "2025-11-01T12:26:40.000Z",
                                  "subscriptionId": 73759690, "userId": 4012689, "originalTriggerUuid": None,
                                  "boardId": 1771812698, "groupId": "topics", "pulseId": 1772099344,
                                  "pulseName": pad or "Task", "columnId": "status", "columnType": "color",
                                  "value": {"label": {"index": 1, "text": "Done"}},
                                  "triggerUuid": "6f1a2c06a8f8a2f8e8b6a9a0e0f2d3c4"}})

    def tok(key=secret, exp=T0 + 300, aud=url, extra=None, alg="HS256"):
        c = {"accountId": 1825528, "userId": 4012689, "aud": aud, "exp": exp, "iat": T0,
             "shortLivedToken": "SHORT_LIVED_TOKEN"}
        if exp is None:
            del c["exp"]
        c.update(extra or {})
        return jwt.encode(c, key, algorithm=alg)

    base = [["Content-Type", "application/json"]]
    body = event(None)
    mk("valid", "Authorization: JWT signed with the signing secret, aud = endpoint, not expired", body,
       base + [["Authorization", tok()]], True)
    mk("valid_bearer", "the same token after 'Bearer '", body, base + [["Authorization", "Bearer " + tok()]], True)
    mk("wrong_secret", "signed with another secret", body, base + [["Authorization", tok(other)]], False)
    mk("stale_token_expired", "exp 2 minutes ago (leeway 60 s)", body, base + [["Authorization", tok(exp=T0 - 120)]], False)
    mk("no_exp", "no exp claim", body, base + [["Authorization", tok(exp=None)]], False)
    mk("wrong_audience", "aud of another endpoint", body, base + [["Authorization", tok(aud="https://evil.example/x")]], False)
    mk("alg_none", "unsigned token", body, base + [["Authorization", tok(key=None, alg="none")]], False)
    mk("missing_header", "no Authorization", body, base, False)
    mk("body_changed_one_byte", "the token does not cover the body (monday's scheme): still accepted",
       change_one_byte(body), base + [["Authorization", tok()]], True)
    big = grow(event)
    mk("valid_1mib", "~1 MiB event", big, base + [["Authorization", tok()]], True)
    ch = compact({"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"})
    mk("handshake", "challenge POST with a valid token -> the same JSON", ch, base + [["Authorization", tok()]], True,
       handshake=json_response({"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}))
    mk("handshake_unsigned", "challenge POST without a token -> 401", ch, base, False)
    write("monday", out)


# ------------------------------------------------------------------------------------------------
def jira_vectors():
    secret, other = "jira-admin-webhook-Secret-3f7a", "jira-admin-webhook-Other-0000"
    doc = "https://developer.atlassian.com/cloud/jira/platform/webhooks/#secure-admin-webhooks"

    def event(pad):
        return compact({"timestamp": 1762000000000, "webhookEvent": "jira:issue_created",
                        "issue_event_type_name": "issue_created",
                        "user": {"accountId": "5b10a2844c20165700ede21g", "displayName": "Ada"},
                        "issue": {"id": "10042", "key": "PROJ-42",
                                  "fields": {"summary": pad or "Bug", "issuetype": {"name": "Bug"}}}})

    mk, out = hmac_provider("jira", secret, other, "X-Hub-Signature", "sha256=", "sha256", "hex", doc, event,
                            [["Content-Type", "application/json; charset=UTF-8"],
                             ["X-Atlassian-Webhook-Identifier", "1762000000-42"]])
    write("jira", out)


# ------------------------------------------------------------------------------------------------
def pubsub_vectors():
    """Signed with our own RSA key (Google's private keys being Google's), served as a JWKS the
    tests put in hookgate's key cache; judged by google-auth's verify_oauth2_token (the JWKS
    passed through a transport that reads no network) plus the documented email check."""
    from cryptography.hazmat.primitives.asymmetric import rsa
    from google.oauth2 import id_token
    import unittest.mock as m

    doc = "https://cloud.google.com/pubsub/docs/authenticate-push-subscriptions"
    url = "https://hooks.example.com/hooks/google-pubsub"
    sender = "push-invoker@my-project.iam.gserviceaccount.com"
    kid = "a5b2c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3"

    def key(seed_note):
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)

    good, evil = key("good"), key("evil")

    def b64u(n):
        return base64.urlsafe_b64encode(n.to_bytes((n.bit_length() + 7) // 8, "big")).rstrip(b"=").decode()

    pub = good.public_key().public_numbers()
    jwks = json.dumps({"keys": [{"kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid, "n": b64u(pub.n), "e": b64u(pub.e)},
                                {"kty": "RSA", "alg": "RS256", "use": "sig", "kid": "other-" + kid[6:],
                                 "n": b64u(evil.public_key().public_numbers().n), "e": "AQAB"}][:1]})

    class Resp:
        status = 200
        data = jwks.encode()

    def judge(body, headers, now):
        got = ci_get(headers, "Authorization")
        if got is None or not got.startswith("Bearer "):
            return False
        with m.patch("jwt.api_jwt.datetime") as dt:
            dt.now.return_value = datetime.fromtimestamp(now, tz=timezone.utc)
            try:
                claims = id_token.verify_oauth2_token(got[7:], lambda *a, **k: Resp(), audience=url)
            except Exception:  # noqa: BLE001 - any refusal of the library is a refusal
                return False
        # Documented: check that the token is the push service account's.
        return claims.get("email") == sender and claims.get("email_verified") is True

    out = []

    def mk(name, note, body, headers, expect, now=T0):
        verdict = judge(body, headers, now)
        assert verdict == expect, name
        v = vector("google-pubsub", name, f"{note}; google-auth 2.63.0 id_token.verify_oauth2_token (JWKS given, "
                   f"PyJWT clock frozen) + documented email check ({doc})", body, headers, now, verdict, public_url=url)
        v["sender"] = sender
        v["key_document"] = jwks
        out.append(v)

    def tok(claims=None, signer=good, header=None, alg="RS256", **over):
        c = {"aud": url, "azp": "113774264463038321964", "email": sender, "email_verified": True,
             "exp": T0 + 3600, "iat": T0, "iss": "https://accounts.google.com", "sub": "113774264463038321964"}
        c.update(over)
        for k in [k for k, v in c.items() if v is None]:
            del c[k]
        return "Bearer " + jwt.encode(c, signer, algorithm=alg, headers={"kid": kid, **(header or {})})

    def event(pad):
        return compact({"message": {"attributes": {"key": pad or "value"},
                                    "data": base64.b64encode(b"Hello Cloud Pub/Sub!").decode(),
                                    "messageId": "2070443601311540", "message_id": "2070443601311540",
                                    "publishTime": "2025-11-01T12:26:39.123Z", "publish_time": "2025-11-01T12:26:39.123Z"},
                        "subscription": "projects/my-project/subscriptions/my-push"})

    base = [["Content-Type", "application/json"], ["User-Agent", "APIs-Google; (+https://developers.google.com/webmasters/APIs-Google.html)"]]
    body = event(None)
    mk("valid", "OIDC ID token RS256, aud = push endpoint, iss https://accounts.google.com, service account email",
       body, base + [["Authorization", tok()]], True)
    mk("valid_issuer_without_scheme", "iss accounts.google.com (the other documented spelling)", body,
       base + [["Authorization", tok(iss="accounts.google.com")]], True)
    mk("wrong_key", "signed by another RSA key under the same kid", body,
       base + [["Authorization", tok(signer=evil)]], False)
    mk("unknown_kid", "a kid the JWKS does not hold", body,
       base + [["Authorization", tok(header={"kid": "f" * 40})]], False)
    mk("stale_token_expired", "exp an hour ago", body,
       base + [["Authorization", tok(exp=T0 - 3600, iat=T0 - 7200)]], False)
    mk("wrong_audience", "aud of another endpoint", body,
       base + [["Authorization", tok(aud="https://evil.example/push")]], False)
    mk("wrong_issuer", "iss not Google", body, base + [["Authorization", tok(iss="https://evil.example")]], False)
    mk("wrong_service_account", "another service account's token (anyone can mint one for any audience)", body,
       base + [["Authorization", tok(email="attacker@evil-project.iam.gserviceaccount.com")]], False)
    mk("email_unverified", "email_verified false", body, base + [["Authorization", tok(email_verified=False)]], False)
    pem = good.public_key().public_bytes(
        __import__("cryptography.hazmat.primitives.serialization", fromlist=["x"]).Encoding.PEM,
        __import__("cryptography.hazmat.primitives.serialization", fromlist=["x"]).PublicFormat.SubjectPublicKeyInfo)
    forged = base64.urlsafe_b64encode(json.dumps({"alg": "HS256", "kid": kid}).encode()).rstrip(b"=").decode()
    claims = base64.urlsafe_b64encode(json.dumps({"aud": url, "email": sender, "email_verified": True, "exp": T0 + 3600,
                                                  "iat": T0, "iss": "https://accounts.google.com"}).encode()).rstrip(b"=").decode()
    mac_ = base64.urlsafe_b64encode(hmac.new(pem, f"{forged}.{claims}".encode(), hashlib.sha256).digest()).rstrip(b"=").decode()
    mk("alg_confusion_hs256", "HS256 keyed with the RSA public key PEM (algorithm confusion)", body,
       base + [["Authorization", f"Bearer {forged}.{claims}.{mac_}"]], False)
    none = base64.urlsafe_b64encode(b'{"alg":"none","kid":"' + kid.encode() + b'"}').rstrip(b"=").decode()
    mk("alg_none", "unsigned token", body, base + [["Authorization", f"Bearer {none}.{claims}."]], False)
    mk("missing_header", "no Authorization", body, base, False)
    mk("malformed_header", "not a JWT", body, base + [["Authorization", "Bearer garbage"]], False)
    mk("body_changed_one_byte", "the token does not cover the body (Pub/Sub's scheme): still accepted",
       change_one_byte(body), base + [["Authorization", tok()]], True)
    big = grow(event)
    mk("valid_1mib", "~1 MiB message", big, base + [["Authorization", tok()]], True)
    write("google-pubsub", out)


# ------------------------------------------------------------------------------------------------
def sns_vectors():
    """Signed here with our own RSA key and self-signed certificate (AWS's keys being AWS's);
    judged by AWS's sns-validator 0.3.5 (gen_provc.mjs, certificate served locally) plus the
    documented TopicArn check."""
    import os
    import subprocess
    import tempfile
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    from cryptography.x509.oid import NameOID

    doc = "https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html"
    topic = "arn:aws:sns:us-east-1:123456789012:orders"
    cert_url = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-9c6465fa7f48f5cacd23014631ec1136.pem"
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    evil = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(7).not_valid_before(datetime.fromtimestamp(T0 - 86400, tz=timezone.utc))
            .not_valid_after(datetime.fromtimestamp(T0 + 86400 * 365, tz=timezone.utc))
            .sign(key, hashes.SHA256()))
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()

    def canonical(m):
        keys = (["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
                if m["Type"] != "Notification" else ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"])
        return "".join(f"{k}\n{m[k]}\n" for k in keys if k in m).encode()

    def signed(m, signer=key, version="2"):
        m = dict(m, SignatureVersion=version)
        h = hashes.SHA1() if version == "1" else hashes.SHA256()
        m["Signature"] = base64.b64encode(signer.sign(canonical(m), padding.PKCS1v15(), h)).decode()
        return m

    def note(message="Order 1042 shipped", subject="Order update", **over):
        m = {"Type": "Notification", "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324", "TopicArn": topic,
             "Subject": subject, "Message": message, "Timestamp": "2025-11-01T12:26:39.123Z",
             "SigningCertURL": cert_url,
             "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=" + topic + ":c9135db0"}
        if subject is None:
            del m["Subject"]
        m.update(over)
        return m

    confirm = {"Type": "SubscriptionConfirmation", "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
               "Token": "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a747ba6f3beb71854e285d6ad02428b09ceece29417f1f02d609c582afbacc99c583a916b9981dd2728f4ae6fdb82efd087cc3b7849e05798d2d2785c03b0879594eeac82c01f235d0e717736",
               "TopicArn": topic, "Message": "You have chosen to subscribe to the topic " + topic + ".\nTo confirm the subscription, visit the SubscribeURL included in this message.",
               "SubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=" + topic + "&Token=2336412f37fb",
               "Timestamp": "2025-11-01T12:26:39.123Z", "SigningCertURL": cert_url}

    cases = []

    def mk(name, note_, m, expect, raw=None):
        cases.append((name, note_, m, expect, raw))

    valid = signed(note())
    mk("valid", "Notification, SignatureVersion 2 (RSA-SHA256)", valid, True)
    mk("valid_signature_version_1", "Notification, SignatureVersion 1 (RSA-SHA1)", signed(note(), version="1"), True)
    mk("valid_without_subject", "Notification without Subject (not in the canonical string)", signed(note(subject=None)), True)
    mk("subscription_confirmation", "SubscriptionConfirmation: verified and passed to the upstream", signed(confirm), True)
    mk("json_reindented", "the same message re-indented: SNS signs the fields, not the bytes", valid, True,
       raw=json.dumps(valid, indent=2).encode())
    mk("wrong_key", "signed by another key than the certificate's", signed(note(), signer=evil), False)
    mk("message_changed", "Message changed after signing", dict(valid, Message="Order 1043 shipped"), False)
    mk("subject_removed", "Subject dropped after signing", {k: v for k, v in valid.items() if k != "Subject"}, False)
    mk("cert_url_other_host", "SigningCertURL on another host", signed(note(SigningCertURL="https://evil.example/SimpleNotificationService-1.pem")), False)
    mk("cert_url_lookalike_host", "SigningCertURL on sns.us-east-1.amazonaws.com.evil.example",
       signed(note(SigningCertURL="https://sns.us-east-1.amazonaws.com.evil.example/x.pem")), False)
    mk("cert_url_http", "SigningCertURL over plain http", signed(note(SigningCertURL=cert_url.replace("https", "http"))), False)
    mk("cert_url_not_pem", "SigningCertURL not ending in .pem", signed(note(SigningCertURL=cert_url[:-4] + ".txt")), False)
    mk("wrong_topic", "validly signed, but for another TopicArn (anyone can subscribe you to their topic)",
       signed(note(TopicArn="arn:aws:sns:us-east-1:999999999999:attacker")), False)
    mk("unsupported_signature_version", "SignatureVersion 3", dict(valid, SignatureVersion="3"), False)
    mk("missing_signature", "no Signature", {k: v for k, v in valid.items() if k != "Signature"}, False)
    mk("not_json", "a body that is not an SNS message", None, False, raw=b"Type=Notification")
    big = signed(note(message="x"))
    big_msg = None
    for _ in range(3):
        pad = 1_048_000 - len(compact(big)) + 1
        big = signed(note(message="x" * max(1, pad + (len(big["Message"]) - 1))))
        if len(compact(big)) == 1_048_000:
            break
    big_msg = big
    mk("valid_1mib", "~1 MiB Message", big_msg, True)

    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump({"pem": pem, "messages": [c[2] if c[2] is not None else {} for c in cases]}, f)
    here = os.path.dirname(os.path.abspath(__file__))
    node_path = os.environ.get("NODE_PATH") or next(
        (p for p in (os.path.join(here, "node_modules"), os.path.join(here, "../../../target/vecgen-node-provc/node_modules"))
         if os.path.isdir(os.path.join(p, "sns-validator"))), os.path.join(here, "node_modules"))
    res = subprocess.run(["node", os.path.join(os.path.dirname(os.path.abspath(__file__)), "gen_provc.mjs"), f.name],
                         capture_output=True, check=True, env=dict(os.environ, NODE_PATH=node_path),
                         cwd=os.path.dirname(node_path))
    os.unlink(f.name)
    verdicts = json.loads(res.stdout)
    out = []
    for (name, note_, m, expect, raw), lib in zip(cases, verdicts):
        # The documented check the library leaves to its caller: the topic is yours.
        verdict = bool(lib) and m is not None and m.get("TopicArn") == topic
        assert verdict == expect, (name, lib)
        body = raw if raw is not None else compact(m)
        v = vector("aws-sns", name, f"{note_}; sns-validator 0.3.5 MessageValidator.validate (certificate served "
                   f"locally) + documented TopicArn check ({doc})", body,
                   [["Content-Type", "text/plain; charset=UTF-8"], ["x-amz-sns-message-type", m["Type"] if m else "Notification"],
                    ["x-amz-sns-message-id", (m or {}).get("MessageId", "x")], ["x-amz-sns-topic-arn", topic],
                    ["User-Agent", "Amazon Simple Notification Service Agent"]], T0, verdict)
        v["sender"] = topic
        v["key_document"] = pem
        v["key_document_url"] = cert_url
        out.append(v)
    write("aws-sns", out)


# ------------------------------------------------------------------------------------------------
def paypal_vectors():
    """PayPal's SDKs verify by calling PayPal's API (verify-webhook-signature); the local check is
    documented (self-verification method), so these are signed and judged by that formula, with
    our own RSA key and certificate (PayPal's being PayPal's)."""
    import zlib
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    from cryptography.x509.oid import NameOID
    from urllib.parse import urlsplit

    doc = "https://developer.paypal.com/api/rest/webhooks/rest/#link-selfverificationmethod"
    webhook_id = "1JE4291016473214C"
    cert_url = "https://api.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-1d93a270"
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    evil = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "messageverificationcerts.paypal.com")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(9).not_valid_before(datetime.fromtimestamp(T0 - 86400, tz=timezone.utc))
            .not_valid_after(datetime.fromtimestamp(T0 + 86400 * 365, tz=timezone.utc)).sign(key, hashes.SHA256()))
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    hosts = {"api.paypal.com", "api-m.paypal.com", "api.sandbox.paypal.com", "api-m.sandbox.paypal.com"}

    def iso(t):
        return datetime.fromtimestamp(t, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    def judge(body, headers, now):
        h = {k.upper(): v for k, v in headers}
        need = ["PAYPAL-TRANSMISSION-ID", "PAYPAL-TRANSMISSION-TIME", "PAYPAL-TRANSMISSION-SIG", "PAYPAL-CERT-URL",
                "PAYPAL-AUTH-ALGO"]
        if any(k not in h for k in need) or h["PAYPAL-AUTH-ALGO"] != "SHA256withRSA":
            return False
        u = urlsplit(h["PAYPAL-CERT-URL"])
        if u.scheme != "https" or u.port or u.hostname not in hosts or not u.path.startswith("/v1/notifications/certs/"):
            return False
        t = datetime.strptime(h["PAYPAL-TRANSMISSION-TIME"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()
        if abs(now - t) > 300:  # policy: the signed time within 5 minutes, both ways
            return False
        msg = f"{h['PAYPAL-TRANSMISSION-ID']}|{h['PAYPAL-TRANSMISSION-TIME']}|{webhook_id}|{zlib.crc32(body)}".encode()
        try:
            cert.public_key().verify(base64.b64decode(h["PAYPAL-TRANSMISSION-SIG"]), msg, padding.PKCS1v15(), hashes.SHA256())
        except (InvalidSignature, ValueError):
            return False
        return True

    def event(pad):
        return compact({"id": "WH-58D329510W468432D-8HN650336L201105X", "event_version": "1.0",
                        "create_time": "2025-11-01T12:26:39.123Z", "resource_type": "capture",
                        "event_type": "PAYMENT.CAPTURE.COMPLETED", "summary": pad or "Payment completed for $ 10.0 USD",
                        "resource": {"id": "42311647XV020574X", "status": "COMPLETED",
                                     "amount": {"currency_code": "USD", "value": "10.00"}}})

    def hdrs(body, signer=key, ts=T0, wid=webhook_id, url=cert_url, algo="SHA256withRSA", drop=None):
        tid = "69cd13f0-d67a-11e5-baa3-778b53f4ae55"
        msg = f"{tid}|{iso(ts)}|{wid}|{zlib.crc32(body)}".encode()
        sig = base64.b64encode(signer.sign(msg, padding.PKCS1v15(), hashes.SHA256())).decode()
        h = [["Content-Type", "application/json"], ["PAYPAL-TRANSMISSION-ID", tid], ["PAYPAL-TRANSMISSION-TIME", iso(ts)],
             ["PAYPAL-TRANSMISSION-SIG", sig], ["PAYPAL-CERT-URL", url], ["PAYPAL-AUTH-ALGO", algo]]
        return [x for x in h if x[0] != drop]

    out = []

    def mk(name, note_, body, headers, expect, now=T0):
        verdict = judge(body, headers, now)
        assert verdict == expect, name
        v = vector("paypal", name, f"{note_}; documented formula, PayPal's SDKs verify through its API only ({doc})",
                   body, headers, now, verdict)
        v["sender"] = webhook_id
        v["key_document"] = pem
        v["key_document_url"] = dict((k.upper(), x) for k, x in headers).get("PAYPAL-CERT-URL", cert_url)
        out.append(v)

    body = event(None)
    mk("valid", "RSA-SHA256 of id|time|webhook_id|crc32(body)", body, hdrs(body), True)
    mk("valid_sandbox_host", "certificate on api-m.sandbox.paypal.com", body,
       hdrs(body, url=cert_url.replace("api.paypal.com", "api-m.sandbox.paypal.com")), True)
    mk("wrong_key", "signed by another key than the certificate's", body, hdrs(body, signer=evil), False)
    mk("wrong_webhook_id", "signed for another webhook id", body, hdrs(body, wid="8PT597110X687430LKGECATA"), False)
    mk("body_changed_one_byte", "one digit changed after signing (crc32 differs)", change_one_byte(body), hdrs(body), False)
    mk("json_reindented", "re-indented JSON", reindent(body), hdrs(body), False)
    mk("cert_url_other_host", "PAYPAL-CERT-URL on another host", body, hdrs(body, url="https://evil.example/v1/notifications/certs/x"), False)
    mk("cert_url_lookalike_host", "PAYPAL-CERT-URL on api.paypal.com.evil.example", body,
       hdrs(body, url="https://api.paypal.com.evil.example/v1/notifications/certs/x"), False)
    mk("cert_url_other_path", "PAYPAL-CERT-URL outside /v1/notifications/certs/", body,
       hdrs(body, url="https://api.paypal.com/v1/oauth2/x"), False)
    mk("cert_url_http", "PAYPAL-CERT-URL over http", body, hdrs(body, url=cert_url.replace("https", "http")), False)
    mk("auth_algo_other", "PAYPAL-AUTH-ALGO SHA1withRSA: the algorithm is fixed", body, hdrs(body, algo="SHA1withRSA"), False)
    for hname in ("PAYPAL-TRANSMISSION-SIG", "PAYPAL-TRANSMISSION-ID", "PAYPAL-TRANSMISSION-TIME", "PAYPAL-CERT-URL"):
        mk("missing_" + hname.lower().replace("-", "_"), f"no {hname}", body, hdrs(body, drop=hname), False)
    mk("stale_timestamp", "transmitted 6 minutes before now (window 5 min, policy)", body, hdrs(body, ts=T0 - 360), False)
    mk("future_timestamp", "transmitted 6 minutes after now", body, hdrs(body, ts=T0 + 360), False)
    mk("inside_window", "transmitted 4 minutes before now", body, hdrs(body, ts=T0 - 240), True)
    mk("valid_empty_body", "empty body, crc32 0", b"", hdrs(b""), True)
    big = grow(event)
    mk("valid_1mib", "~1 MiB event", big, hdrs(big), True)
    write("paypal", out)


# ------------------------------------------------------------------------------------------------
def plaid_vectors():
    """plaid-python ships no webhook verifier; Plaid documents the check (JWT ES256 by the key
    from /webhook_verification_key/get, iat within 5 minutes, request_body_sha256). Signed with
    our own P-256 key (Plaid's being Plaid's), judged by PyJWT 2.10.1 ES256 + the documented
    checks."""
    from cryptography.hazmat.primitives.asymmetric import ec
    import unittest.mock as m

    doc = "https://plaid.com/docs/api/webhooks/webhook-verification/"
    client_id, api_secret = "5e8b3a1f2c9d4e0012345678", "plaid-api-secret-0f9e8d7c6b5a"
    kid = "6c5516e1-92dc-479e-a8ff-5a51992e0001"
    key, evil = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    nums = key.public_key().public_numbers()

    def b64u(n):
        return base64.urlsafe_b64encode(n.to_bytes(32, "big")).rstrip(b"=").decode()

    jwk = {"alg": "ES256", "created_at": 1560466150, "crv": "P-256", "expired_at": None, "kid": kid, "kty": "EC",
           "use": "sig", "x": b64u(nums.x), "y": b64u(nums.y)}
    answer = json.dumps({"key": jwk, "request_id": "Ef8fBcZ2yMyhPH5"})
    public = jwt.PyJWK(jwk).key

    def judge(body, headers, now):
        tok = ci_get(headers, "Plaid-Verification")
        if tok is None:
            return False
        try:
            if jwt.get_unverified_header(tok).get("alg") != "ES256" or jwt.get_unverified_header(tok).get("kid") != kid:
                return False
            with m.patch("jwt.api_jwt.datetime") as dt:
                dt.now.return_value = datetime.fromtimestamp(now, tz=timezone.utc)
                claims = jwt.decode(tok, public, algorithms=["ES256"], options={"verify_iat": False})
        except jwt.PyJWTError:
            return False
        if not isinstance(claims.get("iat"), int) or abs(now - claims["iat"]) > 300:
            return False
        return hmac.compare_digest(claims.get("request_body_sha256", "").encode(), hashlib.sha256(body).hexdigest().encode())

    out = []

    def mk(name, note_, body, headers, expect, now=T0):
        verdict = judge(body, headers, now)
        assert verdict == expect, name
        v = vector("plaid", name, f"{note_}; documented check, judged by PyJWT 2.10.1 jwt.decode(ES256) + iat and "
                   f"body hash ({doc})", body, headers, now, verdict, secret=api_secret)
        v["sender"] = client_id
        v["key_document"] = answer
        v["key_document_url"] = "https://production.plaid.com/webhook_verification_key/get#" + kid
        out.append(v)

    def tok(body, signer=key, iat=T0, alg="ES256", digest=None, k=kid):
        c = {"iat": iat, "request_body_sha256": digest or hashlib.sha256(body).hexdigest()}
        return jwt.encode(c, signer, algorithm=alg, headers={"kid": k})

    def event(pad):
        return compact({"environment": "production", "historical_update_complete": False, "initial_update_complete": True,
                        "item_id": "wz666MBjYWTp2PDzzggYhM6oWWmBb", "webhook_code": "SYNC_UPDATES_AVAILABLE",
                        "webhook_type": "TRANSACTIONS", "note": pad})

    base = [["Content-Type", "application/json"], ["User-Agent", "Plaid Verifier"]]
    body = event(None)
    mk("valid", "ES256 JWT, iat now, request_body_sha256 of the raw body", body, base + [["Plaid-Verification", tok(body)]], True)
    mk("wrong_key", "signed by another P-256 key under the same kid", body,
       base + [["Plaid-Verification", tok(body, signer=evil)]], False)
    mk("body_changed_one_byte", "body changed: request_body_sha256 no longer matches", change_one_byte(body),
       base + [["Plaid-Verification", tok(body)]], False)
    mk("json_reindented", "re-indented JSON", reindent(body), base + [["Plaid-Verification", tok(body)]], False)
    mk("stale_timestamp", "iat 6 minutes ago", body, base + [["Plaid-Verification", tok(body, iat=T0 - 360)]], False)
    mk("future_timestamp", "iat 6 minutes ahead (policy: both ways)", body,
       base + [["Plaid-Verification", tok(body, iat=T0 + 360)]], False)
    mk("inside_window", "iat 4 minutes ago", body, base + [["Plaid-Verification", tok(body, iat=T0 - 240)]], True)
    forged = base64.urlsafe_b64encode(json.dumps({"alg": "HS256", "kid": kid}).encode()).rstrip(b"=").decode()
    claims = base64.urlsafe_b64encode(json.dumps({"iat": T0, "request_body_sha256": hashlib.sha256(body).hexdigest()}).encode()).rstrip(b"=").decode()
    mac_ = base64.urlsafe_b64encode(hmac.new(answer.encode(), f"{forged}.{claims}".encode(), hashlib.sha256).digest()).rstrip(b"=").decode()
    mk("alg_confusion_hs256", "HS256 keyed with the key document", body,
       base + [["Plaid-Verification", f"{forged}.{claims}.{mac_}"]], False)
    none = base64.urlsafe_b64encode(json.dumps({"alg": "none", "kid": kid}).encode()).rstrip(b"=").decode()
    mk("alg_none", "unsigned token", body, base + [["Plaid-Verification", f"{none}.{claims}."]], False)
    mk("missing_header", "no Plaid-Verification", body, base, False)
    mk("malformed_header", "not a JWT", body, base + [["Plaid-Verification", "garbage"]], False)
    mk("valid_empty_body", "empty body, its sha256", b"", base + [["Plaid-Verification", tok(b"")]], True)
    big = grow(event)
    mk("valid_1mib", "~1 MiB webhook", big, base + [["Plaid-Verification", tok(big)]], True)
    write("plaid", out)


if __name__ == "__main__":
    plaid_vectors()
    paypal_vectors()
    sns_vectors()
    pubsub_vectors()
    twitch_vectors()
    dropbox_vectors()
    asana_vectors()
    okta_vectors()
    graph_vectors()
    event_grid_vectors()
    xero_vectors()
    netlify_vectors()
    monday_vectors()
    jira_vectors()
