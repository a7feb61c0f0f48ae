//! The commands: each opens what it needs, does one job through `mapeo-core`, and returns
//! what to print.

mod categories;
mod demo;
mod export;
mod identity;
mod members;
mod net;
mod observation;
mod project;
mod track;

use crate::args::{Cli, Command};
use crate::error::CliResult;
use crate::home;
use crate::out::Output;

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
        Command::Members(c) => members::run(&dir, project, c).map(Some),
        Command::Export(c) => export::run(&dir, project, c).map(Some),
        Command::Serve(a) => net::serve(&dir, a, json).map(|()| None),
        Command::Sync(a) => net::sync(&dir, a, json).map(Some),
        Command::ConnectionCode(a) => net::connection_code(&dir, a).map(Some),
        Command::Demo(a) => demo::run(a, json).map(Some),
    }
}
