//! `secrets`: dm's built-in command for the encrypted secrets store (see [`crate::secrets`]).
//!
//! ```sh
//! dm secrets keygen                                   # ~/.config/dm/age.key; prints the public key
//! dm secrets init production --recipient age1...      # secrets/production.{age,recipients}
//! echo -n 's3cret' | dm secrets set production postgres_password
//! dm secrets edit production                          # $EDITOR on a decrypted temporary copy
//! dm secrets show production [KEY]
//! dm secrets recipients production [add KEY | remove KEY]
//! ```
//!
//! It is a subcommand beside the tasks, so no task may be named `secrets`.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use age::secrecy::zeroize::Zeroizing;
use clap::{Arg, ArgAction, ArgMatches, Command, value_parser};

use super::Settings;
use super::exit;
use crate::error::{Error, suggest};
use crate::inventory::{Inventory, LoadOptions};
use crate::secrets::{self, EditOptions, EditOutcome, Identities, Recipient, SecretsFile};
use crate::task::TaskDef;

/// The name of the built-in subcommand; a task cannot have it.
pub const NAME: &str = "secrets";

/// The `secrets` subcommand and its own subcommands.
pub fn command() -> Command {
    let env = || {
        Arg::new("env")
            .value_name("ENV")
            .required(true)
            .help("The environment (as in dm.toml's [environments])")
    };
    Command::new(NAME)
        .about("Encrypted secrets of each environment: init, edit, show, set, recipients, keygen (built in)")
        .subcommand_required(true)
        .arg_required_else_help(true)
        .arg(
            Arg::new("identity_file")
                .long("identity-file")
                .value_name("KEYFILE")
                .env("DM_AGE_IDENTITY")
                .global(true)
                .value_parser(value_parser!(PathBuf))
                .help("Private key to decrypt with: an age key file or an SSH key [default: ~/.config/dm/age.key, ~/.ssh/id_ed25519, ~/.ssh/id_rsa]"),
        )
        .subcommand(
            Command::new("init")
                .about("Create secrets/ENV.age (empty) and secrets/ENV.recipients")
                .arg(env())
                .arg(
                    Arg::new("recipient")
                        .short('r')
                        .long("recipient")
                        .value_name("KEY")
                        .required(true)
                        .action(ArgAction::Append)
                        .help("Public key to encrypt to (age1..., ssh-ed25519 ..., ssh-rsa ..., or a .pub file); repeatable"),
                ),
        )
        .subcommand(
            Command::new("edit")
                .about("Edit the secrets in $EDITOR (a private temporary copy, removed afterwards)")
                .arg(env()),
        )
        .subcommand(
            Command::new("show")
                .about("Print the decrypted secrets, or one value")
                .arg(env())
                .arg(Arg::new("key").value_name("KEY").help("Print only this value (dotted for tables: tls.key)")),
        )
        .subcommand(
            Command::new("set")
                .about("Set one value, read from standard input (asked without echo on a terminal)")
                .arg(env())
                .arg(Arg::new("key").value_name("KEY").required(true)),
        )
        .subcommand(
            Command::new("recipients")
                .about("List who can decrypt the secrets; add or remove a recipient (re-encrypts)")
                .arg(env())
                .subcommand(
                    Command::new("add")
                        .about("Add a public key and re-encrypt so it can decrypt")
                        .arg(Arg::new("key").value_name("KEY").required(true).help("age1..., ssh-ed25519 ..., ssh-rsa ..., or a .pub file")),
                )
                .subcommand(
                    Command::new("remove")
                        .about("Remove a key (or the key with this comment) and re-encrypt without it")
                        .arg(Arg::new("key").value_name("KEY").required(true)),
                ),
        )
        .subcommand(
            Command::new("keygen")
                .about("Create your age key (~/.config/dm/age.key) and print its public key")
                .arg(
                    Arg::new("output")
                        .short('o')
                        .long("output")
                        .value_name("FILE")
                        .value_parser(value_parser!(PathBuf))
                        .help("Where to write the key [default: ~/.config/dm/age.key]"),
                ),
        )
}

