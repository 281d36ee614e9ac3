//! One decision as the log records it: the facts taken on the request path (cheap: clones of
//! what the decision already holds, the token's fingerprint, never the token), rendered as a
//! JSON line on the writer thread.

use std::sync::Arc;

use super::{DecisionId, Door};
use crate::{
    caller::Caller,
    scope::{Requirement, ScopeName},
    token::VerifiedToken,
};

/// A decision's facts, owned, waiting in the queue.
#[derive(Debug)]
pub(crate) struct Event {
    pub id: DecisionId,
    pub door: Door,
    pub tenant: String,
    pub caller: Option<Caller>,
    /// The verified token the decision was about: `sub` and `client_id` are read from it on
    /// the writer thread.
    pub token: Option<Arc<VerifiedToken>>,
    /// The client a granted-scopes subject named.
    pub client_id: Option<String>,
    pub requirement: Option<Requirement>,
    pub allowed: bool,
    pub reason: &'static str,
    pub missing: Vec<String>,
    pub catalog_revision: i64,
    /// The token's fingerprint ([`crate::token::token_fingerprint`]) before it is spelled in
    /// hex.
    pub token_fingerprint: Option<[u8; 6]>,
    /// The current OpenTelemetry trace, 32 hex digits.
    pub trace_id: Option<String>,
}

impl Event {
    /// Appends the event as one JSON line (with its `\n`) to `out`: the fields in the documented
    /// order, written by hand (the writer thread's whole cost is here; no `Value` is built).
    pub fn write_line(&self, out: &mut Vec<u8>) {
        let token = self.token.as_deref();
        let mut id = [0u8; 36];
        out.extend_from_slice(b"{\"decision_id\":\"");
        out.extend_from_slice(self.id.encode(&mut id).as_bytes());
        out.extend_from_slice(b"\",\"time\":\"");
        out.extend_from_slice(rfc3339_ms(self.id.unix_ms()).as_bytes());
        out.extend_from_slice(b"\",\"door\":\"");
        out.extend_from_slice(self.door.as_str().as_bytes());
        out.extend_from_slice(b"\",\"tenant\":");
        string(out, &self.tenant);
        out.extend_from_slice(b",\"caller\":");
        optional(out, self.caller.as_ref().map(Caller::name));
        out.extend_from_slice(b",\"subject\":");
        optional(out, token.and_then(|t| t.sub.as_deref()));
        out.extend_from_slice(b",\"client_id\":");
        let client_id = token
            .and_then(|t| t.client_id.as_deref())
            .or(self.client_id.as_deref());
        optional(out, client_id);
        out.extend_from_slice(b",\"requirement\":");
        requirement(out, self.requirement.as_ref());
        out.extend_from_slice(if self.allowed {
            b",\"allowed\":true,\"reason\":\""
        } else {
            b",\"allowed\":false,\"reason\":\""
        });
        out.extend_from_slice(self.reason.as_bytes());
        out.extend_from_slice(b"\",\"missing\":");
        list(out, self.missing.iter().map(String::as_str));
        out.extend_from_slice(b",\"catalog_revision\":");
        integer(out, self.catalog_revision);
        out.extend_from_slice(b",\"token_fingerprint\":");
        match self.token_fingerprint {
            Some(short) => {
                let mut hex = [0u8; 12];
                // 12 hex digits always fit 12 bytes.
                let _ = hex::encode_to_slice(short, &mut hex);
                out.push(b'"');
                out.extend_from_slice(&hex);
                out.push(b'"');
            }
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"trace_id\":");
        optional(out, self.trace_id.as_deref());
        out.extend_from_slice(b"}\n");
    }
}

/// A JSON string (escaped as JSON requires: most values need no escape and are copied as they
/// are; the rest go through serde's escaping).
fn string(out: &mut Vec<u8>, value: &str) {
    if value.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push(b'"');
        out.extend_from_slice(value.as_bytes());
        out.push(b'"');
    } else {
        // Writing a `&str` into a `Vec` cannot fail.
        let _ = serde_json::to_writer(&mut *out, value);
    }
}

fn optional(out: &mut Vec<u8>, value: Option<&str>) {
    match value {
        Some(value) => string(out, value),
        None => out.extend_from_slice(b"null"),
    }
}

fn list<'s>(out: &mut Vec<u8>, values: impl Iterator<Item = &'s str>) {
    out.push(b'[');
    for (i, value) in values.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        string(out, value);
    }
    out.push(b']');
}

fn names(alternative: &[ScopeName]) -> impl Iterator<Item = &str> {
    alternative.iter().map(ScopeName::as_str)
}

/// `{"operation": name}`, `{"all_of": [...]}`, `{"any_of": [...]}` or, for any other list of
/// alternatives, `{"alternatives": [[...], ...]}`; `null` when only an active token was needed.
fn requirement(out: &mut Vec<u8>, requirement: Option<&Requirement>) {
    let Some(requirement) = requirement else {
        out.extend_from_slice(b"null");
        return;
    };
    if let Some(name) = requirement.operation_name() {
        out.extend_from_slice(b"{\"operation\":");
        string(out, name);
        out.push(b'}');
        return;
    }
    match requirement.scope_alternatives().unwrap_or_default() {
        [one] => {
            out.extend_from_slice(b"{\"all_of\":");
            list(out, names(one));
        }
        many if many.iter().all(|a| a.len() == 1) => {
            out.extend_from_slice(b"{\"any_of\":");
            list(out, many.iter().flat_map(|a| names(a)));
        }
        many => {
            out.extend_from_slice(b"{\"alternatives\":[");
            for (i, alternative) in many.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                list(out, names(alternative));
            }
            out.push(b']');
        }
    }
    out.push(b'}');
}

