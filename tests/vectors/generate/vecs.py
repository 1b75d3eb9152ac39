"""Shared helpers for the Python vector generators (no SDK imports here)."""

import base64
import hmac
import json
import os
import re
from datetime import datetime, timezone

# Signing time of every vector (2025-11-01T12:26:40Z). Fixed so regeneration is reproducible.
T0 = 1762000000
# "About 1 MiB": just under the gateway's default 1 MiB body limit.
BIG = 1_048_000
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")

KEY_ORDER = ["secret", "public_key", "private_key", "signing_secret", "verify_token", "public_url"]


def vector(provider, name, note, body, headers, now, accepts, *, method="POST", path=None,
           handshake=None, **keys):
    """One vector in the agreed format. body: bytes; headers: list of [name, value]."""
    assert isinstance(body, bytes)
    v = {"name": name, "note": note}
    for k in KEY_ORDER:
        if keys.get(k) is not None:
            v[k] = keys[k]
    assert set(keys) <= set(KEY_ORDER), keys
    v["request"] = {
        "method": method,
        "path_and_query": path or f"/hooks/{provider}",
        "headers": [[h, str(val)] for h, val in headers],
        "body_b64": base64.b64encode(body).decode(),
    }
    v["now"] = int(now)
    v["sdk_accepts"] = bool(accepts)
    if handshake is not None:
        v["handshake_response"] = handshake
    return v


def json_response(obj, status=200):
    body = json.dumps(obj, separators=(",", ":"))
    return {"status": status, "content_type": "application/json", "body": body, "json": obj}


def text_response(text, status=200):
    return {"status": status, "content_type": "text/plain", "body": text}


def compact(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=True).encode()


def pretty(obj):
    return json.dumps(obj, indent=2).encode()


def reindent(body):
    """Same JSON, other whitespace (compact <-> indented)."""
    obj = json.loads(body)
    out = pretty(obj) if b"\n" not in body.strip() else compact(obj)
    assert out != body
    return out


def change_one_byte(body):
    """Change one digit after the middle of the body (keeps JSON / form syntax valid)."""
    for i in range(len(body) // 2, len(body)):
        c = body[i:i + 1]
        if c.isdigit():
            new = b"7" if c != b"7" else b"8"
            return body[:i] + new + body[i + 1:]
    raise ValueError("no digit to change")


FILLER_WORDS = b"lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor "


def filler(n):
    return (FILLER_WORDS * (n // len(FILLER_WORDS) + 1))[:n].decode()


def grow(make, target=BIG):
    """make(pad: str) -> bytes; returns make(pad) sized exactly `target` bytes."""
    n = target - len(make(""))
    for _ in range(5):
        b = make(filler(n))
        if len(b) == target:
            return b
        n += target - len(b)
    raise ValueError("could not size body")


def headers_dict(headers):
    return {k: v for k, v in headers}


def without(headers, name):
    return [[k, v] for k, v in headers if k.lower() != name.lower()]


def replace(headers, name, value):
    return [[k, (value if k.lower() == name.lower() else v)] for k, v in headers]


def upper_hex(sig):
    """Upper-case the hex digits of a signature, keeping a 'sha256='/'v0=' style prefix."""
    m = re.match(r"^([A-Za-z0-9]+=)?([0-9a-f]+)$", sig)
    assert m, sig
    return (m.group(1) or "") + m.group(2).upper()


def write(provider, vectors):
    names = [v["name"] for v in vectors]
    assert len(names) == len(set(names)), names
    path = os.path.join(OUT, f"{provider}.json")
    with open(path, "w") as f:
        json.dump(vectors, f, indent=1)
        f.write("\n")
    json.load(open(path))
    print(f"{provider}: {len(vectors)} vectors -> {os.path.relpath(path)}")


def ci_get(headers, name):
    """The first value of header `name` (any case), or None."""
    for k, v in headers:
        if k.lower() == name.lower():
            return v
    return None


def mac(algo, key, msg):
    """HMAC digest; key as text or bytes."""
    return hmac.new(key if isinstance(key, bytes) else key.encode(), msg, algo).digest()


class FrozenDatetime(datetime):
    """datetime with now()/utcnow() fixed at NOW (unix seconds), for SDKs that read the clock."""
    NOW = T0

    @classmethod
    def now(cls, tz=None):
        return datetime.fromtimestamp(cls.NOW, tz=tz or timezone.utc)

    @classmethod
    def utcnow(cls):
        return datetime.fromtimestamp(cls.NOW, tz=timezone.utc).replace(tzinfo=None)
