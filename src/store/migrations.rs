//! The SQL migrations of both dialects, embedded in the binary at build time (`build.rs` lists
//! `migrations/<dialect>/*.sql`) and applied by sqlx's migrator at start. Migrations that have
//! landed are never edited: a database records each one's checksum and refuses a changed one.

use std::borrow::Cow;

use sqlx::{
    SqlStr,
    migrate::{Migration, MigrationType, Migrator},
};

mod files {
    include!(concat!(env!("OUT_DIR"), "/migrations.rs"));
}

/// The SQLite migrations.
pub(super) fn sqlite() -> Migrator {
    migrator(files::SQLITE)
}

/// The Postgres migrations.
pub(super) fn postgres() -> Migrator {
    migrator(files::POSTGRES)
}

/// A migrator over `(version, description, sql)` files, built as sqlx's `migrate!` builds one
/// (same descriptions and checksums, `-- no-transaction` honoured).
fn migrator(files: &'static [(i64, &'static str, &'static str)]) -> Migrator {
    Migrator::with_migrations(
        files
            .iter()
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    Cow::Borrowed(description),
                    MigrationType::Simple,
                    SqlStr::from_static(sql),
                    sql.starts_with("-- no-transaction"),
                )
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_both_dialects_have_the_same_versions_in_order_from_one() {
        let versions = |m: &Migrator| m.iter().map(|m| m.version).collect::<Vec<_>>();
        let both = versions(&sqlite());
        assert_eq!(both, versions(&postgres()));
        assert_eq!(both.first(), Some(&1));
        assert!(both.windows(2).all(|pair| pair[0] < pair[1]), "{both:?}");
        let first = sqlite().iter().next().map(|m| m.description.to_string());
        assert_eq!(first.as_deref(), Some("initial"));
    }

    /// Databases migrated by earlier builds (sqlx's `migrate!`) recorded each migration's
    /// version, description and checksum: the embedded ones must be what sqlx's own directory
    /// reading makes of the same files, or those databases would refuse to start.
    #[tokio::test]
    async fn migrations_embedded_are_what_sqlx_reads_from_the_directory() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        for (dialect, embedded) in [("sqlite", sqlite()), ("postgres", postgres())] {
            let read = Migrator::new(root.join(dialect))
                .await
                .expect("migrations directory");
            let facts = |m: &Migrator| {
                m.iter()
                    .map(|m| {
                        let sql = m.sql.as_str().to_owned();
                        (
                            m.version,
                            m.description.to_string(),
                            m.checksum.to_vec(),
                            m.no_tx,
                            sql,
                        )
                    })
                    .collect::<Vec<_>>()
            };
            assert_eq!(facts(&embedded), facts(&read), "{dialect}");
            assert!(!facts(&read).is_empty());
        }
    }
}
