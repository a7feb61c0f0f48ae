//! Answers against their category: whether an observation's or track's tags fit the fields of
//! the preset it names, and whether that preset applies to its type of document. A pure check
//! of one write on its own device; the index never applies it to peers' entries, whose verdict
//! must not depend on which presets happened to arrive first.

use super::ValidationError;
use super::{DocType, Field, FieldType, Geometry, Preset, TagPrimitive, TagValue, Tags};

/// Checks that `preset` applies to a document of `doc_type` (observations need `point`,
/// tracks `line`) and that each of `tags` a field of it defines holds an answer of the field's
/// type: a number for a number field, one of the options for a select-one field, a list of
/// options for a select-multiple field. Unanswered (absent or null) fields and tags no field
/// defines are left alone.
pub fn check_answers(
    doc_type: DocType,
    preset: &Preset,
    fields: &[Field],
    tags: &Tags,
) -> Result<(), ValidationError> {
    let needed = match doc_type {
        DocType::Observation => Some(Geometry::Point),
        DocType::Track => Some(Geometry::Line),
        _ => None,
    };
    if let Some(g) = needed
        && !preset.geometry.contains(&g)
    {
        return Err(ValidationError::CategoryNotFor { doc_type });
    }
    for field in fields {
        let Some(answer) = tags.get(&field.tag_key) else {
            continue;
        };
        check_answer(field, answer)?;
    }
    Ok(())
}

fn check_answer(field: &Field, answer: &TagValue) -> Result<(), ValidationError> {
    let tag_key = || field.tag_key.clone();
    let is_option = |p: &TagPrimitive| field.options.iter().any(|o| &o.value == p);
    match (field.field_type, answer) {
        (_, TagValue::Null) => Ok(()),
        (FieldType::Number, TagValue::Number(_)) => Ok(()),
        (FieldType::Number, _) => Err(ValidationError::AnswerNotANumber { tag_key: tag_key() }),
        (FieldType::SelectOne, TagValue::List(_)) => {
            Err(ValidationError::AnswerNotAnOption { tag_key: tag_key() })
        }
        (FieldType::SelectOne, one) => {
            if primitive(one).is_some_and(|p| is_option(&p)) {
                Ok(())
            } else {
                Err(ValidationError::AnswerNotAnOption { tag_key: tag_key() })
            }
        }
        (FieldType::SelectMultiple, TagValue::List(items)) => {
            if items.iter().all(is_option) {
                Ok(())
            } else {
                Err(ValidationError::AnswerNotAnOption { tag_key: tag_key() })
            }
        }
        (FieldType::SelectMultiple, _) => {
            Err(ValidationError::AnswerNotAList { tag_key: tag_key() })
        }
        (FieldType::Text | FieldType::Date, _) => Ok(()),
    }
}

fn primitive(v: &TagValue) -> Option<TagPrimitive> {
    Some(match v {
        TagValue::Null => TagPrimitive::Null,
        TagValue::Bool(b) => TagPrimitive::Bool(*b),
        TagValue::Number(n) => TagPrimitive::Number(*n),
        TagValue::String(s) => TagPrimitive::String(s.clone()),
        TagValue::List(_) => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::super::FieldOption;
    use super::super::tests::{field, preset};
    use super::*;

    fn number(tag: &str) -> Field {
        Field {
            tag_key: tag.into(),
            field_type: FieldType::Number,
            label: "People".into(),
            options: Vec::new(),
            placeholder: None,
            helper_text: None,
            universal: false,
        }
    }

    fn multiple() -> Field {
        Field {
            tag_key: "uses".into(),
            field_type: FieldType::SelectMultiple,
            options: vec![
                FieldOption {
                    label: "Fishing".into(),
                    value: "fishing".into(),
                },
                FieldOption {
                    label: "Bathing".into(),
                    value: "bathing".into(),
                },
            ],
            ..field()
        }
    }

    fn tags(pairs: &[(&str, TagValue)]) -> Tags {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    #[test]
    fn answers_of_the_right_type_pass_and_others_are_refused_by_tag() {
        let fields = [field(), number("people"), multiple()];
        let p = preset();
        let ok = tags(&[
            ("source", "mine".into()),
            ("people", TagValue::Number(3.0)),
            (
                "uses",
                TagValue::List(vec!["fishing".into(), "bathing".into()]),
            ),
            ("notes", TagValue::Number(1.0)),
            ("unanswered", TagValue::Null),
        ]);
        assert_eq!(
            check_answers(DocType::Observation, &p, &fields, &ok),
            Ok(())
        );
        assert_eq!(
            check_answers(DocType::Observation, &p, &fields, &Tags::new()),
            Ok(())
        );
        let cases = [
            (
                ("people", TagValue::from("three")),
                ValidationError::AnswerNotANumber {
                    tag_key: "people".into(),
                },
            ),
            (
                ("source", TagValue::from("river")),
                ValidationError::AnswerNotAnOption {
                    tag_key: "source".into(),
                },
            ),
            (
                ("source", TagValue::List(vec!["mine".into()])),
                ValidationError::AnswerNotAnOption {
                    tag_key: "source".into(),
                },
            ),
            (
                ("uses", TagValue::from("fishing")),
                ValidationError::AnswerNotAList {
                    tag_key: "uses".into(),
                },
            ),
            (
                (
                    "uses",
                    TagValue::List(vec!["fishing".into(), "diving".into()]),
                ),
                ValidationError::AnswerNotAnOption {
                    tag_key: "uses".into(),
                },
            ),
        ];
        for ((key, value), expected) in cases {
            let t = tags(&[(key, value)]);
            assert_eq!(
                check_answers(DocType::Observation, &p, &fields, &t),
                Err(expected)
            );
        }
    }

    #[test]
    fn a_category_for_tracks_only_is_refused_on_an_observation() {
        let mut p = preset();
        p.geometry = vec![Geometry::Line];
        assert_eq!(
            check_answers(DocType::Observation, &p, &[], &Tags::new()),
            Err(ValidationError::CategoryNotFor {
                doc_type: DocType::Observation
            })
        );
        assert_eq!(check_answers(DocType::Track, &p, &[], &Tags::new()), Ok(()));
        assert_eq!(
            ValidationError::CategoryNotFor {
                doc_type: DocType::Observation
            }
            .to_string(),
            "the category does not apply to observations"
        );
    }
}
