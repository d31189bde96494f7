//! The test Hrana server as a process of its own, to run the native host against it by hand
//! or in the benchmarks. Usage: hrana-server PORT TOKEN
//! (then `tui-server --database http://127.0.0.1:PORT --database-token TOKEN`).

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(port), Some(token)) = (args.next().and_then(|p| p.parse::<u16>().ok()), args.next()) else {
        eprintln!("usage: hrana-server PORT TOKEN");
        std::process::exit(2);
    };
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let server = tui_blackbox::hrana::HranaServer::listen(addr, &token, std::time::Duration::from_secs(10)).await;
    println!("Hrana server at {}", server.url);
    std::future::pending::<()>().await;
}
