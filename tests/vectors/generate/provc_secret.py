"""gen_provc.py's providers with a shared secret (twitch, dropbox, asana, okta, microsoft-graph,
azure-event-grid, xero, jira): none publishes a verifier library, so each vector is signed AND judged
with the provider's documented check, written here independently of hookgate.
"""

import base64
import hmac
import json
from datetime import datetime, timezone
from urllib.parse import parse_qs, quote, urlsplit

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
