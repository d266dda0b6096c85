//! The `ials` command line: one file per subcommand.

mod bench;
mod common;
mod demo;
mod eval;
mod explain;
mod export;
mod fit;
mod info;
mod recommend;
mod similar;
mod split;
mod towers_cli;
mod tune;
mod twotower;
mod update;

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
    /// Time the sweeps on a synthetic set or CSV; print seconds per iteration, GFLOP/s, peak memory as JSON.
    Bench(bench::Args),
    /// Fit a model on a CSV/TSV of (user, item[, value]) and save it.
    Fit(fit::Args),
    /// Export a model's factors (.npy, float32) and id lists for numpy.
    Export(export::Args),
    /// Top-k items per user as CSV `user,item,rank,score`.
    Recommend(recommend::Args),
    /// Top-k most similar items (cosine) as CSV `item,similar,rank,score`.
    Similar(similar::Args),
    /// Format version, sizes, params and loss history of a model.
    Info(info::Args),
    /// Split the score of (user, item) over the items the user consumed.
    Explain(explain::Args),
    /// Add new users, items and interactions to a model, re-solving only the rows they touch.
    Update(update::Args),
    /// Score baselines, an iALS fit or external embeddings on a train/test split.
    Eval(Box<eval::Args>),
    /// Seeded train/test splits: per-user holdout, leave-k-out, strong generalization.
    Split(split::Args),
    /// Tune iALS on a validation split of the input; save the refitted best model.
    Tune(tune::Args),
    /// Train a neural two-tower model (in-batch softmax, logQ, mixed negatives, mse-gramian) and save it.
    Twotower(twotower::Args),
}

/// On SIGINT, SIGTERM or SIGHUP, remove the temporary files of the writes in
/// progress (and put back a model moved aside) before exiting with
/// 128 + the signal number, as a shell reports it.
#[cfg(unix)]
fn remove_temporaries_on_signal() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    if let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) {
        std::thread::spawn(move || {
            if let Some(sig) = signals.forever().next() {
                ials::io::cleanup::on_signal();
                eprintln!("error: interrupted by signal {sig}; temporary files removed");
                std::process::exit(128 + sig);
            }
        });
    }
}

fn main() {
    // Die quietly on a closed pipe (`ials recommend --output - | head`), as
    // Unix tools do, instead of panicking in `println!`.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE at start-up,
    // before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    #[cfg(unix)]
    remove_temporaries_on_signal();
    let result = match cli.command {
        Command::Demo(args) => demo::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Fit(args) => fit::run(args),
        Command::Export(args) => export::run(args),
        Command::Recommend(args) => recommend::run(args),
        Command::Similar(args) => similar::run(args),
        Command::Info(args) => info::run(args),
        Command::Explain(args) => explain::run(args),
        Command::Update(args) => update::run(args),
        Command::Eval(args) => eval::run(*args),
        Command::Split(args) => split::run(args),
        Command::Tune(args) => tune::run(args),
        Command::Twotower(args) => twotower::run(args),
    };
    if let Err(e) = result {
        // Print the cause chain, skipping causes already quoted by their parent.
        let mut msg = String::new();
        for cause in e.chain() {
            let c = cause.to_string();
            if !msg.contains(&c) {
                if !msg.is_empty() {
                    msg.push_str(": ");
                }
                msg.push_str(&c);
            }
        }
        eprintln!("error: {msg}");
        std::process::exit(1);
    }
}
