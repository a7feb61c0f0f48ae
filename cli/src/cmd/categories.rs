//! `mapeo categories`: import presets, fields, icons and translations from a `.comapeocat`
//! file (the CoMapeo categories format: a zip with `VERSION`, `metadata.json`,
//! `presets.json`, `defaults.json`, optional `fields.json`, `icons/*.svg` and
//! `translations/*.json`) or from a folder of JSON in the same shape; list them.
//!
//! An import reads and checks everything first (every document valid, every reference
//! resolved), then replaces the project's categories in one transaction: a failed import
//! changes nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;

use mapeo_core::schema::{
    DocRef, DocType, DocValue, Field, FieldOption, FieldType, Geometry, Icon, IconMimeType,
    IconSize, IconVariant, MAX_ICON_BYTES, Preset, TagPrimitive, Tags, Translation, tags_from_json,
};
use mapeo_core::{Document, Project, Query};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::args::CategoriesCommand;
use crate::error::{CliError, CliResult};
use crate::home::{Access, Home};
use crate::out::{Output, table, value_json};
use crate::select;

/// The newest major version of the categories format this reader understands.
pub const SUPPORTED_MAJOR_VERSION: u32 = 1;
/// Most entries read from a `.comapeocat` archive (the format's own limit).
pub const MAX_ARCHIVE_ENTRIES: usize = 10_000;
/// Largest JSON file read from an archive or folder, in bytes (after decompression).
pub const MAX_JSON_BYTES: u64 = 16 * 1024 * 1024;
/// Largest `.comapeocat` file read, in bytes.
pub const MAX_ARCHIVE_BYTES: u64 = 256 * 1024 * 1024;

/// Runs a categories command.
pub fn run(dir: &Path, selection: Option<&str>, cmd: CategoriesCommand) -> CliResult<Output> {
    match cmd {
        CategoriesCommand::Import { source } => {
            let files = if source.is_dir() {
                Files::from_folder(&source)?
            } else {
                Files::from_archive(&source)?
            };
            let set = CategorySet::parse(&files)?;
            let home = Home::open(dir, Access::Write)?;
            let project = select::project(&home.manager, selection)?;
            let role = project.role(&home.manager.device_id())?;
            if !matches!(
                role,
                mapeo_core::sync::PeerRole::Creator | mapeo_core::sync::PeerRole::Coordinator
            ) {
                return Err(CliError::Core(mapeo_core::Error::NotAllowed(
                    "only the creator and coordinators change a project's categories",
                )));
            }
            let summary = set.write(&project)?;
            Ok(summary)
        }
        CategoriesCommand::List => {
            let home = Home::open(dir, Access::Read)?;
            let project = select::project(&home.manager, selection)?;
            list(&project)
        }
    }
}

fn bad(msg: impl Into<String>) -> CliError {
    CliError::Categories(msg.into())
}

/// The files of a categories source, by their path inside it (`/` separated).
struct Files {
    files: BTreeMap<String, Vec<u8>>,
}

