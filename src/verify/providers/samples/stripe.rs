//! Stripe events (API version 2025-10-29.clover), as `stripe trigger` sends them.

pub const ALL: &[(&str, &str)] = &[
    (
        "payment_intent.succeeded",
        r#"{"id":"evt_{id}","object":"event","api_version":"2025-10-29.clover","created":1762000000,"type":"payment_intent.succeeded","livemode":false,"pending_webhooks":1,"request":{"id":"req_{id}","idempotency_key":null},"data":{"object":{"id":"pi_{id}","object":"payment_intent","amount":2000,"amount_received":2000,"currency":"usd","customer":"cus_TLx1Yz2Ab3Cd4E","latest_charge":"ch_{id}","payment_method":"pm_1SOy8eLkdIwHu7ixTq3wVnPQ","payment_method_types":["card"],"status":"succeeded","metadata":{"order_id":"1042"}}}}"#,
    ),
    (
        "customer.created",
        r#"{"id":"evt_{id}","object":"event","api_version":"2025-10-29.clover","created":1762000000,"type":"customer.created","livemode":false,"pending_webhooks":1,"request":{"id":"req_{id}","idempotency_key":null},"data":{"object":{"id":"cus_{id}","object":"customer","created":1762000000,"email":"jenny.rosen@example.com","name":"Jenny Rosen","currency":null,"delinquent":false,"metadata":{}}}}"#,
    ),
    (
        "invoice.paid",
        r#"{"id":"evt_{id}","object":"event","api_version":"2025-10-29.clover","created":1762000000,"type":"invoice.paid","livemode":false,"pending_webhooks":1,"request":{"id":null,"idempotency_key":null},"data":{"object":{"id":"in_{id}","object":"invoice","amount_due":1500,"amount_paid":1500,"amount_remaining":0,"currency":"usd","customer":"cus_TLx1Yz2Ab3Cd4E","number":"A1B2C3D4-0001","status":"paid","billing_reason":"subscription_cycle","period_start":1759321600,"period_end":1762000000,"lines":{"object":"list","data":[{"id":"il_{id}","amount":1500,"description":"1 × Pro (at $15.00 / month)"}],"has_more":false}}}}"#,
    ),
    (
        "checkout.session.completed",
        r#"{"id":"evt_{id}","object":"event","api_version":"2025-10-29.clover","created":1762000000,"type":"checkout.session.completed","livemode":false,"pending_webhooks":1,"request":{"id":null,"idempotency_key":null},"data":{"object":{"id":"cs_test_{id}","object":"checkout.session","amount_total":2000,"currency":"usd","customer":"cus_TLx1Yz2Ab3Cd4E","customer_details":{"email":"jenny.rosen@example.com","name":"Jenny Rosen"},"mode":"payment","payment_intent":"pi_{id}","payment_status":"paid","status":"complete"}}}"#,
    ),
    (
        "charge.refunded",
        r#"{"id":"evt_{id}","object":"event","api_version":"2025-10-29.clover","created":1762000000,"type":"charge.refunded","livemode":false,"pending_webhooks":1,"request":{"id":"req_{id}","idempotency_key":null},"data":{"object":{"id":"ch_{id}","object":"charge","amount":2000,"amount_refunded":2000,"currency":"usd","payment_intent":"pi_3SOy8fLkdIwHu7ix0abcDEFg","refunded":true,"status":"succeeded"}}}"#,
    ),
    (
        "customer.subscription.updated",
        r#"{"id":"evt_{id}","object":"event","api_version":"2025-10-29.clover","created":1762000000,"type":"customer.subscription.updated","livemode":false,"pending_webhooks":1,"request":{"id":null,"idempotency_key":null},"data":{"object":{"id":"sub_{id}","object":"subscription","customer":"cus_TLx1Yz2Ab3Cd4E","status":"active","cancel_at_period_end":true,"items":{"object":"list","data":[{"id":"si_{id}","price":{"id":"price_1SOy7aLkdIwHu7ixPro","unit_amount":1500,"currency":"usd","recurring":{"interval":"month"}},"quantity":1}]}},"previous_attributes":{"cancel_at_period_end":false}}}"#,
    ),
];
