//! Tag values: the free-form key/value pairs on observations, tracks and presets. Owns their
//! serde forms (hand-written visitors, numbers as integers where exact), conversion from JSON
//! and their validation; knows nothing of the documents that carry them.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, SeqAccess, Unexpected, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{
    MAX_LIST_ITEMS, MAX_TAG_KEY_CHARS, MAX_TAGS, MAX_TEXT_CHARS, ValidationError, check_len,
};

/// A single tag value: what a list of tag values may hold, and a select option's value.
#[derive(Debug, Clone, PartialEq)]
pub enum TagPrimitive {
    /// No value.
    Null,
    /// A boolean.
    Bool(bool),
    /// A number. Integral numbers within ±2^53 are encoded as integers.
    Number(f64),
    /// A string.
    String(String),
}

/// The value of one tag: a primitive or a flat list of primitives.
#[derive(Debug, Clone, PartialEq)]
pub enum TagValue {
    /// No value.
    Null,
    /// A boolean.
    Bool(bool),
    /// A number. Integral numbers within ±2^53 are encoded as integers.
    Number(f64),
    /// A string.
    String(String),
    /// A list of primitives; lists never nest.
    List(Vec<TagPrimitive>),
}

/// Tags by key, in key order so encodings are deterministic.
pub type Tags = BTreeMap<String, TagValue>;

impl From<TagPrimitive> for TagValue {
    fn from(p: TagPrimitive) -> Self {
        match p {
            TagPrimitive::Null => TagValue::Null,
            TagPrimitive::Bool(b) => TagValue::Bool(b),
            TagPrimitive::Number(n) => TagValue::Number(n),
            TagPrimitive::String(s) => TagValue::String(s),
        }
    }
}

impl From<&str> for TagValue {
    fn from(s: &str) -> Self {
        TagValue::String(s.to_owned())
    }
}

impl From<f64> for TagValue {
    fn from(n: f64) -> Self {
        TagValue::Number(n)
    }
}

impl From<bool> for TagValue {
    fn from(b: bool) -> Self {
        TagValue::Bool(b)
    }
}

impl From<&str> for TagPrimitive {
    fn from(s: &str) -> Self {
        TagPrimitive::String(s.to_owned())
    }
}

/// 2^53: beyond it not every integer is an f64, so such numbers stay floats on the wire.
const MAX_EXACT_INTEGER: f64 = 9_007_199_254_740_992.0;

fn serialize_number<S: Serializer>(n: f64, s: S) -> Result<S::Ok, S::Error> {
    if n.fract() == 0.0 && n.abs() <= MAX_EXACT_INTEGER {
        // Exact: the value is integral and within i64 range.
        s.serialize_i64(n as i64)
    } else {
        s.serialize_f64(n)
    }
}

impl Serialize for TagPrimitive {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            TagPrimitive::Null => s.serialize_unit(),
            TagPrimitive::Bool(b) => s.serialize_bool(*b),
            TagPrimitive::Number(n) => serialize_number(*n, s),
            TagPrimitive::String(v) => s.serialize_str(v),
        }
    }
}

impl Serialize for TagValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            TagValue::Null => s.serialize_unit(),
            TagValue::Bool(b) => s.serialize_bool(*b),
            TagValue::Number(n) => serialize_number(*n, s),
            TagValue::String(v) => s.serialize_str(v),
            TagValue::List(items) => s.collect_seq(items),
        }
    }
}

/// One visitor for both types; `allow_list` is false inside a list, so nesting is refused
/// at its first byte rather than after parsing it.
struct TagVisitor {
    allow_list: bool,
}

