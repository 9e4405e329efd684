//! Applying many changes in one command, with per-change markers.
//!
//! Each change (a *unit*: one operation, or several adjacent apt operations merged into one apt
//! call) runs in its own `set -e` subshell between marker lines on stdout and stderr. The first
//! unit that fails stops the script; the markers say which units ran, which found nothing to do
//! at apply time (`dm_unchanged`), which failed with what status, and what each wrote to stderr.
//! Reactions are units with a trigger: they run only if a unit that notifies them changed.
//!
//! Contents travel on the command's standard input after the script. A unit whose input is a
//! large local file runs in a command of its own, streaming that file; the others share one.

use super::error::OpError;
use super::shell::{self, Data, Effect, RunAs};
use super::{Action, Input};
use crate::ctx::Ctx;

/// One change to apply.
#[derive(Debug, Clone)]
pub(crate) struct Unit {
    /// The shell fragment and its input.
    pub action: Action,
    /// When it runs.
    pub trigger: Trigger,
}

/// When a unit runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Trigger {
    /// Always (when the units before it succeeded).
    Always,
    /// Only if one of these units (indices into the same unit list) changed something.
    IfChanged(Vec<usize>),
}

/// How a unit ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum UnitResult {
    /// It ran and changed something.
    Done,
    /// It ran and found nothing to do (`dm_unchanged`).
    Unchanged,
    /// It failed.
    Failed {
        /// `exit status N`.
        status: String,
        /// What it wrote to stderr.
        stderr: String,
    },
    /// Its trigger did not fire.
    NotTriggered,
    /// It did not run: an earlier unit failed, or the command broke off.
    NotRun,
}

/// Local files larger than this are streamed in a command of their own instead of being held in
/// memory with the other changes.
pub(crate) const INLINE_LIMIT: u64 = 8 * 1024 * 1024;

/// Whether a unit runs in a command of its own (its input is a large local file).
fn streams_alone(unit: &Unit) -> bool {
    matches!(unit.action.input, Some(Input::File { .. }))
}

/// The script running `units` (indices `first..`) with markers; the preamble defines
/// `dm_unchanged` and the trigger variables.
fn script(token: &str, units: &[(usize, &Unit, Trigger)]) -> String {
    let mut s = format!(
        "T='{token}'\n\
         dm_u=$(mktemp -d) || exit 1\n\
         trap 'rm -rf \"$dm_u\"' EXIT\n\
         dm_unchanged() {{ : > \"$dm_u/$DM_I\"; }}\n"
    );
    for (i, unit, trigger) in units {
        let body = format!(
            "DM_I={i}\n\
             printf '\\n%s begin %s\\n' \"$T\" {i}; printf '\\n%s begin %s\\n' \"$T\" {i} >&2\n\
             ( set -e\n{script}\n){stdin}\n\
             dm_rc=$?\n\
             if [ $dm_rc -ne 0 ]; then printf '\\n%s failed %s %s\\n' \"$T\" {i} \"$dm_rc\"; exit 1; fi\n\
             if [ -e \"$dm_u/{i}\" ]; then printf '\\n%s unchanged %s\\n' \"$T\" {i}; \
             else dm_c_{i}=1; printf '\\n%s done %s\\n' \"$T\" {i}; fi\n",
            script = unit.action.script,
            stdin = if unit.action.input.is_some() {
                ""
            } else {
                " </dev/null"
            },
        );
        match trigger {
            Trigger::Always => s.push_str(&body),
            Trigger::IfChanged(from) => {
                let vars: String = from.iter().map(|j| format!("${{dm_c_{j}:-}}")).collect();
                s.push_str(&format!(
                    "if [ -n \"{vars}\" ]; then\n{body}else printf '\\n%s skipped %s\\n' \"$T\" {i}; fi\n"
                ));
            }
        }
    }
    s.push_str("printf '\\n%s end\\n' \"$T\"\n");
    s
}

