//! From the raw file to resolved [`Host`]s: checking every reference, picking the environment,
//! inferring roles, layering vars, applying overrides and `~/.ssh/config`, following proxy jumps.

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use toml::Spanned;

use super::destination::{Destination, looks_like_address};
use super::file::{EnvironmentFile, InventoryFile, ServerFile};
use super::name::{check_address, check_server_name};
use super::operator::expand_path;
use super::reach::{Defaults, Jump, Reach, Settings};
use super::source::Source;
use super::ssh_config::SshConfigFile;
use super::vars;
use crate::error::{Error, suggest};
use crate::host::{Host, Vars};

/// Everything the inventory knows once resolved for one environment.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    /// The active environment.
    pub environment: Option<String>,
    /// Every environment defined, sorted.
    pub environments: Vec<String>,
    /// `[defaults] known_hosts`, expanded.
    pub known_hosts: Option<PathBuf>,
    /// The servers of the active environment, in inventory order (natural name order).
    pub servers: Vec<Host>,
    /// Every server defined, in any environment.
    pub all_servers: BTreeSet<String>,
    /// Every role any server has in any environment, and every `[roles]` entry.
    pub known_roles: BTreeSet<String>,
    /// Global vars layered with the active environment's vars.
    pub vars: Vars,
    /// Defaults and ssh config, to reach hosts that are not servers.
    pub reach: Reach,
    /// `[defaults] proxy_jump`, resolved, for hosts that are not servers.
    pub default_jump: Jump,
}

/// The role a server is in when it lists none: its name without trailing digits and the `-`/`_`
/// before them (`appnode1`, `appnode-2`, `appnode_3` → `appnode`); `None` for an all-digit name.
pub fn inferred_role(name: &str) -> Option<String> {
    let stem = name
        .trim_end_matches(|c: char| c.is_ascii_digit())
        .trim_end_matches(['-', '_']);
    (!stem.is_empty()).then(|| stem.to_string())
}

