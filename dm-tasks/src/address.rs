//! Where servers reach each other: the private address.

use dm_core::host::Host;

/// The address other servers use to reach `host`: its `private_address` variable when the
/// inventory sets one (a cloud server's private network), else the address dm connects to.
///
/// Load balancer upstreams, database `listen` addresses and firewall rules use this, so traffic
/// between servers stays on the private network when there is one.
pub fn private_address(host: &Host) -> String {
    host.vars
        .get("private_address")
        .and_then(|value| value.as_str())
        .filter(|address| !address.is_empty())
        .map_or_else(|| host.address.clone(), str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_address_falls_back_to_the_connect_address() {
        let host = Host::new("appnode1", "203.0.113.5");
        assert_eq!(private_address(&host), "203.0.113.5");
    }

    #[test]
    fn private_address_prefers_the_inventory_variable() {
        let mut host = Host::new("appnode1", "203.0.113.5");
        host.vars
            .insert("private_address".into(), serde_json::json!("10.0.0.5"));
        assert_eq!(private_address(&host), "10.0.0.5");
    }
}
