//! Shared support code of daas-core's integration tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod node;
