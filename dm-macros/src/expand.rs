//! The code `#[task]` expands to: the function itself, plus a `TaskDef` registration whose
//! `args` builds the clap arguments and whose `run` reads them back and calls the function.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::ext::IdentExt as _;
use syn::spanned::Spanned;
use syn::{Attribute, Ident, ItemFn, ReturnType};

use crate::attr::TaskAttrs;
use crate::doc::doc_string;
use crate::errors::Errors;
use crate::param::{Param, Shape, parse_params};
use crate::signature::check_signature;

/// Expands `#[task(attr)] item`.
///
/// On errors the function is still emitted (without its `#[arg]`s) next to the errors, so that
/// code calling it does not add "cannot find function" noise to the real messages.
pub(crate) fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    let mut func: ItemFn = match syn::parse2(item.clone()) {
        Ok(func) => func,
        Err(_) => {
            let error = syn::Error::new(
                Span::call_site(),
                "`#[task]` goes on a free `async fn`, e.g. \
                 `#[task] async fn deploy(ctx: &Ctx) -> Result<()> { ... }`",
            )
            .to_compile_error();
            return quote!(#error #item);
        }
    };
    let mut errors = Errors::default();
    let attrs = TaskAttrs::parse(attr, &mut errors);
    check_signature(&func.sig, &mut errors);
    let params = parse_params(&mut func.sig, &mut errors);
    remove_repeated_task_attrs(&mut func.attrs, &mut errors);
    if let Some(error) = errors.into_error() {
        let error = error.to_compile_error();
        return quote!(#func #error);
    }
    let registration = registration(&func, &attrs, &params);
    quote! {
        #func
        #registration
    }
}

/// A second `#[task]` would register the function twice; it is reported and dropped.
fn remove_repeated_task_attrs(attrs: &mut Vec<Attribute>, errors: &mut Errors) {
    attrs.retain(|attr| {
        let path = attr.path();
        let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
        let is_task = segments == ["task"] || segments == ["dm", "task"];
        if is_task {
            errors.push(syn::Error::new_spanned(
                attr,
                "duplicate `#[task]`: the function is already a task; merge the settings into \
                 one `#[task(...)]`",
            ));
        }
        !is_task
    });
}

/// The `const _: () = { ... };` block that registers the task.
fn registration(func: &ItemFn, attrs: &TaskAttrs, params: &[Param]) -> TokenStream {
    let fn_name = &func.sig.ident;
    let name = match &attrs.name {
        Some(name) => name.value(),
        None => fn_name.unraw().to_string().replace('_', "-"),
    };
    let doc = doc_string(&func.attrs);
    let roles = &attrs.roles;
    let serial = optional_count(attrs.serial.as_ref());
    let parallel = optional_count(attrs.parallel.as_ref());
    let once = attrs.once;
    let local = attrs.local;

    let hosts_arg = match params.iter().find(|p| p.hosts) {
        Some(param) => {
            let id = &param.id;
            quote!(::core::option::Option::Some(#id))
        }
        None => quote!(::core::option::Option::None),
    };
    let builders = params.iter().map(arg_builder);
    let vars: Vec<Ident> = (0..params.len())
        .map(|i| format_ident!("__dm_arg_{}", i))
        .collect();
    let reads = params.iter().zip(&vars).map(|(p, var)| read_arg(p, var));
    // The declared return type is spelled out, so a wrong one is reported at it.
    let output_ty = match &func.sig.output {
        ReturnType::Type(_, ty) => quote!(#ty),
        ReturnType::Default => quote!(()),
    };
    let statements = quote! {
        #(#reads)*
        let __dm_result = #fn_name(__dm_ctx, #(#vars),*).await;
        __dm_into_anyhow::<#output_ty>(__dm_result)
    };
    // Only the block is spanned at the function name (so a future that is not `Send` is reported
    // at the task); the identifiers inside keep the call-site span they are declared with.
    let boxed = quote_spanned!(fn_name.span()=> ::std::boxed::Box::pin(async move { #statements }));

    quote! {
        const _: () = {
            fn __dm_args() -> ::std::vec::Vec<::dm::__private::clap::Arg> {
                ::std::vec![#(#builders),*]
            }

            fn __dm_run<'a>(
                __dm_ctx: &'a ::dm::Ctx,
                __dm_matches: &'a ::dm::__private::clap::ArgMatches,
            ) -> ::dm::task::TaskFuture<'a> {
                #boxed
            }

            /// What a task may return: `Result<(), E>` with an error that converts into
            /// `anyhow::Error`, so `?` on any error works in the task body.
            #[diagnostic::on_unimplemented(
                message = "a task must return `Result<(), E>` with `E: Into<anyhow::Error>`, not `{Self}`",
                label = "return `Result<()>` (anyhow's, from `dm::prelude`) here",
                note = "the error type may be any `std::error::Error + Send + Sync + 'static` or `anyhow::Error`"
            )]
            trait __DmTaskOutput {
                fn __dm_into_anyhow(self) -> ::dm::__private::anyhow::Result<()>;
            }

            impl<E> __DmTaskOutput for ::core::result::Result<(), E>
            where
                E: ::core::convert::Into<::dm::__private::anyhow::Error>,
            {
                fn __dm_into_anyhow(self) -> ::dm::__private::anyhow::Result<()> {
                    self.map_err(::core::convert::Into::into)
                }
            }

            /// Called with the declared return type spelled out, so a wrong one is reported there.
            fn __dm_into_anyhow<R: __DmTaskOutput>(result: R) -> ::dm::__private::anyhow::Result<()> {
                result.__dm_into_anyhow()
            }

            /// The matches did not come from a command built with this task's `args`.
            fn __dm_missing(arg: &str) -> ::dm::__private::anyhow::Error {
                ::dm::__private::anyhow::anyhow!(
                    "task `{}`: argument `{}` is missing from the parsed command line; build the \
                     command with this task's `args`",
                    #name,
                    arg,
                )
            }

            /// clap could not give the value as the type the task declares.
            fn __dm_unreadable(
                arg: &str,
                error: ::dm::__private::clap::parser::MatchesError,
            ) -> ::dm::__private::anyhow::Error {
                ::dm::__private::anyhow::Error::new(error).context(::std::format!(
                    "task `{}`: cannot read argument `{}`",
                    #name,
                    arg,
                ))
            }

            ::dm::__private::inventory::submit! {
                ::dm::task::TaskDef {
                    name: #name,
                    doc: #doc,
                    roles: &[#(#roles),*],
                    serial: #serial,
                    parallel: #parallel,
                    once: #once,
                    local: #local,
                    hosts_arg: #hosts_arg,
                    args: __dm_args,
                    run: __dm_run,
                    module_path: ::core::module_path!(),
                }
            }
        };
    }
}

/// `Some(n)` or `None` for `serial`/`parallel`.
fn optional_count(count: Option<&syn::LitInt>) -> TokenStream {
    match count {
        Some(n) => quote!(::core::option::Option::Some(#n)),
        None => quote!(::core::option::Option::None),
    }
}

/// The `clap::Arg` for one parameter.
fn arg_builder(param: &Param) -> TokenStream {
    let id = &param.id;
    let ty = &param.value_ty;
    let clap = quote!(::dm::__private::clap);
    let mut arg = quote!(#clap::Arg::new(#id));
    if param.shape == Shape::Flag {
        arg.extend(quote!(.action(#clap::ArgAction::SetTrue)));
    } else {
        let value_name = param.value_name();
        let action = match param.shape {
            Shape::Multiple => quote!(Append),
            _ => quote!(Set),
        };
        if param.hosts {
            arg.extend(quote!(.num_args(0..)));
        }
        if param.positional {
            arg.extend(quote!(.num_args(1..)));
        }
        // Spanned at the type, so a type clap cannot parse is reported at the parameter.
        let parser = quote_spanned!(ty.span()=> ::dm::__private::clap::value_parser!(#ty));
        arg.extend(quote! {
            .value_name(#value_name)
            .value_parser(#parser)
            .action(#clap::ArgAction::#action)
        });
    }
    if param.is_named() {
        let long = param.long_name();
        arg.extend(quote!(.long(#long)));
    }
    if let Some(short) = &param.short {
        arg.extend(quote!(.short(#short)));
    }
    if let Some(help) = &param.help {
        arg.extend(quote!(.help(#help)));
    }
    if let Some(other) = &param.conflicts_with {
        arg.extend(quote!(.conflicts_with(#other)));
    }
    match &param.default {
        Some(default) => arg.extend(quote!(.default_value(#default))),
        None if param.shape == Shape::Value || param.positional => {
            arg.extend(quote!(.required(true)));
        }
        None => {}
    }
    arg
}

/// `let var: T = ...;` reading one parameter's value out of the matches.
fn read_arg(param: &Param, var: &Ident) -> TokenStream {
    let id = &param.id;
    let ty = &param.value_ty;
    // Spanned at the type, so a type that is not `Clone` is reported at the parameter.
    let clone = quote_spanned!(ty.span()=> ::core::clone::Clone::clone);
    let clone_some = quote_spanned! {ty.span()=>
        ::core::result::Result::Ok(::core::option::Option::Some(value)) => {
            ::core::clone::Clone::clone(value)
        }
    };
    match param.shape {
        Shape::Value | Shape::Flag => quote! {
            let #var: #ty = match __dm_matches.try_get_one::<#ty>(#id) {
                #clone_some
                ::core::result::Result::Ok(::core::option::Option::None) => {
                    return ::core::result::Result::Err(__dm_missing(#id));
                }
                ::core::result::Result::Err(error) => {
                    return ::core::result::Result::Err(__dm_unreadable(#id, error));
                }
            };
        },
        Shape::Optional => quote! {
            let #var: ::core::option::Option<#ty> = match __dm_matches.try_get_one::<#ty>(#id) {
                ::core::result::Result::Ok(value) => value.map(#clone),
                ::core::result::Result::Err(error) => {
                    return ::core::result::Result::Err(__dm_unreadable(#id, error));
                }
            };
        },
        Shape::Multiple => quote! {
            let #var: ::std::vec::Vec<#ty> = match __dm_matches.try_get_many::<#ty>(#id) {
                ::core::result::Result::Ok(::core::option::Option::Some(values)) => {
                    values.map(#clone).collect()
                }
                ::core::result::Result::Ok(::core::option::Option::None) => ::std::vec::Vec::new(),
                ::core::result::Result::Err(error) => {
                    return ::core::result::Result::Err(__dm_unreadable(#id, error));
                }
            };
        },
    }
}
