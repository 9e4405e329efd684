//! What `#[task]` accepts and registers (`expansion`, `error_types`, `paths_and_names`: each task
//! is compiled into this binary, so a form that stops compiling fails the build), and the
//! compile error for each mistake (`ui`, with trybuild).
//!
//! One test binary rather than one per file: every test binary links all of dm.

// Tests and their helpers: a panic is the test's failure, with the helper's message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod error_types;
mod expansion;
mod paths_and_names;
mod ui;
