//! Meta templates: the binary form's way of not repeating what metas share.
//!
//! Metas of one application tend to have one shape: `{"status":"online","joined_at":1712}` differs
//! from its neighbours only in its numbers. A template is a meta's text cut at its number tokens
//! (outside strings): the segments between numbers. A meta is then sent as a template index and
//! its numbers' texts, and rebuilt by interleaving them: exactly the original bytes, with no
//! parsing or reformatting of anything.

use hashbrown::HashMap;

/// A meta cut at its numbers: `segments.len() == numbers.len() + 1`.
pub(super) struct Shape<'a> {
    pub(super) segments: Vec<&'a str>,
    pub(super) numbers: Vec<&'a str>,
}

impl<'a> Shape<'a> {
    /// Cuts a meta's JSON text at its number tokens.
    pub(super) fn of(text: &'a str) -> Self {
        let bytes = text.as_bytes();
        let mut segments = Vec::new();
        let mut numbers = Vec::new();
        let mut segment_start = 0;
        let mut in_string = false;
        let mut escaped = false;
        let mut index = 0;
        while index < bytes.len() {
            let byte = bytes[index];
            if in_string {
                match byte {
                    _ if escaped => escaped = false,
                    b'\\' => escaped = true,
                    b'"' => in_string = false,
                    _ => {}
                }
                index += 1;
                continue;
            }
            if byte == b'"' {
                in_string = true;
                index += 1;
                continue;
            }
            if byte == b'-' || byte.is_ascii_digit() {
                let start = index;
                while index < bytes.len()
                    && matches!(bytes[index], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
                {
                    index += 1;
                }
                // Number tokens are ASCII, so both cuts fall on char boundaries.
                segments.push(&text[segment_start..start]);
                numbers.push(&text[start..index]);
                segment_start = index;
                continue;
            }
            index += 1;
        }
        segments.push(&text[segment_start..]);
        Shape { segments, numbers }
    }
}

/// The templates of one message: the shapes that at least two of its metas share, in order of
/// first use, and which template (if any) each meta uses.
pub(super) struct Templates<'a> {
    /// Each template's segments.
    pub(super) table: Vec<Vec<&'a str>>,
    /// Per meta, in the order given: its template index and its numbers, or `None` to send the
    /// meta as plain text.
    pub(super) uses: Vec<Option<(u64, Vec<&'a str>)>>,
}

impl<'a> Templates<'a> {
    pub(super) fn build(metas: impl Iterator<Item = &'a str>) -> Self {
        let shapes: Vec<Shape<'a>> = metas.map(Shape::of).collect();
        let mut counts: HashMap<&[&'a str], usize> = HashMap::new();
        for shape in &shapes {
            *counts.entry(shape.segments.as_slice()).or_default() += 1;
        }
        let mut index: HashMap<&[&'a str], u64> = HashMap::new();
        let mut table = Vec::new();
        let mut uses = Vec::with_capacity(shapes.len());
        for shape in &shapes {
            let segments = shape.segments.as_slice();
            if counts[segments] < 2 {
                uses.push(None);
                continue;
            }
            let template = *index.entry(segments).or_insert_with(|| {
                table.push(shape.segments.clone());
                table.len() as u64 - 1
            });
            uses.push(Some((template, shape.numbers.clone())));
        }
        Templates { table, uses }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rebuild(shape: &Shape<'_>) -> String {
        let mut text = shape.segments[0].to_string();
        for (number, segment) in shape.numbers.iter().zip(&shape.segments[1..]) {
            text.push_str(number);
            text.push_str(segment);
        }
        text
    }

    #[test]
    fn cuts_at_numbers_outside_strings_only() {
        let text = r#"{"a1":-1.5e+3,"s":"9 \"2\" \\","n":[0, 12],"t":true}"#;
        let shape = Shape::of(text);
        assert_eq!(shape.numbers, vec!["-1.5e+3", "0", "12"]);
        assert_eq!(
            shape.segments,
            vec![
                r#"{"a1":"#,
                r#","s":"9 \"2\" \\","n":["#,
                ", ",
                r#"],"t":true}"#
            ]
        );
        assert_eq!(rebuild(&shape), text);
    }

    #[test]
    fn only_shared_shapes_become_templates() {
        let metas = [
            r#"{"status":"online","at":1}"#,
            r#"{"name":"x"}"#,
            r#"{"status":"online","at":22}"#,
        ];
        let templates = Templates::build(metas.into_iter());
        assert_eq!(
            templates.table,
            vec![vec![r#"{"status":"online","at":"#, "}"]]
        );
        assert_eq!(templates.uses[0], Some((0, vec!["1"])));
        assert_eq!(templates.uses[1], None);
        assert_eq!(templates.uses[2], Some((0, vec!["22"])));
    }
}
