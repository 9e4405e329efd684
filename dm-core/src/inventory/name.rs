//! What a server name and an address may be: both end up in host names, file names and config
//! files (nginx upstreams, pg_hba, known_hosts), so anything else is refused where it is written.

/// The longest DNS name (RFC 1035).
const MAX_NAME_LEN: usize = 253;
/// The longest label of a DNS name.
const MAX_LABEL_LEN: usize = 63;

/// Checks that `name` can be a server's name: a hostname of dot-separated labels of letters,
/// digits, `-` and `_` (not at a label's start or end), at most 253 characters. The error says
/// what is wrong and what to write.
///
/// ```
/// use dm_core::inventory::check_server_name;
/// assert!(check_server_name("appnode2").is_ok());
/// assert!(check_server_name("web1.example.com").is_ok());
/// assert!(check_server_name("lb1;id").is_err());
/// ```
pub fn check_server_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("a server name cannot be empty".to_string());
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(format!(
            "{:?} is not a hostname: it contains {bad:?}; use letters, digits, `-`, `_` and `.`",
            name
        ));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(format!(
            "{name:?} is not a hostname: it is longer than {MAX_NAME_LEN} characters"
        ));
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err(format!(
                "{name:?} is not a hostname: it has an empty part between dots"
            ));
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(format!(
                "{name:?} is not a hostname: `{label}` is longer than {MAX_LABEL_LEN} characters"
            ));
        }
        if label.starts_with(['-', '_']) || label.ends_with(['-', '_']) {
            return Err(format!(
                "{name:?} is not a hostname: `{label}` starts or ends with `-` or `_`"
            ));
        }
    }
    Ok(())
}

/// Checks that `address` is something to connect to: an IPv4 or IPv6 address (with an optional
/// `%zone`), or a hostname as [`check_server_name`] allows.
pub fn check_address(address: &str) -> Result<(), String> {
    let ip = address.split_once('%').map_or(address, |(ip, _)| ip);
    if ip.parse::<std::net::IpAddr>().is_ok() {
        let zone_ok = address.split_once('%').is_none_or(|(_, zone)| {
            !zone.is_empty() && zone.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
        if zone_ok {
            return Ok(());
        }
    }
    check_server_name(address)
        .map_err(|why| why.replacen("is not a hostname", "is not an IP address or hostname", 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostnames_and_fqdns_are_names() {
        for name in ["lb1", "appnode_3", "app-node-2", "web1.example.com", "1"] {
            assert_eq!(check_server_name(name), Ok(()), "{name}");
        }
    }

    #[test]
    fn shell_and_config_syntax_is_not_a_name() {
        for name in [
            "lb1;id",
            "app\nserver 10.0.0.1",
            "a b",
            "a{b}",
            "x'y",
            "",
            "-lb",
            "lb-",
            "a..b",
            ".lb",
        ] {
            let err = check_server_name(name).expect_err(name);
            assert!(err.contains("hostname") || err.contains("empty"), "{err}");
        }
        let err = check_server_name("lb1;id").unwrap_err();
        assert!(err.contains("';'"), "{err}");
        assert!(check_server_name(&"a".repeat(64)).is_err());
        assert!(check_server_name(&["a"; 130].join(".")).is_err());
    }

    #[test]
    fn addresses_are_ips_or_hostnames() {
        for address in ["10.231.0.5", "fd00::1", "fe80::1%eth0", "db.internal"] {
            assert_eq!(check_address(address), Ok(()), "{address}");
        }
        for address in ["10.0.0.1; server evil", "fe80::1%", "a b", "x\ny"] {
            let err = check_address(address).expect_err(address);
            assert!(err.contains("not an IP address or hostname"), "{err}");
        }
    }
}
