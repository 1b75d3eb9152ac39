//! Intercom webhook notifications, by topic.

pub const ALL: &[(&str, &str)] = &[
    (
        "conversation.user.created",
        r#"{"type":"notification_event","app_id":"ecahpwf5","data":{"type":"notification_event_data","item":{"type":"conversation","id":"147","created_at":1762000000,"source":{"type":"conversation","body":"<p>Hi, I need help with my order</p>","author":{"type":"user","id":"5310d8e7598c9a0b24000002","email":"alice@example.com"}},"state":"open"}},"links":{},"id":"notif_{id}","topic":"conversation.user.created","delivery_status":"pending","delivery_attempts":1,"delivered_at":0,"first_sent_at":1762000000,"created_at":1762000000}"#,
    ),
    (
        "contact.user.created",
        r#"{"type":"notification_event","app_id":"ecahpwf5","data":{"type":"notification_event_data","item":{"type":"contact","id":"6540b9e1d1b2c3a4f5e6d7c8","role":"user","email":"bob@example.com","name":"Bob","created_at":1762000000}},"links":{},"id":"notif_{id}","topic":"contact.user.created","delivery_status":"pending","delivery_attempts":1,"delivered_at":0,"first_sent_at":1762000000,"created_at":1762000000}"#,
    ),
    (
        "ping",
        r#"{"type":"notification_event","app_id":"ecahpwf5","data":{"type":"notification_event_data","item":{"type":"ping","message":"something something interzen"}},"links":{},"id":"notif_{id}","topic":"ping","delivery_status":"pending","delivery_attempts":1,"delivered_at":0,"first_sent_at":1762000000,"created_at":1762000000}"#,
    ),
];
