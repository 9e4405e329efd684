//! Validated settings, derived from the raw flags in one place.

use std::path::PathBuf;
use std::time::Duration;

use clap::ArgMatches;

use crate::inventory::LoadOptions;
use crate::report::ReporterOptions;
use crate::ssh::{ConnectOptions, HostKeyPolicy};

/// Everything the global flags say, checked and with defaults applied.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `-H` values.
    pub hosts: Vec<String>,
    /// `-R` values.
    pub roles: Vec<String>,
    /// Where and how to load the inventory.
    pub inventory: LoadOptions,
    /// `-i` key files.
    pub identities: Vec<PathBuf>,
    /// `--known-hosts`.
    pub known_hosts: Option<PathBuf>,
    /// `--accept-new-host-keys`.
    pub accept_new_host_keys: bool,
    /// `--connect-timeout`.
    pub connect_timeout: Duration,
    /// `--keepalive`.
    pub keepalive: Duration,
    /// `--ask-sudo-pass`.
    pub ask_sudo_pass: bool,
    /// `-p`.
    pub parallel: usize,
    /// `--serial`.
    pub serial: Option<usize>,
    /// `-x`.
    pub fail_fast: bool,
    /// `-v` count.
    pub verbose: u8,
    /// `-q`.
    pub quiet: bool,
    /// `--json`.
    pub json: bool,
    /// `--check`: operations plan and report without changing anything.
    pub check: bool,
    /// `--diff`: operations show unified diffs of file contents.
    pub diff: bool,
}

impl Settings {
    /// Reads the global flags of a parsed command line.
    pub fn from_matches(m: &ArgMatches) -> Settings {
        let strings = |id: &str| -> Vec<String> {
            m.get_many::<String>(id)
                .map(|v| v.filter(|s| !s.is_empty()).cloned().collect())
                .unwrap_or_default()
        };
        let secs = |id: &str, default: u64| {
            Duration::from_secs(m.get_one::<u64>(id).copied().unwrap_or(default))
        };
        Settings {
            hosts: strings("hosts"),
            roles: strings("roles"),
            inventory: LoadOptions {
                path: m.get_one::<PathBuf>("inventory").cloned(),
                environment: m.get_one::<String>("env").cloned(),
                ssh_config: m.get_one::<PathBuf>("ssh_config").cloned(),
            },
            identities: m
                .get_many::<PathBuf>("identity")
                .map(|v| v.cloned().collect())
                .unwrap_or_default(),
            known_hosts: m.get_one::<PathBuf>("known_hosts").cloned(),
            accept_new_host_keys: m.get_flag("accept_new_host_keys"),
            connect_timeout: secs("connect_timeout", 10),
            keepalive: secs("keepalive", 5),
            ask_sudo_pass: m.get_flag("ask_sudo_pass"),
            parallel: m.get_one::<usize>("parallel").copied().unwrap_or(64),
            serial: m.get_one::<usize>("serial").copied(),
            fail_fast: m.get_flag("fail_fast"),
            verbose: m.get_count("verbose"),
            quiet: m.get_flag("quiet"),
            json: m.get_flag("json"),
            check: m.get_flag("check"),
            diff: m.get_flag("diff"),
        }
    }

    /// How to connect: flags beat the inventory, which beats the defaults.
    pub fn connect_options(
        &self,
        inventory_known_hosts: Option<&std::path::Path>,
    ) -> ConnectOptions {
        let mut opts = ConnectOptions::default();
        if let Some(path) = self
            .known_hosts
            .clone()
            .or_else(|| inventory_known_hosts.map(PathBuf::from))
        {
            opts.known_hosts = path;
            opts.known_hosts_given = true;
        }
        opts.host_key_policy = if self.accept_new_host_keys {
            HostKeyPolicy::AcceptNew
        } else {
            HostKeyPolicy::Strict
        };
        opts.extra_identity_files = self.identities.clone();
        opts.connect_timeout = self.connect_timeout;
        opts.keepalive_interval = self.keepalive;
        opts.prompt = Some(std::sync::Arc::new(crate::prompt::TerminalPrompt));
        opts
    }

    /// How to show the run; the progress bar only for several hosts on a terminal.
    pub fn reporter_options(&self, hosts: usize) -> ReporterOptions {
        use std::io::IsTerminal;
        let tty = std::io::stderr().is_terminal();
        ReporterOptions {
            json: self.json,
            quiet: self.quiet,
            verbose: self.verbose,
            progress: tty && hosts > 1 && !self.json,
            color: tty && std::env::var_os("NO_COLOR").is_none(),
        }
    }
}
