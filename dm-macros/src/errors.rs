//! An accumulator of compile errors, so one build shows every mistake in a task, not just the first.

/// Several [`syn::Error`]s combined into one; each keeps its own span.
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    /// Adds one error (which may itself hold several).
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(error),
            None => self.0 = Some(error),
        }
    }

    /// Keeps the value of `result`, recording its error instead of stopping at it.
    pub(crate) fn keep<T>(&mut self, result: syn::Result<T>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                self.push(error);
                None
            }
        }
    }

    /// All errors, or `None` when there were none.
    pub(crate) fn into_error(self) -> Option<syn::Error> {
        self.0
    }
}
