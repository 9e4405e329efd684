//! Shell lines that run as the app's user, in a directory.

use dm_core::shell_quote;

/// A shell line (for `ctx.sudo`) running `command` with `sh -c` as `user`, in `dir`, with
/// `HOME` and `USER` of that user.
///
/// `runuser` keeps root's `HOME`; tools run by builds (pip, npm) write caches there, so the
/// user's own home is set explicitly. Everything else of the environment passes through: give
/// the app's environment with `ctx.envs(app.env_strings())`, which reaches the command on its
/// standard input rather than on a command line that `ps` shows and sudo logs.
pub fn as_user(user: &str, dir: &str, command: &str) -> String {
    let u = shell_quote(user);
    let mut line =
        format!("runuser -u {u} -- env HOME=\"$(getent passwd {u} | cut -d: -f6)\" USER={u}");
    let script = format!("cd {} && {command}", shell_quote(dir));
    line.push_str(" sh -c ");
    line.push_str(&shell_quote(&script));
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_in_the_directory() {
        let line = as_user("shop", "/srv/shop/releases/1", "make && echo ok");
        assert!(line.starts_with("runuser -u shop -- env HOME="), "{line}");
        assert!(
            line.ends_with("sh -c 'cd /srv/shop/releases/1 && make && echo ok'"),
            "{line}"
        );
    }
}