/// If a task has the built-in's name, the message refusing it: where the task is and how to
/// rename it. (The command line cannot offer both under one name.)
pub fn name_clash(tasks: &[&'static TaskDef]) -> Option<String> {
    let t = tasks.iter().find(|t| t.name == NAME)?;
    Some(format!(
        "the task `{}` in {} has the name of dm's built-in `{NAME}` command; rename it, e.g. #[task(name = \"{}-task\")]",
        t.name, t.module_path, t.name
    ))
}

/// Runs `secrets ...` and returns the exit code; errors are printed.
pub async fn run(matches: &ArgMatches, settings: &Settings) -> ExitCode {
    match execute(matches, settings).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            exit::for_error(&e)
        }
    }
}

async fn execute(matches: &ArgMatches, settings: &Settings) -> Result<(), Error> {
    let identity = matches.get_one::<PathBuf>("identity_file").cloned();
    let Some((action, m)) = matches.subcommand() else {
        return Err(refused(
            "name what to do: init, edit, show, set, recipients or keygen",
        ));
    };
    if action == "keygen" {
        return keygen(m.get_one::<PathBuf>("output").cloned());
    }
    let env = m
        .get_one::<String>("env")
        .ok_or_else(|| refused("name the environment"))?;
    let file = secrets_file(settings, env)?;
    let identities = || Identities::discover(identity.as_deref());
    match action {
        "init" => {
            let recipients = m
                .get_many::<String>("recipient")
                .into_iter()
                .flatten()
                .map(|r| Recipient::from_arg(r))
                .collect::<Result<Vec<_>, _>>()?;
            let n = recipients.len();
            file.init(recipients)?;
            eprintln!(
                "created {} (empty) and {} ({n} recipient{}); add values with `secrets set {env} KEY` or `secrets edit {env}`",
                file.path().display(),
                file.recipients_path().display(),
                if n == 1 { "" } else { "s" }
            );
        }
        "edit" => {
            let mut opts = EditOptions::from_env();
            if std::io::stdin().is_terminal() {
                opts.ask_again = Some(Box::new(|err: &Error| {
                    eprintln!("error: {err}");
                    confirm("Edit again? [Y/n] ")
                }));
            }
            match secrets::edit(&file, &identities()?, &opts).await? {
                EditOutcome::Saved => eprintln!("saved {}", file.path().display()),
                EditOutcome::Unchanged => {
                    eprintln!("no changes; {} left as it was", file.path().display())
                }
            }
        }
        "show" => {
            let doc = file.read(&identities()?)?;
            let mut out = std::io::stdout().lock();
            let written = match m.get_one::<String>("key") {
                Some(key) => {
                    let value = doc.get(key).ok_or_else(|| {
                        refused(&format!(
                            "{} has no value `{key}`; it has: {}",
                            file.path().display(),
                            doc.keys().join(", ")
                        ))
                    })?;
                    writeln!(out, "{value}")
                }
                None => write!(out, "{}", doc.text()),
            };
            written.map_err(|source| Error::LocalIo {
                path: "stdout".into(),
                source,
            })?;
        }
        "set" => {
            let key = m
                .get_one::<String>("key")
                .ok_or_else(|| refused("name the key"))?;
            let value = read_value(key)?;
            file.set(&identities()?, key, &value)?;
            eprintln!("set `{key}` in {}", file.path().display());
        }
        "recipients" => match m.subcommand() {
            None => {
                for r in file.recipients()?.iter() {
                    println!("{r}");
                }
            }
            Some(("add", a)) => {
                let arg = a
                    .get_one::<String>("key")
                    .ok_or_else(|| refused("give the key"))?;
                file.add_recipient(&identities()?, Recipient::from_arg(arg)?)?;
                eprintln!(
                    "added; {} is now encrypted to {} recipients",
                    file.path().display(),
                    file.recipients()?.iter().count()
                );
            }
            Some(("remove", a)) => {
                let arg = a
                    .get_one::<String>("key")
                    .ok_or_else(|| refused("give the key"))?;
                let removed = file.remove_recipient(&identities()?, arg)?;
                eprintln!(
                    "removed {}; {} is re-encrypted without it. It can still read older copies (e.g. in version control): change the secrets it knew.",
                    removed.line(),
                    file.path().display()
                );
            }
            Some((other, _)) => return Err(refused(&format!("unknown action `{other}`"))),
        },
        other => return Err(refused(&format!("unknown action `{other}`"))),
    }
    Ok(())
}

