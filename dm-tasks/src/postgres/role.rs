//! [`Role`]: a PostgreSQL login role with a password.

use dm_core::operation::{Change, FactOptions, Operation, Plan};
use dm_core::ops::{Fact, OpError, Simulation};

use super::{psql, scram};

/// A login role whose password is `password`.
///
/// The password is compared with the server's stored SCRAM verifier on the controlling machine,
/// and set by sending a new verifier (never the password) on psql's standard input: see
/// the `scram` module. Reports name the role only. Needs a running server when applied (the
/// `dbserver` recipe applies it in a step after the one that starts PostgreSQL).
pub struct Role {
    name: String,
    password: String,
}

impl Role {
    /// Role `name`, allowed to log in with `password`.
    pub fn new(name: &str, password: &str) -> Role {
        Role {
            name: name.to_string(),
            password: password.to_string(),
        }
    }
}

impl Operation for Role {
    fn name(&self) -> String {
        format!("postgres role {}", self.name)
    }

    fn prepare(&mut self, _vars: &dm_core::ops::TemplateVars) -> Result<(), OpError> {
        psql::check_identifier(&self.name(), "the role name", &self.name)?;
        if self.password.is_empty() {
            return Err(OpError::invalid(
                &self.name(),
                "the password is empty; set postgres.password_secret (a secret) or postgres.password",
            ));
        }
        // libpq applies SASLprep to non-ASCII passwords before hashing; a verifier made from the
        // raw bytes would then not match what clients send.
        if !self.password.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            return Err(OpError::invalid(
                &self.name(),
                "the password has characters other than printable ASCII; choose one without them",
            ));
        }
        Ok(())
    }

    fn fact_script(&self, _options: &FactOptions) -> String {
        psql::fact_query(
            "role",
            &format!(
                "SELECT rolcanlogin, coalesce(rolpassword, '') FROM pg_authid WHERE rolname = {}",
                psql::literal(&self.name)
            ),
        )
    }

    fn plan(&self, fact: &Fact, _sim: &mut Simulation) -> Result<Plan, OpError> {
        let verifier = || {
            scram::verifier(&self.password).map_err(|e| {
                OpError::invalid(
                    &self.name(),
                    format!("cannot read random bytes for the password's salt: {e}"),
                )
            })
        };
        let (description, sql) = match fact.get("role") {
            _ if !fact.flag("installed") || fact.flag("down") => (
                "create with password (PostgreSQL is not running yet)".to_string(),
                format!(
                    "CREATE ROLE {} LOGIN PASSWORD {};\n",
                    self.name,
                    psql::literal(&verifier()?)
                ),
            ),
            None => (
                "create with password".to_string(),
                format!(
                    "CREATE ROLE {} LOGIN PASSWORD {};\n",
                    self.name,
                    psql::literal(&verifier()?)
                ),
            ),
            Some(row) => {
                let (can_login, stored) = row.split_once('|').unwrap_or((row, ""));
                let login_ok = can_login == "t";
                let password_ok = scram::matches(stored, &self.password);
                if login_ok && password_ok {
                    return Ok(Plan::Ok);
                }
                let what = match (login_ok, password_ok) {
                    (false, false) => "allow login, set password",
                    (false, true) => "allow login",
                    _ => "set password",
                };
                (
                    what.to_string(),
                    format!(
                        "ALTER ROLE {} LOGIN PASSWORD {};\n",
                        self.name,
                        psql::literal(&verifier()?)
                    ),
                )
            }
        };
        Ok(Plan::Change(Change::new(description, psql::action(sql))))
    }
}
