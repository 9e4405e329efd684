//! The Python/Django helpers (`dm::tasks::python`) on a real app node: a tiny Django project (one
//! app with a model, its migration and a static file) in a local git repository on the
//! controller is deployed by the appnode recipe with Debian's `python3-django` (the machines
//! reach no package index), then the helpers make a virtualenv that sees the system's packages,
//! `pip install --no-index` is satisfied by Debian's Django, `migrate` creates the tables (once:
//! a second run applies nothing), `collectstatic` fills STATIC_ROOT, and the `manage-py` task
//! shows Django's output per host and fails, with Django's error, when the command fails.

use std::path::{Path, PathBuf};

use dm::prelude::*;
use dm::tasks::app::AppConfig;
use dm::tasks::python;
use dm::testing::{Fleet, Machine, RunReport};
use dm_tests::{Dm, git};

/// The appnode role recipe, as `launch` applies it: packages, app user, first deploy.
#[task]
async fn python_recipe(ctx: &Ctx) -> Result<()> {
    dm::tasks::appnode::appnode(ctx).await
}

/// The live release's real directory (`current` resolved), where the helpers work.
async fn live_release_dir(ctx: &Ctx, app: &AppConfig) -> Result<String> {
    let dir = ctx
        .run(format!("readlink -f {}", shell_quote(&app.current())))
        .quiet()
        .await?;
    Ok(dir.trimmed().to_string())
}

/// `python::venv` at `name` in the live release (or at `name` itself when it does not start with
/// a letter), twice: prints whether each call created the virtualenv.
#[task]
async fn py_venv(ctx: &Ctx, name: String) -> Result<()> {
    let app = AppConfig::from_ctx(ctx)?;
    let venv = if name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        format!("{}/{name}", live_release_dir(ctx, &app).await?)
    } else {
        name
    };
    let first = python::venv(ctx, &venv, app.user(), true).await?;
    let second = python::venv(ctx, &venv, app.user(), true).await?;
    ctx.log(format!("venv created: first={first} second={second}"));
    Ok(())
}

/// `python::pip_install` of a requirements file of the live release, without a package index.
#[task]
async fn py_pip(ctx: &Ctx, requirements: String) -> Result<()> {
    let app = AppConfig::from_ctx(ctx)?;
    let release = live_release_dir(ctx, &app).await?;
    python::pip_install(ctx, "venv", &release, app.user(), &requirements, true).await?;
    ctx.log("pip install done");
    Ok(())
}

/// `python::migrate` in the live release; prints the length of what it returned.
#[task]
async fn py_migrate(ctx: &Ctx) -> Result<()> {
    let app = AppConfig::from_ctx(ctx)?;
    let release = live_release_dir(ctx, &app).await?;
    let out = python::migrate(ctx, &app, &release).await?;
    ctx.log(format!("migrate returned {} bytes", out.stdout.len()));
    Ok(())
}

/// `python::collectstatic` in the live release.
#[task]
async fn py_collectstatic(ctx: &Ctx) -> Result<()> {
    let app = AppConfig::from_ctx(ctx)?;
    let release = live_release_dir(ctx, &app).await?;
    let out = python::collectstatic(ctx, &app, &release).await?;
    ctx.log(format!("collectstatic returned {} bytes", out.stdout.len()));
    Ok(())
}

const APP: &str = "/srv/shop";
const DB: &str = "/srv/shop/shared/db/shop.sqlite3";

