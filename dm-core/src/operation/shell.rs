//! Running a generated script as root, with the bytes it reads, in one command.
//!
//! Scripts of a step can be long (every operation's fact script, every change), longer than a
//! command line may be. So the command line only reads the script from standard input and runs
//! it: `s=$(head -c N) && eval "$s"`; the script's own inputs (file contents) follow it on the same
//! standard input, read by the script with `head -c`, which never reads past its count.

use std::path::PathBuf;

use crate::ctx::{Ctx, Output, Stdin};

use super::error::OpError;

/// What follows the script on standard input.
pub(crate) enum Data {
    /// The script reads nothing.
    None,
    /// These bytes.
    Bytes(Vec<u8>),
    /// A large local file, streamed (the script goes on the command line then).
    File(PathBuf),
}

/// Whether a script only reads the host (fact gathering, which `--check` needs to plan) or
/// changes it (applying, which `--check` never runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Effect {
    ReadsOnly,
    Changes,
}

/// Whom a step's scripts (facts and changes) run as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum RunAs {
    /// root: through sudo unless logged in as root.
    #[default]
    Root,
    /// The login user itself, never through sudo ([`crate::operation::Step::as_login_user`]).
    LoginUser,
}

/// Runs `script` as `run_as`, quietly, and returns its output whatever its exit status.
/// `label` is what `-v` shows. A script that changes the host does not run under `--check`
/// (see [`crate::ctx::Run::check_safe`]).
pub(crate) async fn run_script(
    ctx: &Ctx,
    run_as: RunAs,
    script: &str,
    data: Data,
    label: &str,
    effect: Effect,
) -> Result<Output, OpError> {
    let command = |line: String| match run_as {
        RunAs::Root => ctx.sudo(line),
        RunAs::LoginUser => ctx.run(line),
    };
    let run = match data {
        Data::None | Data::Bytes(_) => {
            let mut stdin = script.as_bytes().to_vec();
            if let Data::Bytes(b) = data {
                stdin.extend_from_slice(&b);
            }
            let line = format!("dm_s=$(head -c {}) && eval \"$dm_s\"", script.len());
            command(line).stdin(stdin)
        }
        Data::File(path) => command(script.to_string()).stdin_source(Stdin::File(path)),
    };
    let run = run.quiet().allow_failure().shown_as(label);
    let run = match effect {
        Effect::ReadsOnly => run.check_safe(),
        Effect::Changes => run,
    };
    Ok(run.await?)
}

/// A marker token no file content or command output will contain by chance: 128 random bits.
pub(crate) fn token() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut out = String::from("@@dm-");
    for i in 0..2u64 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(i);
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default(),
        );
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_differ() {
        let (a, b) = (super::token(), super::token());
        assert_ne!(a, b);
        assert!(a.starts_with("@@dm-") && a.len() == 37, "{a}");
    }

    #[test]
    fn head_c_leaves_the_rest_of_stdin_to_the_script() {
        use std::io::Write;
        let script = "read -r first; printf 'got:%s\\n' \"$first\"";
        let line = format!("dm_s=$(head -c {}) && eval \"$dm_s\"", script.len());
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(line)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("sh");
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(format!("{script}data line\n").as_bytes())
            .expect("write");
        drop(stdin);
        let out = child.wait_with_output().expect("wait");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "got:data line\n");
    }
}
