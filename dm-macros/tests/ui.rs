//! Compile-time behaviour of `#[task]`: what compiles (and runs), and the error for each mistake.
//!
//! Regenerate the `.stderr` snapshots with `TRYBUILD=overwrite cargo test -p dm-macros --test ui`
//! and read the diff: each message must say what to write instead and point at the right token.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/pass/*.rs");
    cases.compile_fail("tests/ui/fail/*.rs");
}
