//! The seam between the store's code, written once (`reads.rs`, `writes.rs`, `catalog.rs`),
//! and the two databases: a [`Dialect`] is a connection that runs the statements of
//! `queries.rs` with their [`Arg`]uments. `sqlite.rs` and `postgres.rs` implement it for their
//! connection types; its bounds are ours, so none of sqlx's generics leak into the store's code.

use std::{borrow::Cow, future::Future};

use sqlx::{Arguments as _, Database, Encode, Row as _, Type, postgres::PgRow, sqlite::SqliteRow};

use super::Change;

/// One statement argument: the store binds only text, integers and booleans.
#[derive(Debug, Clone)]
pub(super) enum Arg<'a> {
    Text(Cow<'a, str>),
    Int(i64),
    Bool(bool),
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(text: &'a str) -> Self {
        Self::Text(Cow::Borrowed(text))
    }
}

impl<'a> From<&'a String> for Arg<'a> {
    fn from(text: &'a String) -> Self {
        Self::Text(Cow::Borrowed(text))
    }
}

impl From<String> for Arg<'_> {
    fn from(text: String) -> Self {
        Self::Text(Cow::Owned(text))
    }
}

impl From<i64> for Arg<'_> {
    fn from(n: i64) -> Self {
        Self::Int(n)
    }
}

impl From<bool> for Arg<'_> {
    fn from(b: bool) -> Self {
        Self::Bool(b)
    }
}

/// A row type both dialects can read, by column name (`rows.rs`). Written out rather than
/// derived: sqlx's derive lives in its proc-macro crate, which builds a second sqlx for the host.
pub(super) trait Record: Sized + Send + Unpin {
    /// Reads one result row.
    fn read(row: &impl Columns) -> Result<Self, sqlx::Error>;
}

/// A result row of either dialect, read by column name: the store stores only text, integers
/// and booleans.
pub(super) trait Columns {
    fn text(&self, column: &str) -> Result<String, sqlx::Error>;
    fn int(&self, column: &str) -> Result<i64, sqlx::Error>;
    fn flag(&self, column: &str) -> Result<bool, sqlx::Error>;
}

impl Columns for SqliteRow {
    fn text(&self, column: &str) -> Result<String, sqlx::Error> {
        self.try_get(column)
    }
    fn int(&self, column: &str) -> Result<i64, sqlx::Error> {
        self.try_get(column)
    }
    fn flag(&self, column: &str) -> Result<bool, sqlx::Error> {
        self.try_get(column)
    }
}

impl Columns for PgRow {
    fn text(&self, column: &str) -> Result<String, sqlx::Error> {
        self.try_get(column)
    }
    fn int(&self, column: &str) -> Result<i64, sqlx::Error> {
        self.try_get(column)
    }
    fn flag(&self, column: &str) -> Result<bool, sqlx::Error> {
        self.try_get(column)
    }
}

/// A connection (usually inside a transaction) of one dialect. Statements are `'static`: the
/// SQL is always a constant of `queries.rs`, never built from input.
pub(super) trait Dialect: Send {
    /// The tenant read that starts every write transaction: it must keep the tenant from
    /// changing under the transaction until it ends, so concurrent writes to one tenant
    /// serialize and each sees the catalog it changes.
    const TENANT_FOR_WRITE: &'static str;

    /// The caller read that starts every write to a registered caller: like
    /// [`Dialect::TENANT_FOR_WRITE`], it keeps the caller from changing until the transaction
    /// ends.
    const CALLER_FOR_WRITE: &'static str;

    /// Runs a statement; returns how many rows it affected.
    fn execute(
        &mut self,
        sql: &'static str,
        args: &[Arg<'_>],
    ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send;

    /// Runs a query; returns every row.
    fn fetch_all<T: Record>(
        &mut self,
        sql: &'static str,
        args: &[Arg<'_>],
    ) -> impl Future<Output = Result<Vec<T>, sqlx::Error>> + Send;

    /// Runs a query; returns its first row, if any.
    fn fetch_optional<T: Record>(
        &mut self,
        sql: &'static str,
        args: &[Arg<'_>],
    ) -> impl Future<Output = Result<Option<T>, sqlx::Error>> + Send;

    /// Announces `change` to the other replicas when the transaction commits (nothing where
    /// there are none).
    fn announce(&mut self, change: &Change)
    -> impl Future<Output = Result<(), sqlx::Error>> + Send;
}

/// Encodes `args` for `DB`.
pub(super) fn arguments<DB>(args: &[Arg<'_>]) -> Result<DB::Arguments, sqlx::Error>
where
    DB: Database,
    for<'a> &'a str: Encode<'a, DB> + Type<DB>,
    for<'a> i64: Encode<'a, DB> + Type<DB>,
    for<'a> bool: Encode<'a, DB> + Type<DB>,
{
    let mut encoded = DB::Arguments::default();
    for arg in args {
        match arg {
            Arg::Text(text) => encoded.add(text.as_ref()),
            Arg::Int(n) => encoded.add(*n),
            Arg::Bool(b) => encoded.add(*b),
        }
        .map_err(sqlx::Error::Encode)?;
    }
    Ok(encoded)
}
