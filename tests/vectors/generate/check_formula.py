"""Cross-check: re-judge every vector with the documented formulas over the RAW bytes (stdlib only,
no SDK), and list the vectors where that strict reading differs from the SDK verdict (sdk_accepts).
Those are the SDK quirks listed in ../README.md. Exits 1 on any unexplained difference.

Run:  python check_formula.py      (after the generators)
"""

import base64
import glob
import hashlib
import hmac
import json
import os
import sys
from urllib.parse import parse_qsl, urlsplit

HERE = os.path.dirname(os.path.abspath(__file__))

# Where the official SDK is (knowingly) looser or stricter than the strict raw-bytes formula.
EXPECTED_DIFFS = {
    ("stripe", "future_timestamp"),          # stripe-python checks only the past
    ("zoom", "json_reindented"),             # rivet hashes JSON.stringify(JSON.parse(body))
    ("discord", "uppercase_hex"),            # bytes.fromhex is case-insensitive
    ("github", "empty_body"),                # octokit verify() throws on an empty payload
    ("shopify", "empty_body"),               # shopify-api refuses an empty body
    ("square", "empty_body"),                # squareup verify_signature refuses an empty body
    ("zoom", "empty_body"),                  # rivet JSON-parses first
}


def H(algo, key, msg):
    return hmac.new(key if isinstance(key, bytes) else key.encode(), msg, algo).digest()


def eq(a, b):
    return a is not None and hmac.compare_digest(a.encode(), b.encode())


def hget(v, name):
    for k, val in v["request"]["headers"]:
        if k.lower() == name.lower():
            return val
    return None


def within(ts, now, window):
    try:
        return abs(now - int(ts)) <= window
    except (TypeError, ValueError):
        return False


def stdwh(v, body, prefix):
    mid, ts, sigs = hget(v, f"{prefix}-id"), hget(v, f"{prefix}-timestamp"), hget(v, f"{prefix}-signature")
    if not (mid and ts and sigs) or not within(ts, v["now"], 300):
        return False
    key = base64.b64decode(v["secret"].removeprefix("whsec_"))
    want = base64.b64encode(H("sha256", key, f"{mid}.{ts}.".encode() + body)).decode()
    return any(s.startswith("v1,") and eq(s[3:], want) for s in sigs.split(" "))


