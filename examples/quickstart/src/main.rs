//! The quickstart fabfile's command line. The tasks are in the library (`src/lib.rs`); naming it
//! here links them into the binary.

use quickstart as _;

dm::main!();
