//! What serde says of a value of the wrong type quotes the value (`invalid type: string
//! "tok_…", expected a sequence`), and a secret written in the wrong shape would be echoed to
//! stderr, the reload log and `/healthz`. The message is rewritten to what was expected and
//! what kind of value was found, never the value. TOML's syntax errors and the key errors
//! (unknown, missing, duplicate) quote no value and pass unchanged.

/// `message` (serde's or toml's) without any value it quotes.
pub(super) fn without_value(message: &str) -> String {
    let Some(rest) = message
        .strip_prefix("invalid type: ")
        .or_else(|| message.strip_prefix("invalid value: "))
    else {
        return message.to_string();
    };
    match found(rest) {
        Some((kind, expected)) => format!("expected {expected}, found {kind}"),
        // Not the shape serde writes: nothing of it can be told safely.
        None => "a value of the wrong type (not repeated here)".to_string(),
    }
}

/// Serde's `Unexpected` as its `Display` writes it, and what follows `, expected `.
fn found(rest: &str) -> Option<(&'static str, &str)> {
    const QUOTED: [(&str, &str); 4] = [
        ("integer `", "an integer"),
        ("floating point `", "a float"),
        ("boolean `", "a boolean"),
        ("character `", "a character"),
    ];
    const BARE: [(&str, &str); 12] = [
        ("sequence", "a sequence"),
        ("map", "a map"),
        ("unit value", "a unit value"),
        ("Option value", "an optional value"),
        ("byte array", "a byte array"),
        ("newtype struct", "a newtype struct"),
        ("enum", "an enum"),
        ("unit variant", "a unit variant"),
        ("newtype variant", "a newtype variant"),
        ("tuple variant", "a tuple variant"),
        ("struct variant", "a struct variant"),
        ("datetime", "a datetime"),
    ];
    let (kind, after) = if let Some(s) = rest.strip_prefix("string ") {
        ("a string", after_debug_str(s)?)
    } else if let Some((kind, s)) = QUOTED
        .iter()
        .find_map(|(p, kind)| rest.strip_prefix(p).map(|s| (*kind, s)))
    {
        // A number or a boolean holds no backtick.
        (kind, s.split_once('`')?.1)
    } else {
        BARE.iter()
            .find_map(|(word, kind)| rest.strip_prefix(word).map(|s| (*kind, s)))?
    };
    Some((kind, after.strip_prefix(", expected ")?))
}

/// What follows a string as `{:?}` writes it (quoted, `"` and `\` escaped).
fn after_debug_str(s: &str) -> Option<&str> {
    let mut chars = s.strip_prefix('"')?.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '"' => return s.get(i + 2..),
            _ => {}
        }
    }
    None
}
