"""gen_provb.py's providers judged by their own SDK (razorpay, onfido, hubspot-api-client,
box-sdk-gen, braintree, Adyen); each SDK is imported inside its function.
"""

import base64
import json
from urllib.parse import urlencode

from provb_common import MISMATCHES, b64, body_mac_provider, family, form_fields, frozen, iso
from vecs import T0, ci_get, compact, grow, mac, reindent, replace, vector, write


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
