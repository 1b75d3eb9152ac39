"""check_formula.py's strict raw-bytes judge for the providers gen_prova.py / gen_prova.mjs made
(the windows are hookgate's, both ways, as for Stripe in check_formula.py)."""

import base64
import re

from check_formula import H, eq, hget, stdwh, within

# Where the official SDK is (knowingly) looser or stricter than the strict raw-bytes formula.
EXPECTED_DIFFS = {
    ("workos", "future_timestamp"),          # @workos-inc/node checks only the past
    ("mux", "future_timestamp"),             # @mux/mux-node checks only the past
    ("sanity", "stale_timestamp"),           # @sanity/webhook checks no age
    ("sanity", "future_timestamp"),
    ("notion", "uppercase_hex"),             # @notionhq/client lower-cases the hex first
}

# header, prefix, algorithm, base64 (else lowercase hex)
BODY_MACS = {
    "coinbase-commerce": ("X-CC-Webhook-Signature", "", "sha256", False),
    "notion": ("X-Notion-Signature", "sha256=", "sha256", False),
    "sentry": ("Sentry-Hook-Signature", "", "sha256", False),
    "vercel": ("x-vercel-signature", "", "sha1", False),
    "typeform": ("Typeform-Signature", "sha256=", "sha256", True),
    "lemon-squeezy": ("X-Signature", "", "sha256", False),
    "gitea": ("X-Gitea-Signature", "", "sha256", False),
    "forgejo": ("X-Forgejo-Signature", "", "sha256", False),
    "bitbucket-server": ("X-Hub-Signature", "sha256=", "sha256", False),
}

# header, window in seconds, base64url (else lowercase hex)
STAMPED = {
    "workos": ("WorkOS-Signature", 180, False),
    "mux": ("Mux-Signature", 300, False),
    "sanity": ("sanity-webhook-signature", 300, True),
    "calendly": ("Calendly-Webhook-Signature", 180, False),
    "persona": ("Persona-Signature", 300, False),
}

# header, the expected value made of the secret
CREDENTIALS = {
    "cloudflare": ("cf-webhook-auth", lambda s: s),
    "strapi": ("Authorization", lambda s: f"Bearer {s}"),
    "postmark": ("Authorization", lambda s: "Basic " + base64.b64encode(s.encode()).decode()),
    "pipedrive": ("Authorization", lambda s: "Basic " + base64.b64encode(s.encode()).decode()),
    "chargebee": ("Authorization", lambda s: "Basic " + base64.b64encode(s.encode()).decode()),
}

PROVIDERS = {"clerk", "resend"} | set(BODY_MACS) | set(STAMPED) | set(CREDENTIALS)


def stamped(v, body, header, window, b64url):
    # One `t=..,v1=..` set, or several space-separated ones (Persona during a rotation).
    for group in re.split(r"\s+(?=t=)", hget(v, header) or ""):
        items = [i.strip().split("=", 1) for i in group.split(",") if "=" in i]
        ts = next((x for k, x in items if k == "t"), None)
        if ts is None or not ts.isdigit():
            continue
        seconds = int(ts) // 1000 if len(ts) >= 13 else int(ts)
        if not within(seconds, v["now"], window):
            continue
        mac = H("sha256", v["secret"], f"{ts}.".encode() + body)
        want = base64.urlsafe_b64encode(mac).decode().rstrip("=") if b64url else mac.hex()
        if any(k == "v1" and eq(x, want) for k, x in items):
            return True
    return False


def judge(p, v, body):
    if p in ("clerk", "resend"):
        return stdwh(v, body, "svix")
    if p in BODY_MACS:
        header, prefix, algo, b64 = BODY_MACS[p]
        mac = H(algo, v["secret"], body)
        return eq(hget(v, header), prefix + (base64.b64encode(mac).decode() if b64 else mac.hex()))
    if p in STAMPED:
        return stamped(v, body, *STAMPED[p])
    header, value = CREDENTIALS[p]
    return eq(hget(v, header), value(v["secret"]))
