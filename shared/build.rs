//! Embeds `migrations/*.sql` so that every runtime applies the same schema, including the
//! wasm ones, which have no file system to read it from at run time; and generates the routing
//! table from groups.toml, so that no worker can route otherwise than the manifest says.

use std::{env, fs, path::PathBuf};

fn main() {
    migrations();
    routes();
}

fn migrations() {
    let dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets this"))
        .join("../migrations")
        .canonicalize()
        .expect("migrations/ sits next to shared/");
    println!("cargo:rerun-if-changed={}", dir.display());

    let mut files: Vec<(u32, String, PathBuf)> = fs::read_dir(&dir)
        .expect("migrations/ is readable")
        .map(|entry| entry.expect("readable entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "sql"))
        .map(|path| {
            let stem = path.file_stem().and_then(|s| s.to_str()).expect("utf-8 name").to_owned();
            let (number, name) = stem.split_once('_').unwrap_or_else(|| panic!("migration {stem} must be named NNNN_name.sql"));
            let version = number.parse().unwrap_or_else(|_| panic!("migration {stem} must start with a number"));
            (version, name.to_owned(), path)
        })
        .collect();
    files.sort_by_key(|(version, ..)| *version);
    // Two branches that each add a migration pick the same next number; the second to merge
    // renumbers its file, before anything applies it anywhere.
    for pair in files.windows(2) {
        let ((a, a_name, _), (b, b_name, _)) = (&pair[0], &pair[1]);
        assert!(
            a != b,
            "two migrations are numbered {a}: {a:04}_{a_name}.sql and {b:04}_{b_name}.sql. Rename the one your branch added \
             to {:04}_<name>.sql (one past the highest number); a migration is never renumbered once applied anywhere",
            files.last().map_or(0, |(last, ..)| last + 1)
        );
    }
    for (index, (version, name, _)) in files.iter().enumerate() {
        assert_eq!(*version as usize, index + 1, "migration {version:04}_{name}.sql leaves a gap: numbers run 1, 2, 3 ...");
    }

    let mut code = String::from("&[\n");
    for (version, name, path) in &files {
        code.push_str(&format!(
            "    Migration {{ version: {version}, name: {name:?}, sql: include_str!({:?}) }},\n",
            path.display().to_string()
        ));
    }
    code.push_str("]\n");
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets this")).join("migrations.rs");
    fs::write(out, code).expect("OUT_DIR is writable");
}

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

fn routes() {
    let path = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets this")).join("../groups.toml");
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
