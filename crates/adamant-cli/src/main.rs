//! `adamant`: the command line of the adamant optimizer library.
//!
//! The CLI is glue: it parses, validates and calls the library. Each error is printed once,
//! as `adamant: {error}`, and the exit code is 1; progress goes to stderr. A closed stdout ends
//! the program quietly with status 0.

use std::process::ExitCode;

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

mod bench;
mod inspect;
mod machine;
mod output;
mod progress;
mod train;

/// MXNet's Adam optimizer system, bit-exact and fast.
#[derive(Parser)]
#[command(name = "adamant", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train real models with Adam: the built-in handwritten digits (default) or a sparse
    /// bag-of-words task with an embedding table.
    Train(Box<train::TrainArgs>),
    /// Measure every update path against the memory bandwidth limit of this machine.
    Bench(bench::BenchArgs),
    /// Show what an optimizer state file holds: optimizer, hyper-parameters, scheduler,
    /// counters, and every parameter's arrays.
    Inspect(inspect::InspectArgs),
}

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let result = match cli.command {
        Command::Train(mut args) => {
            // A resumed run takes the saved settings the command line leaves out.
            if let Some((_, m)) = matches.subcommand() {
                let given =
                    m.ids().filter(|id| m.value_source(id.as_str()) == Some(ValueSource::CommandLine));
                args.given = given.map(|id| id.to_string()).collect();
            }
            train::run(&args)
        }
        Command::Bench(args) => bench::run(&args),
        Command::Inspect(args) => inspect::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`| head`): nothing is wrong, and nothing more is wanted.
        Err(err) if output::is_closed_stdout(&err) => ExitCode::SUCCESS,
        Err(err) => {
            output::errln!("adamant: {err:#}");
            ExitCode::FAILURE
        }
    }
}
