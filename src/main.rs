use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = replayer::cli::Cli::parse();
    match replayer::run(cli) {
        Ok(code) => ExitCode::from(code as u8),
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(replayer::summary::ExitCode::CouldNotStart as u8)
        }
    }
}

// Rows are checked on every core with many short-lived strings: mimalloc frees across threads cheaply.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
