//! [`Step`]: the operations of a task on one host, planned and applied in as few round trips as
//! correctness allows.
//!
//! Normally a step costs one round trip when nothing changes (gather every fact in one command)
//! and two when something does (gather, then apply every change and triggered reaction in one
//! command). More only when needed: a large local file is streamed in its own command, and an
//! operation whose fact an earlier change of the step makes stale (a git checkout after git is
//! installed) is planned on facts gathered again after that change.

use std::path::PathBuf;

use serde_json::{Map, Value};

use super::batch::{self, Applied, Trigger, Unit, UnitResult};
use super::component::{self, Component, Entry, Item};
use super::gather::{gather, paths_of};
use super::outcome::{OpReport, OpStatus, StepReport};
use super::reaction::{self, Reaction};
use super::shell::RunAs;
use super::{Change, Fact, FactOptions, OpError, Operation, Plan, Simulation, TemplateVars, apt};
use crate::ctx::Ctx;
use crate::events::Event;

/// The operations a task wants on its host, applied together by [`Step::apply`].
///
/// ```no_run
/// # async fn t(ctx: &dm_core::Ctx) -> anyhow::Result<()> {
/// use dm_core::ops;
/// let mut step = ctx.step();
/// step.var("app_name", "shop");
/// step.add(ops::Directory::new("/srv/shop").owner("www-data"));
/// step.add(ops::File::template("/etc/shop.conf", "templates/shop.conf.j2").notify("restart"));
/// step.reaction("restart", ops::Service::new("shop").restarted());
/// let report = step.apply().await?;
/// if report.changed() == 0 {
///     ctx.log("already up to date");
/// }
/// # Ok(()) }
/// ```
#[must_use = "a step does nothing until .apply().await"]
pub struct Step<'a> {
    ctx: &'a Ctx,
    items: Vec<Item>,
    reactions: Vec<Reaction>,
    vars: Map<String, Value>,
    run_as: RunAs,
}

impl Ctx {
    /// Starts a [`Step`] of operations on this context's host.
    pub fn step(&self) -> Step<'_> {
        Step::new(self)
    }
}

/// Which operation a unit of changes belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Entry(usize),
    Reaction(usize),
}

impl<'a> Step<'a> {
    /// An empty step on `ctx`'s host.
    pub fn new(ctx: &'a Ctx) -> Step<'a> {
        Step {
            ctx,
            items: Vec::new(),
            reactions: Vec::new(),
            vars: Map::new(),
            run_as: RunAs::Root,
        }
    }

    /// Runs the step as the login user instead of root: its facts are read and its changes
    /// applied by the account dm logs in as, never through sudo (Ansible's `become: false`,
    /// pyinfra's default without `_sudo`). For an account without sudo rights that deploys
    /// into its own home (shared hosts, user-level services): the operations then reach only
    /// what that account may read and change, and options that act for another account
    /// (`.owner(..)` of someone else, `Command::user`, `Git::user`) fail as the system refuses
    /// them. Check mode and the round trips are the same as for a step run as root.
    ///
    /// ```no_run
    /// # async fn t(ctx: &dm_core::Ctx) -> anyhow::Result<()> {
    /// use dm_core::ops;
    /// let mut step = ctx.step().as_login_user();
    /// step.add(ops::Directory::new("/home/shop/app").mode(0o750));
    /// step.add(ops::File::bytes("/home/shop/app/config.toml", "port = 8080\n").mode(0o640));
    /// step.apply().await?;
    /// # Ok(()) }
    /// ```
    pub fn as_login_user(mut self) -> Step<'a> {
        self.run_as = RunAs::LoginUser;
        self
    }

    /// Adds an operation; operations apply in the order added.
    pub fn add(&mut self, op: impl Operation + 'static) -> &mut Step<'a> {
        self.items.push(Item::Op(Box::new(op)));
        self
    }

    /// Adds an operation already boxed (for operations built at run time).
    pub fn add_boxed(&mut self, op: Box<dyn Operation>) -> &mut Step<'a> {
        self.items.push(Item::Op(op));
        self
    }

