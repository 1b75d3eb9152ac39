//! Who may send, and how much: client address resolution, allowlists, rate limits, body
//! limits, the memory bodies may hold.

pub mod body;
pub mod client_ip;
pub mod conn;
pub mod head;
pub mod memory;
pub mod rate;
