//! `~/.ssh/config`: the settings `ssh <host>` would use, so that dm reaches a host the same way the
//! user's own `ssh` does. Only what dm connects with is read: HostName, User, Port, IdentityFile,
//! ProxyJump, UserKnownHostsFile and GlobalKnownHostsFile. `Match` blocks are ignored (their
//! conditions cannot be evaluated here).

use std::collections::HashSet;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use ssh2_config::{ParseRule, SshConfig};

use crate::error::Error;
use crate::ssh::identity::home_dir;

/// A parsed ssh config file.
#[derive(Debug, Clone)]
pub(crate) struct SshConfigFile {
    path: PathBuf,
    config: SshConfig,
    /// `Host` patterns without wildcards or negation: names `ssh NAME` knows as aliases.
    aliases: HashSet<String>,
}

/// What an ssh config says about one host; `None` where it says nothing.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct SshParams {
    /// `HostName`, with `%h` expanded.
    pub host_name: Option<String>,
    /// `User`.
    pub user: Option<String>,
    /// `Port`.
    pub port: Option<u16>,
    /// `IdentityFile`s, `~` expanded, in the order ssh would try them.
    pub identity_files: Option<Vec<PathBuf>>,
    /// `ProxyJump` hops in order (first is reached first); empty for `ProxyJump none`.
    pub proxy_jump: Option<Vec<String>>,
    /// `UserKnownHostsFile`s, `~` and `%d` expanded; empty for `none`.
    pub user_known_hosts: Option<Vec<PathBuf>>,
    /// `GlobalKnownHostsFile`s, `~` and `%d` expanded; empty for `none`.
    pub global_known_hosts: Option<Vec<PathBuf>>,
}

/// `~/.ssh/config`, if it exists.
pub(crate) fn default_path() -> Option<PathBuf> {
    let path = home_dir()?.join(".ssh").join("config");
    path.is_file().then_some(path)
}

impl SshConfigFile {
    /// Reads and parses `path`. Directives this parser does not know (`Match`, `ControlMaster`,
    /// ...) are skipped rather than refused: the file is the user's real ssh config and ssh
    /// accepts it.
    pub fn load(path: &Path) -> Result<SshConfigFile, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::SshConfig {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        Self::parse(&text, path)
    }

    /// Parses ssh config `text`; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<SshConfigFile, Error> {
        let config = parse_config(text).map_err(|e| Error::SshConfig {
            path: path.to_path_buf(),
            message: match error_line(text) {
                Some(line) => format!("line {line}: {e}; fix the file or point dm at another one"),
                None => format!("{e}; fix the file or point dm at another one"),
            },
        })?;
        let aliases = config
            .get_hosts()
            .iter()
            .flat_map(|h| &h.pattern)
            .filter(|c| !c.negated && !c.pattern.contains(['*', '?']))
            .map(|c| c.pattern.clone())
            .collect();
        Ok(SshConfigFile {
            path: path.to_path_buf(),
            config,
            aliases,
        })
    }

    /// The file, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether a `Host` line names `name` literally (so `ssh name` means something).
    pub fn has_alias(&self, name: &str) -> bool {
        self.aliases.contains(name)
    }

    /// The settings `ssh host` would use.
    pub fn query(&self, host: &str) -> SshParams {
        let params = self.config.query(host);
        // The parser keeps the directives it does not model by their lowercase name; the first
        // value found wins, as in ssh.
        let files = |field: &str| {
            params
                .unsupported_fields
                .get(field)
                .map(|args| known_hosts_paths(args))
        };
        let user_known_hosts = files("userknownhostsfile");
        let global_known_hosts = files("globalknownhostsfile");
        SshParams {
            user_known_hosts,
            global_known_hosts,
            host_name: params.host_name.map(|h| expand_tokens(&h, host)),
            user: params.user,
            port: params.port,
            identity_files: params.identity_file,
            proxy_jump: params.proxy_jump.map(|hops| {
                let hops: Vec<String> = hops
                    .into_iter()
                    .map(|h| h.trim().to_string())
                    .filter(|h| !h.is_empty())
                    .collect();
                if hops.len() == 1 && hops[0].eq_ignore_ascii_case("none") {
                    Vec::new()
                } else {
                    hops
                }
            }),
        }
    }
}

fn parse_config(text: &str) -> Result<SshConfig, ssh2_config::SshParserError> {
    let mut config = SshConfig::default();
    if let Some(home) = home_dir() {
        config = config.home_dir(home);
    }
    config.parse(
        &mut BufReader::new(without_match_blocks(text).as_bytes()),
        ParseRule::ALLOW_UNKNOWN_FIELDS | ParseRule::ALLOW_UNSUPPORTED_FIELDS,
    )
}

