//! Azure Event Grid (webhook delivery): a secret in the endpoint URL's `code` query parameter,
//! or in an `aeg-sas-key` delivery-property header, compared in constant time; answers the
//! `SubscriptionValidationEvent` with `{"validationResponse": code}` and the CloudEvents
//! OPTIONS abuse-protection request with `WebHook-Allowed-Origin`.

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "azure-event-grid",
    keys: &["secrets"],
    window: None,
    event_id: "sha256",
    methods: POST,
    about: About {
        headers: &["aeg-sas-key"],
        scheme: "a secret in ?code= or the aeg-sas-key header, compared in constant time",
        handshake: "SubscriptionValidationEvent answered with validationResponse; CloudEvents OPTIONS with WebHook-Allowed-Origin",
    },
    sample: r#"[{"id":"{id}","topic":"/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/acct","subject":"/blobServices/default/containers/c/blobs/b.txt","eventType":"Microsoft.Storage.BlobCreated","eventTime":"2025-11-01T12:26:40.000Z","data":{"api":"PutBlob","contentType":"text/plain","contentLength":524},"dataVersion":"","metadataVersion":"1"}]"#,
    samples: &[],
    verify,
    sign,
};

fn verify(s: &Settings) -> Built {
    let check = Check::Carried(CarriedSecret::new(
        Carrier::QueryOrHeader {
            query: "code",
            header: h("aeg-sas-key"),
        },
        &s.secrets,
    )?);
    Ok((check, Some(Handshake::Challenge(Challenge::EventGrid))))
}

fn sign(d: &mut Draft<'_>) -> Result<(), String> {
    d.header("aeg-sas-key", d.secret);
    Ok(())
}
