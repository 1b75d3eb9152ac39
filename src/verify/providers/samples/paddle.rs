//! Paddle Billing notifications (`event_id` is the event's ID).

pub const ALL: &[(&str, &str)] = &[
    (
        "transaction.completed",
        r#"{"event_id":"evt_{id}","event_type":"transaction.completed","occurred_at":"2025-11-01T12:26:39.000000Z","notification_id":"ntf_{id}","data":{"id":"txn_01hv8wptq8987qeep44cyrewp9","status":"completed","customer_id":"ctm_01hv6y1jedq4p1n0yqn5ba3ky4","currency_code":"USD","origin":"web","subscription_id":"sub_01hv8x29kz0t586xy6zn1a62ny","items":[{"price":{"id":"pri_01gsz8x8sawmvhz1pv30nge1ke","unit_price":{"amount":"3000","currency_code":"USD"}},"quantity":10}],"details":{"totals":{"subtotal":"30000","tax":"2850","total":"32850","currency_code":"USD"}}}}"#,
    ),
    (
        "subscription.created",
        r#"{"event_id":"evt_{id}","event_type":"subscription.created","occurred_at":"2025-11-01T12:26:39.000000Z","notification_id":"ntf_{id}","data":{"id":"sub_01hv8x29kz0t586xy6zn1a62ny","status":"active","customer_id":"ctm_01hv6y1jedq4p1n0yqn5ba3ky4","currency_code":"USD","billing_cycle":{"interval":"month","frequency":1},"current_billing_period":{"starts_at":"2025-11-01T12:26:39Z","ends_at":"2025-12-01T12:26:39Z"},"items":[{"price":{"id":"pri_01gsz8x8sawmvhz1pv30nge1ke"},"quantity":10,"status":"active"}]}}"#,
    ),
    (
        "customer.created",
        r#"{"event_id":"evt_{id}","event_type":"customer.created","occurred_at":"2025-11-01T12:26:39.000000Z","notification_id":"ntf_{id}","data":{"id":"ctm_01hv6y1jedq4p1n0yqn5ba3ky4","name":"Jo Brown","email":"jo@example.com","status":"active","locale":"en","marketing_consent":false,"created_at":"2025-11-01T12:26:39.000Z"}}"#,
    ),
    (
        "subscription.canceled",
        r#"{"event_id":"evt_{id}","event_type":"subscription.canceled","occurred_at":"2025-11-01T12:26:39.000000Z","notification_id":"ntf_{id}","data":{"id":"sub_01hv8x29kz0t586xy6zn1a62ny","status":"canceled","customer_id":"ctm_01hv6y1jedq4p1n0yqn5ba3ky4","canceled_at":"2025-11-01T12:26:39Z"}}"#,
    ),
];
