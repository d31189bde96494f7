//! Schema migrations: the numbered files in `migrations/`, embedded at build time and applied
//! the same way to every backend. `schema_migrations` records each applied file with a SHA-256
//! checksum; a file that changed after it was applied is an error, never silently re-run.

use super::{Database, DbError, Statement, split_statements};
use crate::{auth::tokens::sha256_hex, stmt};

#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: u32,
    pub name: &'static str,
    pub sql: &'static str,
}

impl Migration {
    pub fn checksum(&self) -> String {
        sha256_hex(self.sql.as_bytes())
    }
}

/// Every migration in `migrations/`, in order.
pub const MIGRATIONS: &[Migration] = include!(concat!(env!("OUT_DIR"), "/migrations.rs"));

/// The version the code expects the schema to be at.
pub fn latest_version() -> u32 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("migration {version} ({name}) was changed after it was applied: its checksum differs")]
    Changed { version: u32, name: String },
    #[error("the database is at schema version {found}, newer than this build knows ({known})")]
    Newer { found: u32, known: u32 },
    #[error(transparent)]
    Db(#[from] DbError),
}

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    checksum TEXT NOT NULL,
    applied_at TEXT NOT NULL
)";

/// Applied migrations as (version, name, checksum).
async fn applied(db: &dyn Database) -> Result<Vec<(u32, String, String)>, MigrateError> {
    let table = db.query_opt(stmt!("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'")).await?;
    if table.is_none() {
        return Ok(Vec::new());
    }
    let rows = db.query(stmt!("SELECT version, name, checksum FROM schema_migrations ORDER BY version")).await?;
    rows.iter()
        .map(|row| {
            let version = u32::try_from(row.get::<i64>(0)?).map_err(|e| DbError::decode(e.to_string()))?;
            Ok((version, row.get(1)?, row.get(2)?))
        })
        .collect::<Result<_, DbError>>()
        .map_err(MigrateError::from)
}

/// Checks that what was applied matches the embedded files and returns the applied version.
pub async fn verify(db: &dyn Database) -> Result<u32, MigrateError> {
    let applied = applied(db).await?;
    for (version, name, checksum) in &applied {
        match MIGRATIONS.iter().find(|m| m.version == *version) {
            Some(migration) if migration.checksum() == *checksum => {}
            Some(_) => {
                return Err(MigrateError::Changed { version: *version, name: name.clone() });
            }
            None => {
                return Err(MigrateError::Newer { found: *version, known: latest_version() });
            }
        }
    }
    Ok(applied.last().map_or(0, |(version, ..)| *version))
}

/// Applies every pending migration, each in its own transaction together with its record.
/// Safe to race: a second applier's batch fails on the first one's record and is retried as
/// a no-op.
pub async fn migrate(db: &dyn Database, now_rfc3339: &str) -> Result<u32, MigrateError> {
    let applied = verify(db).await?;
    if applied == latest_version() {
        return Ok(applied);
    }
    db.execute(stmt!(CREATE_TABLE)).await?;
    let mut current = applied;
    for migration in MIGRATIONS.iter().filter(|m| m.version > applied) {
        let mut batch: Vec<Statement> = split_statements(migration.sql).into_iter().map(|sql| Statement::new(sql, vec![])).collect();
        batch.push(stmt!(
            "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (?1, ?2, ?3, ?4)",
            migration.version,
            migration.name,
            migration.checksum(),
            now_rfc3339,
        ));
        if let Err(error) = db.batch(batch).await {
            if verify(db).await? >= migration.version {
                continue;
            }
            return Err(error.into());
        }
        tracing::info!(version = migration.version, name = migration.name, "applied migration");
        current = migration.version;
    }
    Ok(current)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_migration_has_statements_and_the_last_is_the_latest() {
        // build.rs already refuses gaps in the numbering.
        for migration in MIGRATIONS {
            assert!(!split_statements(migration.sql).is_empty(), "{} is empty", migration.name);
        }
        assert_eq!(latest_version() as usize, MIGRATIONS.len());
    }

    #[test]
    fn checksums_are_stable_hex_sha256() {
        let migration = Migration { version: 1, name: "x", sql: "SELECT 1;" };
        assert_eq!(migration.checksum().len(), 64);
        assert_eq!(migration.checksum(), migration.checksum());
    }
}