    /// Adds a reaction: `op` runs once at the end of the step if an operation that notifies
    /// `name` changed something, and never in check mode. Reactions do not notify further
    /// reactions.
    pub fn reaction(&mut self, name: &str, op: impl Operation + 'static) -> &mut Step<'a> {
        self.reactions.push(Reaction {
            name: name.to_string(),
            op: Box::new(op),
        });
        self
    }

    /// Adds a component; components run after the components they depend on.
    pub fn component(&mut self, component: Component) -> &mut Step<'a> {
        self.items.push(Item::Component(component));
        self
    }

    /// A template variable for every template of the step.
    pub fn var(&mut self, name: &str, value: impl serde::Serialize) -> &mut Step<'a> {
        self.vars.insert(
            name.to_string(),
            serde_json::to_value(value).unwrap_or(Value::Null),
        );
        self
    }

    /// Plans every operation against the host's facts and, unless in check mode, applies what
    /// differs; then runs the reactions that were notified. Reports every operation as an
    /// [`Event::Operation`] and returns the report.
    ///
    /// The first operation that fails stops the step (the operations after it do not run) and
    /// is the error, naming the operation and its standard error. A template with an undefined
    /// variable fails before anything runs on the host.
    pub async fn apply(self) -> Result<StepReport, OpError> {
        let ctx = self.ctx;
        let host = ctx.name().to_string();
        let mut state = match Prepared::new(self) {
            Ok(s) => s,
            Err(e) => return Err(e.on_host(&host)),
        };
        let result = state.run(ctx).await;
        let report = state.report(ctx.check_mode());
        for op in &report.operations {
            ctx.events().send(Event::Operation {
                host: host.clone(),
                name: op.name.clone(),
                status: op.status,
                description: op.description.clone(),
                diff: op.diff.clone(),
                error: op.error.clone(),
            });
        }
        match result {
            Ok(()) => Ok(report),
            Err(e) => Err(e.on_host(&host)),
        }
    }
}

/// A step whose operations are ordered and prepared, with their reports so far.
struct Prepared {
    host: String,
    entries: Vec<Entry>,
    reactions: Vec<Reaction>,
    entry_reports: Vec<OpReport>,
    reaction_reports: Vec<Option<OpReport>>,
    /// Entries that changed the host (or would, in check mode).
    changed: Vec<bool>,
    /// How many changes were applied so far.
    applied: usize,
    /// Whom the facts and changes run as.
    run_as: RunAs,
}

impl Prepared {
    /// Orders the components, checks notifications, and prepares every operation (templates
    /// render here, before the host is touched).
    fn new(step: Step<'_>) -> Result<Prepared, OpError> {
        let ctx = step.ctx;
        let (mut entries, component_reactions) = component::flatten(step.items)?;
        let mut reactions = step.reactions;
        reactions.extend(component_reactions);
        reaction::check(entries.iter().map(|e| e.op.as_ref()), &reactions)?;
        let base = base_vars(ctx, &step.vars);
        for entry in &mut entries {
            entry.op.prepare(&base.with(&entry.params))?;
        }
        for r in &mut reactions {
            r.op.prepare(&base)?;
        }
        let entry_reports = entries
            .iter()
            .map(|e| OpReport {
                name: e.op.name(),
                status: OpStatus::Skipped,
                description: None,
                diff: None,
                error: None,
            })
            .collect();
        Ok(Prepared {
            host: ctx.name().to_string(),
            changed: vec![false; entries.len()],
            reaction_reports: vec![None; reactions.len()],
            entries,
            reactions,
            entry_reports,
            applied: 0,
            run_as: step.run_as,
        })
    }

    fn report(&self, check: bool) -> StepReport {
        StepReport {
            operations: self
                .entry_reports
                .iter()
                .cloned()
                .chain(self.reaction_reports.iter().flatten().cloned())
                .collect(),
            check,
        }
    }

