//! The `ials` command line: one file per subcommand.

mod demo;
mod eval;
mod split;
mod tune;

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
    /// Score baselines, an iALS fit or external embeddings on a train/test split.
    Eval(Box<eval::Args>),
    /// Seeded train/test splits: per-user holdout, leave-k-out, strong generalization.
    Split(split::Args),
    /// Tune iALS on a validation split of the input; save the refitted best model.
    Tune(tune::Args),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(args) => demo::run(args),
        Command::Eval(args) => eval::run(*args),
        Command::Split(args) => split::run(args),
        Command::Tune(args) => tune::run(args),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