/// The files of the Django project `shop` with the app `notes`, for Debian bookworm's Django 3.2.
const PROJECT: &[(&str, &str)] = &[
    (
        "manage.py",
        r#"#!/usr/bin/env python3
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")
    from django.core.management import execute_from_command_line
    execute_from_command_line(sys.argv)
"#,
    ),
    ("shop/__init__.py", ""),
    (
        "shop/settings.py",
        r#"import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "dm-test-only-not-a-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.staticfiles",
    "notes",
]
ROOT_URLCONF = "shop.urls"
# The database lives in the app's shared directory, outside the releases; the deploy's
# app.env says where.
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ["SHOP_DB"],
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
USE_TZ = True
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
"#,
    ),
    ("shop/urls.py", "urlpatterns = []\n"),
    ("notes/__init__.py", ""),
    (
        "notes/models.py",
        r#"from django.db import models


class Note(models.Model):
    text = models.CharField(max_length=200)
"#,
    ),
    ("notes/migrations/__init__.py", ""),
    (
        "notes/migrations/0001_initial.py",
        r#"from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(
            name="Note",
            fields=[
                ("id", models.AutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("text", models.CharField(max_length=200)),
            ],
        ),
    ]
"#,
    ),
    (
        "notes/static/notes/site.css",
        "body { color: #123456; } /* dm-static-marker */\n",
    ),
    ("requirements.txt", "Django>=3.2\n"),
    ("requirements-missing.txt", "no-such-package-dm-test\n"),
];

/// A git repository on the controller holding the Django project, committed on `main`.
fn django_repo() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let repo = dir.path().join("shop");
    for (path, text) in PROJECT {
        let file = repo.join(path);
        std::fs::create_dir_all(file.parent().expect("has a parent")).expect("project dir");
        std::fs::write(&file, text).expect("write project file");
    }
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "django project"]);
    (dir, repo)
}

/// The fleet's inventory with the `app` vars on top: Debian's Django as an extra package, the
/// database in the shared `db` directory, no build commands (the test calls the helpers).
fn write_inventory(fleet: &Fleet, repo: &Path) {
    let app = format!(
        r#"[vars.app]
name = "shop"
repo = "{repo}"
branch = "main"
shared_dirs = ["db"]
packages = ["python3-django"]
static_dir = "staticfiles"

[vars.app.env]
SHOP_DB = "{DB}"
"#,
        repo = repo.display()
    );
    std::fs::write(
        fleet.inventory_path(),
        format!("{app}\n{}", fleet.inventory_toml()),
    )
    .expect("write dm.toml");
}

/// Runs a task in-process (`--json`, so the report holds the output); returns its report
/// whether or not it succeeded.
fn dm(fleet: &Fleet, args: &[&str]) -> RunReport {
    let mut line = vec!["--json"];
    line.extend_from_slice(args);
    fleet
        .dm(&line)
        .unwrap_or_else(|e| panic!("dm {args:?} could not run: {e}"))
}

/// Like [`dm`], for runs that must succeed.
fn dm_ok(fleet: &Fleet, args: &[&str]) -> RunReport {
    let report = dm(fleet, args);
    assert!(report.success, "dm {args:?} failed:\n{}", text(&report));
    report
}

