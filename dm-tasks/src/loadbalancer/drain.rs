//! Draining an app node taken out of the load balancers (before `scale` destroys it, or while a
//! rolling deploy switches it): the load balancer no longer sends it requests, and the ones it
//! sent before finish.

use std::time::{Duration, Instant};

use dm_core::Ctx;

/// How long draining waits at least: nginx's graceful reload hands in-flight requests to the
/// old workers, which may still open a connection to the node right after the reload.
const MIN_DRAIN: Duration = Duration::from_secs(2);

/// Waits on `ctx`'s host until no TCP connection to `port` is established any more (requests in
/// flight), at least 2 s and at most `max`. Returns how many connections were still open when
/// it stopped waiting (0 when drained).
pub(crate) async fn drain(ctx: &Ctx, port: u16, max: Duration) -> anyhow::Result<usize> {
    let started = Instant::now();
    let count = format!("ss -Htn state established '( sport = :{port} )' | wc -l");
    loop {
        let output = ctx.run(count.as_str()).quiet().check_safe().await?;
        let open: usize = output.trimmed().parse().unwrap_or(0);
        let waited = started.elapsed();
        if (open == 0 && waited >= MIN_DRAIN) || waited >= max {
            if open > 0 {
                ctx.log(format!(
                    "{open} connection(s) to port {port} still open after {} s; going on",
                    max.as_secs()
                ));
            }
            return Ok(open);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
