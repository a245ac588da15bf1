//! `daas-console`: the K3s-DaaS operator console.
//!
//! One operations layer ([`ops`]: UI-free, async, typed errors) under two
//! faces: the scripting subcommands ([`cli`]) and the terminal UI. Both read
//! one typed configuration ([`config`]).
#![warn(missing_docs)]

pub mod cli;
pub mod config;
pub mod ops;
pub mod tui;
