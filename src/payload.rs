//! The payload of one row (SPEC §4): its JSON, its replay id and its tag URL query.

use std::io::{self, Write};

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};

/// Everything but the unreserved characters of RFC 3986 is percent-encoded, so no cell can add
/// or change a query parameter.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// One row's payload, in the order of §4: fields, `custom`, `replay`, `rid`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    fields: Vec<(&'static str, String)>,
    custom: Vec<(String, String)>,
    rid: String,
}

impl Payload {
    pub fn new(fields: Vec<(&'static str, String)>, custom: Vec<(String, String)>) -> Payload {
        let mut payload = Payload { fields, custom, rid: String::new() };
        let mut json = Vec::with_capacity(512);
        payload.write_json_without_rid(&mut json).expect("writing to a Vec cannot fail");
        let digest = Sha256::digest(&json);
        payload.rid = hex(&digest[..16]);
        payload
    }

    pub fn rid(&self) -> &str {
        &self.rid
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields.iter().find(|(name, _)| *name == key).map(|(_, value)| value.as_str())
    }

    pub fn custom(&self) -> &[(String, String)] {
        &self.custom
    }

    fn custom_json(&self) -> String {
        let mut json = Vec::with_capacity(64);
        write_custom(&mut json, &self.custom).expect("writing to a Vec cannot fail");
        String::from_utf8(json).expect("JSON is UTF-8")
    }

    /// The compact JSON the rid is computed over: the payload without `rid`.
    pub fn write_json_without_rid(&self, out: &mut impl Write) -> io::Result<()> {
        out.write_all(b"{")?;
        for (name, value) in &self.fields {
            write_string(out, name)?;
            out.write_all(b":")?;
            write_string(out, value)?;
            out.write_all(b",")?;
        }
        if !self.custom.is_empty() {
            out.write_all(b"\"custom\":")?;
            write_custom(out, &self.custom)?;
            out.write_all(b",")?;
        }
        out.write_all(b"\"replay\":\"1\"}")
    }

    /// The query string of the tag URL: every value percent-encoded, `custom` as a JSON string.
    pub fn write_query(&self, out: &mut String) {
        for (name, value) in &self.fields {
            push_param(out, name, value);
        }
        if !self.custom.is_empty() {
            push_param(out, "custom", &self.custom_json());
        }
        push_param(out, "replay", "1");
        push_param(out, "rid", &self.rid);
    }

    /// The tag URL: `{request_url}?{query}`.
    pub fn tag_url(&self, request_url: &str) -> String {
        let mut url = String::with_capacity(request_url.len() + 512);
        url.push_str(request_url);
        url.push(if request_url.contains('?') { '&' } else { '?' });
        self.write_query(&mut url);
        url
    }

    /// The payload as pretty JSON, each line after the first indented by `indent` spaces.
    pub fn write_pretty(&self, out: &mut impl Write, indent: usize) -> io::Result<()> {
        let pad = " ".repeat(indent + 2);
        out.write_all(b"{\n")?;
        for (name, value) in &self.fields {
            out.write_all(pad.as_bytes())?;
            write_string(out, name)?;
            out.write_all(b": ")?;
            write_string(out, value)?;
            out.write_all(b",\n")?;
        }
        if !self.custom.is_empty() {
            out.write_all(pad.as_bytes())?;
            out.write_all(b"\"custom\": {\n")?;
            for (index, (key, value)) in self.custom.iter().enumerate() {
                out.write_all(pad.as_bytes())?;
                out.write_all(b"  ")?;
                write_string(out, key)?;
                out.write_all(b": ")?;
                write_string(out, value)?;
                out.write_all(if index + 1 < self.custom.len() { b",\n" } else { b"\n" })?;
            }
            out.write_all(pad.as_bytes())?;
            out.write_all(b"},\n")?;
        }
        write!(out, "{pad}\"replay\": \"1\",\n{pad}\"rid\": \"{}\"\n{}}}", self.rid, " ".repeat(indent))
    }
}

fn push_param(out: &mut String, name: &str, value: &str) {
    if !out.is_empty() && !out.ends_with(['?', '&']) {
        out.push('&');
    }
    out.push_str(name);
    out.push('=');
    out.extend(utf8_percent_encode(value, QUERY_VALUE));
}

/// A JSON string, escaped as serde_json does: `"`, `\\` and control characters.
fn write_string(out: &mut impl Write, text: &str) -> io::Result<()> {
    let bytes = text.as_bytes();
    // Without an early exit the check compiles to vector instructions: most cells need no escape.
    let needs_escape = bytes.iter().fold(false, |found, &byte| found | (byte < 0x20) | (byte == b'"') | (byte == b'\\'));
    if !needs_escape {
        out.write_all(b"\"")?;
        out.write_all(bytes)?;
        return out.write_all(b"\"");
    }
    serde_json::to_writer(out, text).map_err(io::Error::from)
}

fn write_custom(out: &mut impl Write, custom: &[(String, String)]) -> io::Result<()> {
    out.write_all(b"{")?;
    for (index, (key, value)) in custom.iter().enumerate() {
        if index > 0 {
            out.write_all(b",")?;
        }
        write_string(out, key)?;
        out.write_all(b":")?;
        write_string(out, value)?;
    }
    out.write_all(b"}")
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(DIGITS[usize::from(byte >> 4)] as char);
        text.push(DIGITS[usize::from(byte & 0xf)] as char);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Payload {
        Payload::new(
            vec![("account_token", "ex4mpl3-t0k3n-0001".into()), ("order_id", "A&b=c #1".into())],
            vec![("store_id".into(), "12".into())],
        )
    }

    #[test]
    fn rid_is_over_the_compact_json_without_rid() {
        let payload = sample();
        let mut json = Vec::new();
        payload.write_json_without_rid(&mut json).unwrap();
        let json = String::from_utf8(json).unwrap();
        assert_eq!(
            json,
            r#"{"account_token":"ex4mpl3-t0k3n-0001","order_id":"A&b=c #1","custom":{"store_id":"12"},"replay":"1"}"#
        );
        assert_eq!(payload.rid(), &hex(&Sha256::digest(json.as_bytes()))[..32]);
        assert_eq!(payload.rid().len(), 32);
    }

    #[test]
    fn query_cannot_be_changed_by_a_cell() {
        let url = sample().tag_url("http://127.0.0.1:8080/tag");
        assert!(url.starts_with("http://127.0.0.1:8080/tag?account_token=ex4mpl3-t0k3n-0001&order_id=A%26b%3Dc%20%231&custom=%7B%22store_id%22%3A%2212%22%7D&replay=1&rid="));
        assert_eq!(url.matches('&').count(), 4);
        assert!(sample().tag_url("http://h/tag?k=v").starts_with("http://h/tag?k=v&account_token="));
    }

    #[test]
    fn pretty_json_parses_back_in_order() {
        let mut out = Vec::new();
        sample().write_pretty(&mut out, 4).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let keys: Vec<&String> = value.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["account_token", "order_id", "custom", "replay", "rid"]);
        assert_eq!(value["custom"]["store_id"], "12");
    }
}
