//! cloud-init user data for a new server: root may log in with the operator's SSH keys, and the
//! hostname is the server's name, so `ssh appnode2` lands on a machine that calls itself that.

/// The `#cloud-config` document for a server named `hostname` that root can reach with `keys`.
///
/// The keys are also registered with the provider; putting them in the user data too makes the
/// result the same on every image, including ones whose default user is not root.
/// `disable_root: false` matters: with the default (`true`) cloud-init prefixes root's keys with a
/// command that refuses the login. Strings are written as JSON strings, which YAML reads as they
/// are, so no key comment can break the document.
pub fn user_data(hostname: &str, keys: &[String]) -> String {
    let quote = |s: &str| serde_json::Value::String(s.to_string()).to_string();
    let mut out = String::from("#cloud-config\n");
    out.push_str("# Written by dm: the operator's SSH keys for root, and the hostname.\n");
    out.push_str(&format!("hostname: {}\n", quote(hostname)));
    out.push_str("preserve_hostname: false\n");
    out.push_str("manage_etc_hosts: true\n");
    out.push_str("disable_root: false\n");
    out.push_str("ssh_pwauth: false\n");
    out.push_str("users:\n  - name: root\n    ssh_authorized_keys:\n");
    for key in keys {
        out.push_str(&format!("      - {}\n", quote(key.trim())));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::user_data;

    #[test]
    fn installs_keys_for_root_and_sets_the_hostname() {
        let keys = vec!["ssh-ed25519 AAAAC3Nza op \"laptop\"".to_string()];
        let doc = user_data("appnode2", &keys);
        assert!(doc.starts_with("#cloud-config\n"));
        assert!(doc.contains("hostname: \"appnode2\"\n"));
        assert!(doc.contains("disable_root: false\n"));
        assert!(doc.contains("  - name: root\n"));
        assert!(doc.contains("      - \"ssh-ed25519 AAAAC3Nza op \\\"laptop\\\"\"\n"));
    }
}
