//! AuthZEN request bodies, walked field by field so that every refusal names the JSON path at
//! fault (`evaluations[3].subject.type`) and quotes nothing the caller sent.
//!
//! Mapping: `subject` `{"type":"token","id":<access token>}` or `{"type":"scopes",
//! "id":<client id>,"properties":{"scopes":[…]}}`; `action.name` a catalog operation;
//! `resource` `{"type":"tenant","id":<tenant id>}` or `{"type":"resource","id":<RFC 8707
//! resource URI>,"properties":{"tenant":<tenant id>}}` (a protected resource of the tenant: a
//! token is then bound to it). `context` and every other `properties` must be objects when
//! present and are otherwise ignored.

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::{
    api::{
        convert,
        decision::MAX_GRANTED_SCOPES,
        gateway::{GatewayRequirement, GatewaySubject, Granted},
        status::ApiError,
    },
    tenant::{TenantId, check_resource_uri},
    token::token_fingerprint,
};

/// Most evaluations one `/access/v1/evaluations` call may carry (as `CheckScopes`' batches).
pub(super) const MAX_EVALUATIONS: usize = crate::api::decision::MAX_CHECKS;

/// A field the request got wrong: rendered as `field: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Invalid {
    /// The JSON path, built from our own key names and indices only.
    pub field: String,
    /// A fixed sentence that quotes none of the input.
    pub message: Cow<'static, str>,
}

impl Invalid {
    fn new(field: impl Into<String>, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

type Parsed<T> = Result<T, Invalid>;

/// The subject of a request. Its `Debug` shows a token only as its fingerprint.
#[derive(Clone, PartialEq, Eq)]
pub(super) enum Subject {
    /// An access token to verify (empty: the PEP saw none, answered as a missing token).
    Token(String),
    /// Scopes the PEP verified itself, granted to `client_id`.
    Scopes {
        client_id: String,
        scopes: Vec<String>,
    },
}

impl std::fmt::Debug for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Token(token) => f
                .debug_tuple("Token")
                .field(&token_fingerprint(token))
                .finish(),
            Self::Scopes { client_id, scopes } => f
                .debug_struct("Scopes")
                .field("client_id", client_id)
                .field("scopes", scopes)
                .finish(),
        }
    }
}

impl Subject {
    /// The gateway's view of it.
    pub(super) fn gateway(&self) -> GatewaySubject<'_> {
        match self {
            Self::Token(token) => {
                GatewaySubject::Bearer(Some(token.as_str()).filter(|t| !t.is_empty()))
            }
            Self::Scopes { client_id, scopes } => {
                GatewaySubject::Granted(Granted { client_id, scopes })
            }
        }
    }
}

/// What an evaluation is about: a tenant, and possibly one of its protected resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Target {
    pub tenant: TenantId,
    /// The protected resource's URI (checked as RFC 8707 asks, not yet as the tenant's).
    pub resource: Option<String>,
}

/// What one object of the request says, each part absent or parsed.
#[derive(Debug, Default)]
pub(super) struct Parts {
    pub subject: Option<Subject>,
    pub requirement: Option<GatewayRequirement>,
    pub target: Option<Target>,
}

/// One evaluation with every part present (its own, or the batch's default).
#[derive(Debug, Clone, Copy)]
pub(super) struct Evaluation<'a> {
    pub subject: &'a Subject,
    pub requirement: &'a GatewayRequirement,
    pub target: &'a Target,
}

/// How an `evaluations` batch runs (`options.evaluations_semantic`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) enum Semantic {
    /// Every evaluation, every answer.
    #[default]
    ExecuteAll,
    /// Stop after the first denial (or failed evaluation), answering it last.
    DenyOnFirstDeny,
    /// Stop after the first permit, answering it last.
    PermitOnFirstPermit,
}

/// An `/access/v1/evaluations` body.
#[derive(Debug)]
pub(super) enum Evaluations {
    /// No (or an empty) `evaluations` array: one evaluation of the top-level keys.
    Single(Parts),
    /// The top-level keys as defaults, and each item as parsed.
    Batch {
        semantic: Semantic,
        defaults: Parts,
        items: Vec<Parsed<Parts>>,
    },
}

