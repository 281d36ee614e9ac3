//! String limits of the catalog's fields, and the bounded echo of caller input: an error quotes
//! at most [`MAX_ECHO_BYTES`] of what it was sent, so no answer grows with an attacker's input.

use std::borrow::Cow;

/// Longest scope or operation description stored.
pub const MAX_DESCRIPTION_BYTES: usize = 1024;
/// Longest client id.
pub const MAX_CLIENT_ID_BYTES: usize = 200;
/// Longest client display name.
pub const MAX_CLIENT_NAME_BYTES: usize = 200;
/// How much of a caller's value an error message quotes.
pub const MAX_ECHO_BYTES: usize = 128;

/// `raw`, or its first [`MAX_ECHO_BYTES`] (cut at a character boundary) followed by `…`.
pub fn echo(raw: &str) -> Cow<'_, str> {
    truncate(raw, MAX_ECHO_BYTES)
}

/// `raw`, or its first `max` bytes (cut at a character boundary) followed by `…`.
pub fn truncate(raw: &str, max: usize) -> Cow<'_, str> {
    if raw.len() <= max {
        return Cow::Borrowed(raw);
    }
    let mut end = max;
    while !raw.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}…", &raw[..end]))
}

/// `Ok` when `value` is at most `max` bytes; the message for the field otherwise.
pub fn check_len(value: &str, max: usize) -> Result<(), String> {
    if value.len() > max {
        Err(format!("must be at most {max} bytes (got {})", value.len()))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echoes_are_cut_at_a_character_boundary() {
        assert_eq!(echo("short"), "short");
        let long = "é".repeat(100);
        let cut = echo(&long);
        assert!(cut.ends_with('…') && cut.len() <= MAX_ECHO_BYTES + '…'.len_utf8());
        assert_eq!(truncate("abcdef", 3), "abc…");
    }
}
