//! Shopify events (the `X-Shopify-Topic` header carries the topic).

pub const ALL: &[(&str, &str)] = &[
    (
        "orders/create",
        r#"{"id":820982911946154508,"admin_graphql_api_id":"gid://shopify/Order/{id}","name":"No. 1042","order_number":1042,"email":"jon@example.com","created_at":"2025-11-01T08:26:39-04:00","currency":"USD","financial_status":"paid","fulfillment_status":null,"total_price":"199.00","subtotal_price":"189.00","total_tax":"10.00","line_items":[{"id":866550311766439020,"product_id":632910392,"title":"IPod Nano - 8GB","quantity":1,"price":"199.00","sku":"IPOD2008PINK"}],"customer":{"id":115310627314723954,"email":"jon@example.com","first_name":"Jon","last_name":"Doe"}}"#,
    ),
    (
        "products/update",
        r#"{"id":788032119674292922,"admin_graphql_api_id":"gid://shopify/Product/{id}","title":"Example T-Shirt","vendor":"Acme","product_type":"Shirts","status":"active","updated_at":"2025-11-01T08:26:39-04:00","variants":[{"id":642667041472713922,"title":"Small","price":"19.99","sku":"TS-S","inventory_quantity":75}],"tags":"example, mens, t-shirt"}"#,
    ),
    (
        "customers/create",
        r#"{"id":706405506930370084,"admin_graphql_api_id":"gid://shopify/Customer/{id}","email":"bob@example.com","first_name":"Bob","last_name":"Norman","created_at":"2025-11-01T08:26:39-04:00","state":"enabled","verified_email":true,"tags":"","currency":"USD","default_address":{"city":"Ottawa","country":"Canada","zip":"K2P 1L4"}}"#,
    ),
    (
        "app/uninstalled",
        r#"{"id":548380009,"admin_graphql_api_id":"gid://shopify/Shop/{id}","name":"Super Toys","email":"super@supertoys.com","domain":"example.myshopify.com","myshopify_domain":"example.myshopify.com","plan_name":"basic"}"#,
    ),
];
