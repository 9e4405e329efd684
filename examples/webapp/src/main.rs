//! The webapp fabfile's command line. The tasks are in the library (`src/lib.rs`); naming it
//! here links them into the binary, with dm's standard tasks (provision, launch, deploy, ...).

use webapp as _;

dm::main!();
