//! [`Database`]: a PostgreSQL database owned by a role.

use dm_core::operation::{Change, FactOptions, Operation, Plan};
use dm_core::ops::{Fact, OpError, Simulation};

use super::psql;

/// A database `name` (UTF-8) owned by role `owner`; an existing database of another owner is
/// handed over to `owner`. Needs a running server when applied.
pub struct Database {
    name: String,
    owner: String,
}

impl Database {
    /// Database `name` owned by `owner` (a role that exists by the time this is applied).
    pub fn new(name: &str, owner: &str) -> Database {
        Database {
            name: name.to_string(),
            owner: owner.to_string(),
        }
    }
}

impl Operation for Database {
    fn name(&self) -> String {
        format!("postgres database {}", self.name)
    }

    fn prepare(&mut self, _vars: &dm_core::ops::TemplateVars) -> Result<(), OpError> {
        psql::check_identifier(&self.name(), "the database name", &self.name)?;
        psql::check_identifier(&self.name(), "the owner", &self.owner)
    }

    fn fact_script(&self, _options: &FactOptions) -> String {
        psql::fact_query(
            "owner",
            &format!(
                "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = {}",
                psql::literal(&self.name)
            ),
        )
    }

    fn plan(&self, fact: &Fact, _sim: &mut Simulation) -> Result<Plan, OpError> {
        let create = || {
            format!(
                "CREATE DATABASE {} OWNER {} ENCODING 'UTF8' TEMPLATE template0;\n",
                self.name, self.owner
            )
        };
        let (description, sql) = match fact.get("owner") {
            _ if !fact.flag("installed") || fact.flag("down") => (
                format!(
                    "create, owned by {} (PostgreSQL is not running yet)",
                    self.owner
                ),
                create(),
            ),
            None => (format!("create, owned by {}", self.owner), create()),
            Some(owner) if owner == self.owner => return Ok(Plan::Ok),
            Some(owner) => (
                format!("owner {owner} → {}", self.owner),
                format!("ALTER DATABASE {} OWNER TO {};\n", self.name, self.owner),
            ),
        };
        Ok(Plan::Change(Change::new(description, psql::action(sql))))
    }
}
