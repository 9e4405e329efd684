//! What a task gets back from fanning out ([`Ctx::on_hosts`], which the executor runs): each
//! host's result.

#[cfg(doc)]
use super::Ctx;

/// How the work on one host of [`Ctx::on_hosts`] ended.
#[derive(Debug)]
pub struct FanOutResult {
    /// The host's name.
    pub host: String,
    /// `Ok` when the work finished; the connection error or the work's own error otherwise.
    pub result: anyhow::Result<()>,
}

impl FanOutResult {
    /// `Ok` when every host's work finished; otherwise one error naming each failed host and why.
    pub fn all_ok(results: Vec<FanOutResult>) -> anyhow::Result<()> {
        let failures: Vec<String> = results
            .into_iter()
            .filter_map(|o| o.result.err().map(|e| format!("{}: {e:#}", o.host)))
            .collect();
        if failures.is_empty() {
            return Ok(());
        }
        Err(anyhow::anyhow!(
            "{} host(s) failed:\n  {}",
            failures.len(),
            failures.join("\n  ")
        ))
    }

    /// This host's result, with the host's name in the error.
    pub fn into_result(self) -> anyhow::Result<()> {
        let host = self.host;
        self.result.map_err(|e| e.context(host))
    }
}