def judge(p, v, body):
    s, now, pq = v.get("secret"), v["now"], v["request"]["path_and_query"]
    hexsig = lambda algo, msg, key=s: H(algo, key, msg).hex()
    b64sig = lambda algo, msg, key=s: base64.b64encode(H(algo, key, msg)).decode()
    if p == "stripe":
        h = hget(v, "Stripe-Signature") or ""
        items = [i.split("=", 1) for i in h.split(",") if "=" in i]
        ts = next((x for k, x in items if k == "t"), None)
        if ts is None or not within(ts, now, 300):
            return False
        want = hexsig("sha256", f"{ts}.".encode() + body)
        return any(k == "v1" and eq(x, want) for k, x in items)
    if p in ("github", "bitbucket", "meta"):
        return eq(hget(v, "X-Hub-Signature-256" if p != "bitbucket" else "X-Hub-Signature"), "sha256=" + hexsig("sha256", body))
    if p == "intercom":
        return eq(hget(v, "X-Hub-Signature"), "sha1=" + hexsig("sha1", body))
    if p == "limai":
        return eq(hget(v, "X-Webhook-Signature"), "sha256=" + hexsig("sha256", body))
    if p == "lahza":
        return eq(hget(v, "x-lahza-signature"), hexsig("sha256", body))
    if p == "linear":
        try:
            ts = json.loads(body)["webhookTimestamp"]
        except (ValueError, KeyError):
            return False
        return eq(hget(v, "Linear-Signature"), hexsig("sha256", body)) and abs(now * 1000 - ts) <= 60_000
    if p == "shopify":
        return eq(hget(v, "X-Shopify-Hmac-Sha256"), b64sig("sha256", body))
    if p == "twitter":
        return eq(hget(v, "x-twitter-webhooks-signature"), "sha256=" + b64sig("sha256", body))
    if p in ("slack", "zoom"):
        n = "X-Slack" if p == "slack" else "x-zm"
        ts = hget(v, f"{n}-Request-Timestamp")
        ok_ts = within(ts, now, 300) if p == "slack" else ts is not None
        return ok_ts and eq(hget(v, f"{n}-Signature"), "v0=" + hexsig("sha256", f"v0:{ts}:".encode() + body))
    if p in ("standard-webhooks", "gitlab-signing"):
        return stdwh(v, body, "webhook")
    if p == "svix":
        return stdwh(v, body, "svix")
    if p == "paddle":
        h = hget(v, "Paddle-Signature") or ""
        items = [i.split("=", 1) for i in h.split(";") if "=" in i]
        ts = next((x for k, x in items if k == "ts"), None)
        if ts is None or not within(ts, now, 5):
            return False
        want = hexsig("sha256", f"{ts}:".encode() + body)
        return any(k == "h1" and eq(x, want) for k, x in items)
    if p == "square":
        url = v["public_url"] + pq[len("/hooks/square"):]
        return eq(hget(v, "x-square-hmacsha256-signature"), b64sig("sha256", url.encode() + body))
    if p == "twilio":
        rest = pq[len("/hooks/twilio"):]
        sig = hget(v, "X-Twilio-Signature")
        u = urlsplit(v["public_url"])
        urls = [v["public_url"] + rest, f"{u.scheme}://{u.hostname}:443{u.path}{rest}"]
        q = dict(parse_qsl(urlsplit(pq).query))
        if "bodySHA256" in q:
            if q["bodySHA256"] != hashlib.sha256(body).hexdigest():
                return False
            tail = ""
        else:
            params = sorted(parse_qsl(body.decode(), keep_blank_values=True))
            tail = "".join(k + x for k, x in params)
        return any(eq(sig, b64sig("sha1", (url + tail).encode())) for url in urls)
    if p == "mailgun":
        ct = hget(v, "Content-Type")
        try:
            f = json.loads(body)["signature"] if ct.startswith("application/json") else dict(parse_qsl(body.decode()))
            ts, tok, sig = f["timestamp"], f["token"], f["signature"]
        except (ValueError, KeyError, TypeError):
            return False
        return within(ts, now, 900) and eq(sig, hexsig("sha256", f"{ts}{tok}".encode()))
    if p in ("gitlab",):
        return eq(hget(v, "X-Gitlab-Token"), s)
    if p in ("locoia", "lido"):
        ok = eq(hget(v, "Authorization"), f"Bearer {s}")
        if ok and v.get("signing_secret"):
            ok = eq(hget(v, "X-Lido-Signature"), hexsig("sha256", body, v["signing_secret"]))
        return ok
    if p == "lindo":
        return hget(v, "User-Agent") == "LindoAI-Webhooks/1.0"
    if p in ("discord", "sendgrid"):
        return None  # asymmetric: judged by the SDKs only (needs a crypto library)
    import check_prova  # the providers of gen_prova.py / gen_prova.mjs
    if p in check_prova.PROVIDERS:
        return check_prova.judge(p, v, body)
    import check_provb  # the providers of gen_provb.py / gen_provb.mjs (KeyError for others)
    return check_provb.judge(p, v, body)


def main():
    bad = 0
    for path in sorted(glob.glob(os.path.join(HERE, "..", "*.json"))):
        p = os.path.basename(path)[:-5]
        for v in json.load(open(path)):
            if v["request"]["method"] == "GET":
                continue
            got = judge(p, v, base64.b64decode(v["request"]["body_b64"]))
            if got is None or got == v["sdk_accepts"]:
                continue
            import check_prova
            import check_provb
            expected = EXPECTED_DIFFS | check_prova.EXPECTED_DIFFS | check_provb.EXPECTED_DIFFS
            tag = "expected SDK quirk" if (p, v["name"]) in expected else "UNEXPECTED"
            bad += tag == "UNEXPECTED"
            print(f"{tag}: {p}/{v['name']}: sdk_accepts={v['sdk_accepts']} strict formula={got}")
    print("cross-check", "FAILED" if bad else "ok")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
