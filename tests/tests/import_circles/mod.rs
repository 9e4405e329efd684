//! No import circles in dm's library crates: neither between files (`record.rs` uses `local.rs`
//! which uses `record.rs`) nor between a crate's top-level modules (`ctx` uses `executor` which
//! uses `ctx`). A circle means neither side can be read, tested or moved without the other.
//!
//! The check reads the sources as text (no build): each `use` line and each `crate::`/`super::`/
//! `self::` path in code is resolved, through re-exports, to the file that defines the name.
//! Test modules (`#[cfg(test)]`) are left out. Run it alone with
//! `cargo test -p dm-tests --test integration import_circles:: -- --nocapture`.

mod graph;
mod lexer;
mod modules;

use std::collections::BTreeSet;
use std::path::Path;

use graph::{Graph, imports};
use modules::Crate;

/// One circle found in the sources.
struct Circle {
    members: BTreeSet<String>,
    /// The shortest chain around it and every import between its members.
    description: String,
}

/// The library crates of the workspace: every top-level folder with a `src/lib.rs`, except the
/// end-to-end tests' helpers.
fn library_crates(repo: &Path) -> Vec<String> {
    let mut crates: Vec<String> = std::fs::read_dir(repo)
        .expect("the repository is readable")
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.path().join("src/lib.rs").is_file())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name != "tests")
        .collect();
    crates.sort();
    crates
}

/// Every circle of files and of top-level modules in the named crates below `repo`.
fn circles(repo: &Path, crates: &[String]) -> Vec<Circle> {
    let mut found = Vec::new();
    for name in crates {
        let krate = Crate::read(repo, name);
        let (files, top_modules) = imports(&krate);
        for graph in [&files, &top_modules] {
            for members in graph.circles() {
                found.push(Circle {
                    description: describe(graph, &members),
                    members,
                });
            }
        }
    }
    found
}

fn describe(graph: &Graph, members: &BTreeSet<String>) -> String {
    let mut text = format!(
        "{} imports in a circle:\n  {}\n  every import inside it:",
        members.len(),
        graph.describe_chain(&graph.chain(members))
    );
    for tie in graph.describe_ties(members) {
        text += &format!("\n    {tie}");
    }
    text
}

#[test]
fn no_import_circles_in_the_library_crates() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let crates = library_crates(&repo);
    assert!(
        crates.iter().any(|c| c == "dm-core") && crates.iter().any(|c| c == "dm-tasks"),
        "the crates were not found below {}: {crates:?}",
        repo.display()
    );
    println!("checked crates: {}", crates.join(", "));
    let found = circles(&repo, &crates);
    let described: Vec<&str> = found.iter().map(|c| c.description.as_str()).collect();
    assert!(
        found.is_empty(),
        "\n{} import circle(s): take each apart (move what both sides need into a module \
         below them, or the code that needs the upper one up into it):\n\n{}",
        found.len(),
        described.join("\n\n")
    );
}

/// Writes a crate `planted` below a temporary folder; returns the folder.
fn plant(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    for (path, text) in files {
        let path = dir.path().join("planted/src").join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

#[test]
fn a_planted_circle_of_files_is_found_with_the_names_it_uses() {
    let dir = plant(&[
        ("lib.rs", "mod machine;\npub use machine::record::Record;\n"),
        ("machine/mod.rs", "pub mod local;\npub mod record;\n"),
        (
            "machine/record.rs",
            "/// Not an import: [`crate::machine::local::LOCAL_DIR`].\n\
             pub struct Record;\n\
             fn dir() -> &'static str { super::local::LOCAL_DIR }\n\
             #[cfg(test)]\nmod tests { use crate::machine::local::untested; }\n",
        ),
        (
            "machine/local.rs",
            "use crate::Record;\npub const LOCAL_DIR: &str = \"crate::x\";\n",
        ),
    ]);
    let found = circles(dir.path(), &["planted".to_string()]);
    assert_eq!(
        found.len(),
        1,
        "{:?}",
        found.iter().map(|c| &c.description).collect::<Vec<_>>()
    );
    let expected: BTreeSet<String> = [
        "planted/src/machine/local.rs",
        "planted/src/machine/record.rs",
    ]
    .map(String::from)
    .into();
    assert_eq!(found[0].members, expected);
    assert_eq!(
        found[0].description,
        "2 imports in a circle:\n  \
         planted/src/machine/local.rs\n    \
         -(Record)-> planted/src/machine/record.rs\n    \
         -(LOCAL_DIR)-> planted/src/machine/local.rs\n  \
         every import inside it:\n    \
         planted/src/machine/local.rs -> planted/src/machine/record.rs: Record\n    \
         planted/src/machine/record.rs -> planted/src/machine/local.rs: LOCAL_DIR"
    );
}

#[test]
fn a_planted_circle_of_top_level_modules_is_found() {
    let dir = plant(&[
        ("lib.rs", "pub mod ctx;\npub mod executor;\n"),
        ("ctx/mod.rs", "mod fan_out;\npub struct Ctx;\n"),
        ("ctx/fan_out.rs", "fn f() { crate::executor::run() }\n"),
        ("executor/mod.rs", "mod host_run;\npub use host_run::run;\n"),
        (
            "executor/host_run.rs",
            "use crate::ctx::Ctx;\npub fn run(_: Ctx) {}\n",
        ),
    ]);
    let found = circles(dir.path(), &["planted".to_string()]);
    // No file imports one that imports it back: fan_out.rs -> host_run.rs -> ctx/mod.rs, which
    // only declares fan_out.rs as its part.
    let members: Vec<&BTreeSet<String>> = found.iter().map(|c| &c.members).collect();
    let modules: BTreeSet<String> = ["planted::ctx", "planted::executor"]
        .map(String::from)
        .into();
    assert_eq!(members, [&modules]);
    assert_eq!(
        found[0].description,
        "2 imports in a circle:\n  \
         planted::ctx\n    \
         -(planted/src/ctx/fan_out.rs -> planted/src/executor/host_run.rs: run)-> planted::executor\n    \
         -(planted/src/executor/host_run.rs -> planted/src/ctx/mod.rs: Ctx)-> planted::ctx\n  \
         every import inside it:\n    \
         planted::ctx -> planted::executor: planted/src/ctx/fan_out.rs -> planted/src/executor/host_run.rs: run\n    \
         planted::executor -> planted::ctx: planted/src/executor/host_run.rs -> planted/src/ctx/mod.rs: Ctx"
    );
}
