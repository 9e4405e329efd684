//! Which Debian mirror to build machines from: the one this machine's APT already uses, read at run
//! time, so the harness never names a mirror host itself and works behind whatever mirror or
//! snapshot the machine is configured for.

use std::path::{Path, PathBuf};

use super::error::Error;

/// One APT source: a URI and the suites fetched from it.
#[derive(Debug, PartialEq)]
struct Source {
    uri: String,
    suites: Vec<String>,
}

/// The main Debian archive URI from this machine's APT sources.
pub fn debian_mirror() -> Result<String, Error> {
    let mut files: Vec<PathBuf> = vec![PathBuf::from("/etc/apt/sources.list")];
    if let Ok(entries) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut more: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        more.sort();
        files.extend(more);
    }
    let mut sources = Vec::new();
    for file in &files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        match file.extension().and_then(|e| e.to_str()) {
            Some("sources") => sources.extend(parse_deb822(&text)),
            Some("list") => sources.extend(parse_one_line(&text)),
            _ => {}
        }
    }
    pick_main_archive(&sources).ok_or_else(|| Error::NoMirror {
        searched: files
            .iter()
            .map(|f| display(f))
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// A path for messages.
fn display(path: &Path) -> String {
    path.display().to_string()
}

/// The main archive is the source that serves a release suite (`bookworm`, `stable`: no `-` in
/// the name, unlike `bookworm-security` or `bookworm-updates`) over a protocol debootstrap fetches.
fn pick_main_archive(sources: &[Source]) -> Option<String> {
    sources
        .iter()
        .filter(|s| {
            ["http://", "https://", "file:/"]
                .iter()
                .any(|p| s.uri.starts_with(p))
        })
        .find(|s| {
            s.suites
                .iter()
                .any(|suite| !suite.contains('-') && !suite.contains('/'))
        })
        .map(|s| s.uri.trim_end_matches('/').to_string())
}

/// Parses deb822 `.sources` stanzas with `Types: deb`.
fn parse_deb822(text: &str) -> Vec<Source> {
    let mut sources = Vec::new();
    for stanza in text.split("\n\n") {
        let mut types = Vec::new();
        let mut uris = Vec::new();
        let mut suites = Vec::new();
        let mut enabled = true;
        for line in stanza.lines().filter(|l| !l.trim_start().starts_with('#')) {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let words = || {
                value
                    .split_whitespace()
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            };
            match key.trim().to_ascii_lowercase().as_str() {
                "types" => types = words(),
                "uris" => uris = words(),
                "suites" => suites = words(),
                "enabled" => enabled = !value.trim().eq_ignore_ascii_case("no"),
                _ => {}
            }
        }
        if enabled && types.iter().any(|t| t == "deb") {
            sources.extend(uris.into_iter().map(|uri| Source {
                uri,
                suites: suites.clone(),
            }));
        }
    }
    sources
}

/// Parses one-line `deb [options] URI SUITE COMPONENTS...` entries.
fn parse_one_line(text: &str) -> Vec<Source> {
    let mut sources = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let Some(rest) = line.strip_prefix("deb ") else {
            continue;
        };
        let rest = rest.trim_start();
        // Options in brackets come before the URI and may contain spaces.
        let rest = match rest.strip_prefix('[') {
            Some(options) => options.split_once(']').map_or("", |(_, after)| after),
            None => rest,
        };
        let mut words = rest.split_whitespace();
        if let (Some(uri), Some(suite)) = (words.next(), words.next()) {
            sources.push(Source {
                uri: uri.to_string(),
                suites: vec![suite.to_string()],
            });
        }
    }
    sources
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deb822_picks_the_release_suite_not_security() {
        let text = "Types: deb\nURIs: http://sec.example/debian-security\nSuites: bookworm-security\n\
                    Components: main\n\nTypes: deb\n# comment\nURIs: http://main.example/debian/\n\
                    Suites: bookworm bookworm-updates\nComponents: main\n";
        let sources = parse_deb822(text);
        assert_eq!(
            pick_main_archive(&sources).as_deref(),
            Some("http://main.example/debian")
        );
    }

    #[test]
    fn one_line_format_with_options_and_deb_src() {
        let text = "deb-src http://src.example/debian bookworm main\n\
                    deb [arch=amd64 signed-by=/k.gpg] http://main.example/debian bookworm main\n";
        let sources = parse_one_line(text);
        assert_eq!(
            pick_main_archive(&sources).as_deref(),
            Some("http://main.example/debian")
        );
    }

    #[test]
    fn disabled_stanzas_and_cdroms_are_ignored() {
        let text = "Types: deb\nURIs: http://off.example/debian\nSuites: bookworm\nEnabled: no\n\n\
                    Types: deb\nURIs: cdrom:/media\nSuites: bookworm\n";
        assert_eq!(pick_main_archive(&parse_deb822(text)), None);
    }
}
