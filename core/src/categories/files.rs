//! Bounded reading of a categories source — a zip archive or a folder — into memory: entry
//! count, sizes, total size and compression ratio are limited before anything is parsed, and
//! entry names are only ever looked up, never used as paths.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use super::{
    CategoriesError, MAX_ARCHIVE_BYTES, MAX_COMPRESSION_RATIO, MAX_ENTRIES, MAX_ENTRY_BYTES,
    MAX_TOTAL_BYTES, RATIO_FREE_BYTES,
};

/// The files of a categories source, by their name inside it (`/` separated).
pub(super) struct Files {
    files: BTreeMap<String, Vec<u8>>,
    /// Whether they came from an archive (where the format's required files are enforced).
    pub(super) archive: bool,
}

fn io(e: std::io::Error) -> CategoriesError {
    CategoriesError::Unreadable(e.kind())
}

impl Files {
    /// Reads a `.comapeocat` archive or a folder.
    pub(super) fn read(path: &Path) -> Result<Files, CategoriesError> {
        let meta = std::fs::metadata(path).map_err(io)?;
        if meta.is_dir() {
            Files::from_folder(path)
        } else {
            Files::from_archive(path, meta.len())
        }
    }

    fn from_archive(path: &Path, size: u64) -> Result<Files, CategoriesError> {
        if size > MAX_ARCHIVE_BYTES {
            return Err(CategoriesError::FileTooLarge {
                max: MAX_ARCHIVE_BYTES,
            });
        }
        let file = std::fs::File::open(path).map_err(io)?;
        let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file))
            .map_err(|_| CategoriesError::NotZip)?;
        if zip.len() > MAX_ENTRIES {
            return Err(CategoriesError::TooManyEntries { max: MAX_ENTRIES });
        }
        let mut files = BTreeMap::new();
        let mut total = 0u64;
        for i in 0..zip.len() {
            let mut entry = zip.by_index(i).map_err(|_| CategoriesError::Damaged)?;
            if entry.is_dir() {
                continue;
            }
            let name = entry
                .name()
                .ok()
                .filter(|n| safe_name(n))
                .map(|n| n.into_owned())
                .ok_or(CategoriesError::UnsafeEntryName)?;
            // The declared sizes may lie: what is read is bounded whatever they say.
            let by_ratio = entry
                .compressed_size()
                .saturating_mul(MAX_COMPRESSION_RATIO)
                .max(RATIO_FREE_BYTES);
            let allowed = MAX_ENTRY_BYTES.min(by_ratio);
            let mut data = Vec::new();
            (&mut entry)
                .take(allowed + 1)
                .read_to_end(&mut data)
                .map_err(|_| CategoriesError::Damaged)?;
            let len = data.len() as u64;
            if len > allowed {
                return Err(if allowed == MAX_ENTRY_BYTES {
                    CategoriesError::EntryTooLarge {
                        file: name,
                        max: MAX_ENTRY_BYTES,
                    }
                } else {
                    CategoriesError::CompressionRatio {
                        file: name,
                        max: MAX_COMPRESSION_RATIO,
                    }
                });
            }
            total += len;
            if total > MAX_TOTAL_BYTES {
                return Err(CategoriesError::TotalTooLarge {
                    max: MAX_TOTAL_BYTES,
                });
            }
            files.insert(name, data);
        }
        Ok(Files {
            files,
            archive: true,
        })
    }

    fn from_folder(root: &Path) -> Result<Files, CategoriesError> {
        let mut files = BTreeMap::new();
        let mut total = 0u64;
        let mut stack = vec![(root.to_owned(), String::new())];
        while let Some((dir, prefix)) = stack.pop() {
            for entry in std::fs::read_dir(&dir).map_err(io)? {
                let entry = entry.map_err(io)?;
                let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                    return Err(CategoriesError::UnsafeEntryName);
                };
                let rel = format!("{prefix}{name}");
                let kind = entry.file_type().map_err(io)?;
                if kind.is_dir() {
                    // Only one level of folders is part of the format.
                    if prefix.is_empty() {
                        stack.push((entry.path(), format!("{rel}/")));
                    }
                    continue;
                }
                if files.len() >= MAX_ENTRIES {
                    return Err(CategoriesError::TooManyEntries { max: MAX_ENTRIES });
                }
                let len = entry.metadata().map_err(io)?.len();
                if len > MAX_ENTRY_BYTES {
                    return Err(CategoriesError::EntryTooLarge {
                        file: rel,
                        max: MAX_ENTRY_BYTES,
                    });
                }
                total += len;
                if total > MAX_TOTAL_BYTES {
                    return Err(CategoriesError::TotalTooLarge {
                        max: MAX_TOTAL_BYTES,
                    });
                }
                let mut data = Vec::new();
                std::fs::File::open(entry.path())
                    .map_err(io)?
                    .take(MAX_ENTRY_BYTES)
                    .read_to_end(&mut data)
                    .map_err(io)?;
                files.insert(rel, data);
            }
        }
        Ok(Files {
            files,
            archive: false,
        })
    }

    /// The bytes of one file.
    pub(super) fn get(&self, name: &str) -> Option<&[u8]> {
        self.files.get(name).map(Vec::as_slice)
    }

    /// Whether a file, or a folder of that name holding `.json` files, exists.
    pub(super) fn has(&self, name: &str) -> bool {
        self.get(&format!("{name}.json")).is_some() || self.in_folder(name, "json").next().is_some()
    }

    /// One JSON file, parsed.
    pub(super) fn json<T: serde::de::DeserializeOwned>(
        &self,
        name: &str,
    ) -> Result<Option<T>, CategoriesError> {
        self.get(name)
            .map(|bytes| parse_json(name, bytes))
            .transpose()
    }

    /// Objects by id: one JSON object in `NAME.json`, or a folder `NAME/` of one file each.
    pub(super) fn objects<T: serde::de::DeserializeOwned>(
        &self,
        name: &str,
    ) -> Result<Option<BTreeMap<String, T>>, CategoriesError> {
        if let Some(map) = self.json::<BTreeMap<String, T>>(&format!("{name}.json"))? {
            return Ok(Some(map));
        }
        let mut map = BTreeMap::new();
        for (id, bytes) in self.in_folder(name, "json") {
            map.insert(
                id.to_owned(),
                parse_json(&format!("{name}/{id}.json"), bytes)?,
            );
        }
        Ok((!map.is_empty()).then_some(map))
    }

    /// Files directly in `folder/` with extension `ext`: (stem, bytes), by stem.
    pub(super) fn in_folder<'a>(
        &'a self,
        folder: &'a str,
        ext: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a [u8])> + 'a {
        self.files.iter().filter_map(move |(name, data)| {
            let rest = name.strip_prefix(folder)?.strip_prefix('/')?;
            let stem = rest.strip_suffix(ext)?.strip_suffix('.')?;
            (!stem.is_empty() && !stem.contains('/')).then_some((stem, data.as_slice()))
        })
    }
}

/// Whether an entry's name stays inside the archive: relative, `/`-separated, with no empty,
/// `.` or `..` part and no drive letter or NUL.
fn safe_name(name: &str) -> bool {
    !name.is_empty()
        && !name.contains(['\\', ':', '\0'])
        && name
            .trim_end_matches('/')
            .split('/')
            .all(|part| !matches!(part, "" | "." | ".."))
}

/// Parses JSON, naming the file and the place in it when it is not what the format says.
pub(super) fn parse_json<T: serde::de::DeserializeOwned>(
    file: &str,
    bytes: &[u8],
) -> Result<T, CategoriesError> {
    serde_json::from_slice(bytes).map_err(|e| CategoriesError::BadJson {
        file: file.to_owned(),
        detail: e.to_string(),
    })
}
