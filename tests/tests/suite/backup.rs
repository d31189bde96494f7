//! `tui-server backup`: an online copy of the embedded database, taken by another process
//! while the host writes to it, holds every write acknowledged before the copy began.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use serde_json::json;
use tui_blackbox::{HostProcess, Server, User};

/// Serves as a host of `a_backup_taken_under_writes_holds_every_acknowledged_write`.
#[tokio::test]
#[ignore = "the host process of a backup test, started by it"]
async fn host_process() {
    tui_blackbox::serve_as_child().await;
}

/// A write the host answered 2xx: when the answer came, and where its writer reads it back.
struct Acked {
    at: Instant,
    path: String,
    token: String,
}

const SERVER_ARGS: &str = "TUI_TEST_SERVER_ARGS";

/// Runs `tui-server`'s commands, with the arguments [`tui_server`] passes, in its child process.
#[tokio::test]
#[ignore = "tui-server in a process of its own, started by a backup test"]
async fn tui_server_process() {
    let Ok(args) = std::env::var(SERVER_ARGS) else { return };
    let args: Vec<String> = serde_json::from_str(&args).expect("arguments");
    let code = tui_host::cli::run(std::iter::once("tui-server".to_owned()).chain(args)).await;
    std::process::exit(if code == std::process::ExitCode::SUCCESS { 0 } else { 1 });
}

/// `tui-server` with `args`, in a process of its own, as another process on the host's
/// database file: this test binary run again, since the suite links the host's library (where
/// its commands are), not its binary. What it printed, whether it succeeded.
fn tui_server(args: &[&str]) -> (String, bool) {
    let output = std::process::Command::new(std::env::current_exe().expect("the test binary"))
        .args(["--exact", "backup::tui_server_process", "--ignored", "--nocapture", "--test-threads=1"])
        .env(SERVER_ARGS, serde_json::to_string(args).unwrap())
        .output()
        .expect("the test binary starts again");
    (String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr), output.status.success())
}

/// Creates projects and tasks as `user` until `stop`, recording each acknowledged one.
async fn write(server: Server, user: User, stop: Arc<AtomicBool>, acked: Arc<Mutex<Vec<Acked>>>) {
    // Large enough that the database outgrows one backup step while the copy runs.
    let description = "x".repeat(2000);
    let mut project = String::new();
    for i in 0.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let creates_project = i % 10 == 0;
        let reply = if creates_project {
            server.post("/v1/projects", Some(&user.token), json!({"name": format!("p{i}")})).await
        } else {
            let body = json!({"title": format!("task {i}"), "description": description});
            server.post(&format!("/v1/projects/{project}/tasks"), Some(&user.token), body).await
        };
        let at = Instant::now();
        assert!(reply.status.is_success(), "{}", reply.body);
        let id = reply.body["id"].as_str().expect("an id").to_owned();
        let path = if creates_project {
            project = id;
            format!("/v1/projects/{project}")
        } else {
            format!("/v1/tasks/{id}")
        };
        acked.lock().unwrap().push(Acked { at, path, token: user.token.clone() });
    }
}

#[tokio::test]
async fn a_backup_taken_under_writes_holds_every_acknowledged_write() {
    if !Server::is_native() {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let database = data.path().join("tui.db");
    let listen = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let host = HostProcess::start("backup::host_process", &database, listen, None).await;
    // A read that holds its snapshot keeps every later write out of the main file (in the WAL),
    // as a long read on a busy server may: a copy of the file alone would lack them all.
    let snapshot = rusqlite::Connection::open(&database).unwrap();
    snapshot.execute_batch("BEGIN").unwrap();
    snapshot.query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get::<_, i64>(0)).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Vec::new()));
    let mut writers = Vec::new();
    for _ in 0..4 {
        let user = host.server.user().await;
        let server = Server::at(&format!("http://{listen}"));
        writers.push(tokio::spawn(write(server, user, stop.clone(), acked.clone())));
    }
    while acked.lock().unwrap().len() < 300 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let backups = data.path().join("backups");
    std::fs::create_dir(&backups).unwrap();
    let copy = backups.join("copy.db");
    let (database, copy) = (database.display().to_string(), copy.display().to_string());
    let began = Instant::now();
    let (said, copied) = {
        let (database, copy) = (database.clone(), copy.clone());
        tokio::task::spawn_blocking(move || tui_server(&["--log", "error", "--database", &database, "backup", &copy])).await.unwrap()
    };
    let ended = Instant::now();
    assert!(copied, "{said}");
    assert!(said.contains("integrity_check: ok"), "{said}");
    let (refused, replaced) = tui_server(&["--log", "error", "--database", &database, "backup", &copy]);
    assert!(!replaced && refused.contains("already exists; pass --force"), "{refused}");

    drop(snapshot);
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.await.unwrap();
    }
    drop(host);
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    let during = acked.iter().filter(|write| write.at >= began && write.at < ended).count();
    let before: Vec<Acked> = acked.into_iter().filter(|write| write.at < began).collect();
    eprintln!("backup took {:?}; {} writes acknowledged before it, {during} during it: {said}", ended - began, before.len());
    assert_eq!(std::fs::read_dir(&backups).unwrap().count(), 1, "only the copy is left beside it");

    let verdict: String = rusqlite::Connection::open(&copy).unwrap().query_row("PRAGMA integrity_check", [], |row| row.get(0)).unwrap();
    assert_eq!(verdict, "ok");

    // Restored as the README says, and served: every write acknowledged before the backup
    // began is in it.
    let restored_dir = tempfile::tempdir().unwrap();
    let restored = restored_dir.path().join("tui.db");
    std::fs::rename(&copy, &restored).unwrap();
    let listen = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let host = HostProcess::start("backup::host_process", &restored, listen, None).await;
    let mut missing = Vec::new();
    for write in &before {
        let reply = host.server.get(&write.path, Some(&write.token)).await;
        if reply.status != 200 {
            missing.push(format!("{} {}", write.path, reply.status));
        }
    }
    assert!(missing.is_empty(), "{} of {} acknowledged writes missing from the copy: {missing:?}", missing.len(), before.len());
}