/// Orders names the way people number servers: `appnode2` before `appnode10`.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    fn chunks(s: &str) -> Vec<(bool, &str)> {
        let mut out = Vec::new();
        let mut start = 0;
        let mut digits = None;
        for (i, c) in s.char_indices() {
            let d = c.is_ascii_digit();
            if digits.is_some_and(|prev| prev != d) {
                out.push((digits == Some(true), &s[start..i]));
                start = i;
            }
            digits = Some(d);
        }
        if start < s.len() {
            out.push((digits == Some(true), &s[start..]));
        }
        out
    }
    let (ca, cb) = (chunks(a), chunks(b));
    for (x, y) in ca.iter().zip(&cb) {
        let ord = match (x, y) {
            ((true, x), (true, y)) => {
                let (x, y) = (x.trim_start_matches('0'), y.trim_start_matches('0'));
                x.len().cmp(&y.len()).then_with(|| x.cmp(y))
            }
            ((_, x), (_, y)) => x.cmp(y),
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    ca.len().cmp(&cb.len()).then_with(|| a.cmp(b))
}

/// Checks `file` and resolves it for `environment` (the `-E` value; `None` uses
/// `default_environment`, or no environment at all).
pub(crate) fn resolve(
    file: &InventoryFile,
    src: &Source<'_>,
    environment: Option<&str>,
    ssh: Option<SshConfigFile>,
) -> Result<Resolved, Error> {
    let base_dir = src.path.parent().filter(|p| !p.as_os_str().is_empty());
    let active = active_environment(file, src, environment)?;
    let env = active
        .as_deref()
        .and_then(|name| file.environments.get(name));
    let known_roles = check(file, src, ssh.as_ref())?;
    let reach = Reach {
        defaults: Defaults {
            user: file.defaults.user.clone(),
            port: file.defaults.port.as_ref().map(|p| *p.get_ref()),
            identity_files: identity_files(
                src,
                base_dir,
                &file.defaults.identity_file,
                &file.defaults.identity_files,
            )?,
        },
        ssh,
    };
    let mut resolver = Resolver::new(file, src, env, base_dir, &reach)?;
    let vars = resolver.inventory_vars();
    let servers = resolver.environment_servers()?;
    let default_jump = resolver.default_jump()?;
    Ok(Resolved {
        environment: active,
        environments: environment_names(file),
        known_hosts: file
            .defaults
            .known_hosts
            .as_deref()
            .map(|p| expand_path(p, base_dir)),
        servers,
        all_servers: server_names(file).into_iter().collect(),
        known_roles,
        vars,
        reach,
        default_jump,
    })
}

fn environment_names(file: &InventoryFile) -> Vec<String> {
    file.environments
        .keys()
        .map(|k| k.get_ref().clone())
        .collect()
}

/// The environment a run uses: `-E`'s, else `default_environment`, else none. Both must name an
/// `[environments.*]` table.
fn active_environment(
    file: &InventoryFile,
    src: &Source<'_>,
    environment: Option<&str>,
) -> Result<Option<String>, Error> {
    let environments = environment_names(file);
    if let Some(default) = &file.default_environment
        && !file.environments.contains_key(default.get_ref().as_str())
    {
        return Err(src.error(
            default.span(),
            format!(
                "default_environment `{}` is not defined{}; add an [environments.{}] table or fix the name",
                default.get_ref(),
                defined(&environments, "environments", default.get_ref()),
                default.get_ref()
            ),
        ));
    }
    match environment {
        Some(name) => {
            if !file.environments.contains_key(name) {
                return Err(Error::UnknownEnvironment {
                    name: name.to_string(),
                    inventory: src.path.display().to_string(),
                    known: environments,
                });
            }
            Ok(Some(name.to_string()))
        }
        None => Ok(file
            .default_environment
            .as_ref()
            .map(|d| d.get_ref().clone())),
    }
}

/// Checks the servers, every environment and the roles (whichever environment is used: a
/// mistake should not wait for the day its environment is); returns the roles there are.
fn check(
    file: &InventoryFile,
    src: &Source<'_>,
    ssh: Option<&SshConfigFile>,
) -> Result<BTreeSet<String>, Error> {
    check_servers(file, src, ssh)?;
    for (name, environment) in &file.environments {
        check_environment(file, src, name.get_ref(), environment)?;
    }
    let known_roles = known_roles(file);
    check_roles(file, src, &known_roles)?;
    Ok(known_roles)
}

fn in_environment(env: Option<&EnvironmentFile>, name: &str) -> bool {
    match env.and_then(|e| e.servers.as_ref()) {
        Some(list) => list.iter().any(|s| s.get_ref() == name),
        None => true,
    }
}

/// ` (defined: a, b)` or ` (none are defined)`, with a did-you-mean when one is close.
fn defined(names: &[String], what: &str, wrong: &str) -> String {
    let list = if names.is_empty() {
        format!(" (no {what} are defined)")
    } else {
        format!(" (defined: {})", names.join(", "))
    };
    match suggest(wrong, names.iter().map(String::as_str)) {
        Some(s) => format!("{list}; did you mean `{s}`?"),
        None => list,
    }
}

fn server_names(file: &InventoryFile) -> Vec<String> {
    file.servers.keys().map(|k| k.get_ref().clone()).collect()
}

/// Field checks that do not depend on the environment, for servers and every override.
fn check_servers(
    file: &InventoryFile,
    src: &Source<'_>,
    ssh: Option<&SshConfigFile>,
) -> Result<(), Error> {
    if let Some(port) = &file.defaults.port {
        check_port(src, port)?;
    }
    if let Some(jump) = &file.defaults.proxy_jump {
        check_jump_word(file, src, ssh, jump)?;
    }
    // Names and addresses end up in config files (nginx upstreams, pg_hba) and command lines:
    // anything but a hostname or an address is refused here, where the line is known.
    for name in file.servers.keys() {
        if let Err(why) = check_server_name(name.get_ref()) {
            return Err(src.error(
                name.span(),
                format!("server name {why}; rename the [servers.NAME] table"),
            ));
        }
    }
    let overrides = file
        .environments
        .values()
        .flat_map(|e| e.overrides.values());
    for server in file.servers.values().map(Spanned::get_ref).chain(overrides) {
        if let Some(port) = &server.port {
            check_port(src, port)?;
        }
        if let Some(address) = &server.address
            && address.get_ref().trim().is_empty()
        {
            return Err(src.error(
                address.span(),
                "address is empty; remove it to connect to the server's name, or write an IP address or DNS name",
            ));
        }
        if let Some(address) = &server.address
            && let Err(why) = check_address(address.get_ref().trim())
        {
            return Err(src.error(address.span(), format!("address {why}")));
        }
        if let (Some(_), Some(many)) = (&server.identity_file, &server.identity_files) {
            return Err(both_identity_error(src, many));
        }
        if let Some(jump) = &server.proxy_jump {
            check_jump_word(file, src, ssh, jump)?;
        }
    }
    Ok(())
}

fn check_port(src: &Source<'_>, port: &Spanned<u16>) -> Result<(), Error> {
    if *port.get_ref() == 0 {
        return Err(src.error(port.span(), "port 0 is not a port; use 1-65535"));
    }
    Ok(())
}

fn both_identity_error(src: &Source<'_>, many: &Spanned<Vec<String>>) -> Error {
    src.error(
        many.span(),
        "both identity_file and identity_files are set; keep one (identity_files takes a list)",
    )
}

/// A bare word in `proxy_jump` (no dot, colon or `@`) must be a server's name: `bastoin` is a
/// typo, not a host name. `none`, `localhost` and ssh config aliases are the exceptions.
/// Checked for every server and override, whichever environment is active.
fn check_jump_word(
    file: &InventoryFile,
    src: &Source<'_>,
    ssh: Option<&SshConfigFile>,
    spec: &Spanned<String>,
) -> Result<(), Error> {
    let word = spec.get_ref().trim();
    if looks_like_address(word)
        || word.eq_ignore_ascii_case("none")
        || word == "localhost"
        || file.servers.contains_key(word)
        || ssh.is_some_and(|s| s.has_alias(word))
    {
        return Ok(());
    }
    Err(unknown_jump_error(file, src, spec))
}

fn unknown_jump_error(file: &InventoryFile, src: &Source<'_>, spec: &Spanned<String>) -> Error {
    let word = spec.get_ref().trim();
    let names = server_names(file);
    let hint = match suggest(word, names.iter().map(String::as_str)) {
        Some(s) => format!("did you mean `{s}`? "),
        None => String::new(),
    };
    src.error(
        spec.span(),
        format!(
            "proxy_jump `{word}` is not a server; {hint}name a server, or write an address such as `{word}.example.com` or `user@host:port`"
        ),
    )
}

fn check_environment(
    file: &InventoryFile,
    src: &Source<'_>,
    env_name: &str,
    env: &EnvironmentFile,
) -> Result<(), Error> {
    let names = server_names(file);
    for server in env.servers.iter().flatten() {
        if !file.servers.contains_key(server.get_ref().as_str()) {
            return Err(src.error(
                server.span(),
                format!(
                    "environment `{env_name}` lists server `{}`, which is not defined{}; add a [servers.{}] table or fix the name",
                    server.get_ref(),
                    defined(&names, "servers", server.get_ref()),
                    server.get_ref()
                ),
            ));
        }
    }
    for name in env.overrides.keys() {
        let name_str = name.get_ref().as_str();
        if !file.servers.contains_key(name_str) {
            return Err(src.error(
                name.span(),
                format!(
                    "environment `{env_name}` overrides server `{name_str}`, which is not defined{}",
                    defined(&names, "servers", name_str)
                ),
            ));
        }
        if !in_environment(Some(env), name_str) {
            return Err(src.error(
                name.span(),
                format!(
                    "environment `{env_name}` overrides server `{name_str}`, which is not in its `servers` list; add it there or remove the override"
                ),
            ));
        }
    }
    Ok(())
}

/// The roles of `server` as written (or inferred from `name`).
fn roles_of(name: &str, server: &ServerFile) -> Vec<String> {
    match &server.roles {
        Some(roles) => roles.clone(),
        None => inferred_role(name).into_iter().collect(),
    }
}

fn known_roles(file: &InventoryFile) -> BTreeSet<String> {
    let mut roles: BTreeSet<String> = file.roles.keys().map(|k| k.get_ref().clone()).collect();
    for (name, server) in &file.servers {
        roles.extend(roles_of(name.get_ref(), server.get_ref()));
    }
    for env in file.environments.values() {
        for (name, over) in &env.overrides {
            if let Some(server) = file.servers.get(name.get_ref().as_str()) {
                roles.extend(roles_of(
                    name.get_ref(),
                    &server.get_ref().overridden_by(over),
                ));
            }
        }
    }
    roles
}

/// `[roles.X]` must be some server's role: otherwise its vars would silently apply to nothing.
fn check_roles(
    file: &InventoryFile,
    src: &Source<'_>,
    known: &BTreeSet<String>,
) -> Result<(), Error> {
    let declared: BTreeSet<&str> = file.roles.keys().map(|k| k.get_ref().as_str()).collect();
    for role in file.roles.keys() {
        let name = role.get_ref().as_str();
        let used = file
            .servers
            .iter()
            .any(|(n, s)| roles_of(n.get_ref(), s.get_ref()).iter().any(|r| r == name))
            || file.environments.values().any(|e| {
                e.overrides
                    .values()
                    .any(|o| o.roles.iter().flatten().any(|r| r == name))
            });
        if !used {
            let others = known
                .iter()
                .map(String::as_str)
                .filter(|r| !declared.contains(r));
            let hint = match suggest(name, others) {
                Some(s) => format!(" (did you mean `{s}`?)"),
                None => String::new(),
            };
            return Err(src.error(
                role.span(),
                format!(
                    "role `{name}` has no servers{hint}; give a server `roles = [\"{name}\"]`, or name it {name}1, {name}2, ..."
                ),
            ));
        }
    }
    Ok(())
}

fn identity_files(
    src: &Source<'_>,
    base_dir: Option<&Path>,
    one: &Option<Spanned<String>>,
    many: &Option<Spanned<Vec<String>>>,
) -> Result<Option<Vec<PathBuf>>, Error> {
    Ok(match (one, many) {
        (Some(_), Some(many)) => return Err(both_identity_error(src, many)),
        (Some(one), None) => Some(vec![expand_path(one.get_ref(), base_dir)]),
        (None, Some(many)) => Some(
            many.get_ref()
                .iter()
                .map(|p| expand_path(p, base_dir))
                .collect(),
        ),
        (None, None) => None,
    })
}

fn table_vars(src: &Source<'_>, table: &Option<Spanned<toml::Table>>) -> Result<Vars, Error> {
    match table {
        Some(table) => vars::from_table(table.get_ref()).map_err(|e| src.error(table.span(), e)),
        None => Ok(Vars::new()),
    }
}

/// Resolves servers one at a time, remembering each, following `proxy_jump` to other servers.
struct Resolver<'a> {
    file: &'a InventoryFile,
    src: &'a Source<'a>,
    env: Option<&'a EnvironmentFile>,
    base_dir: Option<&'a Path>,
    reach: &'a Reach,
    global_vars: Vars,
    role_vars: HashMap<String, Vars>,
    env_vars: Vars,
    cache: HashMap<String, Host>,
}

