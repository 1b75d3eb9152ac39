"""What gen_sdk.py's provider modules share: the frozen clock, the vector maker, and MISMATCHES (the
SDK verdicts that differ from my expectation, which gen_sdk.py prints at the end).
"""

import contextlib
import sys
from unittest import mock

from vecs import FrozenDatetime as _FrozenDatetime
from vecs import T0, vector

import paddle_billing.Notifications.Verifier  # noqa: F401 - frozen() patches this module's clock: it must be loaded

MISMATCHES = []


@contextlib.contextmanager
def frozen(now):
    """Freeze the clocks the SDK verifiers read (time.time, paddle's `from time import time`,
    standardwebhooks' datetime.now)."""
    _FrozenDatetime.NOW = now
    with mock.patch("time.time", return_value=float(now)), \
         mock.patch.object(sys.modules["paddle_billing.Notifications.Verifier"], "time", return_value=float(now)), \
         mock.patch("standardwebhooks.webhooks.datetime", _FrozenDatetime):
        yield


def maker(provider, judge, **keys):
    """Returns mk(name, note, body, headers, now=T0, expect=None, **kw) that asks `judge` for the
    verdict and records it. `expect` is only my own expectation, reported when the SDK disagrees."""
    out = []

    def mk(name, note, body, headers, now=T0, expect=None, judge_fn=None, **kw):
        k = dict(keys)
        for key in list(kw):
            if key in ("secret", "public_key", "private_key", "public_url"):
                k[key] = kw.pop(key)
        verdict = (judge_fn or judge)(body, headers, now, kw.get("path") or f"/hooks/{provider}", k)
        if expect is not None and verdict != expect:
            MISMATCHES.append(f"{provider}/{name}: sdk={verdict} expected={expect}")
        out.append(vector(provider, name, note, body, headers, now, verdict, **kw, **k))
        return out[-1]

    return mk, out
