//! `tui-server backup PATH`: a consistent copy of the embedded database, taken with SQLite's
//! online backup API while the server may be running and writing to it.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use rusqlite::{
    Connection, OpenFlags,
    backup::{Backup, StepResult},
};
use tui_shared::adapters::native::Location;

/// Why no backup was made.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0} is a remote database: Turso backs it up (point-in-time restore), not tui-server")]
    Remote(String),
    #[error("an in-memory database ends with its process: there is nothing to back up")]
    InMemory,
    #[error("{} already exists; pass --force to replace it", .0.display())]
    Exists(PathBuf),
    #[error("{} is the database itself", .0.display())]
    SameFile(PathBuf),
    #[error("cannot {action} {}: {source}", path.display())]
    Io { action: &'static str, path: PathBuf, source: std::io::Error },
    #[error("cannot open {}: {source}", path.display())]
    Open { path: PathBuf, source: rusqlite::Error },
    #[error("the copy failed: {0}")]
    Copy(#[source] rusqlite::Error),
    #[error("the copy fails its integrity check: {0}")]
    Corrupt(String),
}

/// What was copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Copied {
    pub pages: u32,
    pub bytes: u64,
}

/// Pages per step: each step is one short read transaction on the source, so what waits for
/// readers (writers in rollback-journal mode, checkpoints in WAL mode) waits for one step at
/// most, never for the whole copy.
const PAGES_PER_STEP: i32 = 256;

/// How long to wait before retrying a step that found the source locked.
const BUSY_PAUSE: Duration = Duration::from_millis(20);

/// A write by another connection between steps makes SQLite start the copy over. Under a
/// steady stream of writes that could go on forever, so after this many restarts the rest is
/// copied in one step: in WAL mode that holds only a read transaction, which writers do not
/// wait for.
const RESTARTS_BEFORE_ONE_STEP: u32 = 3;

/// Copies the database at `database` (as `--database` names it) to `to`, through a temporary
/// file beside `to` that becomes `to` only once the copy is complete and passes
/// `PRAGMA integrity_check`. An existing `to` is replaced only when `force` is set.
pub fn backup(database: &str, to: &Path, force: bool) -> Result<Copied, BackupError> {
    let source = match Location::parse(database, None) {
        Location::Remote { url, .. } => return Err(BackupError::Remote(url)),
        Location::File(path) if path == ":memory:" => return Err(BackupError::InMemory),
        Location::File(path) => PathBuf::from(path),
    };
    if to.exists() {
        if !force {
            return Err(BackupError::Exists(to.to_owned()));
        }
        if same_file(&source, to) {
            return Err(BackupError::SameFile(to.to_owned()));
        }
    }
    let dir = to.parent().filter(|dir| !dir.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = to.file_name().map_or_else(|| "backup".into(), |name| name.to_string_lossy().into_owned());
    let partial = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".partial")
        .tempfile_in(dir)
        .map_err(|source| BackupError::Io { action: "create a file in", path: dir.to_owned(), source })?
        .into_temp_path();
    let pages = copy(&source, &partial)?;
    let bytes =
        std::fs::metadata(&partial).map_err(|source| BackupError::Io { action: "read", path: partial.to_path_buf(), source })?.len();
    let persisted = if force { partial.persist(to) } else { partial.persist_noclobber(to) };
    persisted.map_err(|error| BackupError::Io { action: "rename the copy to", path: to.to_owned(), source: error.error })?;
    Ok(Copied { pages, bytes })
}

fn same_file(a: &Path, b: &Path) -> bool {
    matches!((a.canonicalize(), b.canonicalize()), (Ok(a), Ok(b)) if a == b)
}

/// Copies `source` into the empty file `to` and checks the copy; the number of pages copied.
fn copy(source: &Path, to: &Path) -> Result<u32, BackupError> {
    // Read-write without create: a mistyped path is an error, not a new empty database; and a
    // read-only connection could not open a WAL database whose server is not running.
    let from = Connection::open_with_flags(source, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|error| BackupError::Open { path: source.to_owned(), source: error })?;
    from.busy_timeout(Duration::from_secs(5)).map_err(BackupError::Copy)?;
    let mut copy = Connection::open(to).map_err(|source| BackupError::Open { path: to.to_owned(), source })?;
    let pages = {
        let backup = Backup::new(&from, &mut copy).map_err(BackupError::Copy)?;
        run(&backup)?;
        backup.progress().pagecount
    };
    // The copy keeps the source's WAL flag; a rollback journal makes it one self-contained file
    // (the server turns WAL back on when it opens it).
    copy.pragma_update(None, "journal_mode", "DELETE").map_err(BackupError::Copy)?;
    let verdict: String = copy.query_row("PRAGMA integrity_check", [], |row| row.get(0)).map_err(BackupError::Copy)?;
    if verdict != "ok" {
        return Err(BackupError::Corrupt(verdict));
    }
    copy.close().map_err(|(_, error)| BackupError::Copy(error))?;
    Ok(u32::try_from(pages).unwrap_or_default())
}

