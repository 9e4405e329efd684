//! Who may run what: a user's allow and deny rules over `environment:task` patterns
//! (`allow dev:*`, `allow production:deploy`, `deny production:destroy`). A deny that matches
//! wins over every allow; with no allowing rule nothing runs. Reading (tasks, jobs, logs) needs a
//! valid token only.

use std::fmt;

/// Whether a rule allows or denies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Lets the user run what matches.
    Allow,
    /// Keeps the user from running what matches, whatever allows it.
    Deny,
}

impl Effect {
    /// The word stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Allow => "allow",
            Effect::Deny => "deny",
        }
    }

    /// The effect a stored word names.
    pub fn parse(word: &str) -> Option<Effect> {
        match word {
            "allow" => Some(Effect::Allow),
            "deny" => Some(Effect::Deny),
            _ => None,
        }
    }
}

/// One rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Allow or deny.
    pub effect: Effect,
    /// `ENVIRONMENT:TASK`, each side a pattern.
    pub pattern: String,
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.effect.as_str(), self.pattern)
    }
}

/// Checks a pattern typed on the command line: `ENVIRONMENT:TASK`, each side non-empty.
pub fn check_pattern(pattern: &str) -> Result<(), String> {
    match pattern.split_once(':') {
        Some((env, task)) if !env.is_empty() && !task.is_empty() && !task.contains(':') => Ok(()),
        _ => Err(format!(
            "`{pattern}`: a rule's pattern is ENVIRONMENT:TASK, e.g. `production:deploy`, \
             `dev:*` or `*:*`"
        )),
    }
}

/// Whether `text` matches the glob `pattern` (`*` any text, `?` one character).
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    // Iterative matching with one backtrack point for the last `*`.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

impl Rule {
    /// Whether the rule covers `task` in `environment` (`""`: an inventory without
    /// environments, which only `*` matches).
    pub fn covers(&self, environment: &str, task: &str) -> bool {
        match self.pattern.split_once(':') {
            Some((env, name)) => glob(env, environment) && glob(name, task),
            None => false,
        }
    }
}

/// Whether `user`, with `rules`, may run `task` in `environment`; the refusal names the rule
/// that refused, or says that none allows and how to add one.
pub fn decide(user: &str, rules: &[Rule], environment: &str, task: &str) -> Result<(), String> {
    let shown_env = if environment.is_empty() {
        "*"
    } else {
        environment
    };
    if let Some(deny) = rules
        .iter()
        .find(|r| r.effect == Effect::Deny && r.covers(environment, task))
    {
        return Err(format!(
            "{user} may not run {task} in {}: refused by rule `{deny}`",
            if environment.is_empty() {
                "this inventory"
            } else {
                environment
            }
        ));
    }
    if rules
        .iter()
        .any(|r| r.effect == Effect::Allow && r.covers(environment, task))
    {
        return Ok(());
    }
    Err(format!(
        "{user} may not run {task}: no rule allows `{shown_env}:{task}` \
         (`serve user allow {user} '{shown_env}:{task}'` adds one)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(list: &[(Effect, &str)]) -> Vec<Rule> {
        list.iter()
            .map(|(effect, pattern)| Rule {
                effect: *effect,
                pattern: pattern.to_string(),
            })
            .collect()
    }

    #[test]
    fn globs_match_whole_names() {
        assert!(glob("*", ""));
        assert!(glob("dep*", "deploy"));
        assert!(glob("d?ploy", "deploy"));
        assert!(glob("*-web-*", "prod-web-1"));
        assert!(!glob("dep", "deploy"));
        assert!(!glob("prod", "production"));
    }

    #[test]
    fn deny_wins_and_the_refusal_names_the_rule() {
        use Effect::*;
        let rules = rules(&[
            (Allow, "dev:*"),
            (Allow, "production:*"),
            (Deny, "production:destroy"),
        ]);
        assert_eq!(decide("ci", &rules, "production", "deploy"), Ok(()));
        assert_eq!(decide("ci", &rules, "dev", "destroy"), Ok(()));
        let refused = decide("ci", &rules, "production", "destroy").unwrap_err();
        assert!(
            refused.contains("rule `deny production:destroy`"),
            "{refused}"
        );
        let none = decide("ci", &rules, "staging", "deploy").unwrap_err();
        assert!(none.contains("no rule allows `staging:deploy`"), "{none}");
        assert!(
            none.contains("serve user allow ci 'staging:deploy'"),
            "{none}"
        );
    }

    #[test]
    fn without_environments_only_a_star_matches() {
        let all = rules(&[(Effect::Allow, "*:stamp")]);
        assert_eq!(decide("ci", &all, "", "stamp"), Ok(()));
        let dev = rules(&[(Effect::Allow, "dev:stamp")]);
        assert!(decide("ci", &dev, "", "stamp").is_err());
        assert!(decide("ci", &[], "dev", "stamp").is_err());
    }

    #[test]
    fn patterns_need_both_sides() {
        assert!(check_pattern("production:deploy").is_ok());
        assert!(check_pattern("*:*").is_ok());
        for bad in ["deploy", ":deploy", "dev:", "a:b:c"] {
            assert!(check_pattern(bad).is_err(), "{bad}");
        }
    }
}
