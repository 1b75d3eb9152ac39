"""gen_provc.py's public-key providers (google-pubsub, aws-sns, paypal, plaid): the providers' keys
being theirs, each run generates its own key and the vectors carry the key document the tests serve,
so these four files change on every regeneration.
"""

import base64
import hashlib
import hmac
import json
from datetime import datetime, timezone

import jwt

from gen_formula import ci_get
from vecs import T0, change_one_byte, compact, grow, reindent, vector, write


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