/// Everything a run printed and its error, for assertions and failure messages.
fn text(report: &RunReport) -> String {
    report
        .hosts
        .iter()
        .flat_map(|h| {
            h.output
                .iter()
                .map(|l| format!("[{}] {}", h.host, l.line))
                .chain(h.error.clone())
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The tables of the app's sqlite database, read on the host with Python's sqlite3 module.
fn tables(m: &Machine) -> Vec<String> {
    let listed = m.exec_ok(&format!(
        "python3 -c \"import sqlite3; [print(r[0]) for r in sqlite3.connect('{DB}').execute('select name from sqlite_master where type=\\'table\\' order by name')]\""
    ));
    listed.lines().map(str::to_string).collect()
}

/// How many migrations Django recorded as applied.
fn applied_migrations(m: &Machine) -> usize {
    m.exec_ok(&format!(
        "python3 -c \"import sqlite3; print(sqlite3.connect('{DB}').execute('select count(*) from django_migrations').fetchone()[0])\""
    ))
    .trim()
    .parse()
    .expect("a count")
}

#[test]
fn django_helpers_venv_pip_migrate_collectstatic_and_manage_py() {
    dm::tasks::link();
    let (_tmp, repo) = django_repo();
    let fleet = Fleet::builder()
        .machine("app1", &["appnode"])
        .boot()
        .expect("boot");
    let m = fleet.machine("app1");
    write_inventory(&fleet, &repo);

    // The recipe installs git, python3-venv and Debian's Django, and deploys the project.
    dm_ok(&fleet, &["-H", "app1", "python-recipe"]);
    let release = m
        .exec_ok(&format!("readlink -f {APP}/current"))
        .trim()
        .to_string();
    assert!(
        release.starts_with(&format!("{APP}/releases/")),
        "{release}"
    );

    // venv: created by the first call, left alone by the second; owned by the app user and
    // seeing the system's packages (Debian's Django, not one from an index).
    let venv = dm_ok(&fleet, &["-H", "app1", "py-venv", "venv"]);
    assert!(
        text(&venv).contains("venv created: first=true second=false"),
        "{}",
        text(&venv)
    );
    assert_eq!(
        m.exec_ok(&format!("stat -c %U {release}/venv/bin/python"))
            .trim(),
        "shop"
    );
    assert!(
        m.exec_ok(&format!("cat {release}/venv/pyvenv.cfg"))
            .contains("include-system-site-packages = true")
    );
    assert_eq!(
        m.exec_ok(&format!(
            "{release}/venv/bin/python -c 'import django; print(django.__file__)'"
        ))
        .trim(),
        "/usr/lib/python3/dist-packages/django/__init__.py"
    );

    // A virtualenv left half-made (python3-venv missing: bin/python made, pip not) fails with
    // Python's explanation, and is completed by the next call once python3-venv is back.
    m.exec_ok("apt-get remove -y -q python3.11-venv");
    let broken = dm(&fleet, &["-H", "app1", "py-venv", "half"]);
    assert!(!broken.success);
    let said = text(&broken);
    assert!(
        said.contains("making the virtualenv") && said.contains("apt install python3.11-venv"),
        "{said}"
    );
    assert!(
        m.exec(&format!("test -x {release}/half/bin/python"))
            .expect("ssh")
            .status
            .success()
    );
    assert!(
        !m.exec(&format!("test -e {release}/half/bin/pip"))
            .expect("ssh")
            .status
            .success()
    );
    m.exec_ok("apt-get install -y -q python3-venv");
    let completed = dm_ok(&fleet, &["-H", "app1", "py-venv", "half"]);
    assert!(
        text(&completed).contains("venv created: first=true second=false"),
        "{}",
        text(&completed)
    );
    assert!(
        m.exec(&format!("test -x {release}/half/bin/pip"))
            .expect("ssh")
            .status
            .success()
    );
    // A relative path is refused (it would land wherever the shell starts).
    let relative = dm(&fleet, &["-H", "app1", "py-venv", "./venv"]);
    assert!(!relative.success);
    assert!(
        text(&relative).contains("must be an absolute path"),
        "{}",
        text(&relative)
    );

    // pip --no-index: Django is satisfied by the Debian package; a requirement nothing
    // installed satisfies fails, naming it.
    dm_ok(&fleet, &["-H", "app1", "py-pip", "requirements.txt"]);
    let missing = dm(
        &fleet,
        &["-H", "app1", "py-pip", "requirements-missing.txt"],
    );
    assert!(!missing.success);
    assert!(
        text(&missing).contains("no-such-package-dm-test"),
        "{}",
        text(&missing)
    );

    // migrate: creates the app's table and records its migration; Django's output is shown.
    let migrated = dm_ok(&fleet, &["-H", "app1", "py-migrate"]);
    let said = text(&migrated);
    assert!(said.contains("Applying notes.0001_initial... OK"), "{said}");
    let made = tables(m);
    assert!(
        made.contains(&"notes_note".to_string()) && made.contains(&"django_migrations".to_string()),
        "{made:?}"
    );
    assert_eq!(
        m.exec_ok(&format!("stat -c %U {DB}")).trim(),
        "shop",
        "the database belongs to the app user"
    );
    let applied = applied_migrations(m);
    assert!(applied >= 2, "contenttypes and notes: {applied}");

    // A second migrate applies nothing.
    let again = dm_ok(&fleet, &["-H", "app1", "py-migrate"]);
    assert!(
        text(&again).contains("No migrations to apply."),
        "{}",
        text(&again)
    );
    assert_eq!(applied_migrations(m), applied);

    // collectstatic: the app's static file lands under STATIC_ROOT, in the release.
    let collected = dm_ok(&fleet, &["-H", "app1", "py-collectstatic"]);
    assert!(
        text(&collected).contains("1 static file copied"),
        "{}",
        text(&collected)
    );
    assert!(
        m.read_file(&format!("{release}/staticfiles/notes/site.css"))
            .contains("dm-static-marker")
    );

    // manage-py as a CLI task: Django's output, per host; it runs the virtualenv's python.
    let check = dm_ok(&fleet, &["-H", "app1", "manage-py", "check"]);
    assert!(
        text(&check).contains("[app1] System check identified no issues"),
        "{}",
        text(&check)
    );
    let shown = dm_ok(&fleet, &["-H", "app1", "manage-py", "showmigrations notes"]);
    assert!(
        text(&shown).contains("[X] 0001_initial"),
        "{}",
        text(&shown)
    );
    let prefix = dm_ok(
        &fleet,
        &[
            "-H",
            "app1",
            "manage-py",
            "shell -c 'import sys; print(\"prefix=\" + sys.prefix)'",
        ],
    );
    assert!(
        text(&prefix).contains(&format!("[app1] prefix={release}/venv")),
        "{}",
        text(&prefix)
    );

    // The fabfile binary a user runs prints the same lines with the host prefix.
    let run = Dm::new(&fleet)
        .args(["-H", "app1", "manage-py", "check"])
        .run();
    run.assert_success();
    assert!(
        run.stdout()
            .lines()
            .any(|l| l.starts_with("[app1] ") && l.contains("System check identified no issues")),
        "{}",
        run.describe()
    );

    // A failing manage.py command fails the task and shows Django's stderr.
    let failed = dm(&fleet, &["-H", "app1", "manage-py", "no-such-command"]);
    assert!(!failed.success);
    let error = failed.hosts[0].error.clone().unwrap_or_default();
    assert!(
        error.contains("Unknown command: 'no-such-command'"),
        "{}",
        text(&failed)
    );
    assert!(
        error.contains("`manage.py no-such-command` failed in /srv/shop/current"),
        "{error}"
    );
    let run = Dm::new(&fleet)
        .args(["-H", "app1", "manage-py", "no-such-command"])
        .run();
    assert_ne!(run.code(), 0, "{}", run.describe());
    run.assert_output_contains("Unknown command: 'no-such-command'");

    // --check runs nothing: it only says what would run.
    let checked = dm_ok(
        &fleet,
        &["--check", "-H", "app1", "manage-py", "no-such-command"],
    );
    assert!(
        text(&checked).contains("check mode: would run `manage.py no-such-command`"),
        "{}",
        text(&checked)
    );

    // Without a live release the task says to deploy first.
    let inventory = std::fs::read_to_string(fleet.inventory_path()).expect("dm.toml");
    std::fs::write(
        fleet.inventory_path(),
        inventory.replacen("name = \"shop\"", "name = \"undeployed\"", 1),
    )
    .expect("write dm.toml");
    let nothing = dm(&fleet, &["-H", "app1", "manage-py", "check"]);
    assert!(!nothing.success);
    assert!(
        text(&nothing).contains("/srv/undeployed/current/manage.py is missing")
            && text(&nothing).contains("deploy the app first"),
        "{}",
        text(&nothing)
    );
}
