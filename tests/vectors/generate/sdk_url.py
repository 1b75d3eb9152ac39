"""gen_sdk.py's providers that sign the URL they call (twilio, square): the vectors carry the
public_url the signature covers.
"""

import base64
import hashlib
import hmac
from urllib.parse import parse_qsl, urlencode

from sdk_common import maker
from vecs import ci_get, change_one_byte, compact, grow, reindent, without, write

from twilio.request_validator import RequestValidator
from square.utils.webhooks_helper import verify_signature as square_verify


# --------------------------------------------------------------------------------------------
# Twilio: twilio-python RequestValidator.compute_signature / compute_hash / validate
# --------------------------------------------------------------------------------------------
def twilio_vectors():
    import twilio
    token = "12345678901234567890123456789012"
    other = "abcdefabcdefabcdefabcdefabcdefab"
    public_url = "https://hooks.example.com/hooks/twilio"
    V = f"twilio {twilio.__version__}"

    def signed_url(path):
        assert path.startswith("/hooks/twilio")
        return public_url + path[len("/hooks/twilio"):]

    def judge(body, headers, now, path, k):
        sig = ci_get(headers, "X-Twilio-Signature")
        if sig is None:
            return False  # validate() needs a signature: a request without one is refused
        url = signed_url(path)
        v = RequestValidator(k["secret"])
        if "bodySHA256=" in url:
            return v.validate(url, body.decode(), sig)
        return v.validate(url, dict(parse_qsl(body.decode(), keep_blank_values=True)), sig)

    sms = [("ToCountry", "US"), ("ToState", "CA"), ("SmsMessageSid", "SM1f0e8ae6ade43cb3c0ce4525424e404f"),
           ("NumMedia", "0"), ("ToCity", "SAN FRANCISCO"), ("FromZip", "94105"),
           ("SmsSid", "SM1f0e8ae6ade43cb3c0ce4525424e404f"), ("FromState", "CA"), ("SmsStatus", "received"),
           ("FromCity", "SAN FRANCISCO"), ("Body", "Hello from Twilio! Order 1042 shipped?"),
           ("FromCountry", "US"), ("To", "+15558675310"), ("MessagingServiceSid", "MG9752274e9e519418a7406176694466fa"),
           ("ToZip", "94105"), ("NumSegments", "1"), ("MessageSid", "SM1f0e8ae6ade43cb3c0ce4525424e404f"),
           ("AccountSid", "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"), ("From", "+15017122661"), ("ApiVersion", "2010-04-01")]

    def form_hdrs(sig, idem="ac1b2c3d-sms-1"):
        return [["Content-Type", "application/x-www-form-urlencoded"], ["User-Agent", "TwilioProxy/1.1"],
                ["I-Twilio-Idempotency-Token", idem], ["X-Twilio-Signature", sig]]

    def json_hdrs(sig):
        return [["Content-Type", "application/json"], ["User-Agent", "TwilioProxy/1.1"],
                ["I-Twilio-Idempotency-Token", "ac1b2c3d-evt-1"], ["X-Twilio-Signature", sig]]

    def sign_form(path, params, key=token, url=None):
        return RequestValidator(key).compute_signature(url or signed_url(path), dict(params))

    def status_event(pad=None):
        ev = {"specversion": "1.0", "type": "com.twilio.messaging.message.delivered",
              "source": "/2010-04-01/Accounts/ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX/Messages/SM1f0e8ae6ade43cb3c0ce4525424e404f.json",
              "id": "EZ6d2f8c7f2b1b4e0a9d5c3e1f7a8b9c0d", "dataschema": "https://events-schemas.twilio.com/Messaging.MessageStatus/2",
              "datacontenttype": "application/json", "time": "2025-11-01T12:26:39.000Z",
              "data": {"messageSid": "SM1f0e8ae6ade43cb3c0ce4525424e404f", "accountSid": "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
                       "to": "+15558675310", "from": "+15017122661", "messageStatus": "DELIVERED", "eventName": "com.twilio.messaging.message.delivered",
                       "timestamp": "2025-11-01T12:26:39.000Z"}}
        if pad is not None:
            ev["data"]["notes"] = pad
        return compact(ev)

    def json_path(body, sub="/status"):
        return f"/hooks/twilio{sub}?bodySHA256={RequestValidator(token).compute_hash(body.decode())}"

    mk, out = maker("twilio", judge, secret=token, public_url=public_url)
    gen = f"signed with {V} RequestValidator.compute_signature (JSON bodies: compute_hash into bodySHA256), judged by RequestValidator.validate on public_url + sub-path/query"
    p = "/hooks/twilio/sms?To=%2B1555"
    body = urlencode(sms).encode()
    sig = sign_form(p, sms)
    mk("valid", f"form-encoded incoming SMS to public_url + '/sms?To=%2B1555'; {gen}", body, form_hdrs(sig), path=p, expect=True)
    jb = status_event()
    jp = json_path(jb)
    jsig = sign_form(jp, {})
    mk("valid_json_body", f"JSON body; URL carries bodySHA256 and no params are signed; {gen}", jb, json_hdrs(jsig), path=jp, expect=True)
    big = grow(lambda pad: status_event(pad))
    bp = json_path(big)
    mk("valid_1mib", f"~1 MiB JSON body with bodySHA256; {gen}", big, json_hdrs(sign_form(bp, {})), path=bp, expect=True)
    mk("valid_empty_body", f"form POST with no params: the signature covers the URL only; {gen}", b"",
       form_hdrs(sign_form("/hooks/twilio/voice", [])), path="/hooks/twilio/voice", expect=True)
    mk("wrong_secret", f"signed with another auth token; {gen}", body, form_hdrs(sign_form(p, sms, key=other)), path=p, expect=False)
    mk("body_changed_one_byte", f"one digit of a form value changed; {gen}", change_one_byte(body), form_hdrs(sig), path=p, expect=False)
    mk("json_body_changed_one_byte", f"JSON body changed, bodySHA256 in URL no longer matches; {gen}", change_one_byte(jb), json_hdrs(jsig), path=jp, expect=False)
    mk("json_reindented", f"JSON body re-indented, URL/bodySHA256 and signature kept; {gen}", reindent(jb), json_hdrs(jsig), path=jp, expect=False)
    mk("missing_signature_header", f"no X-Twilio-Signature (validate cannot succeed without one); {gen}", body, without(form_hdrs(sig), "X-Twilio-Signature"), path=p, expect=False)
    mk("malformed_signature_header", f"garbage signature; {gen}", body, form_hdrs("garbage"), path=p, expect=False)
    mk("malformed_signature_truncated", f"base64 signature with the last 2 chars cut; {gen}", body, form_hdrs(sig[:-2]), path=p, expect=False)
    port_sig = sign_form(p, sms, url="https://hooks.example.com:443/hooks/twilio/sms?To=%2B1555")
    mk("url_with_port", f"signed over https://hooks.example.com:443/...; validate tries with and without the port; {gen}", body, form_hdrs(port_sig), path=p, expect=True)
    reordered = urlencode(list(reversed(sms))).encode()
    mk("params_reordered", f"same form params sent in reverse order (the scheme sorts names); {gen}", reordered, form_hdrs(sig), path=p, expect=True)
    mk("wrong_url", f"signed for https://other.example.com/hooks/twilio/sms?To=%2B1555; {gen}", body,
       form_hdrs(sign_form(p, sms, url="https://other.example.com/hooks/twilio/sms?To=%2B1555")), path=p, expect=False)
    mk("query_changed", f"valid signature but the query string differs from the signed one; {gen}", body, form_hdrs(sig),
       path="/hooks/twilio/sms?To=%2B1556", expect=False)
    # Status callbacks configured as GET: the parameters ride in the query, which the URL signature covers.
    gq = urlencode([("AccountSid", "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"), ("ApiVersion", "2010-04-01"),
                    ("From", "+15017122661"), ("MessageSid", "SM1f0e8ae6ade43cb3c0ce4525424e404f"),
                    ("MessageStatus", "delivered"), ("SmsStatus", "delivered"), ("To", "+15558675310")])
    gp = f"/hooks/twilio/status?{gq}"
    gsig = sign_form(gp, {})

    def get_hdrs(sig, idem="ac1b2c3d-status-1"):
        return [["User-Agent", "TwilioProxy/1.1"], ["I-Twilio-Idempotency-Token", idem], ["X-Twilio-Signature", sig]]

    mk("valid_get_status_callback", f"GET status callback: params in the query, no body; signature over the full URL; {gen}",
       b"", get_hdrs(gsig), path=gp, method="GET", expect=True)
    mk("get_query_changed", f"GET with MessageStatus=failed instead of the signed delivered; {gen}",
       b"", get_hdrs(gsig), path=gp.replace("MessageStatus=delivered", "MessageStatus=failed"), method="GET", expect=False)
    mk("get_wrong_secret", f"GET signed with another auth token; {gen}",
       b"", get_hdrs(RequestValidator(other).compute_signature(signed_url(gp), {})), path=gp, method="GET", expect=False)
    mk("get_missing_signature_header", f"GET without X-Twilio-Signature; {gen}",
       b"", without(get_hdrs(gsig), "X-Twilio-Signature"), path=gp, method="GET", expect=False)
    write("twilio", out)


