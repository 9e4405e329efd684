//! The live reporter: prints each output line whole, prefixed with its host, keeps a progress bar
//! when stderr is a terminal, and records every event for the run's report ([`RunRecord`]).

use std::collections::BTreeSet;
use std::io::Write;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::{RunRecord, RunReport};
use crate::events::{Event, OpStatus, Outcome, Stream};

/// How the reporter shows a run.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReporterOptions {
    /// Collect output for the JSON report instead of printing it.
    pub json: bool,
    /// Do not print command output (the summary still shows errors).
    pub quiet: bool,
    /// `-v`: show each command before it runs.
    pub verbose: u8,
    /// Show a live progress bar on stderr (only sensible when stderr is a terminal).
    pub progress: bool,
    /// Color host prefixes.
    pub color: bool,
}

/// The running reporter; [`Reporter::finish`] stops it and hands over the run's report.
pub struct Reporter {
    stop: oneshot::Sender<()>,
    task: JoinHandle<RunReport>,
}

impl Reporter {
    /// Starts reporting the events arriving on `rx`.
    pub fn start(rx: mpsc::UnboundedReceiver<Event>, options: ReporterOptions) -> Reporter {
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(report(rx, stopped, options));
        Reporter { stop, task }
    }

    /// Prints what is still queued, clears the progress bar and returns the run's report, built
    /// from the events (output lines only in JSON mode). The run's time is counted from the
    /// reporter's start.
    pub async fn finish(self) -> RunReport {
        let _ = self.stop.send(());
        match self.task.await {
            Ok(report) => report,
            // The reporter panicked: nothing it recorded survives.
            Err(e) => {
                tracing::error!("the reporter failed: {e}");
                RunRecord::new(false).into_report(std::time::Duration::ZERO)
            }
        }
    }
}

struct State {
    options: ReporterOptions,
    bar: Option<ProgressBar>,
    running: BTreeSet<String>,
    record: RunRecord,
}

async fn report(
    mut rx: mpsc::UnboundedReceiver<Event>,
    mut stopped: oneshot::Receiver<()>,
    options: ReporterOptions,
) -> RunReport {
    let start = Instant::now();
    let mut state = State {
        options,
        bar: None,
        running: BTreeSet::new(),
        record: RunRecord::new(options.json),
    };
    loop {
        tokio::select! {
            biased;
            event = rx.recv() => match event {
                Some(e) => state.handle(e),
                None => break,
            },
            _ = &mut stopped => {
                while let Ok(e) = rx.try_recv() {
                    state.handle(e);
                }
                break;
            }
        }
    }
    if let Some(bar) = state.bar.take() {
        bar.finish_and_clear();
    }
    state.record.into_report(start.elapsed())
}

impl State {
    fn handle(&mut self, event: Event) {
        self.show(&event);
        self.record.record(&event);
    }

    /// Shows `event` live: output lines, failures, progress.
    fn show(&mut self, event: &Event) {
        match event {
            Event::RunStarted { hosts, .. } => {
                if self.options.progress && !self.options.json {
                    let bar = ProgressBar::with_draw_target(
                        Some(hosts.len() as u64),
                        ProgressDrawTarget::stderr(),
                    );
                    if let Ok(style) =
                        ProgressStyle::with_template("{spinner} {pos}/{len} hosts done {wide_msg}")
                    {
                        bar.set_style(style);
                    }
                    bar.enable_steady_tick(std::time::Duration::from_millis(120));
                    self.bar = Some(bar);
                }
            }
            Event::HostsAdded { hosts } => {
                if let Some(bar) = &self.bar {
                    bar.inc_length(hosts.len() as u64);
                }
            }
            Event::HostStarted { host } => {
                self.running.insert(host.clone());
                self.update_bar();
            }
            Event::HostFinished { host, outcome, .. } => {
                self.running.remove(host);
                if let Some(bar) = &self.bar {
                    bar.inc(1);
                }
                self.show_failure(host, outcome);
                self.update_bar();
            }
            Event::AfterAllHostsDone { host, outcome, .. } => self.show_failure(host, outcome),
            Event::Output { host, stream, line } => {
                // With --json the lines go into the report (the record keeps them) instead.
                if !self.options.json && !self.options.quiet {
                    self.print(*stream, host, line);
                }
            }
            Event::Command { host, command } => {
                if self.options.verbose > 0 && !self.options.json {
                    self.print(Stream::Stderr, host, &format!("$ {command}"));
                }
            }
            Event::CommandSkipped { host, what } => {
                if !self.options.json && !self.options.quiet {
                    // Long generated scripts show their first line only.
                    let first = what.lines().next().unwrap_or_default();
                    let more = if what.lines().nth(1).is_some() {
                        " ..."
                    } else {
                        ""
                    };
                    self.print(
                        Stream::Stdout,
                        host,
                        &format!("not run (--check): {first}{more}"),
                    );
                }
            }
            Event::Operation {
                host,
                name,
                status,
                description,
                diff,
                ..
            } => {
                // Changes and failures always show; operations with nothing to do only with -v.
                let show = !self.options.json
                    && !self.options.quiet
                    && (*status != OpStatus::Ok || self.options.verbose > 0);
                if show {
                    let shown = shown_name(name, self.options.verbose > 0);
                    let mut line = format!("{}: {shown}", status.label());
                    if let Some(d) = description {
                        line.push_str(&format!(": {d}"));
                    }
                    self.print(Stream::Stdout, host, &line);
                    for l in diff.iter().flat_map(|d| d.lines()) {
                        self.print(Stream::Stdout, host, l);
                    }
                }
            }
            Event::Interrupted => {
                if !self.options.json {
                    self.print(
                        Stream::Stderr,
                        "dm",
                        "interrupted: no new hosts start; running ones finish (Ctrl-C again to abort them)",
                    );
                }
            }
        }
    }

