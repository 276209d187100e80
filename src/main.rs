//! The `netpol` binary: parse arguments, run, exit with the library's exit code.

use clap::Parser;

fn main() {
    let cli = netpol::cli::Cli::parse();
    std::process::exit(netpol::cli::run(cli));
}