impl Files {
    fn from_archive(path: &Path) -> CliResult<Files> {
        let file = std::fs::File::open(path).map_err(|e| CliError::file("cannot read", path, e))?;
        let size = file
            .metadata()
            .map_err(|e| CliError::file("cannot read", path, e))?
            .len();
        if size > MAX_ARCHIVE_BYTES {
            return Err(bad(format!(
                "the file is larger than {MAX_ARCHIVE_BYTES} bytes"
            )));
        }
        let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file))
            .map_err(|e| bad(format!("not a .comapeocat (zip) file: {e}")))?;
        if zip.len() > MAX_ARCHIVE_ENTRIES {
            return Err(bad(format!("more than {MAX_ARCHIVE_ENTRIES} entries")));
        }
        let mut files = BTreeMap::new();
        for i in 0..zip.len() {
            let mut entry = zip
                .by_index(i)
                .map_err(|e| bad(format!("damaged archive: {e}")))?;
            if entry.is_dir() {
                continue;
            }
            // Names are only looked up, never used as paths on disk; still refuse odd ones.
            let Some(name) = entry
                .enclosed_name()
                .map(|p| p.to_string_lossy().replace('\\', "/"))
            else {
                return Err(bad(format!("entry with an unsafe name {:?}", entry.name())));
            };
            let limit = limit_for(&name);
            let mut data = Vec::new();
            (&mut entry)
                .take(limit + 1)
                .read_to_end(&mut data)
                .map_err(|e| bad(format!("cannot read {name}: {e}")))?;
            if data.len() as u64 > limit {
                return Err(bad(format!("{name} is larger than {limit} bytes")));
            }
            files.insert(name, data);
        }
        Ok(Files { files })
    }

    fn from_folder(root: &Path) -> CliResult<Files> {
        let mut files = BTreeMap::new();
        let mut stack = vec![(root.to_owned(), String::new())];
        while let Some((dir, prefix)) = stack.pop() {
            let entries =
                std::fs::read_dir(&dir).map_err(|e| CliError::file("cannot read", &dir, e))?;
            for entry in entries {
                let entry = entry.map_err(|e| CliError::file("cannot read", &dir, e))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let rel = format!("{prefix}{name}");
                let path = entry.path();
                let kind = entry
                    .file_type()
                    .map_err(|e| CliError::file("cannot read", &path, e))?;
                if kind.is_dir() {
                    // Only one level of folders is part of the format.
                    if prefix.is_empty() {
                        stack.push((path, format!("{rel}/")));
                    }
                    continue;
                }
                if files.len() >= MAX_ARCHIVE_ENTRIES {
                    return Err(bad(format!("more than {MAX_ARCHIVE_ENTRIES} files")));
                }
                let limit = limit_for(&rel);
                let len = entry
                    .metadata()
                    .map_err(|e| CliError::file("cannot read", &path, e))?
                    .len();
                if len > limit {
                    return Err(bad(format!("{rel} is larger than {limit} bytes")));
                }
                let data =
                    std::fs::read(&path).map_err(|e| CliError::file("cannot read", &path, e))?;
                files.insert(rel, data);
            }
        }
        Ok(Files { files })
    }

    fn get(&self, name: &str) -> Option<&[u8]> {
        self.files.get(name).map(Vec::as_slice)
    }

    fn json<T: serde::de::DeserializeOwned>(&self, name: &str) -> CliResult<Option<T>> {
        match self.get(name) {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(bytes)
                .map(Some)
                .map_err(|e| bad(format!("{name}: {e}"))),
        }
    }

    /// Files directly in `folder/` with extension `ext`: (stem, bytes).
    fn in_folder<'a>(
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

