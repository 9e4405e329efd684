//! `scripts/demo`: dm's main job on local machines, start to finish.
//!
//! Boots three local Debian machines (a load balancer and two app nodes, real systemd and sshd in
//! network namespaces), writes their inventory, drives the quickstart fabfile against them as a
//! user would from a shell, and tears the machines down again.

use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::Instant;

use dm_core::testing::Fleet;

fn main() -> ExitCode {
    let quickstart = match std::env::args().nth(1).map(std::fs::canonicalize) {
        Some(Ok(path)) => path.display().to_string(),
        Some(Err(e)) => {
            eprintln!("error: cannot find the quickstart binary: {e}");
            return ExitCode::from(2);
        }
        None => {
            eprintln!("usage: demo PATH/TO/quickstart (scripts/demo passes it)");
            return ExitCode::from(2);
        }
    };
    let start = Instant::now();
    eprintln!("== booting local machines lb1, appnode1, appnode2");
    let fleet = match Fleet::builder()
        .machine("lb1", &["loadbalancer"])
        .machine("appnode1", &["appnode"])
        .machine("appnode2", &["appnode"])
        .boot()
    {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: cannot boot the demo machines: {e}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!("   booted in {:.1}s", start.elapsed().as_secs_f64());
    let inventory = fleet.dir().join("dm.toml");
    if let Err(e) = std::fs::write(&inventory, fleet.inventory_toml()) {
        eprintln!("error: cannot write {}: {e}", inventory.display());
        return ExitCode::FAILURE;
    }
    eprintln!(
        "== inventory {}:\n{}",
        inventory.display(),
        fleet.inventory_toml()
    );
    let steps: [&[&str]; 4] = [
        &["--list"],
        &["health"],
        &["facts"],
        &["-R", "appnode", "restart", "ssh"],
    ];
    for args in steps {
        if !step(&quickstart, fleet.dir(), args) {
            return ExitCode::FAILURE;
        }
    }
    eprintln!(
        "== done in {:.1}s; tearing the machines down",
        start.elapsed().as_secs_f64()
    );
    ExitCode::SUCCESS
}

fn step(quickstart: &str, dir: &Path, args: &[&str]) -> bool {
    eprintln!("\n$ quickstart {}", args.join(" "));
    match Command::new(quickstart)
        .args(args)
        .current_dir(dir)
        .status()
    {
        Ok(s) if s.success() => true,
        Ok(s) => {
            eprintln!("error: `quickstart {}` failed: {s}", args.join(" "));
            false
        }
        Err(e) => {
            eprintln!("error: cannot run {quickstart}: {e}");
            false
        }
    }
}
