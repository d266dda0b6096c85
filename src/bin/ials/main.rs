//! The `ials` command line: one file per subcommand.

mod demo;
// Flattened into `ials fit` by the lead (FeatureArgs + fit_towers).
#[allow(dead_code)]
mod towers_cli;

use clap::{Parser, Subcommand};

/// Implicit-feedback matrix factorization (iALS with the Gramian trick).
#[derive(Parser, Debug)]
#[command(name = "ials", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Generate a seeded synthetic data set, fit, print the loss per iteration
    /// and Recall@20 against popularity.
    Demo(demo::Args),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(args) => demo::run(args),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
