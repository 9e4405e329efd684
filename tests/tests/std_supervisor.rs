//! supervisor programs on a real machine: applying programs starts them; applying the same
//! programs again changes nothing; changing one restarts only that one; a program no longer
//! described is removed; a periodic job from an `app.processes` entry runs again and again.

use std::time::{Duration, Instant};

use dm::prelude::*;
use dm::tasks::app::AppConfig;
use dm::tasks::supervisor::{ProcessSpec, Program, apply_programs};
use dm::testing::{Fleet, Machine, RunReport};

/// An environment value of `demo-a`, as an app's secret would be.
const TOKEN: &str = "sup-demo-token-4e1f";

/// Applies the demo programs: `variant` 1 and 2 differ in program `demo-a` only; `drop-b` is 2
/// without `demo-b`.
#[task]
async fn sup_demo(ctx: &Ctx, variant: String) -> Result<()> {
    let a_command = if variant == "1" {
        "sleep 1001"
    } else {
        "sleep 2001"
    };
    let mut programs = vec![
        Program::new("demo-a", a_command)
            .user("nobody")
            .directory("/tmp")
            .env("DEMO_TOKEN", TOKEN),
    ];
    if variant != "drop-b" {
        programs.push(Program::new("demo-b", "sleep 1002").user("nobody"));
    }
    let app: AppConfig = serde_json::from_value(serde_json::json!({"name": "demo"}))?;
    let tick: ProcessSpec = serde_json::from_value(serde_json::json!({
        "kind": "periodic",
        "command": "date +%s.%N >> /tmp/ticks",
        "interval": 1,
        "user": "root",
        "directory": "/tmp",
    }))?;
    programs.push(tick.to_program(&app, "tick", "-").map_err(|e| anyhow!(e))?);
    let report = apply_programs(ctx, "demo", &programs).await?;
    ctx.log(format!("changed={}", report.changed()));
    Ok(())
}

fn apply(fleet: &Fleet, variant: &str) -> RunReport {
    fleet.dm_ok(["--json", "-H", "s1", "sup-demo", variant])
}

fn pid(m: &Machine, program: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let pid = m
            .exec_ok(&format!("supervisorctl pid {program}"))
            .trim()
            .to_string();
        if pid.parse::<u32>().is_ok_and(|p| p > 0) {
            return pid;
        }
        assert!(Instant::now() < deadline, "{program} is not running: {pid}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn only_changed_programs_restart() {
    dm::tasks::link();
    let fleet = Fleet::builder().machine("s1", &[]).boot().expect("boot");
    let m = fleet.machine("s1");

    let first = apply(&fleet, "1");
    assert!(
        first.operations.changed >= 4,
        "{:?}",
        first.hosts[0].operations
    );
    let (a1, b1) = (pid(m, "demo-a"), pid(m, "demo-b"));
    assert_eq!(m.exec_ok(&format!("ps -o user= -p {a1}")).trim(), "nobody");
    // The config carries the environment: readable by root (supervisord) alone.
    let conf = "/etc/supervisor/conf.d/demo-a.conf";
    assert_eq!(m.exec_ok(&format!("stat -c %a {conf}")).trim(), "600");
    assert!(m.exec_ok(&format!("cat {conf}")).contains(TOKEN));
    let peek = m
        .exec(&format!("runuser -u nobody -- cat {conf}"))
        .expect("ssh runs");
    assert!(
        !peek.status.success() && !String::from_utf8_lossy(&peek.stdout).contains(TOKEN),
        "another user reads the program's environment"
    );

    let again = apply(&fleet, "1");
    assert_eq!(
        again.operations.changed, 0,
        "{:?}",
        again.hosts[0].operations
    );
    assert_eq!(
        (pid(m, "demo-a"), pid(m, "demo-b")),
        (a1.clone(), b1.clone())
    );

    // One program changes: only it restarts.
    let changed = apply(&fleet, "2");
    let changed_ops: Vec<&str> = changed.hosts[0]
        .operations
        .iter()
        .filter(|o| o.status == dm::ops::OpStatus::Changed)
        .map(|o| o.name.as_str())
        .collect();
    assert_eq!(changed_ops.len(), 2, "{changed_ops:?}");
    assert!(changed_ops[0].contains("demo-a.conf"), "{changed_ops:?}");
    let a2 = pid(m, "demo-a");
    assert_ne!(a2, a1);
    assert_eq!(pid(m, "demo-b"), b1);
    assert!(
        m.exec_ok(&format!("ps -o args= -p {a2}"))
            .contains("sleep 2001")
    );

    // A periodic job ran several times (its `%` survived supervisor's expansion).
    let deadline = Instant::now() + Duration::from_secs(30);
    while m
        .exec_ok("cat /tmp/ticks 2>/dev/null | wc -l")
        .trim()
        .parse::<u32>()
        .unwrap_or(0)
        < 3
    {
        assert!(Instant::now() < deadline, "the periodic job does not run");
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(m.exec_ok("head -n 1 /tmp/ticks").trim().contains('.'));

    // A program no longer described is stopped and its file removed.
    apply(&fleet, "drop-b");
    assert!(!m.exec_ok("ls /etc/supervisor/conf.d").contains("demo-b"));
    let status = m.exec("supervisorctl status").expect("status");
    let status = String::from_utf8_lossy(&status.stdout).to_string();
    assert!(!status.contains("demo-b"), "{status}");
    assert_eq!(pid(m, "demo-a"), a2);
}
