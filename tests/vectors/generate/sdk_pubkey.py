"""gen_sdk.py's public-key providers (sendgrid ECDSA P-256, discord Ed25519), signed with fixed keys
so regeneration is reproducible.
"""

import base64
import contextlib
import hashlib

from sdk_common import maker
from vecs import T0, ci_get, change_one_byte, compact, grow, json_response, reindent, replace, without, write

from sendgrid.helpers.eventwebhook import EventWebhook
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
import discord_interactions
import nacl.signing


# --------------------------------------------------------------------------------------------
# SendGrid: ECDSA P-256 signed with `cryptography`; judged by sendgrid EventWebhook.verify_signature
# --------------------------------------------------------------------------------------------
def sendgrid_vectors():
    import importlib.metadata as md
    V = f"sendgrid {md.version('sendgrid')}"
    def key_from(label):  # fixed keys so regeneration is reproducible
        return ec.derive_private_key(int.from_bytes(hashlib.sha256(label).digest()[:31], "big"), ec.SECP256R1())
    priv = key_from(b"hookgate sendgrid test key")
    other = key_from(b"some other sendgrid key")
    pub_b64 = base64.b64encode(priv.public_key().public_bytes(serialization.Encoding.DER,
                               serialization.PublicFormat.SubjectPublicKeyInfo)).decode()
    priv_b64 = base64.b64encode(priv.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())).decode()

    def judge(body, headers, now, path, k):
        sig = ci_get(headers, "X-Twilio-Email-Event-Webhook-Signature")
        ts = ci_get(headers, "X-Twilio-Email-Event-Webhook-Timestamp")
        if sig is None or ts is None:
            return False
        try:
            return EventWebhook(k["public_key"]).verify_signature(body.decode(), sig, ts)
        except Exception:  # undecodable base64 / DER
            return False

    def sign(body, ts=T0, key=priv):
        der = key.sign(str(ts).encode() + body, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
        return base64.b64encode(der).decode()

    def hdrs(sig, ts=T0):
        return [["Content-Type", "application/json"], ["User-Agent", "SendGrid Event API"],
                ["X-Twilio-Email-Event-Webhook-Signature", sig], ["X-Twilio-Email-Event-Webhook-Timestamp", str(ts)]]

    def events(pad):
        evs = [{"email": "alice@example.com", "timestamp": T0 - 5, "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>",
                "event": "processed", "category": ["cat facts"], "sg_event_id": "rbtnWrG1DVDGGGFHFyun0A==",
                "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0"},
               {"email": "alice@example.com", "timestamp": T0 - 2, "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>",
                "event": "delivered", "category": ["cat facts"], "sg_event_id": "Bmgv2kD8QhKxQqM5P4Kq1g==",
                "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0", "response": "250 OK"}]
        if pad is not None:
            evs[1]["response"] = pad
        return compact(evs) + b"\r\n"  # SendGrid's raw body ends with CRLF; it is signed too

    mk, out = maker("sendgrid", judge, public_key=pub_b64, private_key=priv_b64)
    gen = f"signed with cryptography ECDSA-P256-SHA256 (RFC 6979 deterministic) over timestamp+body, judged by {V} EventWebhook.verify_signature"
    body = events(None)
    sig = sign(body)
    mk("valid", f"array of 2 events (sg_event_id), body ends with CRLF; {gen}", body, hdrs(sig), expect=True)
    big = grow(events)
    mk("valid_1mib", f"~1 MiB event array; {gen}", big, hdrs(sign(big)), expect=True)
    mk("valid_empty_body", f"empty body (signed content = timestamp alone); {gen}", b"", hdrs(sign(b"")), expect=True)
    mk("wrong_secret", f"signed with another P-256 key; {gen}", body, hdrs(sign(body, key=other)), expect=False)
    mk("body_changed_one_byte", f"one digit changed; {gen}", change_one_byte(body), hdrs(sig), expect=False)
    mk("json_reindented", f"re-indented JSON; {gen}", reindent(body), hdrs(sig), expect=False)
    mk("timestamp_header_changed", f"timestamp header +1 s (it is signed); {gen}", body,
       replace(hdrs(sig), "X-Twilio-Email-Event-Webhook-Timestamp", str(T0 + 1)), expect=False)
    mk("missing_signature_header", f"no X-Twilio-Email-Event-Webhook-Signature; {gen}", body,
       without(hdrs(sig), "X-Twilio-Email-Event-Webhook-Signature"), expect=False)
    mk("malformed_signature_header", f"not base64 DER; {gen}", body, hdrs("garbage"), expect=False)
    mk("malformed_signature_truncated", f"DER signature with its last 4 base64 chars cut; {gen}", body, hdrs(sig[:-4]), expect=False)
    # The SDK checks no age; hookgate's default window is 300 s both ways (the deviation is listed in presets.rs).
    mk("stale_timestamp", f"signed 301 s before now (a replay): the SDK accepts any age; {gen}", body, hdrs(sig), now=T0 + 301, expect=True)
    mk("future_timestamp", f"signed 301 s after now: the SDK accepts any age; {gen}", body, hdrs(sig), now=T0 - 301, expect=True)
    mk("inside_window", f"judged 299 s after signing; {gen}", body, hdrs(sig), now=T0 + 299, expect=True)
    write("sendgrid", out)


# --------------------------------------------------------------------------------------------
# Discord: PyNaCl Ed25519 key, signed with nacl SigningKey.sign, judged by discord_interactions.verify_key
# --------------------------------------------------------------------------------------------
def discord_vectors():
    import importlib.metadata as md
    V = f"discord-interactions {md.version('discord-interactions')}"
    sk = nacl.signing.SigningKey(hashlib.sha256(b"hookgate discord test key").digest())
    other = nacl.signing.SigningKey(hashlib.sha256(b"some other discord app").digest())
    pub = sk.verify_key.encode().hex()

    def judge(body, headers, now, path, k):
        sig = ci_get(headers, "X-Signature-Ed25519")
        ts = ci_get(headers, "X-Signature-Timestamp")
        if sig is None or ts is None:
            return False  # the lib's decorator answers 401
        import io
        with contextlib.redirect_stdout(io.StringIO()):  # verify_key prints the exception
            return discord_interactions.verify_key(body, sig, ts, k["public_key"])

    def sign(body, ts=T0, key=sk):
        return key.sign(str(ts).encode() + body).signature.hex()

    def hdrs(sig, ts=T0):
        return [["Content-Type", "application/json"], ["User-Agent", "Discord-Interactions/1.0 (+https://discord.com)"],
                ["X-Signature-Ed25519", sig], ["X-Signature-Timestamp", str(ts)]]

    def interaction(pad):
        d = {"app_permissions": "442368", "application_id": "1161371938301833256", "channel_id": "1161371987865931796",
             "data": {"id": "1161372211007348756", "name": "ping", "type": 1,
                      "options": [] if pad is None else [{"name": "text", "type": 3, "value": pad}]},
             "guild_id": "1161371987865931793", "id": "1302230187361173584", "locale": "en-US",
             "member": {"user": {"id": "53908232506183680", "username": "mason", "global_name": "Mason"}},
             "token": "aW50ZXJhY3Rpb246MTMwMjIzMDE4NzM2MTE3MzU4NDp0b2tlbg", "type": 2, "version": 1}
        return compact(d)

    mk, out = maker("discord", judge, public_key=pub, private_key=sk.encode().hex())
    gen = f"signed with PyNaCl SigningKey.sign over timestamp+body, judged by {V} verify_key"
    body = interaction(None)
    sig = sign(body)
    mk("valid", f"APPLICATION_COMMAND interaction (id); {gen}", body, hdrs(sig), expect=True)
    big = grow(interaction)
    mk("valid_1mib", f"~1 MiB interaction; {gen}", big, hdrs(sign(big)), expect=True)
    mk("valid_empty_body", f"empty body (signed content = timestamp alone); {gen}", b"", hdrs(sign(b"")), expect=True)
    mk("wrong_secret", f"signed with another Ed25519 key; {gen}", body, hdrs(sign(body, key=other)), expect=False)
    mk("body_changed_one_byte", f"one digit changed; {gen}", change_one_byte(body), hdrs(sig), expect=False)
    mk("json_reindented", f"re-indented JSON; {gen}", reindent(body), hdrs(sig), expect=False)
    mk("timestamp_header_changed", f"X-Signature-Timestamp +1 (it is signed); {gen}", body,
       replace(hdrs(sig), "X-Signature-Timestamp", str(T0 + 1)), expect=False)
    mk("missing_signature_header", f"no X-Signature-Ed25519 -> 401; {gen}", body, without(hdrs(sig), "X-Signature-Ed25519"), expect=False)
    mk("malformed_signature_header", f"non-hex signature; {gen}", body, hdrs("garbage"), expect=False)
    mk("malformed_signature_truncated", f"hex signature cut by 2 chars (63 bytes); {gen}", body, hdrs(sig[:-2]), expect=False)
    mk("uppercase_hex", f"hex signature upper-cased: bytes.fromhex is case-insensitive, the lib ACCEPTS; {gen}", body,
       hdrs(sig.upper()), expect=True)
    ping = compact({"application_id": "1161371938301833256", "id": "1302230187361173585", "token": "aW50ZXJhY3Rpb246cGluZw", "type": 1, "version": 1})
    mk("ping", f"PING type 1 (signed) -> 200 {{\"type\":1}}; {gen}", ping, hdrs(sign(ping)),
       handshake=json_response({"type": 1}), expect=True)
    mk("ping_bad_signature", f"PING signed with another key (Discord's own probe) -> must be 401; {gen}", ping,
       hdrs(sign(ping, key=other)), expect=False)
    # The SDK checks no age; hookgate's default window is 300 s both ways (the deviation is listed in presets.rs).
    mk("stale_timestamp", f"signed 301 s before now (a replay): the SDK accepts any age; {gen}", body, hdrs(sig), now=T0 + 301, expect=True)
    mk("future_timestamp", f"signed 301 s after now: the SDK accepts any age; {gen}", body, hdrs(sig), now=T0 - 301, expect=True)
    mk("inside_window", f"judged 299 s after signing; {gen}", body, hdrs(sig), now=T0 + 299, expect=True)
    write("discord", out)
