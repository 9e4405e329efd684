//! Checks of the task function's signature apart from its parameters: `async`, no generics, a
//! return type, no `unsafe`/`extern`.

use syn::{ReturnType, Safety, Signature};

use crate::errors::Errors;

/// Records an error for every part of `sig` a task cannot have.
pub(crate) fn check_signature(sig: &Signature, errors: &mut Errors) {
    if sig.asyncness.is_none() {
        errors.push(syn::Error::new_spanned(
            sig.fn_token,
            "a task must be an `async fn`: write `async fn` here",
        ));
    }
    if let Some(constness) = &sig.constness {
        errors.push(syn::Error::new_spanned(
            constness,
            "a task cannot be a `const fn`: remove `const`",
        ));
    }
    if let Safety::Unsafe(unsafety) = &sig.safety {
        errors.push(syn::Error::new_spanned(
            unsafety,
            "a task cannot be `unsafe`: the command line calls it with no way to uphold its \
             safety contract; remove `unsafe` and use `unsafe` blocks inside the body",
        ));
    }
    if let Some(abi) = &sig.abi {
        errors.push(syn::Error::new_spanned(
            abi,
            "a task cannot have an `extern` ABI: remove it",
        ));
    }
    if sig.generics.lt_token.is_some() || !sig.generics.params.is_empty() {
        errors.push(syn::Error::new_spanned(
            &sig.generics,
            "a task cannot have generic or lifetime parameters: its arguments are parsed from the \
             command line into concrete types; remove `<...>` (lifetimes of `&Ctx` are elided)",
        ));
    }
    if let Some(where_clause) = &sig.generics.where_clause {
        errors.push(syn::Error::new_spanned(
            where_clause,
            "a task cannot have a `where` clause: its types must be concrete; remove it",
        ));
    }
    if let ReturnType::Default = sig.output {
        errors.push(syn::Error::new(
            sig.paren_token.span.close(),
            "a task must return a `Result`: add `-> Result<()>` after the parameters",
        ));
    }
}
