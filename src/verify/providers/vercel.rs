//! Vercel: `x-vercel-signature: <hex HMAC-SHA1 of the body>`.

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "vercel",
    keys: &["secrets"],
    window: None,
    event_id: "json:/id",
    methods: POST,
    about: About {
        headers: &["x-vercel-signature"],
        scheme: "HMAC-SHA1 of the body, hex",
        handshake: "",
    },
    sample: r#"{"id":"{id}","type":"deployment.succeeded","createdAt":1762000000000,"region":"iad1","payload":{"team":{"id":"team_a1b2c3"},"user":{"id":"user_d4e5f6"},"deployment":{"id":"dpl_2euZBFqxDy6Xtj3ceE6ScCrbL9Rj","url":"my-app-abc123.vercel.app","name":"my-app","meta":{"githubCommitRef":"main"}},"links":{"deployment":"https://vercel.com/acme/my-app/2euZBFqx","project":"https://vercel.com/acme/my-app"},"target":"production","project":{"id":"prj_7g8h9i"}}}"#,
    samples: &[],
    verify: |s| Ok((SIG.check(s)?, None)),
    sign: |d| SIG.sign(d),
};

const SIG: MacHeader = MacHeader::body("x-vercel-signature", "", Algorithm::Sha1, Encoding::HexLower);
