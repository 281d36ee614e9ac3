//! One decision as the log records it: the facts taken on the request path (cheap: clones of
//! what the decision already holds, the token's fingerprint, never the token), rendered as a
//! JSON line on the writer thread.

use std::sync::Arc;

use serde::Serialize;
use serde_json::{Value, json};

use super::{DecisionId, Door};
use crate::{caller::Caller, scope::Requirement, token::VerifiedToken};

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
    /// The short SHA-256 prefix logs use for a token ([`crate::token::token_fingerprint`]).
    pub token_fingerprint: Option<String>,
    /// The current OpenTelemetry trace, 32 hex digits.
    pub trace_id: Option<String>,
}

/// The line's fields, in the documented order.
#[derive(Serialize)]
struct Line<'a> {
    decision_id: String,
    time: String,
    door: &'static str,
    tenant: &'a str,
    caller: Option<&'a str>,
    subject: Option<&'a str>,
    client_id: Option<&'a str>,
    requirement: Value,
    allowed: bool,
    reason: &'a str,
    missing: &'a [String],
    catalog_revision: i64,
    token_fingerprint: Option<&'a str>,
    trace_id: Option<&'a str>,
}

impl Event {
    /// Appends the event as one JSON line (with its `\n`) to `out`.
    pub fn write_line(&self, out: &mut Vec<u8>) {
        let token = self.token.as_deref();
        let line = Line {
            decision_id: self.id.to_string(),
            time: rfc3339_ms(self.id.unix_ms()),
            door: self.door.as_str(),
            tenant: &self.tenant,
            caller: self.caller.as_ref().map(Caller::name),
            subject: token.and_then(|t| t.sub.as_deref()),
            client_id: token
                .and_then(|t| t.client_id.as_deref())
                .or(self.client_id.as_deref()),
            requirement: requirement(self.requirement.as_ref()),
            allowed: self.allowed,
            reason: self.reason,
            missing: &self.missing,
            catalog_revision: self.catalog_revision,
            token_fingerprint: self.token_fingerprint.as_deref(),
            trace_id: self.trace_id.as_deref(),
        };
        // Serializing plain strings, numbers and `Value`s into a Vec cannot fail.
        if serde_json::to_writer(&mut *out, &line).is_ok() {
            out.push(b'\n');
        }
    }
}

/// `{"operation": name}`, `{"all_of": [...]}`, `{"any_of": [...]}` or, for any other list of
/// alternatives, `{"alternatives": [[...], ...]}`; `null` when only an active token was needed.
fn requirement(requirement: Option<&Requirement>) -> Value {
    let Some(requirement) = requirement else {
        return Value::Null;
    };
    if let Some(name) = requirement.operation_name() {
        return json!({ "operation": name });
    }
    let alternatives = requirement.scope_alternatives().unwrap_or_default();
    match alternatives {
        [one] => json!({ "all_of": names(one) }),
        many if many.iter().all(|a| a.len() == 1) => {
            json!({ "any_of": many.iter().map(|a| a[0].as_str()).collect::<Vec<_>>() })
        }
        many => json!({ "alternatives": many.iter().map(|a| names(a)).collect::<Vec<_>>() }),
    }
}

fn names(alternative: &[crate::scope::ScopeName]) -> Vec<&str> {
    alternative
        .iter()
        .map(crate::scope::ScopeName::as_str)
        .collect()
}

/// Unix milliseconds as RFC 3339 UTC with milliseconds: `2026-12-07T20:04:58.123Z`.
pub(crate) fn rfc3339_ms(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let (days, of_day) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60,
        unix_ms % 1000
    )
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
    use super::*;
    use crate::scope::ScopeName;

    #[test]
    fn times_are_rfc_3339_utc_with_milliseconds() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(951_782_400_007), "2000-02-29T00:00:00.007Z");
        assert_eq!(rfc3339_ms(1_796_674_298_123), "2026-12-07T20:11:38.123Z");
        assert_eq!(rfc3339_ms(4_107_542_399_999), "2100-02-28T23:59:59.999Z");
    }

    #[test]
    fn requirements_are_written_as_their_callers_spell_them() {
        let name = |n: &str| ScopeName::parse(n).unwrap_or_else(|_| unreachable!());
        let all = Requirement::all_of([name("a"), name("b")]).ok();
        let any = Requirement::any_of([name("a"), name("b")]).ok();
        let dnf = Requirement::alternatives(vec![vec![name("a"), name("b")], vec![name("c")]]).ok();
        let operation = Requirement::operation("get_settings").ok();

        assert_eq!(requirement(all.as_ref()), json!({"all_of": ["a", "b"]}));
        assert_eq!(requirement(any.as_ref()), json!({"any_of": ["a", "b"]}));
        assert_eq!(
            requirement(dnf.as_ref()),
            json!({"alternatives": [["a", "b"], ["c"]]})
        );
        assert_eq!(
            requirement(operation.as_ref()),
            json!({"operation": "get_settings"})
        );
        assert_eq!(requirement(None), Value::Null);
    }
}
