"""gen_provc.py's JWT schemes with a shared secret (netlify, monday): judged by PyJWT, the library
those providers' docs point to, plus the documented claim checks.
"""

import hashlib
import hmac
from datetime import datetime, timezone

import jwt

from gen_formula import ci_get
from vecs import T0, change_one_byte, compact, grow, json_response, reindent, vector, write


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