impl<'a> Resolver<'a> {
    /// A resolver for the servers of `file` as `env` sees them; reads the variables of the
    /// inventory, its roles and the environment.
    fn new(
        file: &'a InventoryFile,
        src: &'a Source<'a>,
        env: Option<&'a EnvironmentFile>,
        base_dir: Option<&'a Path>,
        reach: &'a Reach,
    ) -> Result<Resolver<'a>, Error> {
        let global_vars = table_vars(src, &file.vars)?;
        let mut role_vars = HashMap::new();
        for (role, settings) in &file.roles {
            role_vars.insert(role.get_ref().clone(), table_vars(src, &settings.vars)?);
        }
        let env_vars = match env {
            Some(env) => table_vars(src, &env.vars)?,
            None => Vars::new(),
        };
        Ok(Resolver {
            file,
            src,
            env,
            base_dir,
            reach,
            global_vars,
            role_vars,
            env_vars,
            cache: HashMap::new(),
        })
    }

    /// The variables of the inventory as a whole: `[vars]` under the environment's.
    fn inventory_vars(&self) -> Vars {
        let mut vars = self.global_vars.clone();
        vars::layer(&mut vars, &self.env_vars);
        vars
    }

    /// The environment's servers in natural order. Every server is resolved, not only this
    /// environment's: they may be jump hosts, and a mistake in one should not wait for the day
    /// its environment is used.
    fn environment_servers(&mut self) -> Result<Vec<Host>, Error> {
        let mut names: Vec<&str> = self
            .file
            .servers
            .keys()
            .map(|k| k.get_ref().as_str())
            .collect();
        names.sort_by(|a, b| natural_cmp(a, b));
        let mut servers = Vec::new();
        for name in names {
            let host = self.server(name, &mut Vec::new())?;
            if in_environment(self.env, name) {
                servers.push(host);
            }
        }
        Ok(servers)
    }

    /// How hosts given by address (not inventory servers) are reached: `[defaults] proxy_jump`,
    /// else as `~/.ssh/config` says.
    fn default_jump(&mut self) -> Result<Jump, Error> {
        Ok(match &self.file.defaults.proxy_jump {
            None => Jump::FromSshConfig,
            Some(spec) => match self.jump(spec, &mut Vec::new())? {
                Some(host) => Jump::Via(host),
                None => Jump::Direct,
            },
        })
    }

    /// The resolved server `name` (which must exist). `stack` holds the servers whose jump host
    /// is being resolved, outermost first, to detect proxy_jump cycles.
    fn server(&mut self, name: &str, stack: &mut Vec<String>) -> Result<Host, Error> {
        if let Some(host) = self.cache.get(name) {
            return Ok(host.clone());
        }
        let Some(raw) = self.file.servers.get(name) else {
            return Err(Error::UnknownHost {
                name: name.to_string(),
                inventory: self.src.path.display().to_string(),
                suggestion: None,
            });
        };
        let server = match self.env.and_then(|e| e.overrides.get(name)) {
            Some(over) => raw.get_ref().overridden_by(over),
            None => raw.get_ref().clone(),
        };
        let address = server
            .address
            .as_ref()
            .map_or(name, |a| a.get_ref().trim())
            .to_string();
        let roles = roles_of(name, &server);

        let mut host_vars = self.global_vars.clone();
        for role in &roles {
            if let Some(role_vars) = self.role_vars.get(role) {
                vars::layer(&mut host_vars, role_vars);
            }
        }
        vars::layer(&mut host_vars, &self.env_vars);
        vars::layer(&mut host_vars, &table_vars(self.src, &server.vars)?);

        let settings = Settings {
            user: server.user.clone(),
            port: server.port.as_ref().map(|p| *p.get_ref()),
            identity_files: identity_files(
                self.src,
                self.base_dir,
                &server.identity_file,
                &server.identity_files,
            )?,
        };
        let (mut host, ssh_hops) = self.reach.host(name, &address, settings, host_vars);
        host.roles = roles;

        // [defaults] proxy_jump applies to every server but the jump host itself.
        let default_jump = self.file.defaults.proxy_jump.as_ref().filter(|spec| {
            Destination::parse(spec.get_ref()).is_ok_and(|d| d.host != name && d.host != address)
        });
        host.proxy_jump = match server.proxy_jump.as_ref().or(default_jump) {
            Some(spec) => {
                stack.push(name.to_string());
                let jump = self.jump(spec, stack);
                stack.pop();
                jump?
            }
            None => self.reach.ssh_jump(ssh_hops, &mut vec![address.clone()])?,
        };
        self.cache.insert(name.to_string(), host.clone());
        Ok(host)
    }

    /// The jump host a `proxy_jump` value names: another server (with the user and port the
    /// value gives, if any), an address, or nobody (`none`).
    fn jump(
        &mut self,
        spec: &Spanned<String>,
        stack: &mut Vec<String>,
    ) -> Result<Option<Box<Host>>, Error> {
        let text = spec.get_ref().trim();
        if text.eq_ignore_ascii_case("none") {
            return Ok(None);
        }
        let dest = Destination::parse(text).map_err(|e| {
            self.src
                .error(spec.span(), format!("proxy_jump `{text}`: {e}"))
        })?;
        if self.file.servers.contains_key(dest.host.as_str()) {
            if let Some(start) = stack.iter().position(|s| *s == dest.host) {
                let mut cycle = stack[start..].to_vec();
                cycle.push(dest.host.clone());
                return Err(self.src.error(
                    spec.span(),
                    format!(
                        "proxy_jump cycle: {}; one of them must connect directly (proxy_jump = \"none\" or an address)",
                        cycle.join(" -> ")
                    ),
                ));
            }
            let mut host = self.server(&dest.host, stack)?;
            if let Some(user) = dest.user {
                host.user = user;
            }
            if let Some(port) = dest.port {
                host.port = port;
            }
            return Ok(Some(Box::new(host)));
        }
        check_jump_word(self.file, self.src, self.reach.ssh.as_ref(), spec)?;
        let host = self
            .reach
            .address_host(text, &dest, Vars::new(), Jump::FromSshConfig)?;
        Ok(Some(Box::new(host)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_named_appnode2_is_in_role_appnode() {
        assert_eq!(inferred_role("appnode2").as_deref(), Some("appnode"));
        assert_eq!(inferred_role("appnode-2").as_deref(), Some("appnode"));
        assert_eq!(inferred_role("appnode_3").as_deref(), Some("appnode"));
        assert_eq!(inferred_role("lb").as_deref(), Some("lb"));
        assert_eq!(inferred_role("42"), None);
    }

    #[test]
    fn natural_order_puts_appnode2_before_appnode10() {
        let mut names = vec!["appnode10", "lb1", "appnode2", "appnode1", "appnode"];
        names.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            names,
            vec!["appnode", "appnode1", "appnode2", "appnode10", "lb1"]
        );
        assert_eq!(natural_cmp("a01", "a1"), Ordering::Less);
    }
}
