//! `mapeo`: the Mapeo desktop peer. A thin command line over `mapeo-core`: identity,
//! projects, observations, tracks, categories, members and invites, exports, and the device
//! on the network (`serve`, `sync`, connection codes), plus `demo`, the main job end to end.

mod args;
mod cmd;
mod control;
mod error;
mod home;
mod out;
mod select;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use crate::args::Cli;
use crate::error::CliError;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.json;
    match cmd::run(cli) {
        Ok(Some(output)) => {
            let mut stdout = std::io::stdout().lock();
            let written = if json {
                serde_json::to_string_pretty(&output.json)
                    .map_err(std::io::Error::other)
                    .and_then(|s| writeln!(stdout, "{s}"))
            } else if output.text.is_empty() {
                Ok(())
            } else {
                writeln!(stdout, "{}", output.text)
            };
            match written {
                Ok(()) => ExitCode::SUCCESS,
                // A closed pipe (`mapeo … | head`) is not worth a message.
                Err(_) => ExitCode::from(error::EXIT_ERROR),
            }
        }
        Ok(None) => ExitCode::SUCCESS,
        Err(e) => {
            report(&e, json);
            ExitCode::from(e.exit_code())
        }
    }
}

fn report(e: &CliError, json: bool) {
    if json {
        let doc = serde_json::json!({"error": {"kind": e.kind(), "message": e.to_string()}});
        eprintln!("{doc}");
    } else {
        eprintln!("error: {e}");
    }
}
