//! Duplicate rows and order ids (SPEC §4), in a few bytes a row.
//!
//! One entry a valid row: keyed by its order id when it has one (else by its rid), holding the row
//! and the first bits of its rid. A repeated rid always repeats the order id too, since the order
//! id is part of the payload, so one table answers both questions.

use std::hash::{Hash, Hasher};

use hashbrown::HashTable;

use crate::payload::Payload;

#[derive(Debug, PartialEq, Eq)]
pub enum Duplicate {
    /// The same payload as an earlier row.
    Row(u64),
    /// The same order id as an earlier row, with a different payload.
    OrderId(u64),
}

/// What the table keeps of a row, worked out where the row is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DedupeKey {
    /// The order id's hash when the row has one, else the rid's first 64 bits.
    key: u64,
    /// The rid's next 32 bits: tells a repeated row from a reused order id.
    rid: u32,
}

impl DedupeKey {
    pub fn of(payload: &Payload) -> DedupeKey {
        let rid = payload.rid_bytes();
        let rid_high = u64::from_be_bytes(rid[..8].try_into().expect("8 bytes"));
        let rid_low = u32::from_be_bytes(rid[8..12].try_into().expect("4 bytes"));
        let key = match payload.get("order_id") {
            Some(order_id) => order_key(payload.get("account_token").unwrap_or(""), order_id),
            None => rid_high,
        };
        DedupeKey { key, rid: rid_low }
    }
}

fn order_key(account_token: &str, order_id: &str) -> u64 {
    // SipHash with fixed keys: the same on every run, and spread well.
    #[allow(deprecated)]
    let mut hasher = std::hash::SipHasher::new_with_keys(0x7265_706c_6179_6572, 0x6f72_6465_7269_6400);
    account_token.hash(&mut hasher);
    order_id.hash(&mut hasher);
    hasher.finish()
}

#[derive(Clone, Copy)]
struct Entry {
    key: DedupeKey,
    row: u32,
}

/// Every valid row so far: 16 bytes a row in a growing list, and a 4-byte slot a row in the
/// index over it. A list grows in place (no copy of the whole), so the peak stays near the size.
#[derive(Default)]
pub struct Dedupe {
    entries: Vec<Entry>,
    index: HashTable<u32>,
}

impl Dedupe {
    /// Record a valid row, or say which earlier row it repeats.
    pub fn check(&mut self, row: u64, key: DedupeKey) -> Result<(), Duplicate> {
        let entries = &self.entries;
        if let Some(&ordinal) = self.index.find(key.key, |&ordinal| entries[ordinal as usize].key.key == key.key) {
            let first = entries[ordinal as usize];
            let first_row = u64::from(first.row);
            return Err(if first.key.rid == key.rid { Duplicate::Row(first_row) } else { Duplicate::OrderId(first_row) });
        }
        let ordinal = u32::try_from(self.entries.len()).expect("fewer than 4 billion rows");
        self.entries.push(Entry { key, row: u32::try_from(row).unwrap_or(u32::MAX) });
        let entries = &self.entries;
        self.index.insert_unique(key.key, ordinal, |&ordinal| entries[ordinal as usize].key.key);
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(order_id: Option<&str>, visitor: &str) -> Payload<'static> {
        let mut fields: Vec<(&'static str, crate::payload::Value<'static>)> =
            vec![("account_token", "ex4mpl3-t0k3n-0001".into()), ("visitor_id", visitor.to_owned().into())];
        if let Some(order_id) = order_id {
            fields.push(("order_id", order_id.to_owned().into()));
        }
        Payload::new(fields, Vec::new())
    }

    fn check(dedupe: &mut Dedupe, row: u64, payload: &Payload) -> Result<(), Duplicate> {
        dedupe.check(row, DedupeKey::of(payload))
    }

    #[test]
    fn finds_repeated_rows_and_order_ids() {
        let mut dedupe = Dedupe::default();
        assert_eq!(check(&mut dedupe, 2, &payload(Some("o-1"), "v1")), Ok(()));
        assert_eq!(check(&mut dedupe, 3, &payload(None, "v1")), Ok(()));
        assert_eq!(check(&mut dedupe, 4, &payload(Some("o-1"), "v1")), Err(Duplicate::Row(2)));
        assert_eq!(check(&mut dedupe, 5, &payload(Some("o-1"), "v2")), Err(Duplicate::OrderId(2)));
        assert_eq!(check(&mut dedupe, 6, &payload(None, "v1")), Err(Duplicate::Row(3)));
        assert_eq!(check(&mut dedupe, 7, &payload(Some("o-2"), "v1")), Ok(()));
        assert_eq!(dedupe.len(), 3);
    }
}
