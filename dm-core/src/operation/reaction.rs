//! Reactions: operations that run once at the end of a step, only if an operation that notifies
//! them changed something (config changed → `nginx -t` and reload; unchanged → nothing).

use super::{OpError, Operation};
use crate::error::suggest;

/// A named reaction of a step.
pub(crate) struct Reaction {
    /// The name operations notify.
    pub name: String,
    /// What runs.
    pub op: Box<dyn Operation>,
}

/// Checks that reaction names are unique and every notification names a reaction.
pub(crate) fn check<'a>(
    notifiers: impl IntoIterator<Item = &'a dyn Operation>,
    reactions: &[Reaction],
) -> Result<(), OpError> {
    for (i, r) in reactions.iter().enumerate() {
        if reactions[..i].iter().any(|o| o.name == r.name) {
            return Err(OpError::structure(format!(
                "two reactions are named `{}`; give each its own name",
                r.name
            )));
        }
    }
    for op in notifiers {
        for wanted in op.notifies() {
            if !reactions.iter().any(|r| &r.name == wanted) {
                let hint = match suggest(wanted, reactions.iter().map(|r| r.name.as_str())) {
                    Some(s) => format!("; did you mean `{s}`?"),
                    None => "; add it with step.reaction(name, operation)".to_string(),
                };
                return Err(OpError::structure(format!(
                    "operation `{}` notifies `{wanted}`, which is not a reaction of this step{hint}",
                    op.name()
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operation::{Command, File};

    fn reaction(name: &str) -> Reaction {
        Reaction {
            name: name.to_string(),
            op: Box::new(Command::new("true")),
        }
    }

    #[test]
    fn unknown_reaction_is_named_with_a_suggestion() {
        let op = File::bytes("/etc/x", "x").notify("reload-ngnix");
        let err = check([&op as &dyn Operation], &[reaction("reload-nginx")]).expect_err("unknown");
        assert!(
            err.to_string()
                .contains("notifies `reload-ngnix`, which is not a reaction of this step; did you mean `reload-nginx`?"),
            "{err}"
        );
    }

    #[test]
    fn duplicate_names_are_refused_and_known_ones_pass() {
        assert!(check([], &[reaction("a"), reaction("a")]).is_err());
        let op = File::bytes("/etc/x", "x").notify("a");
        assert!(check([&op as &dyn Operation], &[reaction("a")]).is_ok());
    }
}
