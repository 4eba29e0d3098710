//! The `bedrock-client` binary: parses the command line and hands over to
//! [`bedrock_client::commands::main`], which owns everything else.

use clap::Parser as _;
use std::process::ExitCode;

fn main() -> ExitCode {
    // clap prints usage errors itself and exits with code 2.
    let cli = bedrock_client::cli::Cli::parse();
    bedrock_client::commands::main(cli)
}
