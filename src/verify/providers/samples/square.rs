//! Square webhook events (`event_id` is the event's ID).

pub const ALL: &[(&str, &str)] = &[
    (
        "payment.created",
        r#"{"merchant_id":"6SSW7HV8K2ST5","type":"payment.created","event_id":"{id}","created_at":"2025-11-01T12:26:39.000Z","data":{"type":"payment","id":"KkAkhdMsgzn59SM8A89WgKwekxLZY","object":{"payment":{"id":"KkAkhdMsgzn59SM8A89WgKwekxLZY","amount_money":{"amount":100,"currency":"USD"},"status":"APPROVED","source_type":"CARD","location_id":"S8GWD5R9QB376","order_id":"03O3USaPaAaFnI6kkwB1JxGgBsUZY","created_at":"2025-11-01T12:26:38.000Z"}}}}"#,
    ),
    (
        "payment.updated",
        r#"{"merchant_id":"6SSW7HV8K2ST5","type":"payment.updated","event_id":"{id}","created_at":"2025-11-01T12:26:40.000Z","data":{"type":"payment","id":"KkAkhdMsgzn59SM8A89WgKwekxLZY","object":{"payment":{"id":"KkAkhdMsgzn59SM8A89WgKwekxLZY","amount_money":{"amount":100,"currency":"USD"},"status":"COMPLETED","source_type":"CARD","location_id":"S8GWD5R9QB376","version":2}}}}"#,
    ),
    (
        "refund.created",
        r#"{"merchant_id":"6SSW7HV8K2ST5","type":"refund.created","event_id":"{id}","created_at":"2025-11-01T12:26:41.000Z","data":{"type":"refund","id":"KkAkhdMsgzn59SM8A89WgKwekxLZY_R","object":{"refund":{"id":"KkAkhdMsgzn59SM8A89WgKwekxLZY_R","amount_money":{"amount":100,"currency":"USD"},"payment_id":"KkAkhdMsgzn59SM8A89WgKwekxLZY","status":"PENDING","location_id":"S8GWD5R9QB376"}}}}"#,
    ),
    (
        "customer.created",
        r#"{"merchant_id":"6SSW7HV8K2ST5","type":"customer.created","event_id":"{id}","created_at":"2025-11-01T12:26:42.000Z","data":{"type":"customer","id":"QPTXM8PQNX3Q726ZYHPMNP46XC","object":{"customer":{"id":"QPTXM8PQNX3Q726ZYHPMNP46XC","given_name":"Amelia","family_name":"Earhart","email_address":"Amelia.Earhart@example.com","creation_source":"THIRD_PARTY"}}}}"#,
    ),
];
