//! Who may send, and how much: client address resolution, allowlists, rate limits, body
//! limits.

pub mod body;
pub mod client_ip;
pub mod conn;
pub mod head;
pub mod rate;
