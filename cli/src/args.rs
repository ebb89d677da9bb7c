//! Command-line arguments (clap derive). One variant per command as they land.

use clap::{Parser, Subcommand};

/// Policy-driven resilience for Rust services: lint call-site keys, validate and simulate
/// policies, tail live services.
#[derive(Debug, Parser)]
#[command(name = "recourse", version, about, long_about = None, propagate_version = true)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Option<Command>,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {}
