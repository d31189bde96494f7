//! The commands of `tui-server`, in the library so that the black-box suite runs them in a
//! process of its own exactly as the binary does.

use std::{ffi::OsString, net::SocketAddr, path::PathBuf, process::ExitCode};

use crate::{HostError, Options};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(version, about = "The Claude TUI backend: every endpoint group over embedded libSQL")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    database: DatabaseArgs,
    /// Address to listen on.
    #[arg(long, env = "TUI_LISTEN", default_value = "127.0.0.1:8787", global = true)]
    listen: SocketAddr,
    /// Holds the generated signing secret when JWT_SECRET is not set.
    #[arg(long, env = "TUI_DATA_DIR", default_value = "./data", global = true)]
    data_dir: PathBuf,
    /// Connections in the database pool.
    #[arg(long, env = "TUI_POOL_SIZE", default_value_t = 8, global = true)]
    pool_size: usize,
    /// Log filter, as in RUST_LOG (`info`, `tui_shared=debug,info`).
    #[arg(long, env = "TUI_LOG", default_value = "info", global = true)]
    log: String,
}

#[derive(clap::Args)]
struct DatabaseArgs {
    /// A file path for the embedded database (default ./data/tui.db), `:memory:`, or a
    /// `libsql://` URL of a Turso database.
    #[arg(long, env = "TUI_DATABASE_URL", global = true)]
    database: Option<String>,
    /// The auth token of a remote database.
    #[arg(long, env = "TUI_DATABASE_TOKEN", hide_env_values = true, global = true)]
    database_token: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve HTTP (the default).
    Serve,
    /// Apply pending migrations and exit (also to a remote Turso database).
    Migrate,
    /// Make a user (by email or username) an admin: how the first admin comes to be.
    GrantAdmin { login: String },
    /// Copy the embedded database to PATH, consistently, while the server may be running.
    /// Restore: stop the server, put the copy in the database's place, start it.
    Backup {
        /// Where the copy goes.
        path: PathBuf,
        /// Replace PATH if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Print the OpenAPI document of every group (the gateway embeds it:
    /// `tui-server openapi > functions/gateway/openapi.json`).
    Openapi,
}

/// Runs the command that `args` (the program name first) name; errors are printed here.
pub async fn run(args: impl IntoIterator<Item = impl Into<OsString> + Clone>) -> ExitCode {
    let cli = Cli::parse_from(args);
    if matches!(cli.command, Some(Command::Openapi)) {
        println!("{}", crate::openapi_document());
        return ExitCode::SUCCESS;
    }
    // Log lines go to stdout from a thread of their own: a request only queues its line (a
    // full queue drops lines rather than stall requests), and the guard flushes what is
    // queued when the server stops.
    let (stdout, _flush) = tracing_appender::non_blocking(std::io::stdout());
    let colour = std::io::IsTerminal::is_terminal(&std::io::stdout());
    tracing_subscriber::fmt()
        .compact()
        .with_target(false)
        .with_writer(stdout)
        .with_ansi(colour)
        .with_env_filter(tracing_subscriber::EnvFilter::new(&cli.log))
        .init();
    let options = Options {
        listen: cli.listen,
        database: cli.database.database.unwrap_or_else(|| cli.data_dir.join("tui.db").display().to_string()),
        database_token: cli.database.database_token,
        data_dir: cli.data_dir,
        pool_size: cli.pool_size,
        settings: Vec::new(),
    };
    let outcome = match cli.command.unwrap_or(Command::Serve) {
        Command::Migrate => crate::open_database(&options).await.map(drop),
        Command::Serve => serve(&options).await,
        Command::GrantAdmin { login } => crate::grant_admin(&options, &login).await,
        Command::Backup { path, force } => backup(&options.database, &path, force),
        Command::Openapi => Ok(()),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "stopped");
            eprintln!("tui-server: {error}");
            ExitCode::FAILURE
        }
    }
}

fn backup(database: &str, path: &std::path::Path, force: bool) -> Result<(), HostError> {
    let copied = crate::backup::backup(database, path, force)?;
    println!("copied {} pages ({} bytes) to {}; integrity_check: ok", copied.pages, copied.bytes, path.display());
    Ok(())
}

async fn serve(options: &Options) -> Result<(), HostError> {
    let running = crate::start(options).await?;
    tracing::info!(addr = %running.addr, "listening");
    println!("tui-server listening on http://{}", running.addr);
    Ok(running.task.await??)
}
