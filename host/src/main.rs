//! `tui-server`: the Claude TUI backend as one native binary (its commands: `tui_host::cli`).

use std::process::ExitCode;

/// mimalloc: a request allocates and frees many small buffers on two or more threads at once,
/// which glibc's allocator served with lock contention (measured: its share of a read's CPU time
/// went from about 8 % to 4 %).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    tui_host::cli::run(std::env::args_os()).await
}
