//! Meta webhooks: WhatsApp Cloud API messages and statuses, a Page feed change.

pub const ALL: &[(&str, &str)] = &[
    (
        "whatsapp.messages",
        r#"{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},"contacts":[{"profile":{"name":"Sheena Nelson"},"wa_id":"16505551234"}],"messages":[{"from":"16505551234","id":"wamid.{id}","timestamp":"1762000000","text":{"body":"Does it come in another color?"},"type":"text"}]},"field":"messages"}]}]}"#,
    ),
    (
        "whatsapp.statuses",
        r#"{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},"statuses":[{"id":"wamid.{id}","status":"delivered","timestamp":"1762000000","recipient_id":"16505551234","pricing":{"billable":true,"pricing_model":"PMP","category":"marketing"}}]},"field":"messages"}]}]}"#,
    ),
    (
        "page.feed",
        r#"{"object":"page","entry":[{"id":"102290129340398","time":1762000000,"changes":[{"field":"feed","value":{"item":"comment","verb":"add","post_id":"102290129340398_{id}","comment_id":"{id}_1","message":"Nice post!","from":{"id":"6917193128307001","name":"Sheena Nelson"},"created_time":1762000000}}]}]}"#,
    ),
];
