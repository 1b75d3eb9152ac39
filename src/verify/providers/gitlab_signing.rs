//! GitLab with a signing token: exactly Standard Webhooks (`webhook-*` headers, `whsec_` keys,
//! 5-minute window), under GitLab's name.

use super::kit::*;

pub const PROVIDER: Provider = Provider {
    name: "gitlab-signing",
    ..super::standard_webhooks::PROVIDER
};