fn limit_for(name: &str) -> u64 {
    if name.starts_with("icons/") {
        MAX_ICON_BYTES as u64
    } else {
        MAX_JSON_BYTES
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PresetIn {
    name: String,
    #[serde(default)]
    geometry: Vec<String>,
    #[serde(default)]
    tags: Option<Value>,
    #[serde(default)]
    fields: Vec<String>,
    #[serde(default)]
    add_tags: Option<Value>,
    #[serde(default)]
    remove_tags: Option<Value>,
    #[serde(default)]
    icon: Option<String>,
    #[serde(default)]
    terms: Vec<String>,
    #[serde(default)]
    color: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FieldIn {
    #[serde(rename = "type")]
    field_type: String,
    #[serde(default, alias = "key")]
    tag_key: Option<String>,
    #[serde(default)]
    label: Option<String>,
    #[serde(default)]
    placeholder: Option<String>,
    #[serde(default)]
    helper_text: Option<String>,
    #[serde(default)]
    options: Vec<OptionIn>,
    #[serde(default)]
    universal: bool,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OptionIn {
    Full { label: String, value: Value },
    Plain(String),
}

#[derive(Debug, Deserialize)]
struct TranslationIn {
    #[serde(rename = "propertyRef")]
    property_ref: String,
    message: String,
}

#[derive(Debug, Deserialize, Default)]
struct TranslationFileIn {
    #[serde(default)]
    preset: BTreeMap<String, Vec<TranslationIn>>,
    #[serde(default)]
    field: BTreeMap<String, Vec<TranslationIn>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MetadataIn {
    name: String,
    #[serde(default)]
    version: Option<String>,
}

/// One translated text, waiting for the version of what it translates.
struct PendingTranslation {
    of: DocType,
    id: String,
    property_ref: String,
    language: String,
    region: Option<String>,
    message: String,
}

/// Everything an import writes, checked.
struct CategorySet {
    name: Option<String>,
    version: Option<String>,
    /// Presets in their display order, with the ids of their fields and icon.
    presets: Vec<(String, Preset, Vec<String>, Option<String>)>,
    fields: BTreeMap<String, Field>,
    icons: BTreeMap<String, Icon>,
    translations: Vec<PendingTranslation>,
    skipped_translations: usize,
}

fn tags(v: Option<&Value>, what: &str) -> CliResult<Tags> {
    match v {
        None | Some(Value::Null) => Ok(Tags::new()),
        Some(v) => tags_from_json(v).map_err(|e| bad(format!("{what}: {e}"))),
    }
}

fn geometry(g: &str, preset: &str) -> CliResult<Geometry> {
    Ok(match g {
        "point" => Geometry::Point,
        "vertex" => Geometry::Vertex,
        "line" => Geometry::Line,
        "area" => Geometry::Area,
        "relation" => Geometry::Relation,
        other => {
            return Err(bad(format!(
                "preset {preset:?}: unknown geometry {other:?}"
            )));
        }
    })
}

/// `#rgb` becomes `#rrggbb`; other forms are left for validation.
fn color(c: &str) -> String {
    let hex: Vec<char> = c.trim_start_matches('#').chars().collect();
    if c.starts_with('#') && hex.len() == 3 && hex.iter().all(char::is_ascii_hexdigit) {
        let mut out = String::from("#");
        for ch in hex {
            out.push(ch);
            out.push(ch);
        }
        out
    } else {
        c.to_owned()
    }
}

fn field_type(t: &str, id: &str) -> CliResult<FieldType> {
    Ok(match t {
        "text" | "textarea" | "localized" => FieldType::Text,
        "number" => FieldType::Number,
        "selectOne" | "select_one" | "select" | "combo" => FieldType::SelectOne,
        "selectMultiple" | "select_multiple" | "multiselect" => FieldType::SelectMultiple,
        "date" | "datetime" => FieldType::Date,
        other => return Err(bad(format!("field {id:?}: unknown type {other:?}"))),
    })
}

fn option_value(v: &Value, field: &str) -> CliResult<TagPrimitive> {
    Ok(match v {
        Value::Null => TagPrimitive::Null,
        Value::Bool(b) => TagPrimitive::Bool(*b),
        Value::Number(n) => TagPrimitive::Number(
            n.as_f64()
                .ok_or_else(|| bad(format!("field {field:?}: option value out of range")))?,
        ),
        Value::String(s) => TagPrimitive::String(s.clone()),
        _ => {
            return Err(bad(format!(
                "field {field:?}: an option value is a list or object"
            )));
        }
    })
}

/// A BCP 47 tag's language and region subtags, or `None` when it does not look like one.
fn language_tag(tag: &str) -> Option<(String, Option<String>)> {
    let mut parts = tag.split('-');
    let lang = parts.next()?;
    if !(2..=3).contains(&lang.len()) || !lang.bytes().all(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    let region = parts
        .find(|p| {
            (p.len() == 2 && p.bytes().all(|b| b.is_ascii_alphabetic()))
                || (p.len() == 3 && p.bytes().all(|b| b.is_ascii_digit()))
        })
        .map(str::to_uppercase);
    Some((lang.to_lowercase(), region))
}

/// Presets, one JSON object of them by id, or a folder of one file each.
fn objects<T: serde::de::DeserializeOwned>(
    files: &Files,
    name: &str,
) -> CliResult<Option<BTreeMap<String, T>>> {
    if let Some(map) = files.json::<BTreeMap<String, T>>(&format!("{name}.json"))? {
        return Ok(Some(map));
    }
    let mut map = BTreeMap::new();
    for (id, bytes) in files.in_folder(name, "json") {
        let v: T =
            serde_json::from_slice(bytes).map_err(|e| bad(format!("{name}/{id}.json: {e}")))?;
        map.insert(id.to_owned(), v);
    }
    Ok((!map.is_empty()).then_some(map))
}

impl CategorySet {
    fn parse(files: &Files) -> CliResult<CategorySet> {
        let archive_like = files.get("VERSION").is_some();
        if let Some(v) = files.get("VERSION") {
            let text = String::from_utf8_lossy(v);
            let text = text.trim();
            let major = text
                .split_once('.')
                .filter(|(a, b)| {
                    !a.is_empty()
                        && !b.is_empty()
                        && a.bytes().all(|c| c.is_ascii_digit())
                        && b.bytes().all(|c| c.is_ascii_digit())
                })
                .and_then(|(a, _)| a.parse::<u32>().ok())
                .ok_or_else(|| bad(format!("VERSION {text:?} is not MAJOR.MINOR")))?;
            if major > SUPPORTED_MAJOR_VERSION {
                return Err(bad(format!(
                    "format version {text} is newer than this mapeo reads ({SUPPORTED_MAJOR_VERSION}.x)"
                )));
            }
        }
        let metadata = files.json::<MetadataIn>("metadata.json")?;
        let presets_in = objects::<PresetIn>(files, "presets")?
            .ok_or_else(|| bad("no presets: expected presets.json (or a presets/ folder)"))?;
        if archive_like {
            for required in ["defaults.json", "metadata.json"] {
                if files.get(required).is_none() {
                    return Err(bad(format!("{required} is missing")));
                }
            }
        }
        let defaults = files.json::<BTreeMap<String, Vec<String>>>("defaults.json")?;
        let fields_in = objects::<FieldIn>(files, "fields")?.unwrap_or_default();

        let mut fields = BTreeMap::new();
        for (id, f) in fields_in {
            let field_type = field_type(&f.field_type, &id)?;
            let tag_key = f.tag_key.unwrap_or_else(|| id.clone());
            let label = f.label.unwrap_or_else(|| tag_key.clone());
            let options = f
                .options
                .iter()
                .map(|o| match o {
                    OptionIn::Full { label, value } => Ok(FieldOption {
                        label: label.clone(),
                        value: option_value(value, &id)?,
                    }),
                    OptionIn::Plain(s) => Ok(FieldOption {
                        label: s.clone(),
                        value: TagPrimitive::String(s.clone()),
                    }),
                })
                .collect::<CliResult<Vec<_>>>()?;
            let field = Field {
                tag_key,
                field_type,
                label,
                options,
                placeholder: f.placeholder,
                helper_text: f.helper_text,
                universal: f.universal,
            };
            DocValue::Field(field.clone())
                .validate()
                .map_err(|e| bad(format!("field {id:?}: {e}")))?;
            fields.insert(id, field);
        }

        let mut icons = BTreeMap::new();
        for (ext, mime) in [("svg", IconMimeType::Svg), ("png", IconMimeType::Png)] {
            for (name, bytes) in files.in_folder("icons", ext) {
                if mime == IconMimeType::Svg && !looks_like_svg(bytes) {
                    return Err(bad(format!("icons/{name}.svg is not SVG")));
                }
                let icon = icons.entry(name.to_owned()).or_insert_with(|| Icon {
                    name: name.to_owned(),
                    variants: Vec::new(),
                });
                icon.variants.push(IconVariant {
                    size: IconSize::Medium,
                    pixel_density: (mime == IconMimeType::Png).then_some(1),
                    mime_type: mime,
                    data: bytes.to_vec(),
                });
            }
        }
        for (name, icon) in &icons {
            DocValue::Icon(icon.clone())
                .validate()
                .map_err(|e| bad(format!("icon {name:?}: {e}")))?;
        }

        // Display order: the defaults' order first, then the rest by id.
        let mut order: Vec<String> = Vec::new();
        if let Some(d) = &defaults {
            for geometry in ["point", "line", "area"] {
                for id in d.get(geometry).into_iter().flatten() {
                    if presets_in.contains_key(id) && !order.contains(id) {
                        order.push(id.clone());
                    }
                }
            }
        }
        for id in presets_in.keys() {
            if !order.contains(id) {
                order.push(id.clone());
            }
        }
        let mut presets = Vec::new();
        for id in order {
            let Some(p) = presets_in.get(&id) else {
                continue;
            };
            for f in &p.fields {
                if !fields.contains_key(f) {
                    return Err(bad(format!(
                        "preset {id:?} uses field {f:?}, which is not defined"
                    )));
                }
            }
            if let Some(icon) = &p.icon
                && !icons.contains_key(icon)
            {
                return Err(bad(format!(
                    "preset {id:?} uses icon {icon:?}, which is not in icons/"
                )));
            }
            let geometry = p
                .geometry
                .iter()
                .map(|g| geometry(g, &id))
                .collect::<CliResult<Vec<_>>>()?;
            let tags_v = tags(p.tags.as_ref(), &format!("preset {id:?} tags"))?;
            let add_tags = match &p.add_tags {
                Some(v) => tags(Some(v), &format!("preset {id:?} addTags"))?,
                None => tags_v.clone(),
            };
            let remove_tags = match &p.remove_tags {
                Some(v) => tags(Some(v), &format!("preset {id:?} removeTags"))?,
                None => add_tags.clone(),
            };
            let preset = Preset {
                name: p.name.clone(),
                geometry,
                tags: tags_v,
                add_tags,
                remove_tags,
                field_refs: Vec::new(),
                icon_ref: None,
                terms: p.terms.clone(),
                color: p.color.as_deref().map(color),
            };
            DocValue::Preset(preset.clone())
                .validate()
                .map_err(|e| bad(format!("preset {id:?}: {e}")))?;
            presets.push((id, preset, p.fields.clone(), p.icon.clone()));
        }

        let mut translations = Vec::new();
        let mut skipped = 0;
        for (lang, bytes) in files.in_folder("translations", "json") {
            let Some((language, region)) = language_tag(lang) else {
                skipped += 1;
                continue;
            };
            let file: TranslationFileIn = serde_json::from_slice(bytes)
                .map_err(|e| bad(format!("translations/{lang}.json: {e}")))?;
            let preset_ids: BTreeSet<&str> = presets.iter().map(|p| p.0.as_str()).collect();
            for (of, items) in [
                (DocType::Preset, &file.preset),
                (DocType::Field, &file.field),
            ] {
                for (id, list) in items {
                    let known = match of {
                        DocType::Preset => preset_ids.contains(id.as_str()),
                        _ => fields.contains_key(id),
                    };
                    for t in list {
                        if !known || !property_exists(of, id, &t.property_ref, &presets, &fields) {
                            skipped += 1;
                            continue;
                        }
                        translations.push(PendingTranslation {
                            of,
                            id: id.clone(),
                            property_ref: t.property_ref.clone(),
                            language: language.clone(),
                            region: region.clone(),
                            message: t.message.clone(),
                        });
                    }
                }
            }
        }
        Ok(CategorySet {
            name: metadata.as_ref().map(|m| m.name.clone()),
            version: metadata.and_then(|m| m.version),
            presets,
            fields,
            icons,
            translations,
            skipped_translations: skipped,
        })
    }

    /// Replaces the project's presets, fields, icons and translations, all in one
    /// transaction.
    fn write(self, project: &Project) -> CliResult<Output> {
        let old: Vec<Document> = [
            DocType::Translation,
            DocType::Preset,
            DocType::Field,
            DocType::Icon,
        ]
        .into_iter()
        .map(|t| project.list(&Query::all(t)))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .flatten()
        .collect();
        let written = project.batch(|b| {
            for d in &old {
                b.delete(d.doc_id())?;
            }
            let reference = |d: &Document| DocRef {
                doc_id: d.doc.doc_id.clone(),
                version_id: d.version_id,
            };
            let mut icon_refs = BTreeMap::new();
            for (name, icon) in &self.icons {
                let d = b.create(DocValue::Icon(icon.clone()))?;
                icon_refs.insert(name.clone(), reference(&d));
            }
            let mut field_refs = BTreeMap::new();
            for (id, field) in &self.fields {
                let d = b.create(DocValue::Field(field.clone()))?;
                field_refs.insert(id.clone(), reference(&d));
            }
            let mut preset_refs = BTreeMap::new();
            let mut preset_docs = Vec::new();
            for (id, preset, fields, icon) in &self.presets {
                let mut p = preset.clone();
                p.field_refs = fields
                    .iter()
                    .filter_map(|f| field_refs.get(f).cloned())
                    .collect();
                p.icon_ref = icon.as_ref().and_then(|i| icon_refs.get(i).cloned());
                let d = b.create(DocValue::Preset(p))?;
                preset_refs.insert(id.clone(), reference(&d));
                preset_docs.push(d);
            }
            let mut translations = 0;
            for t in &self.translations {
                let doc_ref = match t.of {
                    DocType::Preset => preset_refs.get(&t.id),
                    _ => field_refs.get(&t.id),
                };
                let Some(doc_ref) = doc_ref else { continue };
                b.create(DocValue::Translation(Translation {
                    doc_ref: doc_ref.clone(),
                    doc_ref_type: t.of,
                    property_ref: t.property_ref.clone(),
                    language_code: t.language.clone(),
                    region_code: t.region.clone(),
                    message: t.message.clone(),
                }))?;
                translations += 1;
            }
            Ok((preset_docs, translations))
        });
        let (preset_docs, translations) = written.map_err(|e| match e {
            mapeo_core::Error::Invalid(v) => bad(v.to_string()),
            other => CliError::Core(other),
        })?;
        let names: Vec<String> = preset_docs
            .iter()
            .filter_map(|d| match &d.doc.value {
                DocValue::Preset(p) => Some(p.name.clone()),
                _ => None,
            })
            .collect();
        let json = json!({
            "name": self.name,
            "version": self.version,
            "presets": names,
            "fields": self.fields.len(),
            "icons": self.icons.len(),
            "translations": translations,
            "skippedTranslations": self.skipped_translations,
            "replaced": old.len(),
        });
        let text = format!(
            "Imported {}{}: {} categories ({}), {} fields, {} icons, {} translations{}.",
            self.name.as_deref().unwrap_or("categories"),
            self.version
                .as_deref()
                .map(|v| format!(" {v}"))
                .unwrap_or_default(),
            names.len(),
            names.join(", "),
            self.fields.len(),
            self.icons.len(),
            translations,
            if self.skipped_translations > 0 {
                format!(
                    " ({} skipped: unknown language, category, field or text)",
                    self.skipped_translations
                )
            } else {
                String::new()
            },
        );
        Ok(Output::new(json, text))
    }
}

fn looks_like_svg(bytes: &[u8]) -> bool {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]);
    text.contains("<svg")
}

fn property_exists(
    of: DocType,
    id: &str,
    property: &str,
    presets: &[(String, Preset, Vec<String>, Option<String>)],
    fields: &BTreeMap<String, Field>,
) -> bool {
    match of {
        DocType::Preset => {
            presets.iter().any(|p| p.0 == id) && matches!(property, "name" | "terms")
        }
        _ => {
            let Some(f) = fields.get(id) else {
                return false;
            };
            match property {
                "name" | "label" => true,
                "placeholder" => f.placeholder.is_some(),
                "helperText" => f.helper_text.is_some(),
                other => other
                    .strip_prefix("options.")
                    .and_then(|i| i.parse::<usize>().ok())
                    .is_some_and(|i| i < f.options.len()),
            }
        }
    }
}

fn list(project: &Project) -> CliResult<Output> {
    let presets = project.list(&Query::all(DocType::Preset))?;
    let translations = project.list(&Query::all(DocType::Translation))?;
    let mut json_presets = Vec::new();
    let mut rows = Vec::new();
    for d in &presets {
        let DocValue::Preset(p) = &d.doc.value else {
            continue;
        };
        let field_labels: Vec<String> = p
            .field_refs
            .iter()
            .filter_map(|r| match project.get(&r.doc_id).map(|f| f.doc.value) {
                Ok(DocValue::Field(f)) => Some(f.label),
                _ => None,
            })
            .collect();
        let icon =
            p.icon_ref
                .as_ref()
                .and_then(|r| match project.get(&r.doc_id).map(|i| i.doc.value) {
                    Ok(DocValue::Icon(i)) => Some(i.name),
                    _ => None,
                });
        let languages: BTreeSet<String> = translations
            .iter()
            .filter_map(|t| match &t.doc.value {
                DocValue::Translation(t) if t.doc_ref.doc_id == d.doc.doc_id => {
                    Some(t.language_code.clone())
                }
                _ => None,
            })
            .collect();
        let mut v = value_json(&d.doc.value);
        if let Value::Object(o) = &mut v {
            o.insert("docId".into(), json!(d.doc.doc_id.as_str()));
            o.insert("fieldLabels".into(), json!(field_labels));
            o.insert("iconName".into(), json!(icon));
            o.insert("translatedTo".into(), json!(languages));
        }
        json_presets.push(v);
        rows.push(vec![
            d.doc.doc_id.as_str().chars().take(8).collect(),
            p.name.clone(),
            field_labels.join(", "),
            icon.unwrap_or_default(),
            languages.into_iter().collect::<Vec<_>>().join(","),
        ]);
    }
    let text = if presets.is_empty() {
        "No categories: import some with `mapeo categories import FILE`.".to_owned()
    } else {
        table(&["ID", "NAME", "FIELDS", "ICON", "LANGUAGES"], &rows)
    };
    Ok(Output::new(
        json!({ "count": presets.len(), "presets": json_presets }),
        text,
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // In tests a panic is the failure report.
mod tests {
    use super::*;

    #[test]
    fn language_tags_split_into_language_and_region() {
        assert_eq!(language_tag("es"), Some(("es".into(), None)));
        assert_eq!(
            language_tag("pt-BR"),
            Some(("pt".into(), Some("BR".into())))
        );
        assert_eq!(
            language_tag("es-419"),
            Some(("es".into(), Some("419".into())))
        );
        assert_eq!(language_tag("x"), None);
        assert_eq!(language_tag("en_US"), None);
    }

    #[test]
    fn short_colors_expand() {
        assert_eq!(color("#0a3"), "#00aa33");
        assert_eq!(color("#00aa33"), "#00aa33");
    }
}
