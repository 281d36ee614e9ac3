//! The caller registry: register, change, list and delete callers, and add or delete their keys
//! (a key is shown once). Callers belong to the platform, so every action needs a platform-wide
//! admin credential. Writes go through `TenantStates`, which reloads the directory before
//! returning: a deleted key, a deleted caller or a narrowed limit is in force when the call
//! returns.

use tonic::Request;

use super::AdminService;
use crate::{
    api::{auth::Access, convert, status::ApiError},
    caller::{
        CallerKey, CallerTenants, MAX_CALLER_TENANTS, NewKey, RegisteredCaller, Surface, Surfaces,
        valid_caller_name,
    },
    pb::{self, manage_caller_request::Action, manage_caller_response::Result as CallerResult},
    store::{CallerWrite, StoreError, now_ms},
};

impl AdminService {
    pub(super) async fn manage_caller_inner(
        &self,
        request: Request<pb::ManageCallerRequest>,
    ) -> Result<pb::ManageCallerResponse, ApiError> {
        let action = request
            .get_ref()
            .action
            .clone()
            .ok_or_else(|| ApiError::invalid("action", "is required"))?;
        let access = match action {
            Action::List(_) | Action::Get(_) => Access::Read,
            _ => Access::Write,
        };
        // Platform-wide: an admin limited to one tenant may not see or change callers.
        let actor = self
            .auth
            .authorize(request.metadata(), None, access)
            .await?;
        let states = &self.states;
        let result = match action {
            Action::List(list) => {
                let after = convert::page_after(list.page.as_ref())?;
                let size = convert::page_size(list.page.as_ref());
                let limit = u32::try_from(size + 1).unwrap_or(u32::MAX);
                let mut found = states.store().callers(&after, limit).await?;
                let next = if found.len() > size {
                    found.truncate(size);
                    found
                        .last()
                        .map(|c| convert::page_token(&c.name))
                        .unwrap_or_default()
                } else {
                    String::new()
                };
                CallerResult::Callers(pb::CallerPage {
                    callers: found.iter().map(shown).collect(),
                    next_page_token: next,
                })
            }
            Action::Get(get) => {
                let name = caller_name(&get.name, "get.name")?;
                // From the directory, which every registry write reloads before returning.
                let found = states
                    .caller_named(name)
                    .await?
                    .ok_or_else(|| super::not_found("caller", name))?;
                CallerResult::Caller(shown(&found))
            }
            Action::Create(limits) => {
                let (name, tenants, surfaces) = read_limits(&limits, "create")?;
                let write = CallerWrite::Create {
                    tenants: &tenants,
                    surfaces,
                };
                let created = states.write_caller(name, write, &actor).await?;
                tracing::info!(caller = %name, %actor, "caller registered");
                CallerResult::Caller(shown(&created))
            }
            Action::Update(limits) => {
                let (name, tenants, surfaces) = read_limits(&limits, "update")?;
                let write = CallerWrite::Update {
                    tenants: &tenants,
                    surfaces,
                };
                let updated = states.write_caller(name, write, &actor).await?;
                tracing::info!(caller = %name, %actor, "caller limits changed");
                CallerResult::Caller(shown(&updated))
            }
            Action::Delete(delete) => {
                let name = caller_name(&delete.name, "delete.name")?;
                let deleted = states
                    .write_caller(name, CallerWrite::Delete, &actor)
                    .await?;
                tracing::info!(caller = %name, %actor, "caller deleted");
                CallerResult::Caller(shown(&deleted))
            }
            Action::AddKey(add) => {
                let name = caller_name(&add.name, "add_key.name")?;
                let new = NewKey::generate().ok_or_else(|| {
                    ApiError::Store(StoreError::Internal(
                        "the secure random source failed".to_owned(),
                    ))
                })?;
                let key = CallerKey {
                    key_id: new.key_id.clone(),
                    secret_sha256: new.secret_sha256,
                    created_at_ms: now_ms(),
                };
                let caller = states
                    .write_caller(name, CallerWrite::AddKey(&key), &actor)
                    .await?;
                tracing::info!(caller = %name, %actor, key_id = %key.key_id, "caller key added");
                CallerResult::CreatedKey(pb::CreatedCallerKey {
                    caller: Some(shown(&caller)),
                    key_id: new.key_id.clone(),
                    key: new.shown.clone(),
                })
            }
            Action::DeleteKey(delete) => {
                let name = caller_name(&delete.name, "delete_key.name")?;
                if delete.key_id.is_empty() {
                    return Err(ApiError::invalid("delete_key.key_id", "is required"));
                }
                let caller = states
                    .write_caller(name, CallerWrite::DeleteKey(&delete.key_id), &actor)
                    .await?;
                tracing::info!(caller = %name, %actor, key_id = %delete.key_id, "caller key deleted");
                CallerResult::Caller(shown(&caller))
            }
        };
        Ok(pb::ManageCallerResponse {
            result: Some(result),
        })
    }
}