/// An `/access/v1/search/action` body.
#[derive(Debug)]
pub(super) struct ActionSearch {
    pub subject: Subject,
    pub target: Target,
    /// `page.token`, if any.
    pub token: Option<String>,
    /// `page.limit`, if any.
    pub limit: Option<u64>,
}

/// The top-level object of a body.
pub(super) fn body(value: &Value) -> Parsed<&Map<String, Value>> {
    value
        .as_object()
        .ok_or_else(|| Invalid::new("body", "must be a JSON object"))
}

/// An `/access/v1/evaluation` body: `subject`, `action` and `resource` required.
pub(super) fn evaluation(body: &Map<String, Value>) -> Parsed<Parts> {
    parts(body, "")
}

/// An `/access/v1/evaluations` body.
pub(super) fn evaluations(body: &Map<String, Value>) -> Parsed<Evaluations> {
    let semantic = semantic(body)?;
    let items = match body.get("evaluations") {
        None | Some(Value::Null) => return parts(body, "").map(Evaluations::Single),
        Some(Value::Array(items)) if items.is_empty() => {
            return parts(body, "").map(Evaluations::Single);
        }
        Some(Value::Array(items)) => items,
        Some(_) => return Err(Invalid::new("evaluations", "must be an array")),
    };
    if items.len() > MAX_EVALUATIONS {
        let message = format!("at most {MAX_EVALUATIONS} evaluations per call");
        return Err(Invalid::new("evaluations", message));
    }
    let defaults = parts(body, "")?;
    let items = items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let prefix = format!("evaluations[{i}]");
            let item = item
                .as_object()
                .ok_or_else(|| Invalid::new(prefix.as_str(), "must be an object"))?;
            parts(item, &prefix)
        })
        .collect();
    Ok(Evaluations::Batch {
        semantic,
        defaults,
        items,
    })
}

/// An `/access/v1/search/action` body: `subject` and `resource` required, `page` optional;
/// an `action` key is ignored (the spec leaves it out).
pub(super) fn action_search(body: &Map<String, Value>) -> Parsed<ActionSearch> {
    let parts = parts_without_action(body, "")?;
    let subject = parts.subject.ok_or_else(|| required("subject"))?;
    let target = parts.target.ok_or_else(|| required("resource"))?;
    let (mut token, mut limit) = (None, None);
    if let Some(page) = body.get("page") {
        let page = object(page, "page")?;
        if let Some(raw) = page.get("token") {
            token = Some(string(raw, "page.token")?.to_owned());
        }
        if let Some(raw) = page.get("limit") {
            limit = Some(
                raw.as_u64()
                    .ok_or_else(|| Invalid::new("page.limit", "must be a non-negative integer"))?,
            );
        }
        optional_object(page, "properties", "page")?;
    }
    Ok(ActionSearch {
        subject,
        target,
        token,
        limit,
    })
}

/// One evaluation's parts: its own where present, else the defaults'; `prefix` names the item
/// in errors.
pub(super) fn resolve<'a>(
    own: &'a Parts,
    defaults: &'a Parts,
    prefix: &str,
) -> Parsed<Evaluation<'a>> {
    let missing = |key: &str| {
        let field = join(prefix, key);
        if prefix.is_empty() {
            required(&field)
        } else {
            Invalid::new(field, "is required (in the evaluation or at the top level)")
        }
    };
    Ok(Evaluation {
        subject: own
            .subject
            .as_ref()
            .or(defaults.subject.as_ref())
            .ok_or_else(|| missing("subject"))?,
        requirement: own
            .requirement
            .as_ref()
            .or(defaults.requirement.as_ref())
            .ok_or_else(|| missing("action"))?,
        target: own
            .target
            .as_ref()
            .or(defaults.target.as_ref())
            .ok_or_else(|| missing("resource"))?,
    })
}

fn parts(object: &Map<String, Value>, prefix: &str) -> Parsed<Parts> {
    let mut parts = parts_without_action(object, prefix)?;
    if let Some(action) = object.get("action") {
        parts.requirement = Some(self::action(action, &join(prefix, "action"))?);
    }
    Ok(parts)
}

