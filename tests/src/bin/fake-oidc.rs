//! The fake identity provider as a process of its own, for the suite under wrangler dev.
//! Usage: fake-oidc PORT

#[tokio::main]
async fn main() {
    let port = std::env::args().nth(1).and_then(|p| p.parse().ok()).expect("usage: fake-oidc PORT");
    let issuer = tui_blackbox::oidc::start(port).await;
    println!("fake OpenID Connect provider at {issuer}");
    std::future::pending::<()>().await;
}
