//! The compile error of `#[task]` for each mistake. What compiles is pinned by the other modules
//! of this binary, which are compiled with it (trybuild's own pass cases would build and link
//! all of dm again in trybuild's target directory: gigabytes on CI's disk).
//!
//! Regenerate the `.stderr` snapshots with
//! `TRYBUILD=overwrite cargo test -p dm-macros --test integration ui::`
//! and read the diff: each message must say what to write instead and point at the right token.

#[test]
fn each_mistake_gets_a_compile_error_that_says_what_to_write_instead() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/fail/*.rs");
}