impl<'de> Visitor<'de> for TagVisitor {
    type Value = TagValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.allow_list {
            f.write_str("null, a boolean, a number, a string or a list of those")
        } else {
            f.write_str("null, a boolean, a number or a string")
        }
    }

    fn visit_unit<E: de::Error>(self) -> Result<TagValue, E> {
        Ok(TagValue::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<TagValue, E> {
        Ok(TagValue::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<TagValue, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<TagValue, E> {
        Ok(TagValue::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<TagValue, E> {
        Ok(TagValue::Number(v as f64))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<TagValue, E> {
        Ok(TagValue::Number(v as f64))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<TagValue, E> {
        Ok(TagValue::Number(v as f64))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<TagValue, E> {
        Ok(TagValue::Number(v as f64))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<TagValue, E> {
        Ok(TagValue::Number(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<TagValue, E> {
        Ok(TagValue::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<TagValue, E> {
        Ok(TagValue::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<TagValue, A::Error> {
        if !self.allow_list {
            return Err(de::Error::invalid_type(Unexpected::Seq, &self));
        }
        // The hint comes from the input: cap the preallocation, not the list.
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(256));
        while let Some(item) = seq.next_element::<TagPrimitive>()? {
            items.push(item);
        }
        Ok(TagValue::List(items))
    }
}

impl<'de> Deserialize<'de> for TagValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TagVisitor { allow_list: true })
    }
}

impl<'de> Deserialize<'de> for TagPrimitive {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match d.deserialize_any(TagVisitor { allow_list: false })? {
            TagValue::Null => Ok(TagPrimitive::Null),
            TagValue::Bool(b) => Ok(TagPrimitive::Bool(b)),
            TagValue::Number(n) => Ok(TagPrimitive::Number(n)),
            TagValue::String(s) => Ok(TagPrimitive::String(s)),
            // The visitor refuses lists when `allow_list` is false.
            TagValue::List(_) => Err(de::Error::invalid_type(
                Unexpected::Seq,
                &"null, a boolean, a number or a string",
            )),
        }
    }
}

fn primitive_from_json(v: &serde_json::Value) -> Option<TagPrimitive> {
    use serde_json::Value;
    match v {
        Value::Null => Some(TagPrimitive::Null),
        Value::Bool(b) => Some(TagPrimitive::Bool(*b)),
        Value::Number(n) => n.as_f64().map(TagPrimitive::Number),
        Value::String(s) => Some(TagPrimitive::String(s.clone())),
        Value::Array(_) | Value::Object(_) => None,
    }
}

/// Converts a JSON object into validated tags.
///
/// A value that is an object, or a list holding a list or an object, is
/// [`ValidationError::BadTagValue`]; anything but an object is
/// [`ValidationError::TagsNotObject`]. The result is then checked like any tags.
pub fn tags_from_json(v: &serde_json::Value) -> Result<Tags, ValidationError> {
    let serde_json::Value::Object(map) = v else {
        return Err(ValidationError::TagsNotObject);
    };
    if map.len() > MAX_TAGS {
        return Err(ValidationError::TooMany {
            field: "tags",
            max: MAX_TAGS,
        });
    }
    let mut tags = Tags::new();
    for (key, value) in map {
        let bad = ValidationError::BadTagValue;
        let value = match value {
            serde_json::Value::Array(items) => TagValue::List(
                items
                    .iter()
                    .map(primitive_from_json)
                    .collect::<Option<_>>()
                    .ok_or(bad)?,
            ),
            other => primitive_from_json(other).ok_or(bad)?.into(),
        };
        tags.insert(key.clone(), value);
    }
    validate_tags(&tags)?;
    Ok(tags)
}

fn check_number(n: f64, field: &'static str) -> Result<(), ValidationError> {
    if n.is_finite() {
        Ok(())
    } else {
        Err(ValidationError::NotFinite { field })
    }
}

/// Checks one primitive: numbers finite, strings within [`MAX_TEXT_CHARS`].
pub(super) fn validate_primitive(
    p: &TagPrimitive,
    field: &'static str,
) -> Result<(), ValidationError> {
    match p {
        TagPrimitive::Null | TagPrimitive::Bool(_) => Ok(()),
        TagPrimitive::Number(n) => check_number(*n, field),
        TagPrimitive::String(s) => check_len(s, field, MAX_TEXT_CHARS),
    }
}

/// Checks a tag map against the limits: key count, key length, value contents.
pub(super) fn validate_tags(tags: &Tags) -> Result<(), ValidationError> {
    const VALUE: &str = "tag value";
    if tags.len() > MAX_TAGS {
        return Err(ValidationError::TooMany {
            field: "tags",
            max: MAX_TAGS,
        });
    }
    for (key, value) in tags {
        if key.is_empty() {
            return Err(ValidationError::Empty { field: "tag key" });
        }
        check_len(key, "tag key", MAX_TAG_KEY_CHARS)?;
        match value {
            TagValue::Null | TagValue::Bool(_) => {}
            TagValue::Number(n) => check_number(*n, VALUE)?,
            TagValue::String(s) => check_len(s, VALUE, MAX_TEXT_CHARS)?,
            TagValue::List(items) => {
                if items.len() > MAX_LIST_ITEMS {
                    return Err(ValidationError::TooMany {
                        field: VALUE,
                        max: MAX_LIST_ITEMS,
                    });
                }
                for item in items {
                    validate_primitive(item, VALUE)?;
                }
            }
        }
    }
    Ok(())
}

/// Every string among the values, in key order, list members in their order.
pub(super) fn tag_strings(tags: &Tags) -> Vec<&str> {
    let mut out = Vec::new();
    for value in tags.values() {
        match value {
            TagValue::String(s) => out.push(s.as_str()),
            TagValue::List(items) => out.extend(items.iter().filter_map(|p| match p {
                TagPrimitive::String(s) => Some(s.as_str()),
                _ => None,
            })),
            TagValue::Null | TagValue::Bool(_) | TagValue::Number(_) => {}
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // In tests a panic is the failure report.
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn cbor<T: Serialize>(v: &T) -> Vec<u8> {
        let mut out = Vec::new();
        ciborium::into_writer(v, &mut out).unwrap();
        out
    }

    #[test]
    fn schema_tag_numbers_are_integers_when_exact() {
        let tags = Tags::from([
            ("a".to_owned(), TagValue::Number(5.0)),
            ("b".to_owned(), TagValue::Number(-2.5)),
            ("c".to_owned(), TagValue::Number(MAX_EXACT_INTEGER * 2.0)),
            (
                "d".to_owned(),
                TagValue::List(vec![TagPrimitive::Number(7.0), TagPrimitive::Null]),
            ),
        ]);
        assert_eq!(
            serde_json::to_string(&tags).unwrap(),
            r#"{"a":5,"b":-2.5,"c":1.8014398509481984e+16,"d":[7,null]}"#
        );
        // CBOR: 5 is the one-byte unsigned integer 0x05, not a float.
        assert_eq!(cbor(&TagValue::Number(5.0)), vec![0x05]);
    }

    #[test]
    fn schema_tags_deserialize_every_kind() {
        let tags: Tags = serde_json::from_value(json!({
            "n": null, "b": true, "i": 3, "u": u64::MAX, "f": 0.5, "s": "x",
            "l": [1, "two", false, null]
        }))
        .unwrap();
        assert_eq!(tags["n"], TagValue::Null);
        assert_eq!(tags["b"], TagValue::Bool(true));
        assert_eq!(tags["i"], TagValue::Number(3.0));
        assert_eq!(tags["u"], TagValue::Number(u64::MAX as f64));
        assert_eq!(tags["f"], TagValue::Number(0.5));
        assert_eq!(tags["s"], TagValue::from("x"));
        assert_eq!(
            tags["l"],
            TagValue::List(vec![
                TagPrimitive::Number(1.0),
                TagPrimitive::from("two"),
                TagPrimitive::Bool(false),
                TagPrimitive::Null,
            ])
        );
    }

    #[test]
    fn schema_tags_refuse_nesting_when_deserialized() {
        for bad in [
            json!({"a": [[1]]}),
            json!({"a": {"b": 1}}),
            json!({"a": [{}]}),
        ] {
            assert!(serde_json::from_value::<Tags>(bad).is_err());
        }
        // The same through CBOR: a list in a list.
        let nested = cbor(&json!({"a": [[1]]}));
        assert!(ciborium::from_reader::<Tags, _>(nested.as_slice()).is_err());
    }

    #[test]
    fn schema_tags_from_json_refuses_nesting_without_echoing_it() {
        let bad = json!({"a": 1, "b": {"secret": "text"}, "c": 2});
        let err = tags_from_json(&bad).unwrap_err();
        assert_eq!(err, ValidationError::BadTagValue);
        assert!(!err.to_string().contains("secret"));
        assert_eq!(
            tags_from_json(&json!({"x": [1, [2]]})),
            Err(ValidationError::BadTagValue)
        );
        assert_eq!(
            tags_from_json(&json!({"x": [{"y": 1}]})),
            Err(ValidationError::BadTagValue)
        );
        assert_eq!(
            tags_from_json(&json!([1, 2])),
            Err(ValidationError::TagsNotObject)
        );
        assert_eq!(
            tags_from_json(&json!({"": 1})),
            Err(ValidationError::Empty { field: "tag key" })
        );
        let ok = tags_from_json(&json!({"notes": "hi", "n": 5, "l": ["a", 1]})).unwrap();
        assert_eq!(ok["n"], TagValue::Number(5.0));
    }

    #[test]
    fn schema_tag_strings_include_list_members() {
        let tags = tags_from_json(&json!({"a": "one", "b": 2, "c": ["two", 3, "three"]})).unwrap();
        assert_eq!(tag_strings(&tags), ["one", "two", "three"]);
    }

    fn primitive() -> impl Strategy<Value = TagPrimitive> {
        prop_oneof![
            Just(TagPrimitive::Null),
            any::<bool>().prop_map(TagPrimitive::Bool),
            any::<i64>().prop_map(|n| TagPrimitive::Number(n as f64)),
            any::<f64>()
                .prop_filter("finite", |n| n.is_finite())
                .prop_map(TagPrimitive::Number),
            "\\PC{0,20}".prop_map(TagPrimitive::String),
        ]
    }

    fn value() -> impl Strategy<Value = TagValue> {
        prop_oneof![
            4 => primitive().prop_map(TagValue::from),
            1 => prop::collection::vec(primitive(), 0..6).prop_map(TagValue::List),
        ]
    }

    fn valid_tags() -> impl Strategy<Value = Tags> {
        prop::collection::btree_map("\\PC{1,12}", value(), 0..8)
    }

    proptest! {
        #[test]
        fn schema_valid_tags_round_trip_unchanged(tags in valid_tags()) {
            prop_assert_eq!(validate_tags(&tags), Ok(()));
            let back: Tags = ciborium::from_reader(cbor(&tags).as_slice()).unwrap();
            prop_assert_eq!(&back, &tags);
            let json = serde_json::to_value(&tags).unwrap();
            prop_assert_eq!(&serde_json::from_value::<Tags>(json.clone()).unwrap(), &tags);
            prop_assert_eq!(&tags_from_json(&json).unwrap(), &tags);
        }
    }
}
