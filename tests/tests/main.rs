//! dm end to end against real local Debian machines (systemd-nspawn in network namespaces): the CLI,
//! SSH, operations, the standard library's tasks, the local provider and the testing API.
//!
//! One module per behaviour, all in one test binary: every test binary links all of dm, and one
//! binary per file filled CI's disk. Run one module with `cargo test -p dm-tests --test integration
//! std_nginx::`.

// Tests and their helpers: a panic is the test's failure, with the helper's message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod ops_support;

/// dm-providers' fake cloud and DNS APIs (dns_follow, dns_scale), on 127.0.0.1.
#[path = "../../dm-providers/tests/fake/mod.rs"]
mod fake;

mod demo;
mod dns_follow;
mod dns_scale;
mod dns_support;
mod e2e_check;
mod e2e_cli_errors;
mod e2e_context;
mod e2e_exit_codes;
mod e2e_failures;
mod e2e_host_keys;
mod e2e_key_passphrase;
mod e2e_output_bounds;
mod e2e_parallel;
mod e2e_proxy_jump;
mod e2e_secrets;
mod e2e_selection;
mod e2e_shell;
mod e2e_ssh_config;
mod e2e_sudo;
mod e2e_targets;
mod e2e_transfer;
mod first_deployment;
mod harness;
mod import_circles;
mod ops_apt;
mod ops_command;
mod ops_converge;
mod ops_cron;
mod ops_failures;
mod ops_files;
mod ops_git;
mod ops_login_user;
mod ops_service;
mod ops_sysctl;
mod ops_users;
mod provider_cloud;
mod provider_environments;
mod provider_local;
mod quickstart;
mod sec_links;
mod serve_api;
mod std_deploy;
mod std_launch;
mod std_logs;
mod std_maintenance;
mod std_nginx;
mod std_postgres;
mod std_provision;
mod std_python;
mod std_redis;
mod std_rolling;
mod std_supervisor;
mod testing_api;
