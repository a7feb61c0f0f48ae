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
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e, wants_json(&args)),
    };
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

/// Whether `--json` is among the arguments: clap fails before it is parsed, and a script that
/// asked for JSON should get its usage error as JSON too. Anything after `--` is a value.
fn wants_json(args: &[std::ffi::OsString]) -> bool {
    args.iter()
        .skip(1)
        .take_while(|a| *a != "--")
        .any(|a| a == "--json")
}

/// Prints clap's answer: help and version as clap does (they are not errors), a usage error
/// as `{"error": {"kind": "usage", …}}` under `--json`; exit code 2 for a usage error.
fn usage_error(e: &clap::Error, json: bool) -> ExitCode {
    use clap::error::ErrorKind;
    let is_error = !matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion);
    if !json || !is_error {
        // clap prints help on stdout and errors on stderr, and knows its exit codes.
        let _ = e.print();
        return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(error::EXIT_USAGE));
    }
    let rendered = e.render().to_string();
    let message = rendered
        .trim()
        .strip_prefix("error: ")
        .unwrap_or(rendered.trim())
        .to_owned();
    let doc = serde_json::json!({"error": {"kind": "usage", "message": message}});
    eprintln!("{doc}");
    ExitCode::from(error::EXIT_USAGE)
}

fn report(e: &CliError, json: bool) {
    if json {
        let doc = serde_json::json!({"error": {"kind": e.kind(), "message": e.to_string()}});
        eprintln!("{doc}");
    } else {
        eprintln!("error: {e}");
    }
}
