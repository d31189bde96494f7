//! The routing table, generated from groups.toml at build time, so that the gateway cannot
//! route otherwise than the manifest says.

use std::{env, fs, path::PathBuf};

#[derive(serde::Deserialize)]
struct Manifest {
    group: Vec<Group>,
}

#[derive(serde::Deserialize)]
struct Group {
    name: String,
    binding: Option<String>,
    #[serde(default)]
    routes: Vec<String>,
}

fn main() {
    let path = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets this")).join("../../groups.toml");
    println!("cargo:rerun-if-changed={}", path.display());
    let text = fs::read_to_string(&path).expect("groups.toml sits at the root of the repository");
    let manifest: Manifest = toml::from_str(&text).unwrap_or_else(|e| panic!("groups.toml: {e}"));
    let mut code = String::from("&[\n");
    for group in manifest.group.iter().filter(|g| !g.routes.is_empty()) {
        let binding = group.binding.as_deref().unwrap_or_else(|| panic!("group {} serves routes but has no binding", group.name));
        for route in &group.routes {
            assert!(route.starts_with('/'), "group {}: route {route} must start with /", group.name);
            code.push_str(&format!("    Route {{ pattern: {route:?}, group: {:?}, binding: {binding:?} }},\n", group.name));
        }
    }
    code.push_str("]\n");
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets this")).join("routes.rs");
    fs::write(out, code).expect("OUT_DIR is writable");
}
