//! Realistic events by type for the big providers (`hookgate sign --event TYPE`), one file per
//! provider, shaped like the providers' own documented examples and trimmed to the fields that
//! matter to a receiver. `{id}` becomes a fresh random ID, so repeated sends are not
//! duplicates.

pub mod discord;
pub mod github;
pub mod gitlab;
pub mod intercom;
pub mod linear;
pub mod meta;
pub mod paddle;
pub mod shopify;
pub mod slack;
pub mod square;
pub mod stripe;
pub mod twilio;
pub mod zoom;