    /// Gathers, plans and applies, phase by phase.
    async fn run(&mut self, ctx: &Ctx) -> Result<(), OpError> {
        let n = self.entries.len();
        if n == 0 {
            return Ok(());
        }
        let check = ctx.check_mode();
        let options = FactOptions {
            diff: ctx.diff_mode(),
        };
        let mut reaction_facts: Option<Vec<Fact>> = None;
        let mut start = 0;
        let mut check_error = None;
        loop {
            let mut scripts: Vec<String> = self.entries[start..]
                .iter()
                .map(|e| e.op.fact_script(&options))
                .collect();
            if reaction_facts.is_none() {
                scripts.extend(self.reactions.iter().map(|r| r.op.fact_script(&options)));
            }
            let paths = paths_of(self.entries[start..].iter().map(|e| e.op.as_ref()));
            let mut facts = gather(ctx, self.run_as, &scripts, &paths).await?;
            if reaction_facts.is_none() {
                reaction_facts = Some(facts.split_off(n - start));
            }
            let phase = self.plan(start, &facts, check, options.diff);
            if check {
                self.report_check(
                    &phase.planned,
                    reaction_facts.as_deref().unwrap_or_default(),
                );
                check_error = phase.error.map(|(_, e)| e);
                break;
            }
            let last = phase.cut == n && phase.error.is_none();
            let reactions = if last {
                reaction_facts.as_deref().unwrap_or_default()
            } else {
                &[]
            };
            self.apply(ctx, phase.planned, reactions).await?;
            if let Some((i, e)) = phase.error {
                let e = e.on_host(&self.host);
                self.entry_reports[i].status = OpStatus::Failed;
                self.entry_reports[i].error = Some(e.to_string());
                return Err(e);
            }
            if last {
                break;
            }
            start = phase.cut;
        }
        match check_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Plans entries from `start` on against `facts`, until one needs fresh facts (the cut).
    fn plan(&mut self, start: usize, facts: &[Fact], check: bool, diff: bool) -> Phase {
        let n = self.entries.len();
        let mut sim = Simulation::new();
        let mut phase = Phase {
            planned: Vec::new(),
            cut: n,
            error: None,
        };
        for i in start..n {
            let op = self.entries[i].op.as_ref();
            let resources = op.resources();
            let stale = sim.any_dirty(&resources) && !op.follows_predictions();
            if stale && !check {
                phase.cut = i;
                break;
            }
            let report = &mut self.entry_reports[i];
            match op.plan(&facts[i - start], &mut sim) {
                Ok(Plan::Ok) => report.status = OpStatus::Ok,
                Ok(Plan::Change(mut change)) => {
                    sim.mark(resources);
                    if !diff {
                        change.diff = None;
                    }
                    phase.planned.push((i, change));
                }
                // Check mode cannot apply the earlier change to see; say so instead of failing.
                Err(e) if stale => {
                    sim.mark(resources);
                    report.status = OpStatus::WouldChange;
                    report.description = Some(format!(
                        "depends on changes planned above; not checked further ({})",
                        e.on_host(&self.host)
                    ));
                    self.changed[i] = true;
                }
                Err(e) if check => {
                    let e = e.on_host(&self.host);
                    report.status = OpStatus::Failed;
                    report.error = Some(e.to_string());
                    if phase.error.is_none() {
                        phase.error = Some((i, e));
                    }
                }
                Err(e) => {
                    phase.cut = i;
                    phase.error = Some((i, e));
                    break;
                }
            }
        }
        phase
    }

    /// Check mode: planned changes would change; notified reactions would run.
    fn report_check(&mut self, planned: &[(usize, Change)], reaction_facts: &[Fact]) {
        for (i, change) in planned {
            let report = &mut self.entry_reports[*i];
            report.status = OpStatus::WouldChange;
            report.description = Some(change.description.clone());
            report.diff = change.diff.clone();
            self.changed[*i] = true;
        }
        for k in 0..self.reactions.len() {
            let by = self.notifiers(k, |i| self.changed[i]);
            if by.is_empty() {
                continue;
            }
            let r = &self.reactions[k];
            let nothing_to_do = reaction_facts
                .get(k)
                .is_some_and(|f| matches!(r.op.plan(f, &mut Simulation::new()), Ok(Plan::Ok)));
            let report = OpReport {
                name: format!("reaction {}: {}", r.name, r.op.name()),
                status: if nothing_to_do {
                    OpStatus::Ok
                } else {
                    OpStatus::WouldChange
                },
                description: Some(if nothing_to_do {
                    format!("notified by {}; nothing to do", by.join(", "))
                } else {
                    format!("would run, notified by {}", by.join(", "))
                }),
                diff: None,
                error: None,
            };
            self.reaction_reports[k] = Some(report);
        }
    }

    /// Names of the entries that notify reaction `k` and satisfy `pick`.
    fn notifiers(&self, k: usize, pick: impl Fn(usize) -> bool) -> Vec<String> {
        let name = &self.reactions[k].name;
        (0..self.entries.len())
            .filter(|&i| pick(i) && self.entries[i].op.notifies().contains(name))
            .map(|i| self.entry_reports[i].name.clone())
            .collect()
    }

    /// Applies the planned changes (and, in the last phase, the notified reactions) and records
    /// how each ended.
    async fn apply(
        &mut self,
        ctx: &Ctx,
        planned: Vec<(usize, Change)>,
        reaction_facts: &[Fact],
    ) -> Result<(), OpError> {
        let mut work = self.entry_units(planned);
        self.add_reaction_units(&mut work, reaction_facts)?;
        if work.units.is_empty() {
            return Ok(());
        }
        let applied = batch::apply(ctx, self.run_as, &work.units).await?;
        self.record(&work.owners, applied)
    }

    /// One unit per planned change, adjacent apt work sharing one apt call; each change's
    /// description and diff go into its report.
    fn entry_units(&mut self, planned: Vec<(usize, Change)>) -> Units {
        let mut work = Units {
            units: Vec::new(),
            owners: Vec::new(),
        };
        for (i, change) in planned {
            let report = &mut self.entry_reports[i];
            report.description = Some(change.description.clone());
            report.diff = change.diff.clone();
            if let (Some(apt_work), Some(last)) = (&change.action.apt, work.units.last_mut())
                && let Some(prev) = last.action.apt.as_mut()
                && prev.merges_with(apt_work)
            {
                prev.merge(apt_work);
                last.action.script = apt::script(prev);
                if let Some(o) = work.owners.last_mut() {
                    o.push(Target::Entry(i));
                }
                continue;
            }
            work.units.push(Unit {
                action: change.action,
                trigger: Trigger::Always,
            });
            work.owners.push(vec![Target::Entry(i)]);
        }
        work
    }

    /// Adds a unit for each notified reaction that has something to do: always run when an
    /// entry of an earlier phase changed the host, else only if a unit of this batch that
    /// notifies it changes something.
    fn add_reaction_units(
        &mut self,
        work: &mut Units,
        reaction_facts: &[Fact],
    ) -> Result<(), OpError> {
        for (k, fact) in reaction_facts.iter().enumerate() {
            let name = self.reactions[k].name.clone();
            let earlier = self.notifiers(k, |i| self.changed[i]);
            let here: Vec<usize> = work
                .owners
                .iter()
                .enumerate()
                .filter(|(_, o)| {
                    o.iter().any(|t| {
                        matches!(t, Target::Entry(i) if self.entries[*i].op.notifies().contains(&name))
                    })
                })
                .map(|(u, _)| u)
                .collect();
            if earlier.is_empty() && here.is_empty() {
                continue;
            }
            let r = &self.reactions[k];
            let mut report = OpReport {
                name: format!("reaction {}: {}", r.name, r.op.name()),
                status: OpStatus::Skipped,
                description: None,
                diff: None,
                error: None,
            };
            match r.op.plan(fact, &mut Simulation::new()) {
                Ok(Plan::Ok) => {
                    report.status = OpStatus::Ok;
                    self.reaction_reports[k] = Some(report);
                }
                Ok(Plan::Change(change)) => {
                    report.description = Some(change.description.clone());
                    self.reaction_reports[k] = Some(report);
                    work.units.push(Unit {
                        action: change.action,
                        trigger: if earlier.is_empty() {
                            Trigger::IfChanged(here)
                        } else {
                            Trigger::Always
                        },
                    });
                    work.owners.push(vec![Target::Reaction(k)]);
                }
                Err(e) => {
                    let e = e.on_host(&self.host);
                    report.status = OpStatus::Failed;
                    report.error = Some(e.to_string());
                    self.reaction_reports[k] = Some(report);
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Records how each unit ended in its owners' reports. The first unit that failed is the
    /// error; else a batch that broke off before its end.
    fn record(&mut self, owners: &[Vec<Target>], applied: Applied) -> Result<(), OpError> {
        let mut failure = None;
        for (u, result) in applied.results.into_iter().enumerate() {
            for &target in &owners[u] {
                self.record_unit(target, &result);
            }
            match result {
                UnitResult::Done => self.applied += 1,
                UnitResult::Failed { status, stderr } if failure.is_none() => {
                    failure = Some(OpError::Failed {
                        host: String::new(),
                        op: self.owner_names(&owners[u]),
                        status,
                        stderr,
                        applied: self.applied,
                    });
                }
                _ => {}
            }
        }
        if let Some(e) = failure {
            return Err(e);
        }
        if let Some((status, stderr)) = applied.broken {
            return Err(OpError::Incomplete {
                host: String::new(),
                what: "applying changes".to_string(),
                status,
                stderr,
            });
        }
        Ok(())
    }

    /// The report of one owner of a unit that ended with `result`.
    fn record_unit(&mut self, target: Target, result: &UnitResult) {
        let report = match target {
            Target::Entry(i) => &mut self.entry_reports[i],
            Target::Reaction(k) => match self.reaction_reports[k].as_mut() {
                Some(r) => r,
                None => return,
            },
        };
        match result {
            UnitResult::Done => {
                report.status = OpStatus::Changed;
                if let Target::Entry(i) = target {
                    self.changed[i] = true;
                }
            }
            UnitResult::Unchanged => {
                report.status = OpStatus::Ok;
                report.description = None;
                report.diff = None;
            }
            UnitResult::Failed { stderr, .. } => {
                report.status = OpStatus::Failed;
                report.error = Some(stderr.trim_end().to_string());
            }
            UnitResult::NotTriggered => {
                if let Target::Reaction(k) = target {
                    self.reaction_reports[k] = None;
                }
            }
            UnitResult::NotRun => report.status = OpStatus::Skipped,
        }
    }

    /// The owners of a unit as an error names them: `` a`, `reaction b ``.
    fn owner_names(&self, owners: &[Target]) -> String {
        let names: Vec<String> = owners
            .iter()
            .map(|t| match t {
                Target::Entry(i) => self.entry_reports[*i].name.clone(),
                Target::Reaction(k) => format!("reaction {}", self.reactions[*k].name),
            })
            .collect();
        names.join("`, `")
    }
}

/// The units of one batch, and for each the entries or the reaction whose work it is.
struct Units {
    units: Vec<Unit>,
    owners: Vec<Vec<Target>>,
}

/// The plan of one phase.
struct Phase {
    /// Entries with a change, in order.
    planned: Vec<(usize, Change)>,
    /// The first entry that needs fresh facts (or `n`).
    cut: usize,
    /// An entry that could not be planned.
    error: Option<(usize, OpError)>,
}

/// The variables every template of the step sees (before component parameters and the
/// operation's own): `env`, `host`, `environment`, the host's inventory vars, the step's vars.
fn base_vars(ctx: &Ctx, step_vars: &Map<String, Value>) -> TemplateVars {
    let mut vars = Map::new();
    let env: Map<String, Value> = std::env::vars()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    vars.insert("env".to_string(), Value::Object(env));
    let h = ctx.host();
    vars.insert(
        "host".to_string(),
        serde_json::json!({
            "name": h.name,
            "address": h.address,
            "port": h.port,
            "user": h.user,
            "roles": h.roles,
        }),
    );
    vars.insert(
        "environment".to_string(),
        ctx.inventory()
            .environment()
            .map(Value::from)
            .unwrap_or(Value::Null),
    );
    for (k, v) in ctx.vars() {
        vars.insert(k.clone(), v.clone());
    }
    for (k, v) in step_vars {
        vars.insert(k.clone(), v.clone());
    }
    let base_dir = ctx
        .inventory()
        .path()
        .and_then(|p| p.parent())
        .filter(|p| !p.as_os_str().is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_default();
    TemplateVars::new(vars, base_dir)
}
