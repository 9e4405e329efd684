//! [`SwitchCurrent`]: pointing `current` at a release, as an operation, so that putting a
//! release live is reported as the change it is (`changed` in the summary and `--json`).

use dm_core::Ctx;
use dm_core::ops::{
    Action, Change, Fact, FactOptions, FileKind, OpError, Operation, Plan, Resource, Simulation,
};
use dm_core::shell_quote;

use crate::app::AppConfig;

/// `current` pointing at `releases/<release>`: a new symlink under a temporary name renamed
/// over the old one (`mv -T` is a rename(2)), so `current` always points at a whole release.
/// Ok when it already points there; fails when the release directory does not exist.
#[derive(Debug, Clone)]
pub struct SwitchCurrent {
    current: String,
    target: String,
    temporary: String,
}

impl SwitchCurrent {
    /// `current` of `app` pointing at `release`.
    pub fn new(app: &AppConfig, release: &str) -> SwitchCurrent {
        SwitchCurrent {
            current: app.current(),
            target: format!("{}/{release}", app.releases_dir()),
            temporary: format!("{}/.current-{release}", app.path()),
        }
    }
}

impl Operation for SwitchCurrent {
    fn name(&self) -> String {
        format!("switch {} -> {}", self.current, self.target)
    }

    fn fact_script(&self, _options: &FactOptions) -> String {
        format!("dm_stat l {}", shell_quote(&self.current))
    }

    fn resources(&self) -> Vec<Resource> {
        vec![Resource::Path(self.current.clone())]
    }

    fn plan(&self, fact: &Fact, _sim: &mut Simulation) -> Result<Plan, OpError> {
        let stat = fact.stat("l");
        if stat.kind == FileKind::Link && stat.target.as_deref() == Some(self.target.as_str()) {
            return Ok(Plan::Ok);
        }
        let description = match (stat.kind, stat.target) {
            (FileKind::Link, Some(was)) => format!("make {} live (was {was})", self.target),
            (FileKind::Absent, _) => format!("make {} live (first release)", self.target),
            (kind, _) => {
                return Err(OpError::invalid(
                    &self.name(),
                    format!(
                        "{} is {}, not a symlink: move it away, then deploy again",
                        self.current,
                        kind.word()
                    ),
                ));
            }
        };
        let (target, tmp, current) = (
            shell_quote(&self.target),
            shell_quote(&self.temporary),
            shell_quote(&self.current),
        );
        Ok(Plan::Change(Change::new(
            description,
            Action::shell(format!(
                "if [ ! -d {target} ]; then echo \"release {} does not exist\" >&2; exit 1; fi\n\
                 ln -sfn {target} {tmp} && mv -T {tmp} {current}",
                self.target
            )),
        )))
    }
}

/// Points `current` of `app` at `release` on `ctx`'s host, reported as an operation; returns
/// whether it changed anything.
pub async fn switch_to(ctx: &Ctx, app: &AppConfig, release: &str) -> anyhow::Result<bool> {
    let mut step = ctx.step();
    step.add(SwitchCurrent::new(app, release));
    Ok(step.apply().await?.changed() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app() -> AppConfig {
        serde_json::from_value(serde_json::json!({"name": "shop"})).expect("app")
    }

    fn plan(fact: &str) -> Result<Plan, OpError> {
        SwitchCurrent::new(&app(), "2").plan(&Fact::parse(fact), &mut Simulation::new())
    }

    #[test]
    fn the_live_release_is_ok_and_another_one_is_a_change() {
        assert!(matches!(
            plan("l.type=link\nl.target=/srv/shop/releases/2\n"),
            Ok(Plan::Ok)
        ));
        let Ok(Plan::Change(change)) = plan("l.type=link\nl.target=/srv/shop/releases/1\n") else {
            panic!("a change")
        };
        assert_eq!(
            change.description,
            "make /srv/shop/releases/2 live (was /srv/shop/releases/1)"
        );
        assert!(
            change
                .action
                .script
                .ends_with("mv -T /srv/shop/.current-2 /srv/shop/current"),
            "{}",
            change.action.script
        );
        assert!(matches!(plan("l.type=absent\n"), Ok(Plan::Change(_))));
        assert!(plan("l.type=dir\n").is_err());
    }
}
