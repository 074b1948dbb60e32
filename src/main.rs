use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = replayer::cli::Cli::parse();
    match replayer::run(cli) {
        Ok(code) => ExitCode::from(code as u8),
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(replayer::out::summary::ExitCode::CouldNotStart as u8)
        }
    }
}