/// `text` with each `Match` line turned into a `Host` line that matches nothing.
///
/// The parser does not know `Match`: skipping just the line would add the block's settings to the
/// block before it. dm cannot evaluate Match conditions, so it ignores those blocks entirely
/// (one line in, one line out, so error line numbers stay right). `Include`d files are parsed as
/// they are.
fn without_match_blocks(text: &str) -> String {
    text.lines()
        .map(|line| {
            let keyword = line
                .trim_start()
                .split(|c: char| c.is_whitespace() || c == '=')
                .next()
                .unwrap_or_default();
            if keyword.eq_ignore_ascii_case("match") {
                "Host !*"
            } else {
                line
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The 1-based line of the first error in `text`. The parser does not say where it failed, so
/// growing prefixes of the file are parsed until one fails (only on the error path; ssh configs
/// are short).
fn error_line(text: &str) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    (1..=lines.len()).find(|&n| parse_config(&lines[..n].join("\n")).is_err())
}

/// The files of a `UserKnownHostsFile` or `GlobalKnownHostsFile` directive: whitespace-separated
/// (the parser may keep them as one argument), `~` and `%d` (the home directory) expanded, none
/// for `none`.
fn known_hosts_paths(args: &[String]) -> Vec<PathBuf> {
    let words: Vec<&str> = args.iter().flat_map(|a| a.split_whitespace()).collect();
    if words.len() == 1 && words[0].eq_ignore_ascii_case("none") {
        return Vec::new();
    }
    let home = home_dir().unwrap_or_default();
    words
        .into_iter()
        .map(|word| {
            let word = word.trim_matches('"');
            let expanded = word.replace("%d", &home.display().to_string());
            match expanded.strip_prefix("~/") {
                Some(rest) => home.join(rest),
                None => PathBuf::from(expanded),
            }
        })
        .collect()
}

/// Expands the `%h` (host as given) and `%%` tokens ssh allows in `HostName`.
fn expand_tokens(value: &str, host: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match (c, chars.clone().next()) {
            ('%', Some('h')) => {
                out.push_str(host);
                chars.next();
            }
            ('%', Some('%')) => {
                out.push('%');
                chars.next();
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> SshConfigFile {
        SshConfigFile::parse(text, Path::new("ssh_config")).unwrap()
    }

    #[test]
    fn reads_the_known_hosts_files_of_a_host() {
        let home = home_dir().unwrap_or_default();
        let cfg = parse(
            "Host web\n  UserKnownHostsFile /etc/dm/web_hosts ~/.ssh/web_hosts\n  \
             GlobalKnownHostsFile none\n\
             Host *\n  UserKnownHostsFile %d/.ssh/all_hosts\n  GlobalKnownHostsFile /etc/dm/global\n",
        );
        let web = cfg.query("web");
        assert_eq!(
            web.user_known_hosts,
            Some(vec![
                PathBuf::from("/etc/dm/web_hosts"),
                home.join(".ssh/web_hosts")
            ])
        );
        assert_eq!(web.global_known_hosts, Some(Vec::new()));
        let db = cfg.query("db");
        assert_eq!(
            db.user_known_hosts,
            Some(vec![PathBuf::from(format!(
                "{}/.ssh/all_hosts",
                home.display()
            ))])
        );
        assert_eq!(
            db.global_known_hosts,
            Some(vec![PathBuf::from("/etc/dm/global")])
        );
        assert_eq!(
            parse("Host web\n  User u\n").query("web").user_known_hosts,
            None
        );
    }

    #[test]
    fn reads_hostname_user_port_identity_and_proxyjump() {
        let cfg = parse(
            "Host web\n  HostName 10.231.0.7\n  User deploy\n  Port 2200\n  IdentityFile /keys/web\n  ProxyJump admin@gw:2201\n",
        );
        assert_eq!(
            cfg.query("web"),
            SshParams {
                host_name: Some("10.231.0.7".into()),
                user: Some("deploy".into()),
                port: Some(2200),
                identity_files: Some(vec![PathBuf::from("/keys/web")]),
                proxy_jump: Some(vec!["admin@gw:2201".into()]),
                ..SshParams::default()
            }
        );
        assert_eq!(cfg.query("other"), SshParams::default());
    }

    #[test]
    fn first_value_wins_like_ssh() {
        let cfg = parse("Host web\n  User first\nHost *\n  User second\n  Port 2222\n");
        let params = cfg.query("web");
        assert_eq!(params.user.as_deref(), Some("first"));
        assert_eq!(params.port, Some(2222));
    }

    #[test]
    fn percent_h_in_hostname_is_the_host_given() {
        let cfg = parse("Host *.int\n  HostName %h.example.test\n");
        assert_eq!(
            cfg.query("db.int").host_name.as_deref(),
            Some("db.int.example.test")
        );
    }

    #[test]
    fn proxyjump_none_means_no_jump() {
        let cfg = parse("Host web\n  ProxyJump none\nHost *\n  ProxyJump gw\n");
        assert_eq!(cfg.query("web").proxy_jump, Some(Vec::new()));
    }

    #[test]
    fn unknown_directives_are_skipped() {
        let cfg = parse("Host web\n  ControlMaster auto\n  FrobnicateLevel 3\n  User u\n");
        assert_eq!(cfg.query("web").user.as_deref(), Some("u"));
    }

    #[test]
    fn match_blocks_are_ignored() {
        let cfg = parse("Host web\n  User u\nMatch host web exec \"true\"\n  User m\n  Port 2\n");
        let params = cfg.query("web");
        assert_eq!(params.user.as_deref(), Some("u"));
        assert_eq!(params.port, None);
    }

    #[test]
    fn literal_host_patterns_are_aliases() {
        let cfg = parse("Host gw jump !bad *.int\n  User u\n");
        assert!(cfg.has_alias("gw"));
        assert!(cfg.has_alias("jump"));
        assert!(!cfg.has_alias("bad"));
        assert!(!cfg.has_alias("*.int"));
    }

    #[test]
    fn unparseable_config_names_the_file() {
        let text = "Host web\n  User u\n  Port many\n  User v\n";
        let msg = SshConfigFile::parse(text, Path::new("/x/cfg"))
            .unwrap_err()
            .to_string();
        assert!(
            msg.starts_with("cannot use ssh config /x/cfg: line 3: expected port number"),
            "{msg}"
        );
    }
}
