//! Linear webhooks, by `{type}.{action}` (hookgate's signer adds `webhookTimestamp`).

pub const ALL: &[(&str, &str)] = &[
    (
        "issue.create",
        r#"{"action":"create","type":"Issue","createdAt":"2025-11-01T12:26:39.000Z","organizationId":"b8a1e7a2-5c7f-4f0a-9a55-0c1c1a9f7f3e","webhookId":"a6b7c8d9-0000-4e1f-8a2b-3c4d5e6f7a8b","url":"https://linear.app/acme/issue/ENG-1042","data":{"id":"{id}","identifier":"ENG-1042","title":"Checkout fails on Safari","priority":2,"state":{"id":"c1d2e3f4-0000-4a5b-8c6d-7e8f9a0b1c2d","name":"Todo","type":"unstarted"},"teamId":"d4e5f6a7-0000-4b8c-9d0e-1f2a3b4c5d6e","creatorId":"e5f6a7b8-0000-4c9d-8e0f-1a2b3c4d5e6f"}}"#,
    ),
    (
        "issue.update",
        r#"{"action":"update","type":"Issue","createdAt":"2025-11-01T12:26:39.000Z","organizationId":"b8a1e7a2-5c7f-4f0a-9a55-0c1c1a9f7f3e","webhookId":"a6b7c8d9-0000-4e1f-8a2b-3c4d5e6f7a8b","url":"https://linear.app/acme/issue/ENG-1042","data":{"id":"{id}","identifier":"ENG-1042","title":"Checkout fails on Safari","state":{"name":"In Progress","type":"started"}},"updatedFrom":{"stateId":"c1d2e3f4-0000-4a5b-8c6d-7e8f9a0b1c2d","updatedAt":"2025-11-01T12:00:00.000Z"}}"#,
    ),
    (
        "comment.create",
        r#"{"action":"create","type":"Comment","createdAt":"2025-11-01T12:26:39.000Z","organizationId":"b8a1e7a2-5c7f-4f0a-9a55-0c1c1a9f7f3e","webhookId":"a6b7c8d9-0000-4e1f-8a2b-3c4d5e6f7a8b","url":"https://linear.app/acme/issue/ENG-1042#comment-1","data":{"id":"{id}","body":"Reproduced on Safari 18.","issueId":"f6a7b8c9-0000-4d0e-9f1a-2b3c4d5e6f7a","userId":"e5f6a7b8-0000-4c9d-8e0f-1a2b3c4d5e6f"}}"#,
    ),
];
