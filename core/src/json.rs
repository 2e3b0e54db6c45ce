//! A small pull reader of JSON text: what the codecs and the meta check read JSON with.
//!
//! It borrows from the text (a string without escapes is a slice of it, a skipped value is
//! handed back as its exact text), never recurses (a skipped value of any depth costs a byte
//! per open bracket), and reports where it stopped. It checks the grammar of RFC 8259 and
//! builds no tree: callers read the shape they expect and skip the rest.
//!
//! ```
//! use beryl_core::json::Reader;
//!
//! let mut reader = Reader::new(r#"{"name": "a", "tags": [1, {"x": null}]}"#);
//! let mut fields = reader.object()?;
//! while let Some(key) = reader.key(&mut fields)? {
//!     match key.as_ref() {
//!         "name" => assert_eq!(reader.string()?, "a"),
//!         _ => assert_eq!(reader.skip(usize::MAX)?, r#"[1, {"x": null}]"#),
//!     }
//! }
//! reader.finish()?;
//! # Ok::<(), beryl_core::json::JsonError>(())
//! ```

use std::borrow::Cow;
use std::fmt;

/// The kind of the next value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `{`
    Object,
    /// `[`
    Array,
    /// `"`
    String,
    /// `-` or a digit.
    Number,
    /// `true` or `false`.
    Bool,
    /// `null`
    Null,
}

impl Kind {
    /// The kind with an article, for messages: "an object", "a number"...
    pub fn describe(self) -> &'static str {
        match self {
            Kind::Object => "an object",
            Kind::Array => "an array",
            Kind::String => "a string",
            Kind::Number => "a number",
            Kind::Bool => "a boolean",
            Kind::Null => "null",
        }
    }
}

/// Why the text could not be read, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    reason: Cow<'static, str>,
    offset: usize,
    line: usize,
    column: usize,
    too_deep: bool,
}

impl JsonError {
    /// What is wrong.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The byte offset at which reading stopped.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// The 1-based line of the offset.
    pub fn line(&self) -> usize {
        self.line
    }

    /// The 1-based column (in characters) of the offset.
    pub fn column(&self) -> usize {
        self.column
    }

    /// Whether a skipped value nested deeper than the depth it was allowed.
    pub fn is_too_deep(&self) -> bool {
        self.too_deep
    }
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at line {} column {}",
            self.reason, self.line, self.column
        )
    }
}

impl std::error::Error for JsonError {}

/// Where a reader is inside an object or an array: whether the next member is the first.
#[derive(Debug)]
pub struct Members {
    first: bool,
}

