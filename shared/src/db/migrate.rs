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
    #[error("migration {version} ({name}) is applied but unknown to this build, though older than its newest")]
    Unknown { version: u32, name: String },
    #[error("migration {missing} of this build is not applied, but the newer {found} is: apply migrations in order")]
    Behind { missing: u32, found: u32 },
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
            let (version, name, checksum): (i64, _, _) = row.decode()?;
            Ok((u32::try_from(version).map_err(|e| DbError::decode(e.to_string()))?, name, checksum))
        })
        .collect::<Result<_, DbError>>()
        .map_err(MigrateError::from)
}

/// What the database holds, against what this build knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schema {
    /// The highest migration of this build that is applied.
    pub version: u32,
    /// Migrations of this build not applied yet.
    pub pending: Vec<u32>,
    /// Applied migrations this build does not know: a newer build of another group deployed
    /// first. They only add to the schema, so this build keeps serving.
    pub newer: Vec<u32>,
}

impl Schema {
    /// Whether everything this build needs is there.
    pub fn current(&self) -> bool {
        self.pending.is_empty()
    }
}

/// Checks what was applied against the embedded files: a known file that changed after it was
/// applied is an error; migrations from a newer build are tolerated (rolling deploys update one
/// group's worker at a time), as long as every migration this build knows came before them.
pub async fn verify(db: &dyn Database) -> Result<Schema, MigrateError> {
    let applied = applied(db).await?;
    let mut newer = Vec::new();
    for (version, name, checksum) in &applied {
        match MIGRATIONS.iter().find(|m| m.version == *version) {
            Some(migration) if migration.checksum() == *checksum => {}
            Some(_) => return Err(MigrateError::Changed { version: *version, name: name.clone() }),
            None if *version > latest_version() => newer.push(*version),
            None => return Err(MigrateError::Unknown { version: *version, name: name.clone() }),
        }
    }
    let pending: Vec<u32> = MIGRATIONS.iter().map(|m| m.version).filter(|v| !applied.iter().any(|(a, ..)| a == v)).collect();
    if let (Some(first_pending), Some(first_newer)) = (pending.first(), newer.first())
        && first_pending < first_newer
    {
        return Err(MigrateError::Behind { missing: *first_pending, found: *first_newer });
    }
    let version = applied.iter().map(|(v, ..)| *v).filter(|v| *v <= latest_version()).max().unwrap_or(0);
    Ok(Schema { version, pending, newer })
}

/// Applies every pending migration, each in its own transaction together with its record.
/// Safe to race: a second applier's batch fails on the first one's record and is retried as
/// a no-op.
pub async fn migrate(db: &dyn Database, now_rfc3339: &str) -> Result<Schema, MigrateError> {
    let schema = verify(db).await?;
    if schema.current() {
        if !schema.newer.is_empty() {
            tracing::info!(newer = ?schema.newer, "the schema is ahead of this build; serving with it");
        }
        return Ok(schema);
    }
    db.execute(stmt!(CREATE_TABLE)).await?;
    for migration in MIGRATIONS.iter().filter(|m| schema.pending.contains(&m.version)) {
        let mut batch: Vec<Statement> = split_statements(migration.sql).into_iter().map(|sql| Statement::new(sql, vec![])).collect();
        batch.push(stmt!(
            "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (?1, ?2, ?3, ?4)",
            migration.version,
            migration.name,
            migration.checksum(),
            now_rfc3339,
        ));
        if let Err(error) = db.batch(batch).await {
            if !verify(db).await?.pending.contains(&migration.version) {
                continue;
            }
            return Err(error.into());
        }
        tracing::info!(version = migration.version, name = migration.name, "applied migration");
    }
    verify(db).await
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
