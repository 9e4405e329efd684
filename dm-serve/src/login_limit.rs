//! Failed logins slowed down per client address.
//!
//! Tokens are 256 random bits, so guessing one is hopeless; the limit is defence in depth, and
//! keeps a client that presents a wrong token in a loop (a misconfigured CI job, a scanner) from
//! filling the audit log and the CPU with hash comparisons. After [`FailedLogins::LIMIT`]
//! refused tokens from one address within [`FailedLogins::WINDOW`], that address gets `429 Too
//! Many Requests` (with `Retry-After`) without its token being looked at, until the window
//! that began with its first failure ends. Behind a proxy every client shares the proxy's
//! address, and so one budget.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Refused logins per client address, in fixed windows.
#[derive(Debug, Default)]
pub struct FailedLogins {
    windows: Mutex<HashMap<IpAddr, Window>>,
}

/// The failures of one address since `started`.
#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    failures: u32,
}

/// Addresses remembered before the expired ones are swept (bounds the memory a scan of many
/// addresses can take).
const SWEEP_ABOVE: usize = 4096;

impl FailedLogins {
    /// Refused logins an address may have in one window.
    pub const LIMIT: u32 = 10;
    /// How long an address's failures count.
    pub const WINDOW: Duration = Duration::from_secs(60);

    /// How long `address` must wait before its next login is looked at, if it is blocked now.
    pub fn blocked(&self, address: IpAddr, now: Instant) -> Option<Duration> {
        let windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let window = windows.get(&address)?;
        let ends = window.started + Self::WINDOW;
        (window.failures >= Self::LIMIT && now < ends).then(|| ends - now)
    }

    /// Counts a refused login of `address`.
    pub fn failed(&self, address: IpAddr, now: Instant) {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if windows.len() > SWEEP_ABOVE {
            windows.retain(|_, w| now < w.started + Self::WINDOW);
        }
        let window = windows.entry(address).or_insert(Window {
            started: now,
            failures: 0,
        });
        if now >= window.started + Self::WINDOW {
            *window = Window {
                started: now,
                failures: 0,
            };
        }
        window.failures = window.failures.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const TWO: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));

    #[test]
    fn an_address_is_blocked_after_the_limit_until_its_window_ends() {
        let limits = FailedLogins::default();
        let start = Instant::now();
        for _ in 0..FailedLogins::LIMIT - 1 {
            limits.failed(ONE, start);
        }
        assert_eq!(limits.blocked(ONE, start), None);
        limits.failed(ONE, start);
        let later = start + Duration::from_secs(20);
        assert_eq!(limits.blocked(ONE, later), Some(Duration::from_secs(40)));
        // Another address has its own budget.
        assert_eq!(limits.blocked(TWO, later), None);
        // The window ends: the address may try again, with a fresh budget.
        let after = start + FailedLogins::WINDOW;
        assert_eq!(limits.blocked(ONE, after), None);
        limits.failed(ONE, after);
        assert_eq!(limits.blocked(ONE, after), None);
    }

    #[test]
    fn expired_windows_are_swept_when_many_addresses_failed() {
        let limits = FailedLogins::default();
        let start = Instant::now();
        for i in 0..=SWEEP_ABOVE as u32 {
            limits.failed(IpAddr::V4(std::net::Ipv4Addr::from(i)), start);
        }
        limits.failed(ONE, start + FailedLogins::WINDOW);
        let kept = limits.windows.lock().unwrap().len();
        assert_eq!(kept, 1, "only the fresh window is kept");
    }
}
