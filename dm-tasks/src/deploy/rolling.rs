//! Going through the app nodes one at a time behind the load balancers, so that a deploy, a
//! rollback or an app restart answers every request (as Kamal and Capistrano users expect).
//!
//! For each node, when another app node serves meanwhile: the load balancers' upstream leaves it
//! out (a graceful nginx reload: requests in flight finish), its open requests drain, the work
//! runs (switch and restart), its app server must answer over HTTP on the node, and the next
//! node's turn puts it back in (one reload for both). At the end every app node of the
//! inventory is back in the upstream. With one app node there is nothing to send requests to
//! meanwhile: the run says that a short outage is unavoidable.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use dm_core::Ctx;
use dm_core::ctx::FanOutResult;
use dm_core::host::Host;
use dm_core::shell_quote;

use super::lock_set::HeldLocks;
use crate::app::AppConfig;
use crate::app::Kind;
use crate::roles::servers_with_role;

/// How long a node's app server may take to answer after a restart.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(60);

/// How long to wait for requests in flight on a node taken out of the upstream.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Whether a node's app must answer over HTTP before it serves again, and how to ask it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Health {
    /// The node serves HTTP: it is behind a load balancer, or the app has a `wsgi` process.
    http: bool,
}

impl Health {
    /// Waits until the app on `ctx`'s host answers `app.health_path` on its private address
    /// and `app.port` with a status below 500 (at most a minute); fails with its last answer.
    /// Does nothing when the node serves no HTTP.
    pub(crate) async fn wait(&self, ctx: &Ctx, app: &AppConfig) -> anyhow::Result<()> {
        if !self.http {
            return Ok(());
        }
        let url = health_url(ctx.host(), app);
        let tries = HEALTH_TIMEOUT.as_millis() / 500;
        let out = ctx
            .run(health_script(&url, tries))
            .quiet()
            .check_safe()
            .allow_failure()
            .await?;
        anyhow::ensure!(
            out.success(),
            "{}: the app does not answer {url} within {} s after the restart: {}; see \
             /var/log/supervisor/{}-*.log",
            ctx.name(),
            HEALTH_TIMEOUT.as_secs(),
            format!("{}{}", out.stdout, out.stderr).trim(),
            app.name
        );
        Ok(())
    }
}

/// `http://ADDRESS:PORT/PATH` of the app on `host` (an IPv6 address in brackets).
fn health_url(host: &Host, app: &AppConfig) -> String {
    let address = crate::private_address(host);
    let address = if address.contains(':') {
        format!("[{address}]")
    } else {
        address
    };
    format!("http://{address}:{}{}", app.port, app.health_path)
}

/// A shell script that asks `url` every 0.5 s, `tries` times at most, until the answer's
/// status is below 500; with python3 (every app node has it) or curl, never through a proxy.
fn health_script(url: &str, tries: u128) -> String {
    const PROBE: &str = "import sys, urllib.request, urllib.error\n\
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))\n\
        try:\n    print(opener.open(sys.argv[1], timeout=5).status)\n\
        except urllib.error.HTTPError as e:\n    print(e.code)\n\
        except Exception as e:\n    print('no answer:', e)\n";
    format!(
        "url={url}\n\
         if command -v python3 >/dev/null; then probe() {{ python3 -c {probe} \"$url\" 2>&1; }}\n\
         elif command -v curl >/dev/null; then probe() {{ curl -s -o /dev/null -w '%{{http_code}}' --max-time 5 --noproxy '*' \"$url\"; }}\n\
         else echo 'neither python3 nor curl is installed to ask the app' >&2; exit 1; fi\n\
         i=0\n\
         while :; do\n\
           answer=$(probe)\n\
           case \"$answer\" in [1-4][0-9][0-9]) echo \"answered $answer\"; exit 0;; esac\n\
           i=$((i+1))\n\
           if [ \"$i\" -ge {tries} ]; then echo \"last answer: $answer\" >&2; exit 1; fi\n\
           sleep 0.5\n\
         done",
        url = shell_quote(url),
        probe = shell_quote(PROBE),
    )
}

