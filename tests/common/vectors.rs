//! The provider vectors in `tests/vectors/` (made and judged by the providers' own SDKs; see
//! its README): one JSON file per provider, plus a gzipped file of large bodies.

use std::io::Read;

use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize, Clone)]
pub struct Vector {
    pub name: String,
    pub note: String,
    pub secret: Option<String>,
    pub public_key: Option<String>,
    pub signing_secret: Option<String>,
    pub verify_token: Option<String>,
    pub public_url: Option<String>,
    /// Google Pub/Sub: the service account the route accepts.
    pub sender: Option<String>,
    /// A key document the provider serves (Google's JWKS, an SNS signing certificate), for
    /// the key cache or a local key server...
    pub key_document: Option<String>,
    /// ...and the URL the request names for it (SNS `SigningCertURL`), if any.
    pub key_document_url: Option<String>,
    pub request: Req,
    /// When it was signed (unix seconds).
    pub now: u64,
    pub sdk_accepts: bool,
    pub handshake_response: Option<Value>,
}

#[derive(Deserialize, Clone)]
pub struct Req {
    pub method: String,
    pub path_and_query: String,
    pub headers: Vec<(String, String)>,
    pub body_b64: String,
}

pub fn load(provider: &str) -> Vec<Vector> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors");
    let mut v: Vec<Vector> =
        serde_json::from_slice(&std::fs::read(format!("{dir}/{provider}.json")).unwrap()).unwrap();
    if let Ok(gz) = std::fs::read(format!("{dir}/{provider}.large.json.gz")) {
        let mut text = Vec::new();
        flate2::read::GzDecoder::new(gz.as_slice())
            .read_to_end(&mut text)
            .unwrap();
        v.extend(serde_json::from_slice::<Vec<Vector>>(&text).unwrap());
    }
    v
}
