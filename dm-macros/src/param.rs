//! The task function's parameters: the context first, then the task's command-line arguments.

use std::collections::HashMap;

use proc_macro2::Span;
use syn::ext::IdentExt as _;
use syn::punctuated::Punctuated;
use syn::{
    Attribute, FnArg, GenericArgument, Lit, LitChar, LitStr, Meta, Pat, PatType, PathArguments,
    Signature, Token, Type,
};

use crate::attr::{duplicate, literal_value, meta_key, string_value};
use crate::errors::Errors;

/// What every `#[arg(...)]` key looks like, for "unknown key" messages.
const ARG_KEYS: &str = "`help = \"...\"`, `short = 'x'`, `long = \"...\"`, `default = \"...\"`, \
                        `conflicts_with = \"...\"`, `hosts`, `positional`";

/// How a parameter's type maps onto the command line.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// `T`: a required positional (or `--name <NAME>` with a `default`, `short` or `long`).
    Value,
    /// `Option<T>`: an optional `--name <NAME>`.
    Optional,
    /// `bool`: a `--name` switch.
    Flag,
    /// `Vec<T>`: a repeatable `--name <NAME>`, empty when absent (or, with `positional`, the
    /// required positional `<NAME>...`).
    Multiple,
}

/// One task argument (a parameter after the context).
pub(crate) struct Param {
    /// The clap argument id: the parameter name.
    pub(crate) id: String,
    /// Where the parameter name is written, for errors about the argument as a whole.
    pub(crate) span: Span,
    /// The type clap parses each value into (`T` of `Option<T>`, `Vec<T>`).
    pub(crate) value_ty: Type,
    /// How the argument appears on the command line.
    pub(crate) shape: Shape,
    /// `#[arg(help = "...")]`.
    pub(crate) help: Option<LitStr>,
    /// `#[arg(short = 'x')]`.
    pub(crate) short: Option<LitChar>,
    /// `#[arg(long = "...")]`.
    pub(crate) long: Option<LitStr>,
    /// `#[arg(default = "...")]`.
    pub(crate) default: Option<LitStr>,
    /// `#[arg(conflicts_with = "other")]`: refused together with argument `other`, before the
    /// task runs anywhere.
    pub(crate) conflicts_with: Option<LitStr>,
    /// `#[arg(hosts)]`: positional `SERVER|ROLE` values that select the hosts the task runs on.
    pub(crate) hosts: bool,
    /// `#[arg(positional)]`: a `Vec<T>` given as one or more positional `<NAME>...` values.
    pub(crate) positional: bool,
}

impl Param {
    /// Whether the argument is given as `--name` rather than by position.
    pub(crate) fn is_named(&self) -> bool {
        !self.hosts && !self.positional && self.shape != Shape::Value
            || self.default.is_some()
            || self.short.is_some()
            || self.long.is_some()
    }

    /// The long flag: `long = "..."`, or the parameter name with `_` turned into `-`.
    pub(crate) fn long_name(&self) -> String {
        match &self.long {
            Some(long) => long.value(),
            None => self.id.replace('_', "-"),
        }
    }

    /// The placeholder in help and usage: the parameter name in capitals.
    pub(crate) fn value_name(&self) -> String {
        if self.hosts {
            return "SERVER|ROLE".to_string();
        }
        self.id.to_uppercase()
    }
}

/// The `#[arg(...)]` settings of one parameter, with the key of each for error spans.
#[derive(Default)]
struct ArgAttrs {
    help: Option<LitStr>,
    short: Option<LitChar>,
    long: Option<LitStr>,
    default: Option<(Meta, LitStr)>,
    conflicts_with: Option<LitStr>,
    hosts: Option<Meta>,
    positional: Option<Meta>,
}

