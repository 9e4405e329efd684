//! The task's documentation: its doc comment, which the CLI shows in `--list` and `--help`.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{Attribute, Expr, Lit, Meta};

/// One `#[doc = ...]` attribute: a literal (`///` lines) or an expression such as
/// `include_str!("...")`, which only the compiler can evaluate.
enum Part {
    Text(String),
    Expr(Expr),
}

/// An expression of type `&'static str` holding the doc comment of a function.
///
/// The lines are joined with `\n` and the one space that follows `///` is removed from each line;
/// blank lines at the start and end are dropped.
pub(crate) fn doc_string(attrs: &[Attribute]) -> TokenStream {
    let mut parts: Vec<Part> = Vec::new();
    for attr in attrs {
        let Meta::NameValue(pair) = &attr.meta else {
            continue;
        };
        if !pair.path.is_ident("doc") {
            continue;
        }
        match &pair.value {
            Expr::Lit(syn::ExprLit {
                lit: Lit::Str(s), ..
            }) => {
                let text = strip_one_space(&s.value());
                match parts.last_mut() {
                    Some(Part::Text(previous)) => {
                        previous.push('\n');
                        previous.push_str(&text);
                    }
                    _ => parts.push(Part::Text(text)),
                }
            }
            other => parts.push(Part::Expr(other.clone())),
        }
    }
    if let Some(Part::Text(first)) = parts.first_mut() {
        *first = first.trim_start_matches(['\n', '\r']).to_string();
    }
    if let Some(Part::Text(last)) = parts.last_mut() {
        last.truncate(last.trim_end().len());
    }
    match parts.as_slice() {
        [] => quote!(""),
        [Part::Text(text)] => quote!(#text),
        _ => {
            let mut pieces = Vec::new();
            for (index, part) in parts.iter().enumerate() {
                if index > 0 {
                    pieces.push(quote!("\n"));
                }
                pieces.push(match part {
                    Part::Text(text) => quote!(#text),
                    Part::Expr(expr) => quote!(#expr),
                });
            }
            quote!(::core::concat!(#(#pieces),*))
        }
    }
}

/// Removes the single space that conventionally follows `///` from each line of `text`.
fn strip_one_space(text: &str) -> String {
    text.split('\n')
        .map(|line| line.strip_prefix(' ').unwrap_or(line))
        .collect::<Vec<_>>()
        .join("\n")
}
