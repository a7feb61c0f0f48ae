//! `mapeo categories`: import a categories file (`.comapeocat`, or a folder in the same
//! layout) into the selected project, and list the project's categories in a language. The
//! reading, checking and writing are the core's (`mapeo_core::categories`); this parses the
//! command line, calls it and renders the result.

use std::path::Path;

use mapeo_core::Project;
use mapeo_core::categories::{self, CategoriesError, ImportSummary, LocalizedCategory};
use serde_json::{Value, json};

use crate::args::CategoriesCommand;
use crate::error::{CliError, CliResult};
use crate::home::{Access, Home};
use crate::out::{Output, table};
use crate::select;

/// Runs a categories command.
pub fn run(dir: &Path, selection: Option<&str>, cmd: CategoriesCommand) -> CliResult<Output> {
    match cmd {
        CategoriesCommand::Import { source } => {
            // Read and check the file before opening the store: a bad file touches nothing.
            let set = categories::read(&source).map_err(|e| error(e, &source))?;
            let home = Home::open(dir, Access::Write)?;
            let project = select::project(&home.manager, selection)?;
            let summary = categories::import(&project, &set).map_err(|e| error(e, &source))?;
            Ok(imported(&summary))
        }
        CategoriesCommand::List { lang } => {
            let home = Home::open(dir, Access::Read)?;
            let project = select::project(&home.manager, selection)?;
            list(&project, lang.as_deref())
        }
    }
}

/// The core's error, as the CLI reports it: a file that cannot be opened names its path
/// (the user gave it), a refused write is the core's, anything else is a bad file.
fn error(e: CategoriesError, source: &Path) -> CliError {
    match e {
        CategoriesError::Unreadable(kind) => CliError::file("cannot read", source, kind.into()),
        CategoriesError::Project(core) => CliError::Core(core),
        other => CliError::Categories(other.to_string()),
    }
}

fn imported(s: &ImportSummary) -> Output {
    let name = s.metadata.as_ref().map(|m| m.name.clone());
    let version = s.metadata.as_ref().and_then(|m| m.version.clone());
    let json = json!({
        "name": name,
        "version": version,
        "presets": s.categories,
        "fields": s.fields,
        "icons": s.icons,
        "translations": s.translations,
        "languages": s.languages,
        "skippedTranslations": s.skipped_translations,
        "replaced": s.replaced,
    });
    let text = format!(
        "Imported {}{}: {} categories ({}), {} fields, {} icons, {} translations{}{}.",
        name.as_deref().unwrap_or("categories"),
        version.map(|v| format!(" {v}")).unwrap_or_default(),
        s.categories.len(),
        s.categories.join(", "),
        s.fields,
        s.icons,
        s.translations,
        if s.languages.is_empty() {
            String::new()
        } else {
            format!(" in {}", s.languages.join(", "))
        },
        if s.skipped_translations > 0 {
            format!(
                " ({} skipped: unknown language, category, field or text)",
                s.skipped_translations
            )
        } else {
            String::new()
        },
    );
    Output::new(json, text)
}

fn category_json(c: &LocalizedCategory) -> Value {
    let fields: Vec<Value> = c
        .fields
        .iter()
        .map(|f| {
            json!({
                "docId": f.doc_id.as_str(),
                "tagKey": f.tag_key,
                "type": f.field_type,
                "label": f.label,
                "placeholder": f.placeholder,
                "helperText": f.helper_text,
                "options": f.options,
            })
        })
        .collect();
    json!({
        "docId": c.doc_id.as_str(),
        "versionId": c.version_id.to_string(),
        "name": c.name,
        "terms": c.terms,
        "color": c.color,
        "geometry": c.geometry,
        "tags": c.tags,
        "addTags": c.add_tags,
        "removeTags": c.remove_tags,
        "iconName": c.icon_name,
        "fieldLabels": c.fields.iter().map(|f| f.label.clone()).collect::<Vec<_>>(),
        "fields": fields,
    })
}

fn list(project: &Project, lang: Option<&str>) -> CliResult<Output> {
    let list = categories::categories(project, lang).map_err(list_error)?;
    let languages = categories::languages(project).map_err(list_error)?;
    let settings = project.settings()?;
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|c| {
            vec![
                c.doc_id.as_str().chars().take(8).collect(),
                c.name.clone(),
                c.fields
                    .iter()
                    .map(|f| f.label.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                c.icon_name.clone().unwrap_or_default(),
            ]
        })
        .collect();
    let source = settings.config_metadata.as_ref().map(|m| {
        format!(
            "{}{}",
            m.name,
            m.version
                .as_deref()
                .map(|v| format!(" {v}"))
                .unwrap_or_default()
        )
    });
    let text = if list.is_empty() {
        "No categories: import some with `mapeo categories import FILE`.".to_owned()
    } else {
        let mut t = table(&["ID", "NAME", "FIELDS", "ICON"], &rows);
        if let Some(s) = &source {
            t.push_str(&format!("\nFrom: {s}"));
        }
        if !languages.is_empty() {
            t.push_str(&format!("\nLanguages: {}", languages.join(", ")));
        }
        t
    };
    Ok(Output::new(
        json!({
            "count": list.len(),
            "language": lang,
            "languages": languages,
            "source": settings.config_metadata,
            "presets": list.iter().map(category_json).collect::<Vec<_>>(),
        }),
        text,
    ))
}

fn list_error(e: CategoriesError) -> CliError {
    match e {
        CategoriesError::Project(core) => CliError::Core(core),
        other => CliError::BadInput(other.to_string()),
    }
}