    /// Says, on `host`'s line, why it failed (the first line of it), unless in JSON mode.
    fn show_failure(&self, host: &str, outcome: &Outcome) {
        if let (
            Outcome::Failed(m)
            | Outcome::Refused(_, m)
            | Outcome::Unreachable(m)
            | Outcome::Untrusted(m),
            false,
        ) = (outcome, self.options.json)
        {
            let first = m.lines().next().unwrap_or_default();
            self.print(
                Stream::Stderr,
                host,
                &format!("{}: {first}", outcome.label()),
            );
        }
    }

    fn update_bar(&self) {
        if let Some(bar) = &self.bar {
            let names: Vec<&str> = self.running.iter().take(4).map(String::as_str).collect();
            let more = self.running.len().saturating_sub(names.len());
            let mut msg = if names.is_empty() {
                String::new()
            } else {
                format!("running: {}", names.join(", "))
            };
            if more > 0 {
                msg.push_str(&format!(" and {more} more"));
            }
            bar.set_message(msg);
        }
    }

    fn print(&self, stream: Stream, host: &str, line: &str) {
        let line = crate::redact::redact(line);
        let prefix = if self.options.color {
            format!("\x1b[{}m[{host}]\x1b[0m", color_of(host))
        } else {
            format!("[{host}]")
        };
        let write = || match stream {
            Stream::Stdout => {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{prefix} {line}");
            }
            Stream::Stderr => {
                let mut err = std::io::stderr().lock();
                let _ = writeln!(err, "{prefix} {line}");
            }
        };
        match &self.bar {
            Some(bar) => bar.suspend(write),
            None => write(),
        }
    }
}

/// A stable ANSI color per host, so one host's lines are easy to follow.
fn color_of(host: &str) -> u8 {
    const COLORS: [u8; 6] = [36, 32, 33, 35, 34, 96];
    let hash = host
        .bytes()
        .fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(b as usize));
    COLORS[hash % COLORS.len()]
}

/// Longest operation name a reaction's line shows without `-v`.
const REACTION_NAME_SHOWN: usize = 60;

/// How an operation is named on its line: a reaction (`reaction NAME: OPERATION`) whose
/// operation is an internal script (several lines, or long) is named by its reaction name
/// alone, e.g. `reaction reload-sshd`; `-v` (and `--json`) show the whole script.
fn shown_name(name: &str, verbose: bool) -> std::borrow::Cow<'_, str> {
    if verbose {
        return name.into();
    }
    match name
        .strip_prefix("reaction ")
        .and_then(|rest| rest.split_once(": "))
    {
        Some((reaction, op)) if op.contains('\n') || op.chars().count() > REACTION_NAME_SHOWN => {
            format!("reaction {reaction}").into()
        }
        _ => name.into(),
    }
}

#[cfg(test)]
mod shown_name_tests {
    use super::shown_name;

    #[test]
    fn a_reactions_internal_script_is_shown_only_with_verbose() {
        let script = "reaction reload-sshd: command `sshd -t && if systemctl is-active --quiet ssh; \
                      then pid=$(systemctl show -p MainPID --value ssh); systemctl reload ssh; fi`";
        assert_eq!(shown_name(script, false), "reaction reload-sshd");
        assert_eq!(shown_name(script, true), script);
        let multi = "reaction update: command `a\nb`";
        assert_eq!(shown_name(multi, false), "reaction update");
        // A short one-line operation is its own description.
        let short = "reaction reload-nginx: nginx -t and graceful reload";
        assert_eq!(shown_name(short, false), short);
        assert_eq!(shown_name("file /etc/motd", false), "file /etc/motd");
    }
}
