"""Strict raw-bytes formulas for the providers of gen_provb.py, used by check_formula.py.
judge() returns the strict verdict, None where the vectors are already judged by the documented
formula (or, for contentful, by the toolkit only), and raises KeyError for other providers."""

import base64
import hashlib
import hmac
import json
from datetime import datetime
from urllib.parse import parse_qsl

# Where the SDK knowingly differs from the strict formula (see ../README.md).
EXPECTED_DIFFS = {
    ("hubspot", "future_timestamp"),   # hubspot-api-client checks only the past
    ("onfido", "empty_body"),          # WebhookEventVerifier parses the event after the MAC
    ("adyen", "second_item_forged"),   # Adyen's library checks the first item only
}

DOCUMENTED = {"paystack", "woocommerce", "segment", "quickbooks", "mollie", "docusign", "airtable", "zendesk",
              "recurly", "trello", "figma", "mandrill", "bigcommerce", "contentful"}


def _mac(algo, key, msg):
    return hmac.new(key if isinstance(key, bytes) else key.encode(), msg, algo).digest()


def _get(v, name):
    return next((x for k, x in v["request"]["headers"] if k.lower() == name.lower()), None)


def _eq(a, b):
    return a is not None and hmac.compare_digest(a.encode(), b.encode())


def judge(p, v, body):
    s, now = v.get("secret"), v["now"]
    if p in DOCUMENTED or p == "wix":  # wix: RS256, judged by @wix/sdk only (needs a crypto library)
        return None
    if p == "razorpay":
        return _eq(_get(v, "X-Razorpay-Signature"), _mac("sha256", s, body).hex())
    if p == "onfido":
        return _eq(_get(v, "X-SHA2-Signature"), _mac("sha256", s, body).hex())
    if p == "hubspot":
        ts, sig = _get(v, "X-HubSpot-Request-Timestamp"), _get(v, "X-HubSpot-Signature-v3")
        if ts is None or abs(now * 1000 - int(ts)) > 300_000:
            return False
        uri = v["public_url"] + v["request"]["path_and_query"][len("/hooks/hubspot"):]
        return _eq(sig, base64.b64encode(_mac("sha256", s, b"POST" + uri.encode() + body + ts.encode())).decode())
    if p == "box":
        ts = _get(v, "box-delivery-timestamp")
        if ts is None or _get(v, "box-signature-version") != "1" or _get(v, "box-signature-algorithm") != "HmacSHA256":
            return False
        at = datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()
        if not (now - 600 <= at <= now):
            return False
        want = base64.b64encode(_mac("sha256", s, body + ts.encode())).decode()
        return any(_eq(_get(v, h), want) for h in ("box-signature-primary", "box-signature-secondary"))
    if p == "braintree":
        f = dict(parse_qsl(body.decode(), keep_blank_values=True))
        sig, payload = f.get("bt_signature"), f.get("bt_payload")
        if sig is None or payload is None:
            return False
        pairs = dict(pair.split("|", 1) for pair in sig.split("&") if "|" in pair)
        key = hashlib.sha1(s.encode()).digest()
        return any(_eq(pairs.get(v["public_key"]), _mac("sha1", key, p2.encode()).hex()) for p2 in (payload, payload + "\n"))
    if p == "adyen":
        try:
            items = [i["NotificationRequestItem"] for i in json.loads(body)["notificationItems"]]
        except (ValueError, KeyError, TypeError):
            return False
        key = bytes.fromhex(s)
        fields = ("pspReference", "originalReference", "merchantAccountCode", "merchantReference", "value", "currency",
                  "eventCode", "success")
        for item in items:
            d = dict(item, value=item.get("amount", {}).get("value", ""), currency=item.get("amount", {}).get("currency", ""))
            text = ":".join(str(d.get(k, "")) for k in fields)
            got = (item.get("additionalData") or {}).get("hmacSignature")
            if not _eq(got, base64.b64encode(_mac("sha256", key, text.encode())).decode()):
                return False
        return bool(items)
    raise KeyError(p)
