//! The payload of one row (SPEC §4): its JSON, its replay id and its tag URL query.

use std::borrow::Cow;
use std::cell::RefCell;
use std::sync::LazyLock;

use sha2::{Digest, Sha256};

use crate::field::Field;

/// Each byte as a query value writes it, then how many of those bytes count: the byte itself
/// for the unreserved characters of RFC 3986 (so no cell can add or change a query parameter),
/// `%XX` for every other byte.
const ESCAPES: [[u8; 4]; 256] = {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut table = [[0u8; 4]; 256];
    let mut byte = 0;
    while byte < 256 {
        let c = byte as u8;
        table[byte] = if is_unreserved(c) { [c, 0, 0, 1] } else { [b'%', HEX[byte >> 4], HEX[byte & 0xf], 3] };
        byte += 1;
    }
    table
};

/// A field's value, borrowed from the row when it is sent as it stands.
pub type Value<'a> = Cow<'a, str>;

/// Each field's key as the three outputs write it, made once: one copy a key, not three.
struct Keys {
    /// `"name":"`: JSON up to the opening quote of a plain value.
    json: [String; Field::COUNT],
    /// `      "name": "`: the same in the pretty JSON of `requests-validated`.
    pretty: [String; Field::COUNT],
    /// `&name=`: a query parameter.
    query: [String; Field::COUNT],
}

static KEYS: LazyLock<Keys> = LazyLock::new(|| Keys {
    json: Field::ALL.map(|field| format!("\"{}\":\"", field.payload_key())),
    pretty: Field::ALL.map(|field| format!("{PRETTY_PAD}\"{}\": \"", field.payload_key())),
    query: Field::ALL.map(|field| format!("&{}=", field.payload_key())),
});

/// The indent of a payload's keys in `requests-validated`, where it sits in an entry of the array.
const PRETTY_PAD: &str = "      ";

thread_local! {
    /// A buffer a thread for JSON written only to be hashed or encoded.
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(2048));
}

// A payload's fields are flagged in the bits of a u64.
const _: () = assert!(Field::COUNT <= 64);

/// One row's payload, in the order of §4: fields, `custom`, `replay`, `rid`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload<'a> {
    fields: Vec<(Field, Value<'a>)>,
    custom: Vec<(Value<'a>, Value<'a>)>,
    /// 32 lowercase hex digits.
    rid: [u8; 32],
    /// The same 128 bits, as bytes.
    rid_bytes: [u8; 16],
    /// Bit i set: field i needs no JSON escaping (checked once, written three times).
    plain_fields: u64,
    /// Bit i set: field i needs no percent-encoding in the query.
    unreserved_fields: u64,
}