/// Reads the markers of one command into `results`; returns whether the end marker came.
fn parse(token: &str, stdout: &str, stderr: &str, results: &mut [UnitResult]) -> bool {
    let mut ended = false;
    let mut errs: Vec<String> = vec![String::new(); results.len()];
    let mut current = None;
    for line in stderr.lines() {
        if let Some(rest) = line
            .strip_prefix(token)
            .and_then(|r| r.strip_prefix(" begin "))
        {
            current = rest.parse::<usize>().ok().filter(|&i| i < results.len());
        } else if let Some(i) = current {
            errs[i].push_str(line);
            errs[i].push('\n');
        }
    }
    for line in stdout.lines() {
        let Some(rest) = line.strip_prefix(token).and_then(|r| r.strip_prefix(' ')) else {
            continue;
        };
        let words: Vec<&str> = rest.split(' ').collect();
        let index = words
            .get(1)
            .and_then(|i| i.parse::<usize>().ok())
            .filter(|&i| i < results.len());
        match (words.first().copied(), index) {
            (Some("end"), _) => ended = true,
            (Some("done"), Some(i)) => results[i] = UnitResult::Done,
            (Some("unchanged"), Some(i)) => results[i] = UnitResult::Unchanged,
            (Some("skipped"), Some(i)) => results[i] = UnitResult::NotTriggered,
            (Some("failed"), Some(i)) => {
                results[i] = UnitResult::Failed {
                    status: format!("exit status {}", words.get(2).unwrap_or(&"?")),
                    stderr: std::mem::take(&mut errs[i]),
                }
            }
            _ => {}
        }
    }
    ended
}

/// What applying a list of units did.
#[derive(Debug)]
pub(crate) struct Applied {
    /// One result per unit, in order.
    pub results: Vec<UnitResult>,
    /// When a command broke off without a unit failing: how it ended and its stderr.
    pub broken: Option<(String, String)>,
}

