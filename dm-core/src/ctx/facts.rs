//! Basic facts about a host, gathered in one round trip and cached for the run.

use super::Ctx;
use crate::error::Error;

/// What dm knows about a host's system.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Facts {
    /// `ID` from /etc/os-release, e.g. `debian`.
    pub os: String,
    /// `VERSION_ID` from /etc/os-release, e.g. `12`.
    pub os_version: String,
    /// `uname -m`, e.g. `x86_64`.
    pub arch: String,
    /// The host's own hostname.
    pub hostname: String,
    /// `uname -r`.
    pub kernel: String,
}

const GATHER: &str = ". /etc/os-release 2>/dev/null; \
    printf '%s\\n' \"${ID:-unknown}\" \"${VERSION_ID:-}\" \"$(uname -m)\" \"$(uname -n)\" \"$(uname -r)\"";

impl Facts {
    fn parse(stdout: &str) -> Facts {
        let mut lines = stdout.lines().map(|l| l.trim().to_string());
        let mut next = || lines.next().unwrap_or_default();
        Facts {
            os: next(),
            os_version: next(),
            arch: next(),
            hostname: next(),
            kernel: next(),
        }
    }
}

impl Ctx {
    /// The host's facts (os, version, arch, hostname, kernel), gathered once per run.
    pub async fn facts(&self) -> Result<&Facts, Error> {
        self.facts
            .get_or_try_init(|| async {
                let out = self.run(GATHER).quiet().check_safe().await?;
                Ok(Facts::parse(&out.stdout))
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::Facts;

    #[test]
    fn facts_parse_in_order() {
        let f = Facts::parse("debian\n12\nx86_64\nweb1\n6.1.0\n");
        assert_eq!(f.os, "debian");
        assert_eq!(f.os_version, "12");
        assert_eq!(f.arch, "x86_64");
        assert_eq!(f.hostname, "web1");
    }

    #[test]
    fn gather_script_runs_under_sh() {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(super::GATHER)
            .output()
            .expect("sh");
        let f = Facts::parse(&String::from_utf8_lossy(&out.stdout));
        assert!(!f.arch.is_empty() && !f.hostname.is_empty(), "{f:?}");
    }
}
