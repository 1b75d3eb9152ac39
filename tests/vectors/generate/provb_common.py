"""What gen_provb.py's provider modules share: the frozen clock, the standard case set (family),
the body-MAC provider, and MISMATCHES (the verdicts that differ from expectations, printed by
gen_provb.py at the end).
"""

import base64
import contextlib
import hmac
import sys
from datetime import datetime, timezone
from unittest import mock

from vecs import FrozenDatetime as _FrozenDatetime
from vecs import T0, change_one_byte, ci_get, grow, mac, reindent, replace, vector, without, write

MISMATCHES = []


@contextlib.contextmanager
def frozen(now):
    """Freezes time.time and the datetime.now of the SDK modules that read the clock."""
    _FrozenDatetime.NOW = now
    with contextlib.ExitStack() as st:
        st.enter_context(mock.patch("time.time", return_value=float(now)))
        if "braintree.webhook_testing_gateway" in sys.modules:
            st.enter_context(mock.patch("braintree.webhook_testing_gateway.datetime", _FrozenDatetime))
        if "hubspot.utils.signature" in sys.modules:
            st.enter_context(mock.patch("hubspot.utils.signature.datetime", _FrozenDatetime))
        yield


def b64(d):
    return base64.b64encode(d).decode()


def iso(t):
    return datetime.fromtimestamp(t, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def family(provider, *, secret, other, sign, judge, event, sig_header, note, enc="hex", ts=False,
           ts_header=None, public_url=None, extra=None, multi=None):
    """The standard case set. sign(body, key, ts) -> headers; judge(body, headers, now, k) -> verdict
    (the SDK's, or the documented check's). ts: the signature covers a timestamp (stale/future cases)."""
    out = []
    keys = {"secret": secret}
    if public_url:
        keys["public_url"] = public_url

    def mk(name, what, body, headers, now=T0, expect=None, path=None, **kw):
        k = dict(keys, **kw)
        verdict = judge(body, headers, now, k, path or f"/hooks/{provider}")
        if expect is not None and verdict != expect:
            MISMATCHES.append(f"{provider}/{name}: judged {verdict}, expected {expect}")
        out.append(vector(provider, name, f"{what}; {note}", body, headers, now, verdict, path=path, **k))

    body = event(None)
    h = sign(body, secret, T0)
    s = ci_get(h, sig_header)
    mk("valid", "realistic event", body, h, expect=True)
    big = grow(event)
    mk("valid_1mib", "~1 MiB event", big, sign(big, secret, T0), expect=True)
    mk("valid_empty_body" if judge(b"", sign(b"", secret, T0), T0, keys, f"/hooks/{provider}") else "empty_body",
       "empty body, signed", b"", sign(b"", secret, T0))
    mk("wrong_secret", "signed with another secret", body, sign(body, other, T0), expect=False)
    mk("body_changed_one_byte", "one digit changed after signing", change_one_byte(body), h, expect=False)
    mk("json_reindented", "re-indented JSON, original signature", reindent(body), h, expect=False)
    mk("missing_signature_header", f"no {sig_header}", body, without(h, sig_header), expect=False)
    mk("malformed_signature_header", "garbage", body, replace(h, sig_header, "garbage"), expect=False)
    mk("malformed_signature_truncated", "signature cut by one char", body, replace(h, sig_header, s[:-1]), expect=False)
    if enc == "hex":
        mk("uppercase_hex", "hex digits upper-cased", body, replace(h, sig_header, s[:s.rfind("=") + 1] + s[s.rfind("=") + 1:].upper()))
    if ts:
        mk("stale_timestamp", "signed an hour before now", body, sign(body, secret, T0 - 3600), expect=False)
        mk("future_timestamp", "signed an hour after now", body, sign(body, secret, T0 + 3600))
        if ts_header:
            mk("missing_timestamp_header", f"no {ts_header}", body, without(h, ts_header), expect=False)
    if multi:
        mh = multi(body)
        mk("multiple_signatures_one_valid", "rotation: a signature with an old key and one with the current key",
           body, mh, expect=True)
    if extra:
        extra(mk, sign, body)
    return out


def exact_header(header, want_fn):
    """Documented check: the header equals the documented value exactly (constant-time compare)."""
    def judge(body, headers, now, k, path):
        want = want_fn(body, headers, k, path).encode()
        # A header sent twice (Mollie during a rotation): any instance may match.
        return any(hmac.compare_digest(v.encode(), want) for h, v in headers if h.lower() == header.lower())
    return judge


def body_mac_provider(provider, header, prefix, algo, enc, doc, event, base, secret, other, key_fn=None, sdk=None,
                      sdk_note=None, extra=None):
    """HMAC of the raw body in one header; judged by `sdk(body, signature, secret)` or the documented check."""
    key_fn = key_fn or (lambda s: s)

    def sig(body, key):
        d = mac(algo, key_fn(key), body)
        return prefix + (d.hex() if enc == "hex" else b64(d))

    def sign(body, key, ts):
        return list(base) + [[header, sig(body, key)]]

    if sdk:
        def judge(body, headers, now, k, path):
            got = ci_get(headers, header)
            if got is None:
                return False
            try:
                return bool(sdk(body, got, k["secret"]))
            except Exception:
                return False
        note = sdk_note
    else:
        judge = exact_header(header, lambda body, h, k, path: sig(body, k["secret"]))
        note = f"documented formula {header}: {prefix}{enc}(HMAC-{algo.upper()}(secret, raw body)), no official verifier ({doc})"
    write(provider, family(provider, secret=secret, other=other, sign=sign, judge=judge, event=event,
                           sig_header=header, note=note, enc=enc, extra=extra))


def form_fields(body):
    from urllib.parse import parse_qs
    q = parse_qs(body.decode(), keep_blank_values=True)
    return {k: v[0] for k, v in q.items()}
