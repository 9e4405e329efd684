//! The fleet's own inventory: a `dm.toml` that points dm at the booted machines (their addresses,
//! the fleet's key and known_hosts) with the names, roles and vars they were declared with.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize as _;

use crate::machine::Machine;
use dm_machines::error::Error;

/// What goes into the fleet's inventory.
pub(crate) struct TestInventory<'a> {
    /// The fleet's private key, for every server.
    pub(crate) private_key: &'a Path,
    /// The fleet's known_hosts file.
    pub(crate) known_hosts: &'a Path,
    /// The booted machines, in declaration order.
    pub(crate) machines: &'a [Machine],
    /// Global vars.
    pub(crate) vars: &'a toml::Table,
    /// The environment holding every machine, made the default one.
    pub(crate) environment: Option<&'a str>,
    /// Write `roles = []` for machines without roles, so none is inferred from their names.
    pub(crate) explicit_roles: bool,
    /// The login user (`[defaults] user`).
    pub(crate) user: &'a str,
}

impl TestInventory<'_> {
    /// The inventory's text. Fails only on a var that TOML cannot hold.
    pub(crate) fn render(&self) -> Result<String, Error> {
        let mut toml = String::new();
        if let Some(environment) = self.environment {
            let _ = writeln!(toml, "default_environment = {}", toml_string(environment));
        }
        if !self.vars.is_empty() {
            let _ = writeln!(toml, "vars = {}", inline(self.vars, "the global vars")?);
        }
        let _ = writeln!(toml, "[defaults]\nuser = {}", toml_string(self.user));
        let _ = writeln!(
            toml,
            "identity_file = {}",
            toml_string(&self.private_key.to_string_lossy())
        );
        let _ = writeln!(
            toml,
            "known_hosts = {}",
            toml_string(&self.known_hosts.to_string_lossy())
        );
        for machine in self.machines {
            let _ = write!(
                toml,
                "\n[servers.{}]\naddress = \"{}\"\n",
                machine.name(),
                machine.address()
            );
            if self.explicit_roles || !machine.roles().is_empty() {
                let roles: Vec<String> = machine.roles().iter().map(|r| toml_string(r)).collect();
                let _ = writeln!(toml, "roles = [{}]", roles.join(", "));
            }
            if !machine.vars().is_empty() {
                let what = format!("the vars of machine {}", machine.name());
                let _ = writeln!(toml, "vars = {}", inline(machine.vars(), &what)?);
            }
        }
        if let Some(environment) = self.environment {
            let names: Vec<String> = self
                .machines
                .iter()
                .map(|m| toml_string(m.name()))
                .collect();
            let _ = write!(
                toml,
                "\n[environments.{}]\nservers = [{}]\n",
                toml_string(environment),
                names.join(", ")
            );
        }
        Ok(toml)
    }
}

/// `table` as a TOML inline table (`{ a = 1, b = "x" }`).
fn inline(table: &toml::Table, what: &str) -> Result<String, Error> {
    let mut text = String::new();
    toml::Value::Table(table.clone())
        .serialize(toml::ser::ValueSerializer::new(&mut text))
        .map_err(|e| Error::InvalidFleet(format!("{what} cannot be written as TOML: {e}")))?;
    Ok(text)
}

/// A TOML basic string.
pub(crate) fn toml_string(text: &str) -> String {
    let mut quoted = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(quoted, "\\u{:04X}", c as u32);
            }
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vars_are_written_as_inline_tables_that_parse_back() {
        let mut vars = toml::Table::new();
        vars.insert("port".into(), 8000.into());
        vars.insert("name".into(), "a \"quoted\" name".into());
        vars.insert("tags".into(), vec!["a", "b"].into());
        let mut nested = toml::Table::new();
        nested.insert("debug".into(), true.into());
        vars.insert("log".into(), nested.into());
        let text = format!("vars = {}\n", inline(&vars, "test vars").unwrap());
        let parsed: toml::Table = toml::from_str(&text).unwrap();
        assert_eq!(parsed["vars"], toml::Value::Table(vars), "{text}");
        assert_eq!(text.lines().count(), 1, "{text}");
    }
}
