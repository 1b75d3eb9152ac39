//! Who may send, and how much: client address resolution, allowlists, body limits.

pub mod body;
pub mod client_ip;
