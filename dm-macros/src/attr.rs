//! The task's own settings: the arguments of `#[task(...)]`.

use std::collections::HashSet;

use proc_macro2::{Span, TokenStream};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, Lit, LitInt, LitStr, Meta, Token};

use crate::errors::Errors;

/// What every task attribute key looks like, for "unknown key" messages.
const TASK_KEYS: &str =
    "`name = \"...\"`, `roles = [\"...\"]`, `serial = N`, `parallel = N`, `once`, `local`";

/// The parsed `#[task(...)]` arguments. Keys that were wrong are left at their defaults (their
/// errors are in the [`Errors`] passed to [`TaskAttrs::parse`]).
#[derive(Default)]
pub(crate) struct TaskAttrs {
    /// `name = "..."`: the subcommand name, instead of the one derived from the function name.
    pub(crate) name: Option<LitStr>,
    /// `roles = ["a", "b"]`.
    pub(crate) roles: Vec<LitStr>,
    /// `serial = N`.
    pub(crate) serial: Option<LitInt>,
    /// `parallel = N`.
    pub(crate) parallel: Option<LitInt>,
    /// `once`.
    pub(crate) once: bool,
    /// `local`.
    pub(crate) local: bool,
}

impl TaskAttrs {
    /// Parses the tokens inside `#[task(...)]`, recording every mistake in `errors`.
    pub(crate) fn parse(tokens: TokenStream, errors: &mut Errors) -> TaskAttrs {
        let mut attrs = TaskAttrs::default();
        let parser = Punctuated::<Meta, Token![,]>::parse_terminated;
        let Some(metas) = errors.keep(parser.parse2(tokens)) else {
            return attrs;
        };
        let mut seen = HashSet::new();
        for meta in &metas {
            let Some(key) = errors.keep(meta_key(meta, "task attribute", TASK_KEYS)) else {
                continue;
            };
            if !seen.insert(key.clone()) {
                errors.push(duplicate(meta, &key, "#[task(...)]"));
                continue;
            }
            match key.as_str() {
                "name" => attrs.name = errors.keep(string_value(meta).and_then(check_name)),
                "roles" => attrs.roles = errors.keep(roles_value(meta)).unwrap_or_default(),
                "serial" => {
                    attrs.serial = errors.keep(count_value(meta, "serial", "the batch size"));
                }
                "parallel" => {
                    let what = "the number of hosts at once";
                    attrs.parallel = errors.keep(count_value(meta, "parallel", what));
                }
                "once" | "local" => {
                    let set = errors.keep(bare_flag(meta, &key)).is_some();
                    let other = if key == "once" { "local" } else { "once" };
                    if seen.contains(other) {
                        // Reported at the second of the two, so the first one reads as the choice.
                        errors.push(syn::Error::new_spanned(
                            meta,
                            "`once` and `local` cannot be combined: `local` already runs the task \
                             exactly once, on this machine; keep one of them",
                        ));
                    } else if key == "once" {
                        attrs.once = set;
                    } else {
                        attrs.local = set;
                    }
                }
                _ => errors.push(syn::Error::new_spanned(
                    meta.path(),
                    format!("unknown task attribute `{key}`; expected one of {TASK_KEYS}"),
                )),
            }
        }
        attrs
    }
}

/// The single identifier a meta item starts with (`serial` in `serial = 2`).
pub(crate) fn meta_key(meta: &Meta, what: &str, expected: &str) -> syn::Result<String> {
    match meta.path().get_ident() {
        Some(ident) => Ok(ident.to_string()),
        None => Err(syn::Error::new_spanned(
            meta.path(),
            format!("unknown {what}: expected one of {expected}"),
        )),
    }
}

/// The error for a key given twice; it points at the second one.
pub(crate) fn duplicate(meta: &Meta, key: &str, place: &str) -> syn::Error {
    syn::Error::new_spanned(
        meta.path(),
        format!("duplicate `{key}` in {place}: give each setting once"),
    )
}