/// Applies `units` in order, as `run_as`: in one command, or a few when large files are
/// streamed.
pub(crate) async fn apply(ctx: &Ctx, run_as: RunAs, units: &[Unit]) -> Result<Applied, OpError> {
    let mut results = vec![UnitResult::NotRun; units.len()];
    let mut start = 0;
    while start < units.len() {
        let end = if streams_alone(&units[start]) {
            start + 1
        } else {
            (start..units.len())
                .find(|&i| streams_alone(&units[i]))
                .unwrap_or(units.len())
        };
        // Triggers on units of earlier commands are known by now.
        let mut segment = Vec::new();
        for (i, unit) in units.iter().enumerate().take(end).skip(start) {
            let trigger = match &unit.trigger {
                Trigger::Always => Trigger::Always,
                Trigger::IfChanged(from) => {
                    if from
                        .iter()
                        .any(|&j| j < start && results[j] == UnitResult::Done)
                    {
                        Trigger::Always
                    } else {
                        let here: Vec<usize> =
                            from.iter().copied().filter(|&j| j >= start).collect();
                        if here.is_empty() {
                            results[i] = UnitResult::NotTriggered;
                            continue;
                        }
                        Trigger::IfChanged(here)
                    }
                }
            };
            segment.push((i, unit, trigger));
        }
        if segment.is_empty() {
            start = end;
            continue;
        }
        let token = shell::token();
        let text = script(&token, &segment);
        let data = match (&segment[0].1.action.input, segment.len()) {
            (Some(Input::File { path, .. }), 1) => Data::File(path.clone()),
            _ => {
                let mut bytes = Vec::new();
                for (_, unit, _) in &segment {
                    if let Some(Input::Bytes(b)) = &unit.action.input {
                        bytes.extend_from_slice(b);
                    }
                }
                Data::Bytes(bytes)
            }
        };
        let label = format!(
            "[apply {} change{}]",
            segment.len(),
            if segment.len() == 1 { "" } else { "s" }
        );
        let out = shell::run_script(ctx, run_as, &text, data, &label, Effect::Changes).await?;
        let ended = parse(&token, &out.stdout, &out.stderr, &mut results);
        let failed = results
            .iter()
            .any(|r| matches!(r, UnitResult::Failed { .. }));
        if failed {
            return Ok(Applied {
                results,
                broken: None,
            });
        }
        if !ended || !out.success() {
            return Ok(Applied {
                results,
                broken: Some((out.status.to_string(), out.stderr)),
            });
        }
        start = end;
    }
    Ok(Applied {
        results,
        broken: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn unit(script: &str) -> Unit {
        Unit {
            action: Action::shell(script),
            trigger: Trigger::Always,
        }
    }

    /// Runs the batch script locally under sh with the inline inputs on stdin.
    fn run_local(units: &[Unit]) -> Vec<UnitResult> {
        use std::io::Write;
        let token = "@@dm-t";
        let segment: Vec<_> = units
            .iter()
            .enumerate()
            .map(|(i, u)| (i, u, u.trigger.clone()))
            .collect();
        let text = script(token, &segment);
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(&text)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("sh");
        let mut stdin = child.stdin.take().expect("stdin");
        for u in units {
            if let Some(Input::Bytes(b)) = &u.action.input {
                stdin.write_all(b).expect("write");
            }
        }
        drop(stdin);
        let out = child.wait_with_output().expect("wait");
        let mut results = vec![UnitResult::NotRun; units.len()];
        parse(
            token,
            &String::from_utf8_lossy(&out.stdout),
            &String::from_utf8_lossy(&out.stderr),
            &mut results,
        );
        results
    }

    #[test]
    fn a_failing_unit_stops_the_rest_and_keeps_its_stderr() {
        let results = run_local(&[
            unit("echo one"),
            unit("echo to stderr >&2; printf 'no newline' >&2; false; echo never"),
            unit("echo three"),
        ]);
        assert_eq!(results[0], UnitResult::Done);
        assert_eq!(
            results[1],
            UnitResult::Failed {
                status: "exit status 1".into(),
                stderr: "to stderr\nno newline\n".into()
            }
        );
        assert_eq!(results[2], UnitResult::NotRun);
    }

    #[test]
    fn inputs_are_read_in_order_and_unchanged_is_reported() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path().display();
        let a = Unit {
            action: Action::with_input(
                format!("head -c 3 > {d}/a"),
                Input::Bytes(Arc::from(&b"abc"[..])),
            ),
            trigger: Trigger::Always,
        };
        let b = Unit {
            action: Action::with_input(
                format!("head -c 2 > {d}/b"),
                Input::Bytes(Arc::from(&b"de"[..])),
            ),
            trigger: Trigger::Always,
        };
        let c = unit("dm_unchanged; exit 0");
        let results = run_local(&[a, unit("cat; echo reads-nothing"), b, c]);
        assert_eq!(
            results,
            [
                UnitResult::Done,
                UnitResult::Done,
                UnitResult::Done,
                UnitResult::Unchanged
            ]
        );
        assert_eq!(std::fs::read(dir.path().join("a")).expect("a"), b"abc");
        assert_eq!(std::fs::read(dir.path().join("b")).expect("b"), b"de");
    }

    #[test]
    fn reactions_run_only_when_a_notifier_changed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path().display();
        let units = [
            unit("dm_unchanged"),
            unit("true"),
            Unit {
                action: Action::shell(format!("touch {d}/r1")),
                trigger: Trigger::IfChanged(vec![0]),
            },
            Unit {
                action: Action::shell(format!("touch {d}/r2")),
                trigger: Trigger::IfChanged(vec![0, 1]),
            },
        ];
        let results = run_local(&units);
        assert_eq!(results[2], UnitResult::NotTriggered);
        assert_eq!(results[3], UnitResult::Done);
        assert!(!dir.path().join("r1").exists());
        assert!(dir.path().join("r2").exists());
    }
}