fn caller_name<'a>(raw: &'a str, field: &str) -> Result<&'a str, ApiError> {
    if valid_caller_name(raw) {
        Ok(raw)
    } else {
        Err(ApiError::invalid(
            field,
            "must be 1-255 bytes of visible ASCII (no spaces)",
        ))
    }
}

/// A caller's name, tenants and surfaces from `limits`; errors name the field under `action`.
fn read_limits<'a>(
    limits: &'a pb::CallerLimits,
    action: &str,
) -> Result<(&'a str, CallerTenants, Surfaces), ApiError> {
    let name = caller_name(&limits.name, &format!("{action}.name"))?;
    let tenants = if limits.all_tenants {
        if !limits.tenants.is_empty() {
            return Err(ApiError::invalid(
                format!("{action}.tenants"),
                "must be empty with all_tenants",
            ));
        }
        CallerTenants::All
    } else {
        if limits.tenants.is_empty() || limits.tenants.len() > MAX_CALLER_TENANTS {
            return Err(ApiError::invalid(
                format!("{action}.tenants"),
                format!("name 1 to {MAX_CALLER_TENANTS} tenants, or set all_tenants"),
            ));
        }
        let ids = limits
            .tenants
            .iter()
            .enumerate()
            .map(|(i, raw)| convert::tenant_id(raw, &format!("{action}.tenants[{i}]")))
            .collect::<Result<Vec<_>, _>>()?;
        CallerTenants::only(ids)
    };
    let mut surfaces = Surfaces::NONE;
    for (i, raw) in limits.surfaces.iter().enumerate() {
        let surface = match pb::CallerSurface::try_from(*raw) {
            Ok(pb::CallerSurface::Decision) => Surface::Decision,
            Ok(pb::CallerSurface::Introspection) => Surface::Introspection,
            _ => {
                return Err(ApiError::invalid(
                    format!("{action}.surfaces[{i}]"),
                    "must be CALLER_SURFACE_DECISION or CALLER_SURFACE_INTROSPECTION",
                ));
            }
        };
        surfaces = surfaces.with(surface);
    }
    if surfaces.is_empty() {
        return Err(ApiError::invalid(
            format!("{action}.surfaces"),
            "name at least one surface",
        ));
    }
    Ok((name, tenants, surfaces))
}

/// A caller as the admin API shows it: key ids, never digests.
fn shown(caller: &RegisteredCaller) -> pb::RegisteredCaller {
    let (tenants, all_tenants) = match &caller.tenants {
        CallerTenants::All => (Vec::new(), true),
        CallerTenants::Only(ids) => (ids.iter().map(ToString::to_string).collect(), false),
    };
    pb::RegisteredCaller {
        name: caller.name.clone(),
        tenants,
        all_tenants,
        surfaces: caller
            .surfaces
            .iter()
            .map(|s| match s {
                Surface::Decision => pb::CallerSurface::Decision as i32,
                Surface::Introspection => pb::CallerSurface::Introspection as i32,
            })
            .collect(),
        keys: caller
            .keys
            .iter()
            .map(|k| pb::CallerKeyInfo {
                key_id: k.key_id.clone(),
                created_at: Some(convert::timestamp(k.created_at_ms)),
            })
            .collect(),
        created_at: Some(convert::timestamp(caller.created_at_ms)),
        updated_at: Some(convert::timestamp(caller.updated_at_ms)),
    }
}
