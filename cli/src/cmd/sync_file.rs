//! `mapeo sync-file`: write a sync file (with a progress bar), import one, write a have-file.
//! What goes into a file and how it is checked and applied are the core's
//! (`mapeo_core::sync_file`); this parses the command line, calls it and renders the result.

use std::path::Path;

use indicatif::{HumanBytes, ProgressBar, ProgressStyle};
use mapeo_core::sync_file::{
    ExportOptions, MediaChoice, SyncFileError, SyncFileProgress, SyncFileStage,
};
use serde_json::json;

use crate::args::{MediaArg, SyncFileCommand};
use crate::error::{CliError, CliResult};
use crate::home::{Access, Home};
use crate::out::Output;
use crate::select;

/// Runs a sync-file command.
pub fn run(dir: &Path, selection: Option<&str>, cmd: SyncFileCommand) -> CliResult<Output> {
    match cmd {
        SyncFileCommand::Export {
            out,
            media,
            max_size,
            for_file,
        } => {
            let max_bytes = max_size.as_deref().map(parse_size).transpose()?;
            let home = Home::open(dir, Access::Read)?;
            let project = select::project(&home.manager, selection)?;
            let for_holdings = match &for_file {
                Some(f) => Some(
                    project
                        .read_sync_file_holdings(f)
                        .map_err(|e| error(e, f, "cannot use the have-file"))?,
                ),
                None => None,
            };
            let options = ExportOptions {
                media: match media {
                    MediaArg::All => MediaChoice::All,
                    MediaArg::Previews => MediaChoice::Previews,
                    MediaArg::None => MediaChoice::None,
                },
                max_bytes,
                for_holdings,
            };
            let bar = Bar::new();
            let written = project.export_sync_file(&out, &options, &mut |p| bar.show(p));
            bar.done();
            let s = written.map_err(|e| error(e, &out, "sync file not written"))?;
            let left_out: Vec<_> = s
                .left_out
                .iter()
                .map(|l| {
                    json!({
                        "hash": l.hash.to_string(),
                        "size": l.size,
                        "variant": format!("{:?}", l.variant).to_lowercase(),
                    })
                })
                .collect();
            let mut text = format!(
                "Wrote {}: {} entries, {} media files ({}), {} in all.",
                out.display(),
                s.entries,
                s.blobs,
                HumanBytes(s.blob_bytes),
                HumanBytes(s.file_bytes)
            );
            if !s.left_out.is_empty() {
                let bytes: u64 = s.left_out.iter().map(|l| l.size).sum();
                text.push_str(&format!(
                    "\nLeft out to fit the size limit: {} media files ({}), largest first.",
                    s.left_out.len(),
                    HumanBytes(bytes)
                ));
            }
            Ok(Output::new(
                json!({
                    "file": out,
                    "entries": s.entries,
                    "mediaFiles": s.blobs,
                    "mediaBytes": s.blob_bytes,
                    "fileBytes": s.file_bytes,
                    "leftOut": left_out,
                }),
                text,
            ))
        }
        SyncFileCommand::Import { file } => {
            let home = Home::open(dir, Access::Write)?;
            let project = select::project(&home.manager, selection)?;
            let bar = Bar::new();
            let done = project.import_sync_file(&file, &mut |p| bar.show(p));
            bar.done();
            let s = done.map_err(|e| error(e, &file, "sync file not imported"))?;
            Ok(Output::new(
                json!({
                    "entriesInFile": s.entries_in_file,
                    "entriesAdded": s.entries_added,
                    "mediaAdded": s.blobs_added,
                    "mediaSkipped": s.blobs_skipped,
                }),
                format!(
                    "Imported: {} new entries (of {} in the file), {} new media files. \
                     Answer with `mapeo sync-file export --out FILE --for {}`.",
                    s.entries_added,
                    s.entries_in_file,
                    s.blobs_added,
                    file.display()
                ),
            ))
        }
        SyncFileCommand::Have { out } => {
            let home = Home::open(dir, Access::Read)?;
            let project = select::project(&home.manager, selection)?;
            project
                .write_have_file(&out)
                .map_err(|e| error(e, &out, "have-file not written"))?;
            Ok(Output::new(
                json!({ "file": out }),
                format!(
                    "Wrote {}: take it to the other device, for `mapeo sync-file export --for`.",
                    out.display()
                ),
            ))
        }
    }
}

/// The core's refusal, as the CLI reports it: a file that cannot be read or written names
/// the file; a refused file changed nothing.
fn error(e: SyncFileError, path: &Path, what: &str) -> CliError {
    match e {
        SyncFileError::Io(io) => CliError::file("cannot read or write", path, io),
        SyncFileError::Store(core) => CliError::from(*core),
        SyncFileError::Refused(_) => CliError::BadInput(format!(
            "{what}: {e}; what came before the refused entries was kept"
        )),
        other => CliError::BadInput(format!("{what}, nothing changed: {other}")),
    }
}

/// Reads a size: bytes, or a number with KB, MB, GB (powers of 1000) or KiB, MiB, GiB.
fn parse_size(text: &str) -> CliResult<u64> {
    let t = text.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let unit_bytes: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "m" | "mb" => 1_000_000,
        "g" | "gb" => 1_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        _ => return Err(bad_size(text)),
    };
    let n: f64 = number.parse().map_err(|_| bad_size(text))?;
    let bytes = n * unit_bytes as f64;
    if !bytes.is_finite() || bytes < 1.0 || bytes > u64::MAX as f64 {
        return Err(bad_size(text));
    }
    Ok(bytes as u64)
}

fn bad_size(text: &str) -> CliError {
    CliError::BadInput(format!(
        "{text:?} is not a size: use bytes or a number with KB, MB, GB (500MB)"
    ))
}

/// A progress bar on stderr (indicatif draws nothing when it is not a terminal).
struct Bar(ProgressBar);

impl Bar {
    fn new() -> Self {
        let bar = ProgressBar::new(0);
        if let Ok(style) = ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({eta})") {
            bar.set_style(style.progress_chars("=> "));
        }
        Bar(bar)
    }

    fn show(&self, p: SyncFileProgress) {
        let msg = match p.stage {
            SyncFileStage::WritingEntries => "Writing entries",
            SyncFileStage::WritingMedia => "Writing media (bytes)",
            SyncFileStage::Checking => "Checking the file (bytes)",
            SyncFileStage::Importing => "Importing (bytes)",
        };
        self.0.set_message(msg);
        self.0.set_length(p.total);
        self.0.set_position(p.done);
    }

    fn done(&self) {
        self.0.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_read_with_their_units() {
        assert_eq!(parse_size("500MB").ok(), Some(500_000_000));
        assert_eq!(parse_size("1.5 GiB").ok(), Some(3 << 29));
        assert_eq!(parse_size("2048").ok(), Some(2048));
        assert_eq!(parse_size("10kb").ok(), Some(10_000));
        for bad in ["", "MB", "-3MB", "5 parsecs", "0"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }
}
