//! The `serve` task: `serve` runs the server; `serve user add NAME`, `serve token create NAME
//! [--expires 30d]` and `serve token revoke ID` manage who may use it.
//!
//! Registered by hand rather than with `#[task]` (whose crate, `dm`, stands above this one), as a
//! `local` task: it runs once, on this machine, like any task the command line starts.

use std::net::SocketAddr;
use std::path::PathBuf;

use axum::serve::ListenerExt;
use clap::{Arg, ArgAction, ArgMatches, value_parser};
use dm_core::task::TaskFuture;
use dm_core::{Ctx, Error, TaskDef};
use tokio_util::sync::CancellationToken;

use crate::api::{self, AppState};
use crate::listen::{DEFAULT_LISTEN, ListenRequest};
use crate::queue::Queue;
use crate::runner::RunEnv;
use crate::store::{self, Store, now_ms};

/// The help of `serve`.
const DOC: &str = "Serve this fabfile's tasks as a REST API of queued jobs (`serve`), or manage its users and tokens

`serve` listens on 127.0.0.1:2718 (`--listen` elsewhere; beyond loopback only with \
`--tls-cert`/`--tls-key` or `--behind-proxy`) and keeps its jobs in dm-serve.sqlite next to \
dm.toml. Every request needs a token: `serve user add NAME`, then `serve token create NAME \
[--expires 30d]` (shown once), `serve token revoke ID`. Running a task needs a rule that allows \
it: `serve user allow NAME 'production:deploy'` (patterns with `*`), `serve user deny NAME \
'production:destroy'` (deny wins); `serve user admin NAME` lets it read the audit log. SIGTERM or Ctrl-C stops taking requests \
and lets running jobs finish.";

fn args() -> Vec<Arg> {
    vec![
        Arg::new("command")
            .value_name("COMMAND")
            .num_args(0..)
            .action(ArgAction::Append)
            .help(
                "Nothing to serve; `user add NAME`, `user allow|deny NAME ENV:TASK`, \
                 `user admin|no-admin NAME`, `token create NAME`, `token revoke ID`",
            ),
        Arg::new("listen")
            .long("listen")
            .value_name("ADDR:PORT")
            .help(format!("Where to listen [default: {DEFAULT_LISTEN}]")),
        Arg::new("tls_cert")
            .long("tls-cert")
            .value_name("PEM")
            .value_parser(value_parser!(PathBuf))
            .help("Certificate chain to serve HTTPS with (with --tls-key)"),
        Arg::new("tls_key")
            .long("tls-key")
            .value_name("PEM")
            .value_parser(value_parser!(PathBuf))
            .help("Private key of --tls-cert"),
        Arg::new("behind_proxy")
            .long("behind-proxy")
            .action(ArgAction::SetTrue)
            .help("A proxy in front terminates TLS: listen beyond loopback without it"),
        Arg::new("database")
            .long("database")
            .value_name("FILE")
            .value_parser(value_parser!(PathBuf))
            .help(
                "SQLite file of jobs, users and tokens [default: dm-serve.sqlite next to dm.toml]",
            ),
        Arg::new("expires")
            .long("expires")
            .value_name("LIFETIME")
            .help("With `token create`: the token stops working after this long (30d, 12h, 90m)"),
    ]
}

fn run<'a>(ctx: &'a Ctx, matches: &'a ArgMatches) -> TaskFuture<'a> {
    Box::pin(serve(ctx, matches))
}

inventory::submit! {
    TaskDef {
        name: crate::TASK_NAME,
        doc: DOC,
        roles: &[],
        serial: None,
        parallel: None,
        once: false,
        local: true,
        hosts_arg: None,
        args,
        run,
        module_path: module_path!(),
    }
}

/// A usage error: the command line is wrong (exit code 2).
fn usage(message: impl Into<String>) -> anyhow::Error {
    Error::Usage {
        message: message.into(),
    }
    .into()
}

/// The store's failure, naming its file.
fn store_error(path: &std::path::Path, e: store::StoreError) -> anyhow::Error {
    anyhow::anyhow!("the job database {}: {e}", path.display())
}