/// Runs `work` on each of `nodes` in turn, taking each out of the load balancers meanwhile
/// when another app node can serve (see the module docs), whose deploy locks the run holds
/// (`held`). `what` names the run in messages
/// (`deploy`). `work` gets the node's context and how to check that its app serves; it
/// restarts the app and checks it.
///
/// Stops at the first node whose work fails: a node whose app then does not answer stays out
/// of the load balancers (the error says so); the nodes after it are not touched.
pub(crate) async fn roll<F, Fut>(
    ctx: &Ctx,
    nodes: &[Host],
    held: &HeldLocks,
    what: &str,
    work: F,
) -> anyhow::Result<()>
where
    F: Fn(Ctx, Health) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let work = Arc::new(work);
    let held = held.hosts();
    let balancers: Vec<Host> = servers_with_role(ctx.inventory(), "loadbalancer")
        .into_iter()
        .cloned()
        .collect();
    let upstream = crate::loadbalancer::app_nodes(ctx);
    if balancers.is_empty() {
        ctx.log(format!(
            "{what}: no load balancer in the inventory; the app nodes restart one at a time, each \
             answering before the next"
        ));
    }
    // The node the load balancers currently leave out, if any.
    let mut left_out = false;
    for (index, node) in nodes.iter().enumerate() {
        let behind_balancers =
            !balancers.is_empty() && upstream.iter().any(|h| h.name == node.name);
        let others: Vec<Host> = upstream
            .iter()
            .filter(|h| h.name != node.name)
            .cloned()
            .collect();
        let take_out = behind_balancers && !others.is_empty();
        if behind_balancers && others.is_empty() {
            ctx.log(format!(
                "warning: {} is the only app node behind the load balancers, so requests fail \
                 while its app restarts: a short outage is unavoidable with one app node (`scale \
                 appnode=2` avoids it)",
                node.name
            ));
        }
        if take_out {
            ctx.log(format!(
                "{what}: {} ({} of {}) out of the load balancers",
                node.name,
                index + 1,
                nodes.len()
            ));
            crate::loadbalancer::update_load_balancers(ctx, &others, &[], &held).await?;
            left_out = true;
        } else if left_out {
            crate::loadbalancer::update_load_balancers(ctx, &upstream, &[], &held).await?;
            left_out = false;
        }
        let app_serves_http = AppConfig::of_host(node)?
            .processes
            .values()
            .any(|p| p.kind == Kind::Wsgi);
        let health = Health {
            http: behind_balancers || app_serves_http,
        };
        let node_work = work.clone();
        let outcomes = ctx
            .on_hosts(vec![node.clone()], move |ctx| {
                let node_work = node_work.clone();
                async move {
                    if take_out {
                        let port = AppConfig::from_ctx(&ctx)?.port;
                        crate::loadbalancer::drain(&ctx, port, DRAIN_TIMEOUT).await?;
                    }
                    node_work(ctx, health).await
                }
            })
            .await;
        if let Err(e) = FanOutResult::all_ok(outcomes) {
            let untouched: Vec<&str> = nodes[index + 1..].iter().map(|h| h.name.as_str()).collect();
            let untouched = if untouched.is_empty() {
                String::new()
            } else {
                format!("; not started on {}", untouched.join(", "))
            };
            if !take_out {
                return Err(e.context(format!("{what} stopped at {}{untouched}", node.name)));
            }
            let serving = answers(ctx, node, health).await;
            let place = if serving {
                crate::loadbalancer::update_load_balancers(ctx, &upstream, &[], &held).await?;
                "it answers and is back in the load balancers".to_string()
            } else {
                "its app does not answer, so it stays out of the load balancers (the other app \
                 nodes serve); once it is fixed, `launch loadbalancer` puts it back"
                    .to_string()
            };
            return Err(e.context(format!(
                "{what} stopped at {}: {place}{untouched}",
                node.name
            )));
        }
    }
    if left_out {
        crate::loadbalancer::update_load_balancers(ctx, &upstream, &[], &held).await?;
    }
    Ok(())
}

/// Whether the app on `node` answers now (after its work failed).
async fn answers(ctx: &Ctx, node: &Host, health: Health) -> bool {
    let outcomes = ctx
        .on_hosts(vec![node.clone()], move |ctx| async move {
            if !health.http {
                return Ok(());
            }
            let app = AppConfig::from_ctx(&ctx)?;
            let url = health_url(ctx.host(), &app);
            let out = ctx
                .run(health_script(&url, 4))
                .quiet()
                .allow_failure()
                .await?;
            anyhow::ensure!(out.success(), "{}: no answer from {url}", ctx.name());
            Ok(())
        })
        .await;
    FanOutResult::all_ok(outcomes).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_urls_use_the_private_address_port_and_path() {
        let mut host = Host::new("appnode1", "203.0.113.5");
        let app = AppConfig {
            health_path: "/up".into(),
            ..AppConfig::default()
        };
        assert_eq!(health_url(&host, &app), "http://203.0.113.5:8000/up");
        host.vars.insert(
            "private_address".into(),
            serde_json::Value::String("fd00::12".into()),
        );
        assert_eq!(health_url(&host, &app), "http://[fd00::12]:8000/up");
    }

    #[test]
    fn the_health_script_is_valid_shell() {
        let status = std::process::Command::new("sh")
            .args(["-n", "-c", &health_script("http://10.0.0.1:8000/", 3)])
            .status()
            .expect("sh runs");
        assert!(status.success());
    }

    #[test]
    fn the_health_script_accepts_answers_below_500_only() {
        // The probe is replaced by a fixed answer; the loop decides.
        let run = |answer: &str| {
            let script = health_script("http://127.0.0.1:9/", 2).replace(
                "answer=$(probe)",
                &format!("answer={}", shell_quote(answer)),
            );
            std::process::Command::new("sh")
                .args(["-c", &script])
                .output()
                .expect("sh runs")
                .status
                .success()
        };
        assert!(run("200"));
        assert!(run("404"));
        assert!(!run("502"));
        assert!(!run("no answer: connection refused"));
    }
}
