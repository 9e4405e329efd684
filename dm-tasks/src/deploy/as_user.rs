//! Shell lines that run as the app's user, in a directory, with the app's environment.

use std::collections::BTreeMap;

use dm_core::shell_quote;

/// A shell line (for `ctx.sudo`) running `command` with `sh -c` as `user`, in `dir`, with `env`
/// on top of `HOME` and `USER` of that user.
///
/// `runuser` keeps root's `HOME`; tools run by builds (pip, npm) write caches there, so the
/// user's own home is set explicitly.
pub fn as_user(user: &str, dir: &str, env: &BTreeMap<String, String>, command: &str) -> String {
    let u = shell_quote(user);
    let mut line =
        format!("runuser -u {u} -- env HOME=\"$(getent passwd {u} | cut -d: -f6)\" USER={u}");
    for (key, value) in env {
        line.push(' ');
        line.push_str(&shell_quote(&format!("{key}={value}")));
    }
    let script = format!("cd {} && {command}", shell_quote(dir));
    line.push_str(" sh -c ");
    line.push_str(&shell_quote(&script));
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_in_the_directory_with_the_environment() {
        let env = BTreeMap::from([("MODE".to_string(), "a b".to_string())]);
        let line = as_user("shop", "/srv/shop/releases/1", &env, "make && echo ok");
        assert!(line.starts_with("runuser -u shop -- env HOME="), "{line}");
        assert!(line.contains("'MODE=a b'"), "{line}");
        assert!(
            line.ends_with("sh -c 'cd /srv/shop/releases/1 && make && echo ok'"),
            "{line}"
        );
    }
}
