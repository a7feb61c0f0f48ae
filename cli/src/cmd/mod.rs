//! The commands: each opens what it needs, does one job through `mapeo-core`, and returns
//! what to print.

mod categories;
mod demo;
mod export;
mod identity;
mod invites;
mod map_share;
mod maps;
mod media;
mod members;
mod net;
mod observation;
mod project;
mod remote;
mod sync;
mod sync_file;
mod track;

use crate::args::{Cli, Command};
use crate::error::CliResult;
use crate::home;
use crate::out::Output;

/// Prints a command's output now (for commands that print a result and then fail).
pub fn print(output: &Output, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&output.json).unwrap_or_default()
        );
    } else if !output.text.is_empty() {
        println!("{}", output.text);
    }
}

/// Runs the command line's command. `None`: it printed its own output as it went.
pub fn run(cli: Cli) -> CliResult<Option<Output>> {
    let dir = home::data_dir(cli.data.as_deref())?;
    let project = cli.project.as_deref();
    let json = cli.json;
    match cli.command {
        Command::Identity(a) => identity::run(&dir, a.action).map(Some),
        Command::Project(c) => project::run(&dir, project, c).map(Some),
        Command::Observation(c) => observation::run(&dir, project, c).map(Some),
        Command::Track(c) => track::run(&dir, project, c).map(Some),
        Command::Categories(c) => categories::run(&dir, project, c).map(Some),
        Command::Members(c) => members::run(&dir, project, c, json).map(Some),
        Command::Invites(c) => invites::run(&dir, c).map(Some),
        Command::Export(c) => export::run(&dir, project, c).map(Some),
        Command::Maps(c) => maps::run(&dir, c, json).map(Some),
        Command::Serve(a) => net::serve(&dir, a, json).map(|()| None),
        Command::Sync(a) => sync::run(&dir, a, json).map(Some),
        Command::SyncFile(c) => sync_file::run(&dir, project, c).map(Some),
        Command::ConnectionCode(a) => net::connection_code(&dir, a).map(Some),
        Command::Demo(a) => demo::run(a, json).map(Some),
    }
}
