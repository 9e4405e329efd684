//! [`Reload`]: `nginx -t`, then a graceful reload that returns once the new configuration is live.

use dm_core::ops::{Action, Change, Fact, FactOptions, OpError, Operation, Plan, Simulation};

/// The reaction that runs [`Reload`]: `nginx -t`, then a graceful reload (old workers finish their requests), or a start when nginx
/// is not running. A failing test fails the reaction and nothing is reloaded.
///
/// `systemctl reload` only signals nginx; the reaction waits (up to 10 s) until nginx runs
/// workers started after the signal and every old worker has stopped accepting connections
/// (its title says "shutting down"; it may still finish requests in flight), so that when the
/// step returns new connections get the new configuration (a node removed from the upstream
/// gets no new requests). When nginx could not apply it (e.g. a port already taken), the
/// reaction fails with the end of nginx's error log.
pub fn reload_reaction() -> Reload {
    Reload
}

/// `nginx -t`, then a graceful reload (see [`reload_reaction`]); as an operation it always runs,
/// so use it as a reaction.
#[derive(Debug, Clone, Copy, Default)]
pub struct Reload;

impl Operation for Reload {
    fn name(&self) -> String {
        "nginx -t and graceful reload".to_string()
    }

    fn fact_script(&self, _options: &FactOptions) -> String {
        ":".to_string()
    }

    fn plan(&self, _fact: &Fact, _sim: &mut Simulation) -> Result<Plan, OpError> {
        Ok(Plan::Change(Change::new(
            "test, reload, wait for the new workers",
            Action::shell(RELOAD_SCRIPT),
        )))
    }
}

const RELOAD_SCRIPT: &str = r#"set -e
nginx -t -q
if ! systemctl is-active --quiet nginx; then systemctl start nginx; exit 0; fi
master=$(cat /run/nginx.pid)
workers() {
  for stat in /proc/[0-9]*/stat; do
    read -r pid comm state ppid rest 2>/dev/null < "$stat" || continue
    if [ "$ppid" = "$master" ]; then echo "$pid"; fi
  done
}
old=$(workers | tr '\n' ' ')
systemctl reload nginx
tries=0
while :; do
  started=
  for pid in $(workers); do
    case " $old " in *" $pid "*) ;; *) started=1 ;; esac
  done
  serving=
  for pid in $old; do
    if [ -r "/proc/$pid/cmdline" ] && ! grep -qa 'shutting down' "/proc/$pid/cmdline" 2>/dev/null; then serving=1; fi
  done
  if [ -n "$started" ] && [ -z "$serving" ]; then exit 0; fi
  tries=$((tries + 1))
  if [ "$tries" -ge 100 ]; then
    echo "nginx did not switch to the new configuration within 10 s of the reload; the end of /var/log/nginx/error.log:" >&2
    tail -n 5 /var/log/nginx/error.log >&2 || true
    exit 1
  fi
  sleep 0.1
done"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reload_script_is_valid_shell() {
        let status = std::process::Command::new("sh")
            .args(["-n", "-c", RELOAD_SCRIPT])
            .status()
            .expect("sh runs");
        assert!(status.success());
    }
}
