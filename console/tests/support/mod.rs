//! Shared by the console's integration tests.

pub mod fixtures;
