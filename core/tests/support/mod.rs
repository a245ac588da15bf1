//! Shared support code of daas-core's integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod node;
