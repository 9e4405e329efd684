//! A task may return any `Result<(), E>` whose error converts into `anyhow::Error`.

use dm::prelude::*;

#[derive(Debug)]
struct DeployError;

impl std::fmt::Display for DeployError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("deploy failed")
    }
}

impl std::error::Error for DeployError {}

/// `Result` of the prelude is `anyhow::Result`.
#[task]
async fn with_anyhow(_ctx: &Ctx) -> Result<()> {
    Ok(())
}

#[task]
async fn with_io_error(_ctx: &Ctx) -> std::result::Result<(), std::io::Error> {
    Ok(())
}

#[task]
async fn with_own_error(_ctx: &Ctx) -> std::result::Result<(), DeployError> {
    Err(DeployError)
}

#[test]
fn tasks_returning_any_error_that_converts_into_anyhow_are_registered() {
    for name in ["with-anyhow", "with-io-error", "with-own-error"] {
        assert!(dm::task::find(name).is_some(), "{name}");
    }
}
