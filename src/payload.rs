//! The payload of one row (SPEC §4): its JSON, its replay id and its tag URL query.

use std::borrow::Cow;
use std::io::{self, Write};

use sha2::{Digest, Sha256};

/// The unreserved characters of RFC 3986: the only bytes a query value keeps as they are, so no
/// cell can add or change a query parameter.
const UNRESERVED: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        let c = byte as u8;
        table[byte] = c.is_ascii_alphanumeric() || c == b'-' || c == b'.' || c == b'_' || c == b'~';
        byte += 1;
    }
    table
};

/// A field's value, borrowed from the row when it is sent as it stands.
pub type Value<'a> = Cow<'a, str>;

/// One row's payload, in the order of §4: fields, `custom`, `replay`, `rid`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload<'a> {
    fields: Vec<(&'static str, Value<'a>)>,
    custom: Vec<(Value<'a>, Value<'a>)>,
    /// 32 lowercase hex digits.
    rid: [u8; 32],
    /// The same 128 bits, as bytes.
    rid_bytes: [u8; 16],
    /// Bit i set: field i needs no JSON escaping (checked once, written three times).
    plain_fields: u64,
}

impl<'a> Payload<'a> {
    pub fn new(fields: Vec<(&'static str, Value<'a>)>, custom: Vec<(Value<'a>, Value<'a>)>) -> Payload<'a> {
        let plain_fields = fields
            .iter()
            .enumerate()
            .filter(|(index, (_, value))| *index < 64 && is_plain_json(value))
            .fold(0u64, |mask, (index, _)| mask | 1 << index);
        let mut payload = Payload { fields, custom, rid: [b'0'; 32], rid_bytes: [0; 16], plain_fields };
        // One buffer a thread, hashed at once: cheaper than feeding the hasher piece by piece.
        thread_local! {
            static JSON: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(Vec::with_capacity(2048));
        }
        let digest = JSON.with(|json| {
            let mut json = json.borrow_mut();
            json.clear();
            payload.write_json_without_rid(&mut *json).expect("writing to a Vec cannot fail");
            Sha256::digest(&*json)
        });
        hex_into(&digest[..16], &mut payload.rid);
        payload.rid_bytes.copy_from_slice(&digest[..16]);
        payload
    }

    pub fn rid(&self) -> &str {
        std::str::from_utf8(&self.rid).expect("hex digits")
    }

    /// The rid as its 16 bytes.
    pub fn rid_bytes(&self) -> [u8; 16] {
        self.rid_bytes
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields.iter().find(|(name, _)| *name == key).map(|(_, value)| value.as_ref())
    }

    pub fn custom(&self) -> &[(Value<'a>, Value<'a>)] {
        &self.custom
    }

    fn custom_json(&self) -> String {
        let mut json = Vec::with_capacity(64);
        write_custom(&mut json, &self.custom).expect("writing to a Vec cannot fail");
        String::from_utf8(json).expect("JSON is UTF-8")
    }

    fn write_field(&self, out: &mut impl Write, index: usize, value: &str) -> io::Result<()> {
        if index < 64 && self.plain_fields & (1 << index) != 0 {
            out.write_all(b"\"")?;
            out.write_all(value.as_bytes())?;
            out.write_all(b"\"")
        } else {
            write_string(out, value)
        }
    }

    /// The compact JSON the rid is computed over: the payload without `rid`.
    pub fn write_json_without_rid(&self, out: &mut impl Write) -> io::Result<()> {
        out.write_all(b"{")?;
        for (index, (name, value)) in self.fields.iter().enumerate() {
            out.write_all(b"\"")?;
            out.write_all(name.as_bytes())?;
            out.write_all(b"\":")?;
            self.write_field(out, index, value)?;
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
    pub fn write_query(&self, out: &mut Vec<u8>) {
        for (index, (name, value)) in self.fields.iter().enumerate() {
            push_param(out, index == 0, name, value);
        }
        if !self.custom.is_empty() {
            push_param(out, self.fields.is_empty(), "custom", &self.custom_json());
        }
        push_param(out, self.fields.is_empty() && self.custom.is_empty(), "replay", "1");
        push_param(out, false, "rid", self.rid());
    }

    /// The tag URL: `{request_url}?{query}`.
    pub fn tag_url(&self, request_url: &str) -> String {
        let mut url = Vec::with_capacity(request_url.len() + 1024);
        self.write_tag_url(&mut url, request_url);
        String::from_utf8(url).expect("a request URL and percent-encoded values are UTF-8")
    }

    /// Append the tag URL to `out`; returns its length in bytes.
    pub fn write_tag_url(&self, out: &mut Vec<u8>, request_url: &str) -> usize {
        let start = out.len();
        out.extend_from_slice(request_url.as_bytes());
        out.push(if request_url.contains('?') { b'&' } else { b'?' });
        self.write_query(out);
        out.len() - start
    }

    /// The payload as pretty JSON, each line after the first indented by `indent` spaces.
    pub fn write_pretty(&self, out: &mut impl Write, indent: usize) -> io::Result<()> {
        const SPACES: &str = "                                ";
        let indent = indent.min(SPACES.len() - 2);
        let pad = &SPACES[..indent + 2];
        out.write_all(b"{\n")?;
        for (index, (name, value)) in self.fields.iter().enumerate() {
            out.write_all(pad.as_bytes())?;
            out.write_all(b"\"")?;
            out.write_all(name.as_bytes())?;
            out.write_all(b"\": ")?;
            self.write_field(out, index, value)?;
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
        for part in [pad, "\"replay\": \"1\",\n", pad, "\"rid\": \"", self.rid(), "\"\n", &SPACES[..indent], "}"] {
            out.write_all(part.as_bytes())?;
        }
        Ok(())
    }
}

fn push_param(out: &mut Vec<u8>, first: bool, name: &str, value: &str) {
    if !first {
        out.push(b'&');
    }
    out.extend_from_slice(name.as_bytes());
    out.push(b'=');
    percent_encode_into(out, value);
}

/// Percent-encode every byte but the unreserved ones, copying runs of unreserved bytes at once.
fn percent_encode_into(out: &mut Vec<u8>, value: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let bytes = value.as_bytes();
    // Most values (hashes, ids, numbers) need no encoding: one branch-free pass tells, written
    // with comparisons rather than the table so that it compiles to vector instructions.
    if bytes.iter().fold(true, |plain, &byte| plain & is_unreserved(byte)) {
        out.extend_from_slice(bytes);
        return;
    }
    let mut start = 0;
    for (index, &byte) in bytes.iter().enumerate() {
        if !UNRESERVED[usize::from(byte)] {
            out.extend_from_slice(&bytes[start..index]);
            out.extend_from_slice(&[b'%', HEX[usize::from(byte >> 4)], HEX[usize::from(byte & 0xf)]]);
            start = index + 1;
        }
    }
    out.extend_from_slice(&bytes[start..]);
}

fn is_unreserved(byte: u8) -> bool {
    let letter = (byte | 0x20).wrapping_sub(b'a') < 26;
    let digit = byte.wrapping_sub(b'0') < 10;
    letter | digit | (byte == b'-') | (byte == b'.') | (byte == b'_') | (byte == b'~')
}

fn is_plain_json(text: &str) -> bool {
    // Without an early exit the check compiles to vector instructions.
    !text.bytes().fold(false, |found, byte| found | (byte < 0x20) | (byte == b'"') | (byte == b'\\'))
}

/// A JSON string, escaped as serde_json does: `"`, `\\` and control characters.
fn write_string(out: &mut impl Write, text: &str) -> io::Result<()> {
    if is_plain_json(text) {
        out.write_all(b"\"")?;
        out.write_all(text.as_bytes())?;
        return out.write_all(b"\"");
    }
    serde_json::to_writer(out, text).map_err(io::Error::from)
}

fn write_custom(out: &mut impl Write, custom: &[(Value<'_>, Value<'_>)]) -> io::Result<()> {
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
    let mut text = vec![0; bytes.len() * 2];
    hex_into(bytes, &mut text);
    String::from_utf8(text).expect("hex digits")
}

/// Lowercase hex digits of `bytes` into `out`, which is twice as long.
fn hex_into(bytes: &[u8], out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (byte, pair) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 0xf)];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Payload<'static> {
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