/// Steps the backup to its end.
fn run(backup: &Backup<'_, '_>) -> Result<(), BackupError> {
    let mut restarts = 0;
    let mut remaining = i32::MAX;
    loop {
        let pages = if restarts < RESTARTS_BEFORE_ONE_STEP { PAGES_PER_STEP } else { -1 };
        match backup.step(pages).map_err(BackupError::Copy)? {
            StepResult::Done => return Ok(()),
            StepResult::More => {
                // A step that copied pages leaves fewer to go, unless the copy started over.
                let left = backup.progress().remaining;
                if left >= remaining {
                    restarts += 1;
                }
                remaining = left;
            }
            _ => std::thread::sleep(BUSY_PAUSE),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    };

    use super::*;

    /// A WAL database of about `pages` pages, its rows still in the WAL (never checkpointed).
    fn database(dir: &Path, pages: usize) -> (String, Connection) {
        let path = dir.join("tui.db");
        let connection = Connection::open(&path).unwrap();
        connection.pragma_update(None, "journal_mode", "WAL").unwrap();
        connection.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        connection.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB)").unwrap();
        for _ in 0..pages {
            connection.execute("INSERT INTO t (body) VALUES (zeroblob(3000))", []).unwrap();
        }
        (path.display().to_string(), connection)
    }

    fn rows(path: &Path) -> i64 {
        Connection::open(path).unwrap().query_row("SELECT count(*) FROM t", [], |row| row.get(0)).unwrap()
    }

    #[test]
    fn refuses_a_remote_database_and_an_existing_file_unless_forced() {
        let dir = tempfile::tempdir().unwrap();
        let to = dir.path().join("copy.db");
        assert!(matches!(backup("libsql://db-org.turso.io", &to, false), Err(BackupError::Remote(_))));
        assert!(matches!(backup(":memory:", &to, false), Err(BackupError::InMemory)));
        let (source, _open) = database(dir.path(), 10);
        std::fs::write(&to, "not a backup").unwrap();
        assert!(matches!(backup(&source, &to, false), Err(BackupError::Exists(_))));
        assert!(matches!(backup(&source, Path::new(&source), true), Err(BackupError::SameFile(_))));
        backup(&source, &to, true).unwrap();
        assert_eq!(rows(&to), 10);
    }

    #[test]
    fn copies_what_is_still_in_the_wal_into_one_file() {
        let dir = tempfile::tempdir().unwrap();
        let (source, _open) = database(dir.path(), 100);
        let backups = dir.path().join("backups");
        std::fs::create_dir(&backups).unwrap();
        let copied = backup(&source, &backups.join("copy.db"), false).unwrap();
        assert!(copied.pages > 100, "{copied:?}");
        assert_eq!(copied.bytes, std::fs::metadata(backups.join("copy.db")).unwrap().len());
        let left: Vec<_> = std::fs::read_dir(&backups).unwrap().map(|entry| entry.unwrap().file_name()).collect();
        assert_eq!(left, ["copy.db"]);
        assert_eq!(rows(&backups.join("copy.db")), 100);
    }

    #[test]
    fn ends_under_a_steady_stream_of_writes() {
        let dir = tempfile::tempdir().unwrap();
        let (source, writer) = database(dir.path(), 2000);
        // Writes microseconds apart, never waiting for the disk: more often than a copy of
        // the whole file could fit between two of them.
        writer.pragma_update(None, "synchronous", "OFF").unwrap();
        let done = Arc::new(AtomicBool::new(false));
        let writing = std::thread::spawn({
            let done = done.clone();
            move || {
                while !done.load(Ordering::Relaxed) {
                    writer.execute("INSERT INTO t (body) VALUES (zeroblob(10))", []).unwrap();
                }
            }
        });
        let to = dir.path().join("copy.db");
        let (sender, copy) = std::sync::mpsc::channel();
        std::thread::spawn({
            let to = to.clone();
            move || sender.send(backup(&source, &to, false))
        });
        // Without a way out of its restarts, the copy would go on for as long as the writes.
        let copied = copy.recv_timeout(Duration::from_secs(30)).expect("the copy ends");
        done.store(true, Ordering::Relaxed);
        writing.join().unwrap();
        assert!(copied.unwrap().pages >= 2000);
        assert!(rows(&to) >= 2000);
    }
}
