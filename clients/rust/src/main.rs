//! The `bedrock-client` binary: parses the command line and hands over to
//! [`bedrock_client::commands::main`], which owns everything else.

use clap::{CommandFactory as _, Parser as _};
use std::process::ExitCode;

fn main() -> ExitCode {
    // clap prints usage errors itself and exits with code 2, also for the
    // checks across flags that it cannot express (see `Cli::check`).
    let cli = bedrock_client::cli::Cli::parse();
    if let Err(message) = cli.check() {
        bedrock_client::cli::Cli::command()
            .error(clap::error::ErrorKind::ArgumentConflict, message)
            .exit();
    }
    bedrock_client::commands::main(cli)
}