impl<'a> Payload<'a> {
    /// The payload of `fields`, which are in `Field::ALL`'s order, and `custom`.
    pub fn new(fields: Vec<(Field, Value<'a>)>, custom: Vec<(Value<'a>, Value<'a>)>) -> Payload<'a> {
        debug_assert!(fields.windows(2).all(|pair| pair[0].0 < pair[1].0), "fields in payload order");
        // One pass over each value tells both what JSON must escape and what the query must encode.
        let (mut plain_fields, mut unreserved_fields) = (0u64, 0u64);
        for (index, (_, value)) in fields.iter().enumerate() {
            let needs = needs(value.as_bytes());
            plain_fields |= u64::from(needs & JSON_ESCAPE == 0) << index;
            unreserved_fields |= u64::from(needs & PERCENT_ENCODE == 0) << index;
        }
        let mut payload =
            Payload { fields, custom, rid: [b'0'; 32], rid_bytes: [0; 16], plain_fields, unreserved_fields };
        // Written whole into a reused buffer and hashed at once: cheaper than feeding the hasher
        // piece by piece.
        let digest = SCRATCH.with(|json| {
            let mut json = json.borrow_mut();
            json.clear();
            payload.write_json_without_rid(&mut json);
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

    pub fn get(&self, field: Field) -> Option<&str> {
        self.fields.iter().find(|(name, _)| *name == field).map(|(_, value)| value.as_ref())
    }

    pub fn custom(&self) -> &[(Value<'a>, Value<'a>)] {
        &self.custom
    }

    fn is_plain(&self, index: usize) -> bool {
        self.plain_fields & (1 << index) != 0
    }

    /// One field: `key` ends with the value's opening quote, and `end` starts with its closing one.
    /// Inlined: its two callers pass a constant `end`, which is then stored without a call.
    #[inline(always)]
    fn write_field(&self, out: &mut Vec<u8>, index: usize, key: &str, end: &[u8]) {
        let value = &self.fields[index].1;
        if self.is_plain(index) {
            out.extend_from_slice(key.as_bytes());
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(end);
        } else {
            out.extend_from_slice(&key.as_bytes()[..key.len() - 1]);
            write_string(out, value);
            out.extend_from_slice(&end[1..]);
        }
    }

    /// The compact JSON the rid is computed over: the payload without `rid`.
    pub fn write_json_without_rid(&self, out: &mut Vec<u8>) {
        out.push(b'{');
        for (index, (field, _)) in self.fields.iter().enumerate() {
            self.write_field(out, index, &KEYS.json[field.index()], b"\",");
        }
        if !self.custom.is_empty() {
            out.extend_from_slice(b"\"custom\":");
            write_custom(out, &self.custom);
            out.extend_from_slice(b",");
        }
        out.extend_from_slice(b"\"replay\":\"1\"}");
    }

    /// The query string of the tag URL: every value percent-encoded, `custom` as a JSON string.
    pub fn write_query(&self, out: &mut Vec<u8>) {
        for (index, (field, value)) in self.fields.iter().enumerate() {
            let key = &KEYS.query[field.index()];
            out.extend_from_slice(if index == 0 { &key.as_bytes()[1..] } else { key.as_bytes() });
            if self.unreserved_fields & (1 << index) != 0 {
                out.extend_from_slice(value.as_bytes());
            } else {
                percent_encode_all(out, value.as_bytes());
            }
        }
        let mut first = self.fields.is_empty();
        if !self.custom.is_empty() {
            out.extend_from_slice(if first { b"custom=" } else { b"&custom=" });
            SCRATCH.with(|json| {
                let mut json = json.borrow_mut();
                json.clear();
                write_custom(&mut json, &self.custom);
                percent_encode_into(out, &json);
            });
            first = false;
        }
        out.extend_from_slice(if first { b"replay=1&rid=" } else { b"&replay=1&rid=" });
        out.extend_from_slice(&self.rid);
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
        out.push(if request_url.as_bytes().contains(&b'?') { b'&' } else { b'?' });
        self.write_query(out);
        out.len() - start
    }

    /// The payload as pretty JSON, indented to sit as `"payload"` in an entry of the
    /// `requests-validated` array: its keys 6 spaces in, its closing brace 4.
    pub fn write_pretty(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\n");
        for (index, (field, _)) in self.fields.iter().enumerate() {
            self.write_field(out, index, &KEYS.pretty[field.index()], b"\",\n");
        }
        if !self.custom.is_empty() {
            out.extend_from_slice(PRETTY_PAD.as_bytes());
            out.extend_from_slice(b"\"custom\": {\n");
            for (index, (key, value)) in self.custom.iter().enumerate() {
                out.extend_from_slice(PRETTY_PAD.as_bytes());
                out.extend_from_slice(b"  ");
                write_string(out, key);
                out.extend_from_slice(b": ");
                write_string(out, value);
                out.extend_from_slice(if index + 1 < self.custom.len() { b",\n" } else { b"\n" });
            }
            out.extend_from_slice(PRETTY_PAD.as_bytes());
            out.extend_from_slice(b"},\n");
        }
        for part in [PRETTY_PAD, "\"replay\": \"1\",\n", PRETTY_PAD, "\"rid\": \"", self.rid(), "\"\n    }"] {
            out.extend_from_slice(part.as_bytes());
        }
    }
}

/// Percent-encode every byte but the unreserved ones.
fn percent_encode_into(out: &mut Vec<u8>, bytes: &[u8]) {
    if needs(bytes) & PERCENT_ENCODE == 0 {
        out.extend_from_slice(bytes);
    } else {
        percent_encode_all(out, bytes);
    }
}

/// Percent-encode `bytes`, known to hold some byte that needs it.
fn percent_encode_all(out: &mut Vec<u8>, bytes: &[u8]) {
    const CHUNK: usize = 64;
    // Each byte's four table bytes are stored at once and the length moves by the ones that
    // count: no branch a byte, and one copy into `out` a chunk. A chunk's escapes fit in 256
    // bytes, so an index masked with 255 (plus the 4 stored) stays in bounds without a check.
    const _: () = assert!(3 * CHUNK <= 256);
    let mut encoded = [0u8; 256 + 4];
    for chunk in bytes.chunks(CHUNK) {
        let mut length = 0;
        for &byte in chunk {
            let escape = ESCAPES[usize::from(byte)];
            let at = length & 255;
            encoded[at..at + 4].copy_from_slice(&escape);
            length += usize::from(escape[3]);
        }
        out.extend_from_slice(&encoded[..length]);
    }
}

/// What a byte needs, as bits: `JSON_ESCAPE` in a JSON string, `PERCENT_ENCODE` in a query value.
const NEEDS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut byte = 0;
    while byte < 256 {
        let c = byte as u8;
        let json = if needs_json_escape(c) { JSON_ESCAPE } else { 0 };
        table[byte] = json | if is_unreserved(c) { 0 } else { PERCENT_ENCODE };
        byte += 1;
    }
    table
};
const JSON_ESCAPE: u8 = 1;
const PERCENT_ENCODE: u8 = 2;

/// What some byte of `bytes` needs (`JSON_ESCAPE`, `PERCENT_ENCODE`): one pass tells both.
fn needs(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0, |needs, &byte| needs | NEEDS[usize::from(byte)])
}

/// The unreserved characters of RFC 3986.
const fn is_unreserved(byte: u8) -> bool {
    let letter = (byte | 0x20).wrapping_sub(b'a') < 26;
    let digit = byte.wrapping_sub(b'0') < 10;
    letter | digit | (byte == b'-') | (byte == b'.') | (byte == b'_') | (byte == b'~')
}

/// The bytes a JSON string escapes: `"`, `\\` and control characters.
const fn needs_json_escape(byte: u8) -> bool {
    (byte < 0x20) | (byte == b'"') | (byte == b'\\')
}

fn is_plain_json(text: &str) -> bool {
    needs(text.as_bytes()) & JSON_ESCAPE == 0
}

/// A JSON string, escaped as serde_json does: `"`, `\\` and control characters.
fn write_string(out: &mut Vec<u8>, text: &str) {
    if is_plain_json(text) {
        out.extend_from_slice(b"\"");
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
        return;
    }
    serde_json::to_writer(out, text).expect("a string serializes into a Vec");
}

fn write_custom(out: &mut Vec<u8>, custom: &[(Value<'_>, Value<'_>)]) {
    out.extend_from_slice(b"{");
    for (index, (key, value)) in custom.iter().enumerate() {
        if index > 0 {
            out.extend_from_slice(b",");
        }
        write_string(out, key);
        out.extend_from_slice(b":");
        write_string(out, value);
    }
    out.push(b'}');
}

pub fn hex(bytes: &[u8]) -> String {
    let mut text = vec![0; bytes.len() * 2];
    hex_into(bytes, &mut text);
    String::from_utf8(text).expect("hex digits")
}

/// Lowercase hex digits of `bytes` into `out`, which is twice as long: both digits of a byte
/// with one look-up.
fn hex_into(bytes: &[u8], out: &mut [u8]) {
    const PAIRS: [[u8; 2]; 256] = {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut table = [[0u8; 2]; 256];
        let mut byte = 0;
        while byte < 256 {
            table[byte] = [DIGITS[byte >> 4], DIGITS[byte & 0xf]];
            byte += 1;
        }
        table
    };
    for (&byte, pair) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        pair.copy_from_slice(&PAIRS[usize::from(byte)]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Payload<'static> {
        Payload::new(
            vec![(Field::AccountToken, "ex4mpl3-t0k3n-0001".into()), (Field::OrderId, "A&b=c #1".into())],
            vec![("store_id".into(), "12".into())],
        )
    }

    #[test]
    fn rid_is_over_the_compact_json_without_rid() {
        let payload = sample();
        let mut json = Vec::new();
        payload.write_json_without_rid(&mut json);
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
        sample().write_pretty(&mut out);
        let value: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let keys: Vec<&String> = value.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["account_token", "order_id", "custom", "replay", "rid"]);
        assert_eq!(value["custom"]["store_id"], "12");
    }
}
