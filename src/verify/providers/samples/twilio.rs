//! Twilio webhooks: form-encoded, as Twilio posts them (Messaging, Voice, status callbacks).

pub const ALL: &[(&str, &str)] = &[
    (
        "message.received",
        "ToCountry=US&ToState=CA&SmsMessageSid=SM{id}&NumMedia=0&ToCity=SAN+FRANCISCO&FromZip=94105&SmsSid=SM{id}&FromState=CA&SmsStatus=received&FromCity=SAN+FRANCISCO&Body=Hello+from+Twilio%21&FromCountry=US&To=%2B15558675310&ToZip=94105&NumSegments=1&MessageSid=SM{id}&AccountSid=ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX&From=%2B15017122661&ApiVersion=2010-04-01",
    ),
    (
        "message.status",
        "SmsSid=SM{id}&SmsStatus=delivered&MessageStatus=delivered&To=%2B15558675310&MessageSid=SM{id}&AccountSid=ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX&From=%2B15017122661&ApiVersion=2010-04-01",
    ),
    (
        "call.incoming",
        "AccountSid=ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX&ApiVersion=2010-04-01&CallSid=CA{id}&CallStatus=ringing&Called=%2B15558675310&Caller=%2B15017122661&Direction=inbound&From=%2B15017122661&FromCountry=US&To=%2B15558675310&ToCountry=US",
    ),
    (
        "call.completed",
        "AccountSid=ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX&ApiVersion=2010-04-01&CallSid=CA{id}&CallStatus=completed&CallDuration=42&Direction=inbound&From=%2B15017122661&To=%2B15558675310&Timestamp=Sat%2C+01+Nov+2025+12%3A26%3A40+%2B0000",
    ),
];