/// Unix milliseconds as RFC 3339 UTC with milliseconds: `2026-12-07T20:04:58.123Z` (written
/// digit by digit: the writer renders one per event).
pub(crate) fn rfc3339_ms(unix_ms: u64) -> Rfc3339 {
    let secs = unix_ms / 1000;
    let (days, of_day) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    let mut text = *b"0000-00-00T00:00:00.000Z";
    digits(&mut text[0..4], year.min(9999));
    digits(&mut text[5..7], month);
    digits(&mut text[8..10], day);
    digits(&mut text[11..13], of_day / 3600);
    digits(&mut text[14..16], of_day % 3600 / 60);
    digits(&mut text[17..19], of_day % 60);
    digits(&mut text[20..23], unix_ms % 1000);
    Rfc3339(text)
}

/// A time as [`rfc3339_ms`] spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rfc3339([u8; 24]);

impl Rfc3339 {
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl PartialEq<&str> for Rfc3339 {
    fn eq(&self, other: &&str) -> bool {
        self.0 == other.as_bytes()
    }
}

/// `value` in decimal, right-aligned and zero-padded to fill `out` (its high digits dropped if
/// it does not fit).
fn digits(out: &mut [u8], mut value: u64) {
    for slot in out.iter_mut().rev() {
        *slot = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// `value` in decimal (an `i64` has at most 20 characters with its sign).
fn integer(out: &mut Vec<u8>, value: i64) {
    if value < 0 {
        out.push(b'-');
    }
    let mut magnitude = value.unsigned_abs();
    let mut text = [0u8; 20];
    let mut start = text.len();
    loop {
        start -= 1;
        text[start] = b'0' + (magnitude % 10) as u8;
        magnitude /= 10;
        if magnitude == 0 {
            break;
        }
    }
    out.extend_from_slice(&text[start..]);
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn written(value: Option<&Requirement>) -> Value {
        let mut out = Vec::new();
        requirement(&mut out, value);
        serde_json::from_slice(&out).unwrap_or_default()
    }

    #[test]
    fn times_are_rfc_3339_utc_with_milliseconds() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(951_782_400_007), "2000-02-29T00:00:00.007Z");
        assert_eq!(rfc3339_ms(1_796_674_298_123), "2026-12-07T20:11:38.123Z");
        assert_eq!(rfc3339_ms(4_107_542_399_999), "2100-02-28T23:59:59.999Z");
    }

    #[test]
    fn integers_and_strings_are_written_as_json_writes_them() {
        for value in [0, 7, -7, 1_000_000, i64::MAX, i64::MIN] {
            let mut out = Vec::new();
            integer(&mut out, value);
            assert_eq!(out, value.to_string().into_bytes());
        }
        for value in [
            "plain",
            "",
            "quote\"",
            "back\\slash",
            "tab\t",
            "\u{7f}é€",
            "\u{1}",
        ] {
            let mut out = Vec::new();
            string(&mut out, value);
            assert_eq!(
                out,
                serde_json::to_vec(value).unwrap_or_default(),
                "{value:?}"
            );
        }
    }

    #[test]
    fn requirements_are_written_as_their_callers_spell_them() {
        let name = |n: &str| ScopeName::parse(n).unwrap_or_else(|_| unreachable!());
        let all = Requirement::all_of([name("a"), name("b")]).ok();
        let any = Requirement::any_of([name("a"), name("b")]).ok();
        let dnf = Requirement::alternatives(vec![vec![name("a"), name("b")], vec![name("c")]]).ok();
        let operation = Requirement::operation("get_settings").ok();

        assert_eq!(written(all.as_ref()), json!({"all_of": ["a", "b"]}));
        assert_eq!(written(any.as_ref()), json!({"any_of": ["a", "b"]}));
        assert_eq!(
            written(dnf.as_ref()),
            json!({"alternatives": [["a", "b"], ["c"]]})
        );
        assert_eq!(
            written(operation.as_ref()),
            json!({"operation": "get_settings"})
        );
        assert_eq!(written(None), Value::Null);
    }

    #[test]
    fn a_line_is_one_json_object_and_escapes_what_it_quotes() {
        let event = Event {
            id: DecisionId::new(),
            door: Door::Authzen,
            tenant: "school".into(),
            caller: None,
            token: None,
            client_id: Some("quote\" and \n newline".into()),
            requirement: None,
            allowed: false,
            reason: "TOKEN_INACTIVE",
            missing: vec!["a:read".into()],
            catalog_revision: 7,
            token_fingerprint: Some([0xab, 0, 1, 2, 3, 0xff]),
            trace_id: None,
        };
        let mut out = Vec::new();

        event.write_line(&mut out);

        assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1);
        assert!(out.ends_with(b"}\n"));
        let line: Value = serde_json::from_slice(&out).unwrap_or_default();
        assert_eq!(line["client_id"], "quote\" and \n newline");
        assert_eq!(line["token_fingerprint"], "ab00010203ff");
        assert_eq!(line["missing"], json!(["a:read"]));
        assert_eq!(line["catalog_revision"], 7);
        assert_eq!(line["door"], "authzen");
        assert_eq!(line["decision_id"], event.id.to_string());
    }
}
