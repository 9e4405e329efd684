//! [`Locale`]: the system locale generated and made the default (`LANG`).

use dm_core::operation::{
    Action, Change, FactOptions, OpError, Operation, Plan, Resource, Simulation,
};
use dm_core::ops::Fact;
use dm_core::shell_quote;

/// The host's default locale is `name` (e.g. `en_US.UTF-8`): it is enabled in /etc/locale.gen,
/// generated, and set as `LANG` in /etc/default/locale. `C.UTF-8`, `C` and `POSIX` are built in
/// and only set.
pub struct Locale {
    name: String,
}

impl Locale {
    /// The locale `name`; its spelling is checked by [`AdminSettings`](super::AdminSettings).
    pub fn new(name: &str) -> Locale {
        Locale {
            name: name.to_string(),
        }
    }

    fn is_built_in(&self) -> bool {
        matches!(self.name.as_str(), "C" | "POSIX" | "C.UTF-8" | "C.utf8")
    }

    /// The line /etc/locale.gen and /usr/share/i18n/SUPPORTED use: `en_US.UTF-8 UTF-8`.
    fn supported_line(&self) -> String {
        let charset = self
            .name
            .split_once('.')
            .map(|(_, rest)| rest.split('@').next().unwrap_or(rest))
            .unwrap_or("ISO-8859-1");
        format!("{} {charset}", self.name)
    }

    /// How `locale -a` lists it: the charset lower-cased without dashes (`en_US.utf8`).
    fn listed_name(&self) -> String {
        match self.name.split_once('.') {
            Some((language, rest)) => {
                let (charset, modifier) = rest
                    .split_once('@')
                    .map_or((rest, None), |(c, m)| (c, Some(m)));
                let charset: String = charset.to_ascii_lowercase().replace('-', "");
                match modifier {
                    Some(m) => format!("{language}.{charset}@{m}"),
                    None => format!("{language}.{charset}"),
                }
            }
            None => self.name.clone(),
        }
    }
}

impl Operation for Locale {
    fn name(&self) -> String {
        format!("locale {}", self.name)
    }

    fn fact_script(&self, _options: &FactOptions) -> String {
        let line = shell_quote(&self.supported_line());
        let listed = shell_quote(&self.listed_name());
        format!(
            "grep -qxF {line} /usr/share/i18n/SUPPORTED && echo supported=1\n\
             locale -a 2>/dev/null | grep -qxF {listed} && echo generated=1\n\
             [ -f /etc/default/locale ] && echo lang=\"$(sed -n 's/^LANG=//p' /etc/default/locale | tail -n 1)\""
        )
    }

    fn resources(&self) -> Vec<Resource> {
        vec![
            Resource::Package("locales".to_string()),
            Resource::Path("/etc/locale.gen".to_string()),
            Resource::Path("/etc/default/locale".to_string()),
        ]
    }

    fn plan(&self, fact: &Fact, _sim: &mut Simulation) -> Result<Plan, OpError> {
        let built_in = self.is_built_in();
        if !built_in && !fact.flag("supported") {
            return Err(OpError::invalid(
                &self.name(),
                format!(
                    "`{}` is not in /usr/share/i18n/SUPPORTED: set `admin.locale` to a supported \
                     locale such as en_US.UTF-8",
                    self.supported_line()
                ),
            ));
        }
        let generated = built_in || fact.flag("generated");
        let is_default = fact.get("lang") == Some(self.name.as_str());
        if generated && is_default {
            return Ok(Plan::Ok);
        }
        let mut what = Vec::new();
        let mut script = Vec::new();
        if !generated {
            what.push("generate".to_string());
            let line = self.supported_line();
            // Names are letters, digits and `._@-` (see AdminSettings): only `.` needs escaping
            // in the pattern, and neither holds sed's `/` or `&`.
            let commented = format!("^# *{}$", line.replace('.', "\\."));
            // Uncomment the line Debian ships commented out, or add it.
            script.push(format!(
                "if grep -qx {pattern} /etc/locale.gen; then sed -i {substitute} /etc/locale.gen; \
                 elif ! grep -qxF {quoted} /etc/locale.gen; then printf '%s\\n' {quoted} >> /etc/locale.gen; fi\n\
                 locale-gen >/dev/null",
                pattern = shell_quote(&commented),
                substitute = shell_quote(&format!("s/{commented}/{line}/")),
                quoted = shell_quote(&line),
            ));
        }
        if !is_default {
            what.push(format!("LANG={}", self.name));
            script.push(format!(
                "printf 'LANG=%s\\n' {n} > /etc/default/.locale.dm-new && mv -f /etc/default/.locale.dm-new /etc/default/locale",
                n = shell_quote(&self.name)
            ));
        }
        Ok(Plan::Change(Change::new(
            what.join(", "),
            Action::shell(script.join("\n")),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_spelled_as_debian_lists_them() {
        let locale = Locale::new("en_US.UTF-8");
        assert_eq!(locale.supported_line(), "en_US.UTF-8 UTF-8");
        assert_eq!(locale.listed_name(), "en_US.utf8");
        let euro = Locale::new("de_DE.ISO-8859-15@euro");
        assert_eq!(euro.supported_line(), "de_DE.ISO-8859-15@euro ISO-8859-15");
        assert_eq!(euro.listed_name(), "de_DE.iso885915@euro");
    }

    #[test]
    fn a_generated_default_locale_is_left_alone() {
        let fact = Fact::parse("supported=1\ngenerated=1\nlang=en_US.UTF-8\n");
        let plan = Locale::new("en_US.UTF-8").plan(&fact, &mut Simulation::new());
        assert!(matches!(plan, Ok(Plan::Ok)));
    }

    #[test]
    fn a_missing_locale_is_generated_and_made_the_default() {
        let fact = Fact::parse("supported=1\nlang=C.UTF-8\n");
        let Ok(Plan::Change(change)) =
            Locale::new("en_US.UTF-8").plan(&fact, &mut Simulation::new())
        else {
            panic!("expected a change");
        };
        assert_eq!(change.description, "generate, LANG=en_US.UTF-8");
        assert!(change.action.script.contains("locale-gen"));
    }

    #[test]
    fn an_unsupported_locale_fails_and_c_utf8_needs_no_generation() {
        let err = Locale::new("xx_YY.UTF-8")
            .plan(&Fact::parse(""), &mut Simulation::new())
            .expect_err("fails");
        assert!(err.to_string().contains("SUPPORTED"), "{err}");
        let Ok(Plan::Change(change)) =
            Locale::new("C.UTF-8").plan(&Fact::parse("lang=en_US.UTF-8\n"), &mut Simulation::new())
        else {
            panic!("expected a change");
        };
        assert_eq!(change.description, "LANG=C.UTF-8");
    }
}
