//! The SQL both dialects share, stamped once per dialect by `sql_store!`: plain runtime
//! queries with `$n` placeholders (SQLite accepts them), so only the transaction start, the
//! row lock and the change notification differ, and they are the macro's parameters.

/// The tenant columns, in `TenantRow` order.
macro_rules! tenant_select {
    () => {
        "SELECT id, display_name, issuer, audiences, key_kind, key_value, algorithms, \
         leeway_seconds, require_at_jwt_typ, jwks_refresh_seconds, admin_style, \
         drop_unknown_scopes, preset, revision, created_at_ms, updated_at_ms FROM tenants"
    };
}

/// Implements `Store` for `$store` (a struct with `pool: sqlx::Pool<$db>` and
/// `writes: crate::store::writes::WriteHealth`). Every write begins with `begin_write` and
/// ends with `commit`.
/// `begin` starts a write transaction, `snapshot` a read-only one whose statements all see one
/// snapshot, `lock` is appended to the tenant read that starts every write, `notify` (may be
/// empty) announces a change to other replicas before each commit.
macro_rules! sql_store {
    ($store:ident, $db:ty, begin = $begin:literal, snapshot = $snapshot:literal, lock = $lock:literal, notify = $notify:literal) => {
        impl $store {
            /// Starts a write transaction; a storage failure here is remembered for readiness.
            async fn begin_write(
                &self,
            ) -> Result<sqlx::Transaction<'static, $db>, crate::store::StoreError> {
                let begun = self.pool.begin_with($begin).await.map_err(Into::into);
                self.writes.record(&begun);
                begun
            }

            /// Commits a write transaction. When the COMMIT fails, sqlx queues a ROLLBACK on
            /// the connection as the transaction drops; if that fails too (SQLite has already
            /// rolled back after an I/O error, disk full or `RAISE(ROLLBACK)`, while sqlx still
            /// counts the transaction open), the pool's `before_acquire` check closes the
            /// connection instead of handing it out again. The outcome is remembered for
            /// readiness.
            async fn commit(
                &self,
                tx: sqlx::Transaction<'static, $db>,
            ) -> Result<(), crate::store::StoreError> {
                let committed = tx.commit().await.map_err(Into::into);
                if let Err(err) = &committed {
                    tracing::warn!(%err, "commit failed; the transaction is rolled back");
                }
                self.writes.record(&committed);
                committed
            }

            /// Commits a one-row write, to learn whether the storage takes writes again.
            async fn probe_write(&self) -> Result<(), crate::store::StoreError> {
                let mut tx = self.begin_write().await?;
                sqlx::query(
                    "INSERT INTO write_probe (id, at_ms) VALUES (1, $1) \
                     ON CONFLICT (id) DO UPDATE SET at_ms = excluded.at_ms",
                )
                .bind(crate::store::now_ms())
                .execute(&mut *tx)
                .await?;
                self.commit(tx).await
            }

            async fn load(
                conn: &mut <$db as sqlx::Database>::Connection,
                id: &crate::tenant::TenantId,
                lock: bool,
            ) -> Result<crate::store::Committed, crate::store::StoreError> {
                use crate::store::rows::*;
                let sql = if lock {
                    concat!(tenant_select!(), " WHERE id = $1", $lock)
                } else {
                    concat!(tenant_select!(), " WHERE id = $1")
                };
                let row: Option<TenantRow> =
                    sqlx::query_as(sql).bind(id.as_str()).fetch_optional(&mut *conn).await?;
                let tenant: crate::tenant::Tenant = row
                    .ok_or_else(|| crate::store::StoreError::TenantNotFound(id.to_string()))?
                    .try_into()?;
                let scopes: Vec<ScopeRow> = sqlx::query_as(
                    "SELECT id, name, description, is_default, is_system, is_reserved, implies, \
                     created_at_ms, updated_at_ms, etag FROM scopes WHERE tenant_id = $1",
                )
                .bind(id.as_str())
                .fetch_all(&mut *conn)
                .await?;
                let clients: Vec<ClientRow> = sqlx::query_as(
                    "SELECT client_id, name, first_party, allowed_scopes FROM clients \
                     WHERE tenant_id = $1",
                )
                .bind(id.as_str())
                .fetch_all(&mut *conn)
                .await?;
                let operations: Vec<OperationRow> = sqlx::query_as(
                    "SELECT name, description, alternatives FROM operations WHERE tenant_id = $1",
                )
                .bind(id.as_str())
                .fetch_all(&mut *conn)
                .await?;
                let mut catalog = crate::scope::CatalogSnapshot {
                    tenant: tenant.id.to_string(),
                    revision: tenant.revision,
                    admin_style: tenant.admin_style,
                    drop_unknown_scopes: tenant.drop_unknown_scopes,
                    scopes: scopes.into_iter().map(TryInto::try_into).collect::<Result<_, _>>()?,
                    clients: clients.into_iter().map(TryInto::try_into).collect::<Result<_, _>>()?,
                    operations: operations
                        .into_iter()
                        .map(TryInto::try_into)
                        .collect::<Result<_, _>>()?,
                };
                // Byte order, the same on both dialects whatever the database collation.
                catalog.scopes.sort_by(|a, b| a.name.cmp(&b.name));
                catalog.clients.sort_by(|a, b| a.client_id.cmp(&b.client_id));
                catalog.operations.sort_by(|a, b| a.name.cmp(&b.name));
                Ok(crate::store::Committed { tenant, catalog })
            }

            async fn apply(
                conn: &mut <$db as sqlx::Database>::Connection,
                tenant: &str,
                revision: i64,
                edit: &crate::scope::edit::Edit,
                actor: &crate::store::Actor,
            ) -> Result<(), crate::store::StoreError> {
                use crate::scope::edit::Change;
                use crate::store::rows::*;
                for change in &edit.changes {
                    match change {
                        Change::PutScope(s) if s.id == 0 => {
                            sqlx::query(
                                "INSERT INTO scopes (tenant_id, name, description, is_default, \
                                 is_system, is_reserved, implies, created_at_ms, updated_at_ms, etag) \
                                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                            )
                            .bind(tenant)
                            .bind(s.name.as_str())
                            .bind(&s.description)
                            .bind(s.is_default)
                            .bind(s.is_system)
                            .bind(s.is_reserved)
                            .bind(names_to_json(&s.implies))
                            .bind(s.created_at_ms)
                            .bind(s.updated_at_ms)
                            .bind(&s.etag)
                            .execute(&mut *conn)
                            .await?;
                        }
                        Change::PutScope(s) => {
                            sqlx::query(
                                "UPDATE scopes SET description = $3, is_default = $4, implies = $5, \
                                 updated_at_ms = $6, etag = $7 WHERE tenant_id = $1 AND id = $2",
                            )
                            .bind(tenant)
                            .bind(s.id)
                            .bind(&s.description)
                            .bind(s.is_default)
                            .bind(names_to_json(&s.implies))
                            .bind(s.updated_at_ms)
                            .bind(&s.etag)
                            .execute(&mut *conn)
                            .await?;
                        }
                        Change::DeleteScope(id) => {
                            sqlx::query("DELETE FROM scopes WHERE tenant_id = $1 AND id = $2")
                                .bind(tenant)
                                .bind(id)
                                .execute(&mut *conn)
                                .await?;
                        }
                        Change::PutClient(c) => {
                            sqlx::query(
                                "INSERT INTO clients (tenant_id, client_id, name, first_party, \
                                 allowed_scopes) VALUES ($1, $2, $3, $4, $5) \
                                 ON CONFLICT (tenant_id, client_id) DO UPDATE SET \
                                 name = excluded.name, first_party = excluded.first_party, \
                                 allowed_scopes = excluded.allowed_scopes",
                            )
                            .bind(tenant)
                            .bind(&c.client_id)
                            .bind(&c.name)
                            .bind(c.first_party)
                            .bind(names_to_json(&c.allowed_scopes))
                            .execute(&mut *conn)
                            .await?;
                        }
                        Change::DeleteClient(client_id) => {
                            sqlx::query("DELETE FROM clients WHERE tenant_id = $1 AND client_id = $2")
                                .bind(tenant)
                                .bind(client_id)
                                .execute(&mut *conn)
                                .await?;
                        }
                        Change::PutOperation(op) => {
                            sqlx::query(
                                "INSERT INTO operations (tenant_id, name, description, alternatives) \
                                 VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id, name) DO UPDATE SET \
                                 description = excluded.description, \
                                 alternatives = excluded.alternatives",
                            )
                            .bind(tenant)
                            .bind(&op.name)
                            .bind(&op.description)
                            .bind(alternatives_to_json(&op.alternatives))
                            .execute(&mut *conn)
                            .await?;
                        }
                        Change::DeleteOperation(name) => {
                            sqlx::query("DELETE FROM operations WHERE tenant_id = $1 AND name = $2")
                                .bind(tenant)
                                .bind(name)
                                .execute(&mut *conn)
                                .await?;
                        }
                    }
                }
                for record in &edit.audit {
                    Self::audit(conn, tenant, revision, actor, record).await?;
                }
                Ok(())
            }

            async fn audit(
                conn: &mut <$db as sqlx::Database>::Connection,
                tenant: &str,
                revision: i64,
                actor: &crate::store::Actor,
                record: &crate::scope::edit::AuditRecord,
            ) -> Result<(), crate::store::StoreError> {
                sqlx::query(
                    "INSERT INTO audit_events (tenant_id, at_ms, actor, action, target, \
                     before_json, after_json, revision) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(tenant)
                .bind(crate::store::now_ms())
                .bind(&actor.0)
                .bind(record.action)
                .bind(&record.target)
                .bind(&record.before)
                .bind(&record.after)
                .bind(revision)
                .execute(&mut *conn)
                .await?;
                Ok(())
            }

            /// Sets the tenant's revision and tells other replicas, inside the transaction.
            async fn bump(
                conn: &mut <$db as sqlx::Database>::Connection,
                tenant: &crate::tenant::TenantId,
                revision: i64,
            ) -> Result<(), crate::store::StoreError> {
                sqlx::query("UPDATE tenants SET revision = $2 WHERE id = $1")
                    .bind(tenant.as_str())
                    .bind(revision)
                    .execute(&mut *conn)
                    .await?;
                Self::announce(conn, &crate::store::Change::Catalog(tenant.clone())).await
            }

            async fn live_revocations(
                conn: &mut <$db as sqlx::Database>::Connection,
                id: &crate::tenant::TenantId,
                now_unix: i64,
            ) -> Result<Vec<crate::store::Revocation>, crate::store::StoreError> {
                let rows: Vec<crate::store::rows::RevocationRow> = sqlx::query_as(
                    "SELECT kind, value, not_before, expires_at FROM revocations \
                     WHERE tenant_id = $1 AND expires_at >= $2",
                )
                .bind(id.as_str())
                .bind(now_unix)
                .fetch_all(&mut *conn)
                .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            /// Announces a change to other replicas when the transaction commits.
            async fn announce(
                conn: &mut <$db as sqlx::Database>::Connection,
                change: &crate::store::Change,
            ) -> Result<(), crate::store::StoreError> {
                if !$notify.is_empty() {
                    sqlx::query($notify).bind(change.payload()).execute(&mut *conn).await?;
                }
                Ok(())
            }

            /// Stores `next` as the tenant's settings at `revision`, audited and announced.
            async fn write_settings(
                conn: &mut <$db as sqlx::Database>::Connection,
                current: &crate::tenant::Tenant,
                mut next: crate::tenant::Tenant,
                revision: i64,
                actor: &crate::store::Actor,
            ) -> Result<crate::tenant::Tenant, crate::store::StoreError> {
                next.id = current.id.clone();
                next.revision = revision;
                next.created_at_ms = current.created_at_ms;
                next.updated_at_ms = crate::store::now_ms();
                Self::write_tenant(conn, &next, false).await?;
                let record = crate::scope::edit::AuditRecord {
                    action: "tenant.update",
                    target: current.id.to_string(),
                    before: current.audit_json(),
                    after: next.audit_json(),
                };
                Self::audit(conn, current.id.as_str(), revision, actor, &record).await?;
                Self::announce(conn, &crate::store::Change::Settings(current.id.clone())).await?;
                Ok(next)
            }

            async fn write_tenant(
                conn: &mut <$db as sqlx::Database>::Connection,
                t: &crate::tenant::Tenant,
                insert: bool,
            ) -> Result<(), crate::store::StoreError> {
                use crate::store::rows::*;
                let sql = if insert {
                    "INSERT INTO tenants (id, display_name, issuer, audiences, key_kind, key_value, \
                     algorithms, leeway_seconds, require_at_jwt_typ, jwks_refresh_seconds, \
                     admin_style, drop_unknown_scopes, preset, revision, created_at_ms, \
                     updated_at_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
                } else {
                    "UPDATE tenants SET display_name = $2, issuer = $3, audiences = $4, \
                     key_kind = $5, key_value = $6, algorithms = $7, leeway_seconds = $8, \
                     require_at_jwt_typ = $9, jwks_refresh_seconds = $10, admin_style = $11, \
                     drop_unknown_scopes = $12, preset = $13, revision = $14, \
                     created_at_ms = $15, updated_at_ms = $16 WHERE id = $1"
                };
                let (key_kind, key_value) = key_source_columns(&t.key_source);
                let result = sqlx::query(sql)
                    .bind(t.id.as_str())
                    .bind(&t.display_name)
                    .bind(&t.issuer)
                    .bind(strings_to_json(&t.audiences))
                    .bind(key_kind)
                    .bind(key_value)
                    .bind(strings_to_json(&t.algorithms))
                    .bind(i64::from(t.leeway_seconds))
                    .bind(t.require_at_jwt_typ)
                    .bind(i64::from(t.jwks_refresh_seconds))
                    .bind(t.admin_style.as_str())
                    .bind(t.drop_unknown_scopes)
                    .bind(&t.preset)
                    .bind(t.revision)
                    .bind(t.created_at_ms)
                    .bind(t.updated_at_ms)
                    .execute(&mut *conn)
                    .await;
                match result {
                    Ok(_) => Ok(()),
                    Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
                        Err(crate::store::StoreError::TenantConflict(match (insert, t.issuer.is_empty()) {
                            (true, true) => format!("a tenant with id {:?} already exists", t.id.as_str()),
                            (true, false) => format!(
                                "a tenant with id {:?} or issuer {:?} already exists",
                                t.id.as_str(),
                                t.issuer
                            ),
                            (false, _) => format!("another tenant already has issuer {:?}", t.issuer),
                        }))
                    }
                    Err(err) => Err(err.into()),
                }
            }
        }

        #[async_trait::async_trait]
        impl crate::store::Store for $store {
            async fn ping(&self) -> Result<(), crate::store::StoreError> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn check_writes(&self) -> Result<(), crate::store::StoreError> {
                if self.writes.failing() {
                    self.probe_write().await?;
                }
                Ok(())
            }

            async fn tenant(
                &self,
                id: &crate::tenant::TenantId,
            ) -> Result<crate::tenant::Tenant, crate::store::StoreError> {
                let row: Option<crate::store::rows::TenantRow> =
                    sqlx::query_as(concat!(tenant_select!(), " WHERE id = $1"))
                        .bind(id.as_str())
                        .fetch_optional(&self.pool)
                        .await?;
                row.ok_or_else(|| crate::store::StoreError::TenantNotFound(id.to_string()))?
                    .try_into()
            }

            async fn tenant_by_issuer(
                &self,
                issuer: &str,
            ) -> Result<Option<crate::tenant::Tenant>, crate::store::StoreError> {
                if issuer.is_empty() {
                    return Ok(None);
                }
                let row: Option<crate::store::rows::TenantRow> =
                    sqlx::query_as(concat!(tenant_select!(), " WHERE issuer = $1"))
                        .bind(issuer)
                        .fetch_optional(&self.pool)
                        .await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn list_tenants(
                &self,
                after: &str,
                limit: u32,
            ) -> Result<Vec<crate::tenant::Tenant>, crate::store::StoreError> {
                let rows: Vec<crate::store::rows::TenantRow> =
                    sqlx::query_as(concat!(tenant_select!(), " WHERE id > $1 ORDER BY id LIMIT $2"))
                        .bind(after)
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn catalog(
                &self,
                id: &crate::tenant::TenantId,
            ) -> Result<crate::store::Committed, crate::store::StoreError> {
                let mut tx = self.pool.begin_with($snapshot).await?;
                let committed = Self::load(&mut tx, id, false).await?;
                tx.commit().await?;
                Ok(committed)
            }

            async fn tenant_state(
                &self,
                id: &crate::tenant::TenantId,
                now_unix: i64,
            ) -> Result<(crate::store::Committed, Vec<crate::store::Revocation>), crate::store::StoreError>
            {
                let mut tx = self.pool.begin_with($snapshot).await?;
                let committed = Self::load(&mut tx, id, false).await?;
                let revocations = Self::live_revocations(&mut tx, id, now_unix).await?;
                tx.commit().await?;
                Ok((committed, revocations))
            }

            async fn directory(
                &self,
            ) -> Result<Vec<(crate::tenant::TenantId, String)>, crate::store::StoreError> {
                let rows: Vec<(String, String)> = sqlx::query_as("SELECT id, issuer FROM tenants")
                    .fetch_all(&self.pool)
                    .await?;
                rows.into_iter()
                    .map(|(id, issuer)| {
                        crate::tenant::TenantId::parse(&id)
                            .map(|id| (id, issuer))
                            .map_err(|e| crate::store::StoreError::Internal(format!("stored tenant id {id:?}: {e}")))
                    })
                    .collect()
            }

            async fn create_tenant(
                &self,
                tenant: &crate::tenant::Tenant,
                seed: &crate::scope::edit::Edit,
                actor: &crate::store::Actor,
            ) -> Result<crate::store::Committed, crate::store::StoreError> {
                let mut tx = self.begin_write().await?;
                let mut tenant = tenant.clone();
                tenant.revision = 1;
                Self::write_tenant(&mut tx, &tenant, true).await?;
                let record = crate::scope::edit::AuditRecord {
                    action: "tenant.create",
                    target: tenant.id.to_string(),
                    before: String::new(),
                    after: tenant.audit_json(),
                };
                Self::audit(&mut tx, tenant.id.as_str(), 1, actor, &record).await?;
                Self::apply(&mut tx, tenant.id.as_str(), 1, seed, actor).await?;
                Self::bump(&mut tx, &tenant.id, 1).await?;
                // New settings too: replicas must drop what they cached about its issuer.
                Self::announce(&mut tx, &crate::store::Change::Settings(tenant.id.clone())).await?;
                let committed = Self::load(&mut tx, &tenant.id, false).await?;
                self.commit(tx).await?;
                Ok(committed)
            }

            async fn update_tenant(
                &self,
                id: &crate::tenant::TenantId,
                actor: &crate::store::Actor,
                update: crate::store::TenantUpdate<'_>,
            ) -> Result<crate::tenant::Tenant, crate::store::StoreError> {
                let mut tx = self.begin_write().await?;
                let current = Self::load(&mut tx, id, true).await?.tenant;
                let next = update(&current)?;
                let revision = current.revision + 1;
                let next = Self::write_settings(&mut tx, &current, next, revision, actor).await?;
                Self::bump(&mut tx, id, revision).await?;
                self.commit(tx).await?;
                Ok(next)
            }

            async fn delete_tenant(
                &self,
                id: &crate::tenant::TenantId,
                actor: &crate::store::Actor,
            ) -> Result<crate::tenant::Tenant, crate::store::StoreError> {
                let mut tx = self.begin_write().await?;
                let current = Self::load(&mut tx, id, true).await?.tenant;
                // Children first: SQLite enforces ON DELETE CASCADE only with foreign keys on,
                // and being explicit keeps both dialects identical.
                for sql in [
                    "DELETE FROM scopes WHERE tenant_id = $1",
                    "DELETE FROM clients WHERE tenant_id = $1",
                    "DELETE FROM operations WHERE tenant_id = $1",
                    "DELETE FROM revocations WHERE tenant_id = $1",
                    "DELETE FROM tenants WHERE id = $1",
                ] {
                    sqlx::query(sql).bind(id.as_str()).execute(&mut *tx).await?;
                }
                let record = crate::scope::edit::AuditRecord {
                    action: "tenant.delete",
                    target: id.to_string(),
                    before: current.audit_json(),
                    after: String::new(),
                };
                Self::audit(&mut tx, id.as_str(), current.revision + 1, actor, &record).await?;
                Self::announce(&mut tx, &crate::store::Change::Settings(id.clone())).await?;
                self.commit(tx).await?;
                Ok(current)
            }

            async fn edit(
                &self,
                id: &crate::tenant::TenantId,
                actor: &crate::store::Actor,
                settings: Option<crate::store::TenantUpdate<'_>>,
                plan: crate::store::Planner<'_>,
            ) -> Result<(crate::store::Committed, crate::scope::edit::Edit), crate::store::StoreError>
            {
                let mut tx = self.begin_write().await?;
                let current = Self::load(&mut tx, id, true).await?;
                let edit = plan(&current.tenant, &current.catalog)?;
                let next_tenant = match settings {
                    Some(update) => Some(update(&current.tenant)?).filter(|t| *t != current.tenant),
                    None => None,
                };
                if edit.changes.is_empty() && next_tenant.is_none() {
                    tx.rollback().await?;
                    return Ok((current, edit));
                }
                let revision = current.tenant.revision + 1;
                if let Some(next) = next_tenant {
                    Self::write_settings(&mut tx, &current.tenant, next, revision, actor).await?;
                }
                Self::apply(&mut tx, id.as_str(), revision, &edit, actor).await?;
                Self::bump(&mut tx, id, revision).await?;
                let committed = Self::load(&mut tx, id, false).await?;
                self.commit(tx).await?;
                Ok((committed, edit))
            }

            async fn audit_events(
                &self,
                id: &crate::tenant::TenantId,
                before_id: i64,
                limit: u32,
            ) -> Result<Vec<crate::store::AuditEvent>, crate::store::StoreError> {
                let before_id = if before_id <= 0 { i64::MAX } else { before_id };
                let rows: Vec<crate::store::rows::AuditRow> = sqlx::query_as(
                    "SELECT id, tenant_id, at_ms, actor, action, target, before_json, after_json, \
                     revision FROM audit_events WHERE tenant_id = $1 AND id < $2 \
                     ORDER BY id DESC LIMIT $3",
                )
                .bind(id.as_str())
                .bind(before_id)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn revoke(
                &self,
                id: &crate::tenant::TenantId,
                revocation: &crate::store::Revocation,
                actor: &crate::store::Actor,
            ) -> Result<(), crate::store::StoreError> {
                let mut tx = self.begin_write().await?;
                let current = Self::load(&mut tx, id, true).await?.tenant;
                sqlx::query(
                    "INSERT INTO revocations (tenant_id, kind, value, not_before, expires_at, \
                     created_at_ms) VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (tenant_id, kind, value) DO UPDATE SET \
                     not_before = excluded.not_before, expires_at = excluded.expires_at, \
                     created_at_ms = excluded.created_at_ms",
                )
                .bind(id.as_str())
                .bind(revocation.kind.as_str())
                .bind(&revocation.value)
                .bind(revocation.not_before)
                .bind(revocation.expires_at)
                .bind(crate::store::now_ms())
                .execute(&mut *tx)
                .await?;
                let revision = current.revision + 1;
                let record = crate::scope::edit::AuditRecord {
                    action: "token.revoke",
                    target: format!("{}:{}", revocation.kind.as_str(), revocation.value),
                    before: String::new(),
                    after: serde_json::json!({ "not_before": revocation.not_before }).to_string(),
                };
                Self::audit(&mut tx, id.as_str(), revision, actor, &record).await?;
                Self::bump(&mut tx, id, revision).await?;
                self.commit(tx).await?;
                Ok(())
            }

            async fn revocations(
                &self,
                id: &crate::tenant::TenantId,
                now_unix: i64,
            ) -> Result<Vec<crate::store::Revocation>, crate::store::StoreError> {
                let mut conn = self.pool.acquire().await?;
                Self::live_revocations(&mut conn, id, now_unix).await
            }

            async fn watch_changes(
                &self,
                on_change: crate::store::ChangeHandler,
            ) -> Result<(), crate::store::StoreError> {
                self.watch(on_change).await
            }

            async fn prune_revocations(&self, now_unix: i64) -> Result<u64, crate::store::StoreError> {
                let done = sqlx::query("DELETE FROM revocations WHERE expires_at < $1")
                    .bind(now_unix)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected())
            }
        }
    };
}
