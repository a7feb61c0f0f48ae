//! What commands print: a JSON value for `--json` and text for people, documents in the
//! reference's JSON shape, and times as ISO 8601.

use mapeo_core::schema::{DocValue, TagValue, Tags};
use mapeo_core::{Document, Timestamp};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::error::{CliError, CliResult};

/// A command's result: JSON for scripts, text for people.
#[derive(Debug)]
pub struct Output {
    /// Printed (pretty) with `--json`.
    pub json: Value,
    /// Printed otherwise.
    pub text: String,
}

impl Output {
    /// Both forms.
    pub fn new(json: Value, text: impl Into<String>) -> Self {
        Output {
            json,
            text: text.into(),
        }
    }
}

/// A time as ISO 8601 in UTC with milliseconds (`2026-01-31T12:00:00.000Z`), as the
/// reference writes `createdAt`.
pub fn iso(t: Timestamp) -> String {
    let nanos = i128::from(t.0) * 1_000_000;
    match OffsetDateTime::from_unix_timestamp_nanos(nanos) {
        Ok(d) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            d.year(),
            u8::from(d.month()),
            d.day(),
            d.hour(),
            d.minute(),
            d.second(),
            d.millisecond()
        ),
        Err(_) => t.0.to_string(),
    }
}

/// Reads a time given on the command line: RFC 3339, or a date (midnight UTC).
pub fn parse_time(text: &str) -> CliResult<Timestamp> {
    let bad = || {
        CliError::BadInput(format!(
            "{text:?} is not a time: use RFC 3339 (2026-01-31T12:00:00Z) or a date (2026-01-31)"
        ))
    };
    let parsed = OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .or_else(|_| {
            let date =
                time::Date::parse(text, &time::format_description::well_known::Iso8601::DATE)?;
            Ok::<_, time::error::Parse>(date.midnight().assume_utc())
        })
        .map_err(|_| bad())?;
    let ms = parsed.unix_timestamp_nanos() / 1_000_000;
    i64::try_from(ms).map(Timestamp).map_err(|_| bad())
}

/// A document's content as a JSON object in the reference's shape (camelCase fields of the
/// value at top level), plus its id, version and times. Icon images are given as sizes.
pub fn doc_json(d: &Document) -> Value {
    let mut obj = Map::new();
    obj.insert("docId".into(), json!(d.doc.doc_id.as_str()));
    obj.insert("versionId".into(), json!(d.version_id.to_string()));
    obj.insert("schemaName".into(), json!(d.doc.doc_type().schema_name()));
    obj.insert("createdAt".into(), json!(iso(d.doc.created_at)));
    obj.insert("updatedAt".into(), json!(iso(d.doc.updated_at)));
    obj.insert("createdBy".into(), json!(d.created_by.to_string()));
    obj.insert("updatedBy".into(), json!(d.updated_by.to_string()));
    obj.insert(
        "links".into(),
        json!(
            d.doc
                .links
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
        ),
    );
    obj.insert("deleted".into(), json!(d.doc.deleted));
    obj.insert(
        "forks".into(),
        json!(d.forks.iter().map(ToString::to_string).collect::<Vec<_>>()),
    );
    if let Value::Object(fields) = value_json(&d.doc.value) {
        obj.extend(fields);
    }
    Value::Object(obj)
}

/// A document value's fields as a JSON object (camelCase). Icon images are given as sizes.
pub fn value_json(value: &DocValue) -> Value {
    let inner = match serde_json::to_value(value) {
        Ok(Value::Object(mut outer)) => {
            let key = value.doc_type().schema_name();
            outer.remove(key).unwrap_or(Value::Null)
        }
        _ => Value::Null,
    };
    match (value, inner) {
        (DocValue::Icon(icon), Value::Object(mut fields)) => {
            let variants: Vec<Value> = icon
                .variants
                .iter()
                .map(|v| {
                    json!({
                        "size": v.size,
                        "pixelDensity": v.pixel_density,
                        "mimeType": v.mime_type.as_str(),
                        "bytes": v.data.len(),
                    })
                })
                .collect();
            fields.insert("variants".into(), Value::Array(variants));
            Value::Object(fields)
        }
        (_, inner) => inner,
    }
}

/// A tag value as text, as the reference export writes it (lists joined with `,`).
pub fn tag_text(v: &TagValue) -> Option<String> {
    fn primitive(p: &mapeo_core::schema::TagPrimitive) -> String {
        use mapeo_core::schema::TagPrimitive as P;
        match p {
            P::Null => String::new(),
            P::Bool(b) => b.to_string(),
            P::Number(n) => number_text(*n),
            P::String(s) => s.clone(),
        }
    }
    match v {
        TagValue::Null => None,
        TagValue::Bool(b) => Some(b.to_string()),
        TagValue::Number(n) => Some(number_text(*n)),
        TagValue::String(s) => Some(s.clone()),
        TagValue::List(items) => Some(items.iter().map(primitive).collect::<Vec<_>>().join(",")),
    }
}

fn number_text(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{n:.0}")
    } else {
        n.to_string()
    }
}

/// The `notes` tag, if it is text.
pub fn notes(tags: &Tags) -> Option<&str> {
    match tags.get("notes") {
        Some(TagValue::String(s)) => Some(s),
        _ => None,
    }
}

/// Most characters of a note shown in a table row (the whole note is in `show` and
/// `--json`).
pub const NOTE_CHARS_IN_TABLE: usize = 60;

/// Text on one line, for a table cell: a line break shows as `⏎`, a tab or another control
/// character as a space (names and notes come from peers and may hold any of them).
pub fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.trim().chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' | '\r' | '\u{2028}' | '\u{2029}' => out.push_str(" ⏎ "),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Text cut to at most `max` characters, an ellipsis marking the cut.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.truncate(cut.trim_end().len());
    cut.push('…');
    cut
}

/// A table of text columns, padded; every cell on one line.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| one_line(c)).collect())
        .collect();
    let rows = rows.as_slice();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            let w = widths.get(i).copied().unwrap_or(0);
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(c);
                s.push_str(&" ".repeat(w.saturating_sub(c.chars().count()) + 2));
            }
        }
        s.trim_end().to_owned()
    };
    let mut out = vec![line(header.to_vec())];
    for row in rows {
        out.push(line(row.iter().map(String::as_str).collect()));
    }
    out.join("\n")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // In tests a panic is the failure report.
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_through_iso_text() {
        let t = parse_time("2026-01-31T12:00:00.250Z").unwrap();
        assert_eq!(iso(t), "2026-01-31T12:00:00.250Z");
        assert_eq!(
            parse_time("2026-01-31").unwrap(),
            Timestamp(1_769_817_600_000)
        );
        assert!(parse_time("31/01/2026").is_err());
    }

    #[test]
    fn multi_line_cells_stay_on_one_row() {
        let t = table(
            &["ID", "NOTES"],
            &[vec!["a".into(), "oil\r\non the\nwater\tnear".into()]],
        );
        assert_eq!(t.lines().count(), 2, "{t}");
        assert!(t.ends_with("oil ⏎ on the ⏎ water near"), "{t}");
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
    }

    #[test]
    fn tag_values_print_as_export_text() {
        assert_eq!(tag_text(&TagValue::Number(5.0)).unwrap(), "5");
        assert_eq!(tag_text(&TagValue::Number(2.5)).unwrap(), "2.5");
        assert_eq!(tag_text(&TagValue::Null), None);
        let list = TagValue::List(vec![
            "a".into(),
            mapeo_core::schema::TagPrimitive::Bool(true),
        ]);
        assert_eq!(tag_text(&list).unwrap(), "a,true");
    }
}