/// The secrets files of `env` next to the inventory; `env` must be one of its environments.
fn secrets_file(settings: &Settings, env: &str) -> Result<SecretsFile, Error> {
    // -E / DM_ENV do not apply here: the environment is the positional argument.
    let inventory = Inventory::load(&LoadOptions {
        environment: None,
        ..settings.inventory.clone()
    })?;
    let Some(path) = inventory.path() else {
        return Err(refused(
            "no dm.toml here: secrets live in secrets/ next to the inventory; run in its directory or pass -f FILE",
        ));
    };
    let known = inventory.environments();
    if !known.contains(&env) {
        return Err(Error::UnknownEnvironment {
            name: env.to_string(),
            inventory: format!(
                "{}{}",
                path.display(),
                suggest(env, known.iter().copied())
                    .map(|s| format!(" (did you mean `{s}`?); it"))
                    .unwrap_or_default()
            ),
            known: known.iter().map(|s| s.to_string()).collect(),
        });
    }
    SecretsFile::for_inventory(&inventory, env).unwrap_or_else(|| Err(refused("no inventory file")))
}

/// The value for `secrets set`: asked without echo on a terminal, else all of standard input
/// with one trailing newline removed (what `echo` adds).
fn read_value(key: &str) -> Result<Zeroizing<String>, Error> {
    let stdin_err = |source| Error::LocalIo {
        path: "stdin".into(),
        source,
    };
    let mut value = Zeroizing::new(String::new());
    if std::io::stdin().is_terminal() {
        *value = crate::prompt::ask_hidden(&format!("value of `{key}` (not shown): "))
            .map_err(stdin_err)?;
    } else {
        std::io::stdin()
            .read_to_string(&mut value)
            .map_err(stdin_err)?;
        if value.ends_with('\n') {
            value.pop();
            if value.ends_with('\r') {
                value.pop();
            }
        }
    }
    if value.is_empty() {
        return Err(refused(&format!(
            "no value for `{key}` on standard input; e.g. `printf %s VALUE | ... secrets set ENV {key}`"
        )));
    }
    Ok(value)
}

/// `secrets keygen`: a new age key, written with mode 0600; its public key on stdout.
fn keygen(output: Option<PathBuf>) -> Result<(), Error> {
    use age::secrecy::ExposeSecret;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let path = match output {
        Some(p) => p,
        None => crate::ssh::identity::home_dir()
            .map(|home| home.join(".config/dm/age.key"))
            .ok_or_else(|| refused("$HOME is not set; pass --output FILE"))?,
    };
    if path.exists() {
        return Err(Error::SecretsExist { path });
    }
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::LocalIo { path, source }
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io(dir))?;
    }
    let key = age::x25519::Identity::generate();
    let public = key.to_public().to_string();
    let text = Zeroizing::new(format!(
        "# dm secrets key; public key: {public}\n{}\n",
        key.to_string().expose_secret()
    ));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(io(&path))?;
    f.write_all(text.as_bytes()).map_err(io(&path))?;
    eprintln!(
        "wrote {}; give this public key to whoever adds you as a recipient (`secrets recipients ENV add KEY`):",
        path.display()
    );
    println!("{public}");
    Ok(())
}

fn confirm(question: &str) -> bool {
    eprint!("{question}");
    let mut answer = String::new();
    if std::io::stdin().read_line(&mut answer).is_err() {
        return false;
    }
    let a = answer.trim().to_ascii_lowercase();
    a.is_empty() || a == "y" || a == "yes"
}

fn refused(message: &str) -> Error {
    Error::SecretsRefused {
        message: message.to_string(),
    }
}