fn parts_without_action(object: &Map<String, Value>, prefix: &str) -> Parsed<Parts> {
    let mut parts = Parts::default();
    if let Some(subject) = object.get("subject") {
        parts.subject = Some(self::subject(subject, &join(prefix, "subject"))?);
    }
    if let Some(resource) = object.get("resource") {
        parts.target = Some(self::resource(resource, &join(prefix, "resource"))?);
    }
    if let Some(context) = object.get("context") {
        self::object(context, &join(prefix, "context"))?;
    }
    Ok(parts)
}

fn semantic(body: &Map<String, Value>) -> Parsed<Semantic> {
    let Some(options) = body.get("options") else {
        return Ok(Semantic::default());
    };
    let options = object(options, "options")?;
    let Some(raw) = options.get("evaluations_semantic") else {
        return Ok(Semantic::default());
    };
    const FIELD: &str = "options.evaluations_semantic";
    match string(raw, FIELD)? {
        "execute_all" => Ok(Semantic::ExecuteAll),
        "deny_on_first_deny" => Ok(Semantic::DenyOnFirstDeny),
        "permit_on_first_permit" => Ok(Semantic::PermitOnFirstPermit),
        _ => Err(Invalid::new(
            FIELD,
            "must be execute_all, deny_on_first_deny or permit_on_first_permit",
        )),
    }
}

fn subject(value: &Value, path: &str) -> Parsed<Subject> {
    let subject = object(value, path)?;
    let kind = field(subject, "type", path)?;
    let id = field(subject, "id", path)?;
    match kind {
        "token" => {
            optional_object(subject, "properties", path)?;
            Ok(Subject::Token(id.to_owned()))
        }
        "scopes" => {
            if !id.is_empty() {
                convert::client_id(id, &join(path, "id")).map_err(|e| invalid_of("", e))?;
            }
            let properties = join(path, "properties");
            let scopes = subject.get("properties").ok_or_else(|| {
                Invalid::new(properties.as_str(), "is required for a scopes subject")
            })?;
            let scopes = object(scopes, &properties)?;
            let field_path = join(&properties, "scopes");
            let list = scopes
                .get("scopes")
                .ok_or_else(|| required(&field_path))?
                .as_array()
                .ok_or_else(|| Invalid::new(field_path.as_str(), "must be an array of strings"))?;
            if list.len() > MAX_GRANTED_SCOPES {
                let message = format!("at most {MAX_GRANTED_SCOPES} scopes");
                return Err(Invalid::new(field_path, message));
            }
            let scopes = list
                .iter()
                .enumerate()
                .map(|(i, s)| string(s, &format!("{field_path}[{i}]")).map(str::to_owned))
                .collect::<Parsed<Vec<String>>>()?;
            let granted = Granted {
                client_id: id,
                scopes: &scopes,
            };
            granted.check().map_err(|e| invalid_of(&properties, e))?;
            Ok(Subject::Scopes {
                client_id: id.to_owned(),
                scopes,
            })
        }
        _ => Err(Invalid::new(join(path, "type"), "must be token or scopes")),
    }
}

fn action(value: &Value, path: &str) -> Parsed<GatewayRequirement> {
    let action = object(value, path)?;
    let name = field(action, "name", path)?;
    optional_object(action, "properties", path)?;
    let field = join(path, "name");
    // An empty name would read as "no requirement" to the gateway: never allow that here.
    if name.trim_matches(' ').is_empty() {
        return Err(Invalid::new(
            field,
            "must name an operation of the tenant's catalog",
        ));
    }
    GatewayRequirement::from_route(Some(name), None, None).map_err(|e| match e {
        ApiError::Invalid { message, .. } => Invalid::new(field, message),
        _ => Invalid::new(field, "is not an operation name"),
    })
}