/// Reads one JSON text, value by value.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `text`.
    pub fn new(text: &'a str) -> Self {
        Reader { text, at: 0 }
    }

    /// The byte offset of the next unread byte.
    pub fn offset(&self) -> usize {
        self.at
    }

    /// An error at the current offset.
    pub fn error(&self, reason: impl Into<Cow<'static, str>>) -> JsonError {
        self.error_at(self.at, reason.into())
    }

    fn error_at(&self, offset: usize, reason: Cow<'static, str>) -> JsonError {
        let offset = offset.min(self.text.len());
        let before = &self.text.as_bytes()[..offset];
        let line = 1 + before.iter().filter(|&&byte| byte == b'\n').count();
        let line_start = before
            .iter()
            .rposition(|&byte| byte == b'\n')
            .map_or(0, |newline| newline + 1);
        // Counted in characters; an offset inside a character counts it.
        let column = 1 + before[line_start..]
            .iter()
            .filter(|&&byte| byte & 0xC0 != 0x80)
            .count();
        JsonError {
            reason,
            offset,
            line,
            column,
            too_deep: false,
        }
    }

    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes().get(self.at) {
            self.at += 1;
        }
    }

    fn next_byte(&mut self) -> Option<u8> {
        self.skip_whitespace();
        self.bytes().get(self.at).copied()
    }

    fn unexpected(&self) -> JsonError {
        if self.at >= self.text.len() {
            self.error("the text ends too early")
        } else {
            self.error("expected a value")
        }
    }

    /// The kind of the next value, without reading it.
    pub fn peek(&mut self) -> Result<Kind, JsonError> {
        Ok(match self.next_byte() {
            Some(b'{') => Kind::Object,
            Some(b'[') => Kind::Array,
            Some(b'"') => Kind::String,
            Some(b'-' | b'0'..=b'9') => Kind::Number,
            Some(b't' | b'f') => Kind::Bool,
            Some(b'n') => Kind::Null,
            _ => return Err(self.unexpected()),
        })
    }

    fn expect_kind(&mut self, wanted: Kind) -> Result<(), JsonError> {
        let found = self.peek()?;
        if found == wanted {
            Ok(())
        } else {
            Err(self.error(format!(
                "expected {}, found {}",
                wanted.describe(),
                found.describe()
            )))
        }
    }

    /// Opens an object; read its members with [`Reader::key`].
    pub fn object(&mut self) -> Result<Members, JsonError> {
        self.expect_kind(Kind::Object)?;
        self.at += 1;
        Ok(Members { first: true })
    }

    /// The next key of the object `members` belongs to, the reader then at its value (which the
    /// caller must read or skip); `None` once the object is closed.
    pub fn key(&mut self, members: &mut Members) -> Result<Option<Cow<'a, str>>, JsonError> {
        match self.next_byte() {
            Some(b'}') => {
                self.at += 1;
                return Ok(None);
            }
            Some(b',') if !members.first => {
                self.at += 1;
                if self.next_byte() != Some(b'"') {
                    return Err(self.error("expected a key (a string)"));
                }
            }
            Some(b'"') if members.first => {}
            None => return Err(self.error("the text ends inside an object")),
            _ if members.first => return Err(self.error("expected a key (a string) or `}`")),
            _ => return Err(self.error("expected `,` or `}`")),
        }
        members.first = false;
        let key = self.string_at()?;
        if self.next_byte() != Some(b':') {
            return Err(self.error("expected `:`"));
        }
        self.at += 1;
        Ok(Some(key))
    }

    /// Opens an array; read its items with [`Reader::item`].
    pub fn array(&mut self) -> Result<Members, JsonError> {
        self.expect_kind(Kind::Array)?;
        self.at += 1;
        Ok(Members { first: true })
    }

    /// Whether the array `members` belongs to has another item (the reader then at it, to be
    /// read or skipped); `false` once the array is closed.
    pub fn item(&mut self, members: &mut Members) -> Result<bool, JsonError> {
        match self.next_byte() {
            Some(b']') => {
                self.at += 1;
                Ok(false)
            }
            Some(b',') if !members.first => {
                self.at += 1;
                Ok(true)
            }
            None => Err(self.error("the text ends inside an array")),
            Some(_) if members.first => {
                members.first = false;
                Ok(true)
            }
            Some(_) => Err(self.error("expected `,` or `]`")),
        }
    }

    /// Reads `null` if it comes next; reads nothing otherwise.
    pub fn null(&mut self) -> Result<bool, JsonError> {
        if self.next_byte() != Some(b'n') {
            return Ok(false);
        }
        self.literal(b"null")?;
        Ok(true)
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), JsonError> {
        if self.bytes()[self.at..].starts_with(word) {
            self.at += word.len();
            Ok(())
        } else {
            Err(self.error("expected a value"))
        }
    }

    /// Reads a string, its escapes decoded (borrowed from the text when it has none).
    pub fn string(&mut self) -> Result<Cow<'a, str>, JsonError> {
        self.expect_kind(Kind::String)?;
        self.string_at()
    }

    /// Reads the string starting at the current byte (a `"`).
    fn string_at(&mut self) -> Result<Cow<'a, str>, JsonError> {
        let bytes = self.bytes();
        self.at += 1;
        let start = self.at;
        let mut owned: Option<String> = None;
        let mut run = start;
        loop {
            let Some(&byte) = bytes.get(self.at) else {
                return Err(self.error("the text ends inside a string"));
            };
            match byte {
                b'"' => {
                    let tail = &self.text[run..self.at];
                    self.at += 1;
                    return Ok(match owned {
                        None => Cow::Borrowed(tail),
                        Some(mut out) => {
                            out.push_str(tail);
                            Cow::Owned(out)
                        }
                    });
                }
                b'\\' => {
                    let out = owned.get_or_insert_with(String::new);
                    out.push_str(&self.text[run..self.at]);
                    self.at += 1;
                    let decoded = self.escape()?;
                    out.push(decoded);
                    run = self.at;
                }
                0x00..=0x1F => {
                    return Err(self.error("a control character must be escaped in a string"));
                }
                _ => self.at += 1,
            }
        }
    }

    /// Decodes the escape after a backslash.
    fn escape(&mut self) -> Result<char, JsonError> {
        let Some(&byte) = self.bytes().get(self.at) else {
            return Err(self.error("the text ends inside a string"));
        };
        self.at += 1;
        Ok(match byte {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let code = self.unicode_escape()?;
                char::from_u32(code).ok_or_else(|| self.error("invalid \\u escape"))?
            }
            _ => {
                self.at -= 1;
                return Err(self.error("invalid escape in a string"));
            }
        })
    }

    /// The code point of the `\\u` escape after `\\u` (a surrogate pair counts as one);
    /// a lone surrogate is refused, since no UTF-8 text can hold it.
    fn unicode_escape(&mut self) -> Result<u32, JsonError> {
        let high = self.hex4()?;
        match high {
            0xD800..=0xDBFF => {
                if !self.bytes()[self.at..].starts_with(b"\\u") {
                    return Err(self.error("a \\u escape names a lone surrogate"));
                }
                self.at += 2;
                let low = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&low) {
                    return Err(self.error("a \\u escape names a lone surrogate"));
                }
                Ok(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
            }
            0xDC00..=0xDFFF => Err(self.error("a \\u escape names a lone surrogate")),
            code => Ok(code),
        }
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let mut value = 0;
        for _ in 0..4 {
            let Some(&digit) = self.bytes().get(self.at) else {
                return Err(self.error("the text ends inside a \\u escape"));
            };
            let nibble = (digit as char)
                .to_digit(16)
                .ok_or_else(|| self.error("a \\u escape needs four hex digits"))?;
            value = value * 16 + nibble;
            self.at += 1;
        }
        Ok(value)
    }

    /// Skips a string without decoding it, checking its escapes.
    fn skip_string(&mut self) -> Result<(), JsonError> {
        let bytes = self.bytes();
        self.at += 1;
        loop {
            let Some(&byte) = bytes.get(self.at) else {
                return Err(self.error("the text ends inside a string"));
            };
            self.at += 1;
            match byte {
                b'"' => return Ok(()),
                b'\\' => match bytes.get(self.at) {
                    Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => self.at += 1,
                    Some(b'u') => {
                        self.at += 1;
                        self.unicode_escape()?;
                    }
                    None => return Err(self.error("the text ends inside a string")),
                    _ => return Err(self.error("invalid escape in a string")),
                },
                0x00..=0x1F => {
                    self.at -= 1;
                    return Err(self.error("a control character must be escaped in a string"));
                }
                _ => {}
            }
        }
    }

    /// Reads a number's text, checking its grammar.
    fn number_text(&mut self) -> Result<&'a str, JsonError> {
        let bytes = self.bytes();
        let start = self.at;
        let digits = |at: &mut usize| {
            let from = *at;
            while bytes.get(*at).is_some_and(u8::is_ascii_digit) {
                *at += 1;
            }
            *at - from
        };
        let mut at = start;
        if bytes.get(at) == Some(&b'-') {
            at += 1;
        }
        let integer_start = at;
        let integer = digits(&mut at);
        if integer == 0 {
            self.at = at;
            return Err(self.error("invalid number"));
        }
        if integer > 1 && bytes[integer_start] == b'0' {
            self.at = integer_start + 1;
            return Err(self.error("invalid number: a leading zero"));
        }
        if bytes.get(at) == Some(&b'.') {
            at += 1;
            if digits(&mut at) == 0 {
                self.at = at;
                return Err(self.error("invalid number"));
            }
        }
        if let Some(b'e' | b'E') = bytes.get(at) {
            at += 1;
            if let Some(b'+' | b'-') = bytes.get(at) {
                at += 1;
            }
            if digits(&mut at) == 0 {
                self.at = at;
                return Err(self.error("invalid number"));
            }
        }
        self.at = at;
        Ok(&self.text[start..at])
    }

    /// Reads a non-negative integer that fits 64 bits (digits only: no sign, fraction or
    /// exponent).
    pub fn u64(&mut self) -> Result<u64, JsonError> {
        let kind = self.peek()?;
        let start = self.at;
        if kind != Kind::Number {
            return Err(self.error(format!(
                "expected a non-negative integer, found {}",
                kind.describe()
            )));
        }
        let text = self.number_text()?;
        if !text.bytes().all(|byte| byte.is_ascii_digit()) {
            return Err(self.error_at(
                start,
                format!("expected a non-negative integer, found {text}").into(),
            ));
        }
        text.parse().map_err(|_| {
            self.error_at(
                start,
                format!("{text} does not fit an unsigned 64-bit integer").into(),
            )
        })
    }

    /// Skips the next value of any kind, checking it, and returns its exact text. A value that
    /// nests more than `max_depth` objects and arrays is refused
    /// ([`JsonError::is_too_deep`]); a scalar has depth 0.
    pub fn skip(&mut self, max_depth: usize) -> Result<&'a str, JsonError> {
        self.peek()?;
        let start = self.at;
        // Whether each open container is an object, innermost last.
        let mut open: Vec<bool> = Vec::new();
        // Where the next byte stands: a value is due, or a container may close or go on.
        let mut value_due = true;
        loop {
            if value_due {
                match self.next_byte() {
                    Some(byte @ (b'{' | b'[')) => {
                        if open.len() >= max_depth {
                            let mut error = self.error(format!(
                                "nests deeper than {max_depth} levels of objects and arrays"
                            ));
                            error.too_deep = true;
                            return Err(error);
                        }
                        self.at += 1;
                        let object = byte == b'{';
                        open.push(object);
                        let closing = if object { b'}' } else { b']' };
                        if self.next_byte() == Some(closing) {
                            self.at += 1;
                            open.pop();
                            value_due = false;
                        } else if object {
                            self.member_key()?;
                        }
                        if value_due {
                            continue;
                        }
                    }
                    Some(b'"') => self.skip_string()?,
                    Some(b'-' | b'0'..=b'9') => {
                        self.number_text()?;
                    }
                    Some(b't') => self.literal(b"true")?,
                    Some(b'f') => self.literal(b"false")?,
                    Some(b'n') => self.literal(b"null")?,
                    _ => return Err(self.unexpected()),
                }
                value_due = false;
            }
            let Some(&object) = open.last() else {
                return Ok(&self.text[start..self.at]);
            };
            let closing = if object { b'}' } else { b']' };
            match self.next_byte() {
                Some(b',') => {
                    self.at += 1;
                    if object {
                        self.member_key()?;
                    }
                    value_due = true;
                }
                Some(byte) if byte == closing => {
                    self.at += 1;
                    open.pop();
                }
                None => return Err(self.error("the text ends inside a value")),
                _ if object => return Err(self.error("expected `,` or `}`")),
                _ => return Err(self.error("expected `,` or `]`")),
            }
        }
    }

    /// Skips an object member's key and colon.
    fn member_key(&mut self) -> Result<(), JsonError> {
        if self.next_byte() != Some(b'"') {
            return Err(self.error("expected a key (a string)"));
        }
        self.skip_string()?;
        if self.next_byte() != Some(b':') {
            return Err(self.error("expected `:`"));
        }
        self.at += 1;
        Ok(())
    }

    /// Reads an object member by member: `read` gets the value of each member whose key is in
    /// `names` (at most 64), with the key's index; a key may come once. Other keys are refused,
    /// or skipped when `skip_unknown`.
    pub fn fields(
        &mut self,
        names: &[&str],
        skip_unknown: bool,
        mut read: impl FnMut(&mut Self, usize) -> Result<(), JsonError>,
    ) -> Result<(), JsonError> {
        assert!(names.len() <= 64, "at most 64 field names");
        let mut seen = 0u64;
        let mut members = self.object()?;
        while let Some(key) = self.key(&mut members)? {
            let Some(index) = names.iter().position(|name| *name == key) else {
                if skip_unknown {
                    self.skip(usize::MAX)?;
                    continue;
                }
                return Err(self.error(format!(
                    "unknown field `{key}`, expected one of `{}`",
                    names.join("`, `")
                )));
            };
            if seen & (1 << index) != 0 {
                return Err(self.error(format!("duplicate field `{key}`")));
            }
            seen |= 1 << index;
            read(self, index)?;
        }
        Ok(())
    }

    /// Reads an object whose members, named in `names`, all have values that `read` reads: one
    /// slot per name, `None` for a member that is missing. Other keys as in [`Reader::fields`].
    pub fn values<T, const N: usize>(
        &mut self,
        names: &[&str; N],
        skip_unknown: bool,
        mut read: impl FnMut(&mut Self) -> Result<T, JsonError>,
    ) -> Result<[Option<T>; N], JsonError> {
        let mut values = [const { None }; N];
        self.fields(names, skip_unknown, |reader, index| {
            values[index] = Some(read(reader)?);
            Ok(())
        })?;
        Ok(values)
    }

    /// `value`, or an error naming the missing field `name`.
    pub fn required<T>(&self, value: Option<T>, name: &str) -> Result<T, JsonError> {
        value.ok_or_else(|| self.error(format!("missing field `{name}`")))
    }

    /// A value that may be `null`: `None` for null, else what `read` reads.
    pub fn optional<T>(
        &mut self,
        read: impl FnOnce(&mut Self) -> Result<T, JsonError>,
    ) -> Result<Option<T>, JsonError> {
        if self.null()? {
            Ok(None)
        } else {
            read(self).map(Some)
        }
    }

    /// An array, each item read by `read`.
    pub fn list<T>(
        &mut self,
        mut read: impl FnMut(&mut Self) -> Result<T, JsonError>,
    ) -> Result<Vec<T>, JsonError> {
        let mut out = Vec::new();
        let mut items = self.array()?;
        while self.item(&mut items)? {
            out.push(read(self)?);
        }
        Ok(out)
    }

    /// Checks that only whitespace is left.
    pub fn finish(&mut self) -> Result<(), JsonError> {
        if self.next_byte().is_some() {
            return Err(self.error("unexpected text after the value"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skip_all(text: &str) -> Result<&str, JsonError> {
        let mut reader = Reader::new(text);
        let value = reader.skip(usize::MAX)?;
        reader.finish()?;
        Ok(value)
    }

    #[test]
    fn skip_accepts_json_and_returns_the_exact_text() {
        for text in [
            "0",
            "-0",
            "12.5e-3",
            "1E+2",
            "true",
            "false",
            "null",
            "\"\"",
            r#""a\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00""#,
            "[]",
            "{}",
            r#"{"a":[1,{"b":null}],"c":"d"}"#,
            " [ 1 , 2 ] ",
            "{\"é\":\"😀\"}",
        ] {
            assert_eq!(skip_all(text), Ok(text.trim()), "{text}");
        }
    }

    #[test]
    fn skip_refuses_what_is_not_json() {
        for text in [
            "",
            " ",
            "01",
            "-",
            "1.",
            ".5",
            "1e",
            "+1",
            "tru",
            "nul",
            "\"a",
            "\"\\x\"",
            "\"\\u12\"",
            "\"\t\"",
            "[1,]",
            "[,1]",
            "[1 2]",
            "{\"a\"}",
            "{\"a\":}",
            "{\"a\":1,}",
            "{a:1}",
            "{1:1}",
            "[",
            "{",
            "[1",
            "{\"a\":1",
            "1 2",
            "[]]",
            "NaN",
            "Infinity",
            r#""\ud800""#,
            r#""\udc00\ud800""#,
            r#"["\ud800\u0041"]"#,
        ] {
            assert!(skip_all(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn depth_is_bounded_without_recursion() {
        let deep = format!("{}{}", "[".repeat(1_000_000), "]".repeat(1_000_000));
        assert_eq!(skip_all(&deep).map(str::len), Ok(deep.len()));
        let error = Reader::new(&deep).skip(16).unwrap_err();
        assert!(error.is_too_deep());
        assert_eq!(error.offset(), 16);
        assert_eq!(Reader::new("[[1]]").skip(2), Ok("[[1]]"));
        assert!(Reader::new("[[1]]").skip(1).unwrap_err().is_too_deep());
        assert_eq!(Reader::new("7").skip(0), Ok("7"));
    }

    #[test]
    fn strings_decode_their_escapes_and_borrow_when_they_have_none() {
        let mut reader = Reader::new(r#""plain""#);
        assert!(matches!(reader.string(), Ok(Cow::Borrowed("plain"))));
        let mut reader = Reader::new(r#""a\nb\u00e9\ud83d\ude00\"""#);
        assert_eq!(reader.string().unwrap(), "a\nbé😀\"");
        for lone in [r#""\ud800""#, r#""\udc00""#, r#""\ud800\u0041""#] {
            assert!(Reader::new(lone).string().is_err(), "{lone}");
        }
    }

    #[test]
    fn integers_are_read_exactly_and_others_refused() {
        assert_eq!(Reader::new("18446744073709551615").u64(), Ok(u64::MAX));
        assert_eq!(Reader::new(" 0").u64(), Ok(0));
        for text in [
            "18446744073709551616",
            "-1",
            "1.0",
            "1e3",
            "\"1\"",
            "null",
            "01",
        ] {
            assert!(Reader::new(text).u64().is_err(), "{text}");
        }
    }

    #[test]
    fn objects_and_arrays_are_read_member_by_member() {
        let mut reader = Reader::new(r#" { "a" : [ 1 , 2 ] , "b" : { } } "#);
        let mut fields = reader.object().unwrap();
        assert_eq!(reader.key(&mut fields).unwrap().as_deref(), Some("a"));
        let mut items = reader.array().unwrap();
        let mut seen = Vec::new();
        while reader.item(&mut items).unwrap() {
            seen.push(reader.u64().unwrap());
        }
        assert_eq!(seen, [1, 2]);
        assert_eq!(reader.key(&mut fields).unwrap().as_deref(), Some("b"));
        let mut inner = reader.object().unwrap();
        assert_eq!(reader.key(&mut inner).unwrap(), None);
        assert_eq!(reader.key(&mut fields).unwrap(), None);
        reader.finish().unwrap();

        for text in ["{\"a\":1 \"b\":2}", "{,\"a\":1}", "[1 2]", "[,]"] {
            let mut reader = Reader::new(text);
            let outcome = (|| {
                if text.starts_with('{') {
                    let mut fields = reader.object()?;
                    while reader.key(&mut fields)?.is_some() {
                        reader.skip(usize::MAX)?;
                    }
                } else {
                    let mut items = reader.array()?;
                    while reader.item(&mut items)? {
                        reader.skip(usize::MAX)?;
                    }
                }
                Ok::<(), JsonError>(())
            })();
            assert!(outcome.is_err(), "{text}");
        }
    }

    #[test]
    fn fields_are_named_once_and_unknown_ones_refused_or_skipped() {
        let read = |text: &str, skip_unknown: bool| {
            let mut reader = Reader::new(text);
            let (mut a, mut b) = (None, None);
            reader.fields(&["a", "b"], skip_unknown, |reader, index| {
                let value = reader.optional(Reader::u64)?;
                if index == 0 {
                    a = value;
                } else {
                    b = value;
                }
                Ok(())
            })?;
            let a = reader.required(a, "a")?;
            Ok::<_, JsonError>((a, b))
        };
        assert_eq!(read(r#"{"b":null,"a":1}"#, false), Ok((1, None)));
        assert_eq!(read(r#"{"a":1,"x":[{}],"b":2}"#, true), Ok((1, Some(2))));
        let unknown = read(r#"{"a":1,"x":0}"#, false).unwrap_err();
        assert_eq!(
            unknown.reason(),
            "unknown field `x`, expected one of `a`, `b`"
        );
        let twice = read(r#"{"a":1,"a":2}"#, true).unwrap_err();
        assert_eq!(twice.reason(), "duplicate field `a`");
        let missing = read(r#"{"b":2}"#, false).unwrap_err();
        assert_eq!(missing.reason(), "missing field `a`");
        let values = Reader::new(r#"{"b":"x"}"#).values(&["a", "b"], false, Reader::string);
        assert_eq!(values, Ok([None, Some(Cow::Borrowed("x"))]));
        let list = Reader::new("[[1],[]]").list(|reader| reader.list(Reader::u64));
        assert_eq!(list, Ok(vec![vec![1], vec![]]));
    }

    #[test]
    fn errors_say_where() {
        let error = skip_all("{\n  \"é\": tru\n}").unwrap_err();
        assert_eq!((error.line(), error.column()), (2, 8));
        assert_eq!(error.to_string(), "expected a value at line 2 column 8");
        let error = Reader::new("[1]").object().unwrap_err();
        assert_eq!(error.reason(), "expected an object, found an array");
        let error = skip_all("[0123456]").unwrap_err();
        assert_eq!(
            (error.reason(), error.column()),
            ("invalid number: a leading zero", 3)
        );
        let error = skip_all(r#""\u12""#).unwrap_err();
        assert_eq!(
            (error.reason(), error.column()),
            ("a \\u escape needs four hex digits", 6)
        );
        let error = skip_all(r#""\u12G4""#).unwrap_err();
        assert_eq!(error.column(), 6);
        for text in ["\"\\", "\"\\u12"] {
            assert!(
                skip_all(text)
                    .unwrap_err()
                    .reason()
                    .starts_with("the text ends inside")
            );
            assert!(
                Reader::new(text)
                    .string()
                    .unwrap_err()
                    .reason()
                    .starts_with("the text ends inside")
            );
        }
    }
}
