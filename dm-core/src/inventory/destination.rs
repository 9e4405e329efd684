//! `[user@]host[:port]`: how a host is written on the command line (`-H`), in `proxy_jump`, and in
//! `~/.ssh/config`'s `ProxyJump`.

/// A parsed `[user@]host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Destination {
    /// The login user, if given.
    pub user: Option<String>,
    /// The host name or address (IPv6 without brackets).
    pub host: String,
    /// The port, if given.
    pub port: Option<u16>,
}

impl Destination {
    /// Parses `[user@]host[:port]`; IPv6 addresses are written bare (`fd00::1`, no port) or in
    /// brackets (`[fd00::1]:2222`). The error says what is wrong with the text.
    pub fn parse(text: &str) -> Result<Destination, String> {
        let text = text.trim();
        let (user, rest) = match text.rsplit_once('@') {
            Some((user, rest)) => {
                if user.is_empty() {
                    return Err("the user before `@` is empty".to_string());
                }
                (Some(user.to_string()), rest)
            }
            None => (None, text),
        };
        let (host, port) = if let Some(bracketed) = rest.strip_prefix('[') {
            let (host, after) = bracketed
                .split_once(']')
                .ok_or_else(|| "`[` without a closing `]`".to_string())?;
            match after {
                "" => (host, None),
                _ => match after.strip_prefix(':') {
                    Some(port) => (host, Some(port)),
                    None => return Err(format!("unexpected `{after}` after `]`")),
                },
            }
        } else if rest.matches(':').count() > 1 {
            // A bare IPv6 address: its colons are not a port separator.
            (rest, None)
        } else {
            match rest.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (rest, None),
            }
        };
        if host.is_empty() {
            return Err("the host name is empty".to_string());
        }
        if host.chars().any(char::is_whitespace) {
            return Err(format!("`{host}` contains whitespace"));
        }
        super::name::check_address(host)?;
        let port = port.map(parse_port).transpose()?;
        Ok(Destination {
            user,
            host: host.to_string(),
            port,
        })
    }
}

fn parse_port(port: &str) -> Result<u16, String> {
    match port.parse::<u16>() {
        Ok(0) | Err(_) => Err(format!("`{port}` is not a port number (1-65535)")),
        Ok(p) => Ok(p),
    }
}

/// Whether a `-H` or `proxy_jump` word is written like an address rather than a server name: it
/// has a dot, a colon or a user (`web.example.com`, `10.0.0.5`, `host:2222`, `deploy@web`).
pub(crate) fn looks_like_address(text: &str) -> bool {
    text.contains(['.', ':', '@'])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dest(user: Option<&str>, host: &str, port: Option<u16>) -> Destination {
        Destination {
            user: user.map(str::to_string),
            host: host.to_string(),
            port,
        }
    }

    #[test]
    fn parses_user_host_and_port() {
        assert_eq!(
            Destination::parse("deploy@10.231.0.5:2222"),
            Ok(dest(Some("deploy"), "10.231.0.5", Some(2222)))
        );
        assert_eq!(Destination::parse("web"), Ok(dest(None, "web", None)));
        assert_eq!(
            Destination::parse("web.example.com:22"),
            Ok(dest(None, "web.example.com", Some(22)))
        );
    }

    #[test]
    fn parses_ipv6_bare_and_bracketed() {
        assert_eq!(
            Destination::parse("fd00::1"),
            Ok(dest(None, "fd00::1", None))
        );
        assert_eq!(
            Destination::parse("root@[fd00::1]:2200"),
            Ok(dest(Some("root"), "fd00::1", Some(2200)))
        );
    }

    #[test]
    fn rejects_bad_ports_and_empty_parts() {
        assert!(
            Destination::parse("web:ssh")
                .unwrap_err()
                .contains("not a port")
        );
        assert!(Destination::parse("web:0").is_err());
        assert!(Destination::parse("web:70000").is_err());
        assert!(Destination::parse("@web").unwrap_err().contains("user"));
        assert!(Destination::parse("deploy@").unwrap_err().contains("host"));
        assert!(Destination::parse("[fd00::1").is_err());
    }

    #[test]
    fn addresses_have_dots_colons_or_users() {
        assert!(looks_like_address("bastion.example.com"));
        assert!(looks_like_address("10.231.0.5"));
        assert!(looks_like_address("deploy@bastion"));
        assert!(looks_like_address("bastion:2222"));
        assert!(!looks_like_address("bastion"));
    }
}