/// The literal of `key = <literal>`, or an error showing `example` as the expected form.
pub(crate) fn literal_value<'m>(meta: &'m Meta, example: &str) -> syn::Result<&'m Lit> {
    let wrong = || syn::Error::new_spanned(meta, format!("expected `{example}`"));
    let Meta::NameValue(pair) = meta else {
        return Err(wrong());
    };
    match strip_groups(&pair.value) {
        Expr::Lit(lit) => Ok(&lit.lit),
        _ => Err(wrong()),
    }
}

/// The string of `key = "..."`.
pub(crate) fn string_value(meta: &Meta) -> syn::Result<LitStr> {
    let key = meta
        .path()
        .get_ident()
        .map(ToString::to_string)
        .unwrap_or_default();
    let example = format!("{key} = \"...\"");
    match literal_value(meta, &example)? {
        Lit::Str(s) => Ok(s.clone()),
        other => Err(syn::Error::new_spanned(
            other,
            format!("expected a string in quotes: `{example}`"),
        )),
    }
}

/// Expressions produced by `macro_rules!` substitutions come wrapped in invisible groups.
fn strip_groups(expr: &Expr) -> &Expr {
    match expr {
        Expr::Group(group) => strip_groups(&group.expr),
        other => other,
    }
}

/// Checks that a `name = "..."` can be typed as a subcommand.
fn check_name(name: LitStr) -> syn::Result<LitStr> {
    let value = name.value();
    if value.is_empty() || value.starts_with('-') || value.chars().any(char::is_whitespace) {
        return Err(syn::Error::new_spanned(
            &name,
            "a task name is typed as a subcommand: it must be non-empty, must not start with `-` \
             and must not contain whitespace, e.g. `name = \"db-backup\"`",
        ));
    }
    Ok(name)
}

/// The role names of `roles = ["a", "b"]`.
fn roles_value(meta: &Meta) -> syn::Result<Vec<LitStr>> {
    let wrong = |span: Span| {
        syn::Error::new(
            span,
            "expected a list of role names: `roles = [\"app\", \"db\"]`",
        )
    };
    let Meta::NameValue(pair) = meta else {
        return Err(wrong(meta.span()));
    };
    let Expr::Array(array) = strip_groups(&pair.value) else {
        return Err(wrong(pair.value.span()));
    };
    let mut roles: Vec<LitStr> = Vec::new();
    let mut errors = Errors::default();
    for elem in &array.elems {
        match strip_groups(elem) {
            Expr::Lit(syn::ExprLit {
                lit: Lit::Str(role),
                ..
            }) => {
                if role.value().trim().is_empty() {
                    errors.push(syn::Error::new_spanned(role, "a role name cannot be empty"));
                } else if roles.iter().any(|r| r.value() == role.value()) {
                    errors.push(syn::Error::new_spanned(
                        role,
                        format!("role `{}` is listed twice", role.value()),
                    ));
                } else {
                    roles.push(role.clone());
                }
            }
            other => errors.push(wrong(other.span())),
        }
    }
    match errors.into_error() {
        Some(error) => Err(error),
        None => Ok(roles),
    }
}

/// A positive host count: `serial = 2`, `parallel = 5`.
fn count_value(meta: &Meta, key: &str, what: &str) -> syn::Result<LitInt> {
    let example = format!("{key} = 2");
    let Lit::Int(int) = literal_value(meta, &example)? else {
        return Err(syn::Error::new_spanned(
            meta,
            format!("expected a number of hosts: `{example}`"),
        ));
    };
    let n: usize = int.base10_parse()?;
    if n == 0 {
        return Err(syn::Error::new_spanned(
            int,
            format!("`{key} = 0` would run no host at all: {what} must be 1 or more"),
        ));
    }
    Ok(LitInt::new(&format!("{n}usize"), int.span()))
}

/// A key that is either present or not: `once`, `local`.
fn bare_flag(meta: &Meta, key: &str) -> syn::Result<()> {
    match meta {
        Meta::Path(_) => Ok(()),
        _ => Err(syn::Error::new_spanned(
            meta,
            format!("`{key}` takes no value: write just `{key}`"),
        )),
    }
}