fn resource(value: &Value, path: &str) -> Parsed<Target> {
    let resource = object(value, path)?;
    let kind = field(resource, "type", path)?;
    let id = field(resource, "id", path)?;
    optional_object(resource, "properties", path)?;
    let tenant_id = |raw: &str, field: String| {
        TenantId::parse(raw).map_err(|e| Invalid::new(field, e.to_string()))
    };
    match kind {
        "tenant" => Ok(Target {
            tenant: tenant_id(id, join(path, "id"))?,
            resource: None,
        }),
        "resource" => {
            check_resource_uri(id).map_err(|m| Invalid::new(join(path, "id"), m))?;
            let properties = join(path, "properties");
            let tenant = resource
                .get("properties")
                .and_then(Value::as_object)
                .ok_or_else(|| required(&join(&properties, "tenant")))?;
            let tenant = field(tenant, "tenant", &properties)?;
            Ok(Target {
                tenant: tenant_id(tenant, join(&properties, "tenant"))?,
                resource: Some(id.to_owned()),
            })
        }
        _ => Err(Invalid::new(
            join(path, "type"),
            "must be tenant or resource",
        )),
    }
}

/// A required string member `key` of `object` (at `path`).
fn field<'v>(object: &'v Map<String, Value>, key: &str, path: &str) -> Parsed<&'v str> {
    let field = join(path, key);
    let value = object.get(key).ok_or_else(|| required(&field))?;
    string(value, &field)
}

fn string<'v>(value: &'v Value, field: &str) -> Parsed<&'v str> {
    value
        .as_str()
        .ok_or_else(|| Invalid::new(field, "must be a string"))
}

fn object<'v>(value: &'v Value, field: &str) -> Parsed<&'v Map<String, Value>> {
    value
        .as_object()
        .ok_or_else(|| Invalid::new(field, "must be an object"))
}

/// `key` of `object` must be an object when present.
fn optional_object(object: &Map<String, Value>, key: &str, path: &str) -> Parsed<()> {
    match object.get(key) {
        Some(value) => self::object(value, &join(path, key)).map(|_| ()),
        None => Ok(()),
    }
}

/// A validation error (whose field is relative to `prefix`) as ours.
fn invalid_of(prefix: &str, err: ApiError) -> Invalid {
    match err {
        ApiError::Invalid { field, message } => Invalid::new(join(prefix, &field), message),
        _ => Invalid::new(prefix, "is invalid"),
    }
}

fn required(field: &str) -> Invalid {
    Invalid::new(field, "is required")
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use serde_json::json;

    use super::*;

    fn body_of(value: &Value) -> &Map<String, Value> {
        value.as_object().unwrap()
    }

    #[test]
    fn a_token_subject_never_shows_its_token_in_debug_output() {
        let request = json!({
            "subject": { "type": "token", "id": "eyJ.secret-token.sig" },
            "action": { "name": "get_settings" },
            "resource": { "type": "tenant", "id": "school" },
        });

        let parts = evaluation(body_of(&request)).unwrap();

        let shown = format!("{parts:?}");
        assert!(!shown.contains("secret-token"), "{shown}");
        assert!(
            shown.contains(&token_fingerprint("eyJ.secret-token.sig")),
            "{shown}"
        );
    }

    #[test]
    fn an_item_takes_each_missing_part_from_the_defaults_and_names_what_neither_has() {
        let request = json!({
            "subject": { "type": "scopes", "id": "", "properties": { "scopes": ["a"] } },
            "resource": { "type": "tenant", "id": "school" },
            "evaluations": [
                { "action": { "name": "x" } },
                { "resource": { "type": "tenant", "id": "other" } },
            ],
        });

        let Evaluations::Batch {
            semantic,
            defaults,
            items,
        } = evaluations(body_of(&request)).unwrap()
        else {
            panic!("a batch")
        };

        assert_eq!(semantic, Semantic::ExecuteAll);
        let first = items[0].as_ref().unwrap();
        let resolved = resolve(first, &defaults, "evaluations[0]").unwrap();
        assert_eq!(resolved.target.tenant.as_str(), "school");
        let second = items[1].as_ref().unwrap();
        let missing = resolve(second, &defaults, "evaluations[1]").unwrap_err();
        assert_eq!(missing.field, "evaluations[1].action");
    }
}