# --------------------------------------------------------------------------------------------
# Square: documented formula to sign; squareup webhooks_helper.verify_signature to judge
# --------------------------------------------------------------------------------------------
def square_vectors():
    import importlib.metadata as md
    key = "Wk3Lq9ZrTnV2xB8dF5hJ1mP7sC4yG6uA"
    other = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    public_url = "https://hooks.example.com/hooks/square"
    V = f"squareup {md.version('squareup')}"

    def url_for(path):
        return public_url + path[len("/hooks/square"):]

    def judge(body, headers, now, path, k):
        sig = ci_get(headers, "x-square-hmacsha256-signature")
        if sig is None:
            return False  # verify_signature needs the header value
        return square_verify(request_body=body.decode(), signature_header=sig, signature_key=k["secret"],
                             notification_url=url_for(path))

    def sign(body, path="/hooks/square", k=key, url=None):
        mac = hmac.new(k.encode(), (url or url_for(path)).encode() + body, hashlib.sha256).digest()
        return base64.b64encode(mac).decode()

    def hdrs(sig):
        return [["Content-Type", "application/json"], ["User-Agent", "Square Connect v2"],
                ["square-environment", "Production"], ["square-initial-delivery-timestamp", "2025-11-01T12:26:39.123Z"],
                ["square-retry-number", "0"], ["x-square-hmacsha256-signature", sig]]

    def event(pad):
        d = {"merchant_id": "6SSW7HV8K2ST5", "type": "payment.updated", "event_id": "9c9d52b6-3b8e-3c1a-9e4d-6f1e2a7b8c90",
             "created_at": "2025-11-01T12:26:39.123Z",
             "data": {"type": "payment", "id": "KkAkhdMsgzn59SM8A89WgKwekxLZY",
                      "object": {"payment": {"id": "KkAkhdMsgzn59SM8A89WgKwekxLZY", "amount_money": {"amount": 1250, "currency": "USD"},
                                             "status": "COMPLETED", "location_id": "S8GWD5R9QB376", "order_id": "03O3USaPaAaFnI6kkwB1JxGgBsUZY",
                                             "note": pad or "Table 12"}}}}
        return compact(d)

    mk, out = maker("square", judge, secret=key, public_url=public_url)
    gen = f"signed with the documented formula base64(HMAC-SHA256(key, notification_url + body)), judged by {V} square.utils.webhooks_helper.verify_signature"
    body = event(None)
    sig = sign(body)
    mk("valid", f"payment.updated (event_id) to public_url exactly; {gen}", body, hdrs(sig), expect=True)
    sp = "/hooks/square/payments?location=S8GWD5R9QB376"
    mk("valid_subpath_query", f"notification URL = public_url + '/payments?location=S8GWD5R9QB376'; {gen}", body,
       hdrs(sign(body, sp)), path=sp, expect=True)
    big = grow(event)
    mk("valid_1mib", f"~1 MiB event; {gen}", big, hdrs(sign(big)), expect=True)
    mk("empty_body", f"empty body signed over the URL alone: verify_signature returns False for an empty body; {gen}", b"",
       hdrs(sign(b"")), expect=False)
    mk("wrong_secret", f"signed with another signature key; {gen}", body, hdrs(sign(body, k=other)), expect=False)
    mk("body_changed_one_byte", f"one digit changed; {gen}", change_one_byte(body), hdrs(sig), expect=False)
    mk("json_reindented", f"re-indented JSON; {gen}", reindent(body), hdrs(sig), expect=False)
    mk("missing_signature_header", f"no x-square-hmacsha256-signature; {gen}", body, without(hdrs(sig), "x-square-hmacsha256-signature"), expect=False)
    mk("malformed_signature_header", f"garbage; {gen}", body, hdrs("garbage"), expect=False)
    mk("malformed_signature_truncated", f"base64 cut by 2 chars; {gen}", body, hdrs(sig[:-2]), expect=False)
    mk("wrong_url", f"signed for http:// instead of https:// notification URL; {gen}", body,
       hdrs(sign(body, url="http://hooks.example.com/hooks/square")), expect=False)
    write("square", out)
