//! A user task named `secrets` clashes with the built-in command: it is refused with a message
//! that says how to fix it (rather than a clap panic on the duplicate subcommand).

// Tests and their helpers: a panic is the test's failure, with the helper's message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::ExitCode;

use dm_core::task::{TaskDef, TaskFuture};

fn no_args() -> Vec<clap::Arg> {
    Vec::new()
}

fn nothing<'a>(_: &'a dm_core::Ctx, _: &'a clap::ArgMatches) -> TaskFuture<'a> {
    Box::pin(async { Ok(()) })
}

inventory::submit! {
    TaskDef {
        name: "secrets",
        doc: "A user task that takes the built-in's name.",
        roles: &[],
        serial: None,
        parallel: None,
        once: false,
        local: true,
        hosts_arg: None,
        args: no_args,
        run: nothing,
        module_path: module_path!(),
    }
}

#[test]
fn the_clash_is_named_with_where_the_task_is_and_how_to_rename_it() {
    let msg = dm_core::cli::secrets::name_clash(&dm_core::task::registered()).expect("clash");
    assert!(msg.contains("built-in `secrets` command"), "{msg}");
    assert!(
        msg.contains("secrets_reserved_name"),
        "names where the task is: {msg}"
    );
    assert!(msg.contains("#[task(name ="), "says how to rename: {msg}");
}

#[tokio::test]
async fn a_command_line_with_the_clash_ends_with_the_usage_exit_code_not_a_panic() {
    let args = ["fabfile", "secrets", "show", "production"].map(std::ffi::OsString::from);
    let code = dm_core::cli::run(args.to_vec()).await;
    assert_eq!(format!("{code:?}"), format!("{:?}", ExitCode::from(2)));
}