/// Checks the parameters of `sig` and returns the task arguments (all but the context).
///
/// Removes every `#[arg(...)]` from `sig`, even when there are errors, so the function can be
/// emitted as plain Rust either way.
pub(crate) fn parse_params(sig: &mut Signature, errors: &mut Errors) -> Vec<Param> {
    let paren_span = sig.paren_token.span.join();
    let mut params = Vec::new();
    let mut context_seen = false;
    for input in sig.inputs.iter_mut() {
        let pat_type = match input {
            FnArg::Receiver(receiver) => {
                errors.push(syn::Error::new_spanned(
                    &*receiver,
                    "a task is a free function, not a method: remove `self`, move the function out \
                     of the `impl` block and take the context first: `ctx: &Ctx`",
                ));
                continue;
            }
            FnArg::Typed(pat_type) => pat_type,
        };
        let arg_attrs = take_arg_attrs(&mut pat_type.attrs, errors);
        // After a (rejected) `self`, the next parameter is still checked as the context.
        if !context_seen {
            context_seen = true;
            if let Some((first, _)) = arg_attrs.first() {
                errors.push(syn::Error::new_spanned(
                    first,
                    "the context parameter is not a command-line argument: remove this `#[arg]`",
                ));
            }
            errors.keep(check_context(&pat_type.ty));
            continue;
        }
        if let Some(param) = parse_param(pat_type, &arg_attrs, errors) {
            params.push(param);
        }
    }
    if sig.inputs.is_empty() {
        errors.push(syn::Error::new(
            paren_span,
            "a task takes the context as its first parameter: `ctx: &Ctx`",
        ));
    }
    check_unique_flags(&params, errors);
    check_positional_order(&params, errors);
    params
}

/// Removes the `#[arg(...)]` attributes from a parameter and returns them with their contents.
fn take_arg_attrs(
    attrs: &mut Vec<Attribute>,
    errors: &mut Errors,
) -> Vec<(Attribute, Punctuated<Meta, Token![,]>)> {
    let mut taken = Vec::new();
    attrs.retain(|attr| {
        if !attr.path().is_ident("arg") {
            return true;
        }
        let metas = match &attr.meta {
            Meta::List(list) => errors.keep(list.parse_args_with(Punctuated::parse_terminated)),
            _ => {
                errors.push(syn::Error::new_spanned(
                    attr,
                    format!("`#[arg]` needs settings: `#[arg(...)]` with any of {ARG_KEYS}"),
                ));
                None
            }
        };
        if let Some(metas) = metas {
            taken.push((attr.clone(), metas));
        }
        false
    });
    taken
}