async fn serve(ctx: &Ctx, matches: &ArgMatches) -> anyhow::Result<()> {
    let words: Vec<&str> = matches
        .get_many::<String>("command")
        .map(|v| v.map(String::as_str).collect())
        .unwrap_or_default();
    let database = matches
        .get_one::<PathBuf>("database")
        .cloned()
        .unwrap_or_else(|| {
            let dir = ctx
                .inventory()
                .path()
                .and_then(|p| p.parent())
                .filter(|d| !d.as_os_str().is_empty())
                .map_or_else(|| PathBuf::from("."), PathBuf::from);
            dir.join(store::DEFAULT_FILE)
        });
    match words.as_slice() {
        [] => run_server(ctx, matches, &database).await,
        ["user", "add", name] => {
            let store = open(&database).await?;
            if store
                .add_user(name)
                .await
                .map_err(|e| store_error(&database, e))?
            {
                ctx.log(format!(
                    "user {name} added: `serve token create {name}` makes its token"
                ));
                Ok(())
            } else {
                Err(usage(format!("user {name} exists already")))
            }
        }
        ["user", verb @ ("allow" | "deny"), name, pattern] => {
            crate::permissions::check_pattern(pattern).map_err(usage)?;
            let rule = crate::permissions::Rule {
                effect: if *verb == "allow" {
                    crate::permissions::Effect::Allow
                } else {
                    crate::permissions::Effect::Deny
                },
                pattern: pattern.to_string(),
            };
            let store = open(&database).await?;
            if store
                .add_rule(name, &rule)
                .await
                .map_err(|e| store_error(&database, e))?
            {
                ctx.log(format!("{name}: {rule}"));
                Ok(())
            } else {
                Err(usage(format!(
                    "no user {name}: `serve user add {name}` adds it first"
                )))
            }
        }
        ["user", verb @ ("admin" | "no-admin"), name] => {
            let admin = *verb == "admin";
            let store = open(&database).await?;
            if store
                .set_admin(name, admin)
                .await
                .map_err(|e| store_error(&database, e))?
            {
                ctx.log(if admin {
                    format!("{name} is an admin: it reads the audit log")
                } else {
                    format!("{name} is no longer an admin")
                });
                Ok(())
            } else {
                Err(usage(format!(
                    "no user {name}: `serve user add {name}` adds it first"
                )))
            }
        }
        ["token", "create", name] => {
            let lifetime = match matches.get_one::<String>("expires") {
                Some(text) => Some(crate::auth::parse_lifetime(text).map_err(usage)?),
                None => None,
            };
            let store = open(&database).await?;
            let token = crate::auth::generate().map_err(|e| {
                usage(format!(
                    "cannot draw random bytes for a token from the operating system: {e}"
                ))
            })?;
            let expires_at = lifetime.map(|ms| now_ms().saturating_add(ms));
            let added = store
                .add_token(name, &token.id, &token.secret_sha256, expires_at)
                .await
                .map_err(|e| store_error(&database, e))?;
            if !added {
                return Err(usage(format!(
                    "no user {name}: `serve user add {name}` adds it first"
                )));
            }
            ctx.log(format!(
                "token {} for {name} (shown once; revoke with `serve token revoke {}`):\n{}",
                token.id, token.id, token.token
            ));
            Ok(())
        }
        ["token", "revoke", id] => {
            let store = open(&database).await?;
            let id = crate::auth::split(id).map_or(*id, |(id, _)| id);
            if store
                .revoke_token(id)
                .await
                .map_err(|e| store_error(&database, e))?
            {
                ctx.log(format!("token {id} revoked"));
                Ok(())
            } else {
                Err(usage(format!("no token {id} that is not revoked already")))
            }
        }
        _ => Err(usage(format!(
            "`serve {}`: serve takes nothing (run the server), `user add NAME`, \
             `user allow|deny NAME ENV:TASK`, `user admin|no-admin NAME`, \
             `token create NAME [--expires 30d]` or `token revoke ID`",
            words.join(" ")
        ))),
    }
}

async fn open(database: &std::path::Path) -> anyhow::Result<Store> {
    Store::open(database)
        .await
        .map_err(|e| store_error(database, e))
}

async fn run_server(
    ctx: &Ctx,
    matches: &ArgMatches,
    database: &std::path::Path,
) -> anyhow::Result<()> {
    let request = ListenRequest {
        listen: matches.get_one::<String>("listen").cloned(),
        tls_cert: matches.get_one::<PathBuf>("tls_cert").cloned(),
        tls_key: matches.get_one::<PathBuf>("tls_key").cloned(),
        behind_proxy: matches.get_flag("behind_proxy"),
    };
    let plan = request.plan().map_err(usage)?;
    let acceptor = match &plan.tls {
        Some((cert, key)) => Some(crate::tls::acceptor(cert, key).map_err(usage)?),
        None => None,
    };
    let store = open(database).await?;
    let interrupted = store
        .interrupt_leftovers()
        .await
        .map_err(|e| store_error(database, e))?;
    for id in &interrupted {
        ctx.log(format!(
            "job {id} was running when the server stopped: now interrupted"
        ));
    }
    let mut connect = ctx.connect_options().clone();
    // A job has no terminal to ask a key's passphrase on.
    connect.prompt = None;
    let env = RunEnv {
        inventory: ctx.inventory().path().map(std::path::Path::to_path_buf),
        connect,
        store,
        changed: tokio::sync::watch::channel(0).0,
    };
    let queue = Queue::new(env);
    let shutdown = CancellationToken::new();
    let scheduler = tokio::spawn(queue.clone().schedule(shutdown.clone()));
    let listener = tokio::net::TcpListener::bind(plan.addr)
        .await
        .map_err(|e| usage(format!("cannot listen on {}: {e}", plan.addr)))?;
    let addr = listener.local_addr().unwrap_or(plan.addr);
    let scheme = if acceptor.is_some() { "https" } else { "http" };
    ctx.log(format!(
        "listening on {scheme}://{addr} (jobs in {})",
        database.display()
    ));
    let app = api::router(AppState {
        queue: queue.clone(),
        shutdown: shutdown.clone(),
        failed_logins: Default::default(),
    })
    .into_make_service_with_connect_info::<SocketAddr>();
    // `tap_io` gives both listeners axum's client-address plumbing (`ConnectInfo`).
    let served = match acceptor {
        None => {
            axum::serve(listener.tap_io(|_| ()), app)
                .with_graceful_shutdown(stop_signal(shutdown.clone()))
                .await
        }
        Some(acceptor) => {
            let tls = crate::tls::TlsListener::new(listener, acceptor)
                .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
            axum::serve(tls.tap_io(|_| ()), app)
                .with_graceful_shutdown(stop_signal(shutdown.clone()))
                .await
        }
    };
    shutdown.cancel();
    ctx.log("stopping: no new jobs start; waiting for running ones to finish");
    let _ = scheduler.await;
    served.map_err(|e| anyhow::anyhow!("the server on {addr} failed: {e}"))
}

/// Waits for SIGTERM or Ctrl-C, then cancels `shutdown`.
async fn stop_signal(shutdown: CancellationToken) {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::warn!("cannot watch SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = term => {}
        _ = tokio::signal::ctrl_c() => {}
        () = shutdown.cancelled() => {}
    }
    shutdown.cancel();
}
