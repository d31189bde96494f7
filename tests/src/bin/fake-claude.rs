//! The fake Messages API as a process of its own, for the suite under wrangler dev.
//! Usage: fake-claude PORT

#[tokio::main]
async fn main() {
    let port = std::env::args().nth(1).and_then(|p| p.parse().ok()).expect("usage: fake-claude PORT");
    let url = tui_blackbox::claude::start(port).await;
    println!("fake Messages API at {url}");
    std::future::pending::<()>().await;
}