/// Checks that the first parameter is the task context, `&Ctx`.
fn check_context(ty: &Type) -> syn::Result<()> {
    match ty {
        Type::Reference(reference) if is_ctx(&reference.elem) => match &reference.mutability {
            Some(mutability) => Err(syn::Error::new_spanned(
                {
                    let and = &reference.and_token;
                    quote::quote!(#and #mutability)
                },
                "the context is shared, not exclusive: write `&Ctx`, not `&mut Ctx`",
            )),
            None => Ok(()),
        },
        Type::Group(group) => check_context(&group.elem),
        _ if is_ctx(ty) => Err(syn::Error::new_spanned(
            ty,
            "take the context by reference: `ctx: &Ctx`",
        )),
        _ => Err(syn::Error::new_spanned(
            ty,
            "the first parameter of a task must be the context, `ctx: &Ctx`; the task's own \
             command-line arguments come after it",
        )),
    }
}

/// Whether `ty` is a path ending in `Ctx` (`Ctx`, `dm::Ctx`, ...).
fn is_ctx(ty: &Type) -> bool {
    match ty {
        Type::Path(path) => path.path.segments.last().is_some_and(|s| s.ident == "Ctx"),
        Type::Group(group) => is_ctx(&group.elem),
        Type::Paren(paren) => is_ctx(&paren.elem),
        _ => false,
    }
}

/// Checks one task argument and its `#[arg(...)]` settings.
fn parse_param(
    pat_type: &PatType,
    arg_attrs: &[(Attribute, Punctuated<Meta, Token![,]>)],
    errors: &mut Errors,
) -> Option<Param> {
    let id = match &*pat_type.pat {
        Pat::Ident(ident) if ident.subpat.is_none() => Some(ident.ident.clone()),
        pat => {
            errors.push(syn::Error::new_spanned(
                pat,
                "a task argument must be a plain name such as `service: String`, because the name \
                 becomes the command-line flag; destructure the value inside the function body",
            ));
            None
        }
    };
    let shape = errors.keep(shape_of(&pat_type.ty, false));
    let settings = parse_settings(arg_attrs, errors);
    let (id, (shape, value_ty)) = (id?, shape?);
    let mut param = Param {
        id: id.unraw().to_string(),
        span: id.span(),
        value_ty,
        shape,
        help: settings.help,
        short: settings.short,
        long: settings.long,
        default: None,
        conflicts_with: settings.conflicts_with,
        hosts: false,
        positional: false,
    };
    if let Some(meta) = &settings.positional {
        let (default, hosts) = (settings.default.is_some(), settings.hosts.is_some());
        check_positional(&mut param, meta, default, hosts, errors);
    }
    if let Some(meta) = settings.hosts.filter(|_| settings.positional.is_none()) {
        let conflict = param
            .short
            .as_ref()
            .map(|_| "short")
            .or(param.long.as_ref().map(|_| "long"))
            .or(settings.default.as_ref().map(|_| "default"));
        if shape != Shape::Multiple {
            errors.push(syn::Error::new_spanned(
                &meta,
                "`hosts` selects servers by name or role, any number of them: declare the \
                 parameter as `Vec<String>`",
            ));
        } else if let Some(key) = conflict {
            errors.push(syn::Error::new_spanned(
                &meta,
                format!(
                    "`hosts` arguments are positional `SERVER|ROLE` values and take no `{key}`: \
                     remove it"
                ),
            ));
        } else {
            param.hosts = true;
        }
    }
    // A `positional` with a `default` was reported by `check_positional` already.
    if let Some((meta, default)) = settings.default.filter(|_| settings.positional.is_none()) {
        let refusal = match shape {
            Shape::Value => None,
            Shape::Optional => Some(
                "an `Option` argument is `None` when absent, so it takes no `default`: \
                 use the plain type (e.g. `u64` instead of `Option<u64>`) to give it one",
            ),
            Shape::Flag => Some(
                "a `bool` argument is a switch that is `false` unless given, so it takes no \
                 `default`: remove `default`",
            ),
            Shape::Multiple => Some(
                "a `Vec` argument is empty when absent, so it takes no `default`: use the plain \
                 type (e.g. `String` instead of `Vec<String>`) to give it one",
            ),
        };
        match refusal {
            Some(message) => errors.push(syn::Error::new_spanned(meta, message)),
            None => {
                if errors
                    .keep(check_default(&param.value_ty, &default))
                    .is_some()
                {
                    param.default = Some(default);
                }
            }
        }
    }
    Some(param)
}

/// Checks `#[arg(positional)]` on `param` and marks it positional when it is usable.
///
/// Only a `Vec<T>` takes it (a plain `T` is positional already), and it cannot also be a flag
/// (`short`, `long`), have a `default` (it requires one value or more) or select hosts.
fn check_positional(
    param: &mut Param,
    meta: &Meta,
    default: bool,
    hosts: bool,
    errors: &mut Errors,
) {
    if param.shape != Shape::Multiple {
        errors.push(syn::Error::new_spanned(
            meta,
            "`positional` makes a list of positional values: declare the parameter as `Vec<T>` \
             (a plain `T` is a positional argument already, without `positional`)",
        ));
        return;
    }
    let conflict = [
        ("short", param.short.is_some()),
        ("long", param.long.is_some()),
        ("default", default),
        ("hosts", hosts),
    ]
    .into_iter()
    .find_map(|(key, given)| given.then_some(key));
    match conflict {
        Some("hosts") => errors.push(syn::Error::new_spanned(
            meta,
            "`positional` and `hosts` cannot be combined: keep `hosts` for servers and roles of \
             the inventory, or `positional` for values that need not name any",
        )),
        Some("default") => errors.push(syn::Error::new_spanned(
            meta,
            "a `positional` list requires one value or more, so it takes no `default`: remove \
             `default`",
        )),
        Some(key) => errors.push(syn::Error::new_spanned(
            meta,
            format!(
                "a `positional` list is given by position, not as a flag, so it takes no `{key}`: \
                 remove `{key}` (or remove `positional` for a repeatable flag)"
            ),
        )),
        None => param.positional = true,
    }
}

/// The [`Shape`] of a parameter type and the type of each of its values.
fn shape_of(ty: &Type, nested: bool) -> syn::Result<(Shape, Type)> {
    match ty {
        Type::Group(group) => shape_of(&group.elem, nested),
        Type::Paren(paren) => shape_of(&paren.elem, nested),
        Type::ImplTrait(_) => Err(syn::Error::new_spanned(
            ty,
            "`impl Trait` cannot be a task argument: the command line is parsed into a concrete \
             type; use one such as `String`, `u64` or `PathBuf`",
        )),
        Type::Reference(_) => Err(syn::Error::new_spanned(
            ty,
            "a task argument is parsed from the command line into an owned value: use an owned \
             type such as `String` instead of `&str`, or `PathBuf` instead of `&Path`",
        )),
        Type::Path(path) if path.qself.is_none() => {
            let Some(last) = path.path.segments.last() else {
                return Ok((Shape::Value, ty.clone()));
            };
            let container = match last.ident.to_string().as_str() {
                "Option" => Shape::Optional,
                "Vec" => Shape::Multiple,
                "bool" if path.path.segments.len() == 1 && !nested => {
                    return Ok((Shape::Flag, ty.clone()));
                }
                _ => return Ok((Shape::Value, ty.clone())),
            };
            let Some(inner) = single_type_argument(&last.arguments) else {
                return Ok((Shape::Value, ty.clone()));
            };
            if nested {
                return Err(syn::Error::new_spanned(
                    ty,
                    "nested `Option`/`Vec` cannot be a task argument: use `Vec<T>` for a \
                     repeatable flag (empty when absent) or `Option<T>` for an optional one",
                ));
            }
            let (_, value_ty) = shape_of(inner, true)?;
            Ok((container, value_ty))
        }
        _ => Ok((Shape::Value, ty.clone())),
    }
}

/// `T` of `Option<T>` or `Vec<T>`.
fn single_type_argument(arguments: &PathArguments) -> Option<&Type> {
    let PathArguments::AngleBracketed(angle) = arguments else {
        return None;
    };
    match angle.args.first() {
        Some(GenericArgument::Type(ty)) if angle.args.len() == 1 => Some(ty),
        _ => None,
    }
}

/// Reads the keys of every `#[arg(...)]` on one parameter.
fn parse_settings(
    arg_attrs: &[(Attribute, Punctuated<Meta, Token![,]>)],
    errors: &mut Errors,
) -> ArgAttrs {
    let mut settings = ArgAttrs::default();
    let mut seen = std::collections::HashSet::new();
    for meta in arg_attrs.iter().flat_map(|(_, metas)| metas) {
        let Some(key) = errors.keep(meta_key(meta, "argument setting", ARG_KEYS)) else {
            continue;
        };
        if !seen.insert(key.clone()) {
            errors.push(duplicate(meta, &key, "#[arg(...)]"));
            continue;
        }
        match key.as_str() {
            "help" => settings.help = errors.keep(string_value(meta)),
            "short" => settings.short = errors.keep(short_value(meta)),
            "long" => settings.long = errors.keep(string_value(meta).and_then(check_long)),
            "conflicts_with" => settings.conflicts_with = errors.keep(string_value(meta)),
            "default" => {
                settings.default = errors.keep(string_value(meta)).map(|s| (meta.clone(), s));
            }
            "hosts" | "positional" => match meta {
                Meta::Path(_) if key == "hosts" => settings.hosts = Some(meta.clone()),
                Meta::Path(_) => settings.positional = Some(meta.clone()),
                _ => errors.push(syn::Error::new_spanned(
                    meta,
                    format!("`{key}` takes no value: write `#[arg({key})]`"),
                )),
            },
            _ => errors.push(syn::Error::new_spanned(
                meta.path(),
                format!("unknown argument setting `{key}`; expected one of {ARG_KEYS}"),
            )),
        }
    }
    settings
}

/// The letter of `short = 'x'`.
fn short_value(meta: &Meta) -> syn::Result<LitChar> {
    let Lit::Char(c) = literal_value(meta, "short = 'x'")? else {
        return Err(syn::Error::new_spanned(
            meta,
            "expected a character in single quotes: `short = 'x'`",
        ));
    };
    match c.value() {
        'h' => Err(syn::Error::new_spanned(
            c,
            "`-h` is already the short form of `--help`: choose another letter",
        )),
        letter if letter.is_ascii_alphanumeric() => Ok(c.clone()),
        _ => Err(syn::Error::new_spanned(
            c,
            "a short flag is one ASCII letter or digit, e.g. `short = 'f'`",
        )),
    }
}

/// Checks that `long = "..."` names a usable `--flag`.
fn check_long(long: LitStr) -> syn::Result<LitStr> {
    let value = long.value();
    if value == "help" {
        return Err(syn::Error::new_spanned(
            &long,
            "`--help` is already the help flag: choose another name",
        ));
    }
    let usable = !value.is_empty()
        && !value.starts_with('-')
        && !value.chars().any(|c| c.is_whitespace() || c == '=');
    if !usable {
        return Err(syn::Error::new_spanned(
            &long,
            "write the long flag without its dashes and without spaces or `=`, e.g. \
             `long = \"dry-run\"` for `--dry-run`",
        ));
    }
    Ok(long)
}

/// Parses a default value at compile time when its type is a number or `char`, so a typo is a
/// build error rather than an error each time the task is run without the flag.
fn check_default(ty: &Type, default: &LitStr) -> syn::Result<()> {
    let Type::Path(path) = ty else {
        return Ok(());
    };
    let Some(name) = path.path.get_ident().map(ToString::to_string) else {
        return Ok(());
    };
    let value = default.value();
    let valid = match name.as_str() {
        "u8" => value.parse::<u8>().is_ok(),
        "u16" => value.parse::<u16>().is_ok(),
        "u32" => value.parse::<u32>().is_ok(),
        "u64" => value.parse::<u64>().is_ok(),
        "u128" => value.parse::<u128>().is_ok(),
        "usize" => value.parse::<usize>().is_ok(),
        "i8" => value.parse::<i8>().is_ok(),
        "i16" => value.parse::<i16>().is_ok(),
        "i32" => value.parse::<i32>().is_ok(),
        "i64" => value.parse::<i64>().is_ok(),
        "i128" => value.parse::<i128>().is_ok(),
        "isize" => value.parse::<isize>().is_ok(),
        "f32" => value.parse::<f32>().is_ok(),
        "f64" => value.parse::<f64>().is_ok(),
        "char" => value.chars().count() == 1,
        _ => true,
    };
    if valid {
        Ok(())
    } else {
        Err(syn::Error::new_spanned(
            default,
            format!("default `{value}` is not a valid `{name}`"),
        ))
    }
}

/// Two arguments with the same `--long` or `-s` would make clap reject the command at run time;
/// report it at the later one instead.
fn check_unique_flags(params: &[Param], errors: &mut Errors) {
    for extra in params.iter().filter(|p| p.hosts).skip(1) {
        errors.push(syn::Error::new(
            extra.span,
            "a task has at most one `#[arg(hosts)]` argument: merge the servers into one `Vec`",
        ));
    }
    for param in params {
        if let Some(other) = &param.conflicts_with
            && (other.value() == param.id || !params.iter().any(|p| p.id == other.value()))
        {
            errors.push(syn::Error::new_spanned(
                other,
                format!(
                    "`conflicts_with` names `{}`, which is not another argument of this task",
                    other.value()
                ),
            ));
        }
    }
    let mut longs: HashMap<String, &str> = HashMap::new();
    let mut shorts: HashMap<char, &str> = HashMap::new();
    for param in params {
        // clap's own `--help` argument has the id `help`, and ids must be unique.
        if param.id == "help" {
            errors.push(syn::Error::new(
                param.span,
                "a task argument cannot be named `help`: that name belongs to `--help`; rename \
                 the parameter (e.g. `topic`)",
            ));
        }
    }
    for param in params.iter().filter(|p| p.is_named()) {
        let long = param.long_name();
        if let Some(other) = longs.insert(long.clone(), &param.id) {
            let span = param.long.as_ref().map_or(param.span, LitStr::span);
            errors.push(syn::Error::new(
                span,
                format!(
                    "`--{long}` is already the flag of argument `{other}`: give one of them \
                     another `long = \"...\"`"
                ),
            ));
        }
        if let Some(short) = &param.short
            && let Some(other) = shorts.insert(short.value(), &param.id)
        {
            errors.push(syn::Error::new(
                short.span(),
                format!(
                    "`-{}` is already the short flag of argument `{other}`: choose another letter",
                    short.value()
                ),
            ));
        }
    }
}

/// clap gives positional values to the arguments in declaration order, and a list takes all that
/// remain: so a task has one list of positional values at most (`positional` or `hosts`), and a
/// `positional` list comes after every plain positional argument. Reported at the argument that
/// breaks the rule.
fn check_positional_order(params: &[Param], errors: &mut Errors) {
    let mut list: Option<&Param> = None;
    for param in params {
        if param.positional || param.hosts {
            match list {
                Some(first) if param.positional || first.positional => {
                    let kind = |p: &Param| if p.hosts { "hosts" } else { "positional" };
                    errors.push(syn::Error::new(
                        param.span,
                        format!(
                            "a task has one list of positional values at most, and `{}` \
                             (`#[arg({})]`) is one already, taking every remaining value: remove \
                             `{}` to make `{}` a repeatable `--{}` flag",
                            first.id,
                            kind(first),
                            kind(param),
                            param.id,
                            param.long_name()
                        ),
                    ));
                }
                Some(_) => {}
                None => list = Some(param),
            }
        } else if param.shape == Shape::Value
            && !param.is_named()
            && let Some(first) = list.filter(|first| first.positional)
        {
            errors.push(syn::Error::new(
                param.span,
                format!(
                    "`{}` is a positional argument after the `positional` list `{}`, which takes \
                     every remaining value: move `{}` before `{}`",
                    param.id, first.id, param.id, first.id
                ),
            ));
        }
    }
}
