//! Duplicate rows and order ids (SPEC §4), in a few bytes a row.
//!
//! One entry a valid row: keyed by its order id when it has one (else by its rid), holding the row
//! and the first bits of its rid. A repeated rid always repeats the order id too, since the order
//! id is part of the payload, so one table answers both questions.

use std::hash::{BuildHasherDefault, Hash, Hasher};

use hashbrown::hash_map::{Entry, HashMap};

use crate::payload::Payload;

/// The keys are already hashes: pass them through.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }
    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Duplicate {
    /// The same payload as an earlier row.
    Row(u64),
    /// The same order id as an earlier row, with a different payload.
    OrderId(u64),
}

#[derive(Default)]
pub struct Dedupe {
    seen: HashMap<u64, (u32, u32), BuildHasherDefault<PassThrough>>,
}

fn rid_bits(rid: &str) -> u64 {
    u64::from_str_radix(&rid[..16], 16).unwrap_or(0)
}

fn order_key(account_token: &str, order_id: &str) -> u64 {
    // SipHash with fixed keys: the same on every run, and spread well.
    #[allow(deprecated)]
    let mut hasher = std::hash::SipHasher::new_with_keys(0x7265_706c_6179_6572, 0x6f72_6465_7269_6400);
    account_token.hash(&mut hasher);
    order_id.hash(&mut hasher);
    hasher.finish()
}

impl Dedupe {
    /// Record a valid row, or say which earlier row it repeats.
    pub fn check(&mut self, row: u64, payload: &Payload) -> Result<(), Duplicate> {
        let rid = rid_bits(payload.rid());
        let key = match payload.get("order_id") {
            Some(order_id) => order_key(payload.get("account_token").unwrap_or(""), order_id),
            None => rid,
        };
        let short_rid = (rid >> 32) as u32;
        match self.seen.entry(key) {
            Entry::Occupied(first) => {
                let (first_row, first_rid) = *first.get();
                if first_rid == short_rid {
                    Err(Duplicate::Row(u64::from(first_row)))
                } else {
                    Err(Duplicate::OrderId(u64::from(first_row)))
                }
            }
            Entry::Vacant(slot) => {
                slot.insert((u32::try_from(row).unwrap_or(u32::MAX), short_rid));
                Ok(())
            }
        }
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(order_id: Option<&str>, visitor: &str) -> Payload {
        let mut fields = vec![("account_token", "ex4mpl3-t0k3n-0001".to_owned()), ("visitor_id", visitor.to_owned())];
        if let Some(order_id) = order_id {
            fields.push(("order_id", order_id.to_owned()));
        }
        Payload::new(fields, Vec::new())
    }

    #[test]
    fn finds_repeated_rows_and_order_ids() {
        let mut dedupe = Dedupe::default();
        assert_eq!(dedupe.check(2, &payload(Some("o-1"), "v1")), Ok(()));
        assert_eq!(dedupe.check(3, &payload(None, "v1")), Ok(()));
        assert_eq!(dedupe.check(4, &payload(Some("o-1"), "v1")), Err(Duplicate::Row(2)));
        assert_eq!(dedupe.check(5, &payload(Some("o-1"), "v2")), Err(Duplicate::OrderId(2)));
        assert_eq!(dedupe.check(6, &payload(None, "v1")), Err(Duplicate::Row(3)));
        assert_eq!(dedupe.check(7, &payload(Some("o-2"), "v1")), Ok(()));
        assert_eq!(dedupe.len(), 3);
    }
}
