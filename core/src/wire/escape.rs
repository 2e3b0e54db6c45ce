//! Writing JSON string literals without going through a serializer, so payloads are built in one
//! buffer.

use std::fmt::Write;

/// Appends `text` to `out` as a JSON string literal (quotes included).
pub(crate) fn push_json_str(out: &mut String, text: &str) {
    out.push('"');
    let mut start = 0;
    for (index, byte) in text.bytes().enumerate() {
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0x00..=0x1f => "",
            _ => continue,
        };
        // `index` is the position of an ASCII byte, hence a char boundary.
        out.push_str(&text[start..index]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{byte:04x}");
        } else {
            out.push_str(escape);
        }
        start = index + 1;
    }
    out.push_str(&text[start..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_json_requires_and_nothing_else() {
        let text = "a\"b\\c\nd\u{1}é\u{2028}/";
        let mut out = String::new();
        push_json_str(&mut out, text);
        assert_eq!(out, "\"a\\\"b\\\\c\\nd\\u0001é\u{2028}/\"");
        let back: String = serde_json::from_str(&out).unwrap();
        assert_eq!(back, text);
    }
}
