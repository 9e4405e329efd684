//! Asking the person at the terminal for a key's passphrase.

use std::path::Path;

use crate::ssh::Prompt;

/// Asks on the controlling terminal (`/dev/tty`), without echo. The SSH layer asks at most once
/// per key file and run; the answer is registered for redaction.
#[derive(Debug, Clone, Copy, Default)]
pub struct TerminalPrompt;

impl Prompt for TerminalPrompt {
    fn passphrase(&self, key: &Path) -> Option<String> {
        let answer =
            rpassword::prompt_password(format!("Enter passphrase for key {}: ", key.display()))
                .ok()?;
        crate::redact::register(&answer);
        Some(answer)
    }
}
