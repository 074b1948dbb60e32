//! Duplicate rows and order ids (SPEC §4), in a few bytes a row.
//!
//! One entry a valid row: keyed by its order id when it has one (else by its rid), holding the row
//! and the first bits of its rid. A repeated rid always repeats the order id too, since the order
//! id is part of the payload, so one table answers both questions.

use std::fs::File;
use std::hash::{Hash, Hasher};
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;

use hashbrown::HashTable;

use crate::field::Field;
use crate::row::payload::Payload;

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
        let key = match payload.get(Field::OrderId) {
            Some(order_id) => order_key(payload.get(Field::AccountToken).unwrap_or(""), order_id),
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

const ENTRY_BYTES: usize = 16;

impl Entry {
    fn to_bytes(self) -> [u8; ENTRY_BYTES] {
        let mut bytes = [0; ENTRY_BYTES];
        bytes[..8].copy_from_slice(&self.key.key.to_le_bytes());
        bytes[8..12].copy_from_slice(&self.key.rid.to_le_bytes());
        bytes[12..].copy_from_slice(&self.row.to_le_bytes());
        bytes
    }

    fn from_bytes(bytes: &[u8]) -> Entry {
        let word = |range: std::ops::Range<usize>| u32::from_le_bytes(bytes[range].try_into().expect("4 bytes"));
        Entry {
            key: DedupeKey { key: u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")), rid: word(8..12) },
            row: word(12..16),
        }
    }

    fn duplicate(&self, key: DedupeKey) -> Duplicate {
        let first_row = u64::from(self.row);
        if self.key.rid == key.rid {
            Duplicate::Row(first_row)
        } else {
            Duplicate::OrderId(first_row)
        }
    }
}

/// Rows kept in memory before they go to disk: 16 bytes a row in the list and about 10 in its
/// index, so about 27 MiB at most, whatever the file's size.
pub const IN_MEMORY_ROWS: usize = 1 << 20;
/// Rows after which a file counts as large: the table makes room for `IN_MEMORY_ROWS` at once.
const PRESIZE_AFTER: usize = 1 << 16;
/// Entries in a block of the file on disk: one read of 4 KiB finds a key.
const BLOCK_ENTRIES: usize = 256;

/// Every valid row so far. The latest ones are in memory: 16 bytes a row in a growing list (it
/// grows in place, so the peak stays near the size) and a 4-byte slot a row in the index over it.
/// Past `IN_MEMORY_ROWS`, they are sorted and merged into a file of all the earlier ones, sorted
/// by key, with the first key of each block kept in memory: a look-up there reads one block.
pub struct Dedupe {
    entries: Vec<Entry>,
    index: HashTable<u32>,
    in_memory_rows: usize,
    on_disk: Option<OnDisk>,
}

impl Default for Dedupe {
    fn default() -> Dedupe {
        Dedupe::with_memory_for(IN_MEMORY_ROWS)
    }
}

/// The earlier rows, sorted by key, in an unnamed temporary file.
struct OnDisk {
    file: File,
    len: usize,
    /// The first key of each block.
    first_keys: Vec<u64>,
    block: Vec<u8>,
}

impl OnDisk {
    fn find(&mut self, key: u64) -> io::Result<Option<Entry>> {
        let blocks_before = self.first_keys.partition_point(|&first| first <= key);
        let Some(block) = blocks_before.checked_sub(1) else { return Ok(None) };
        let start = block * BLOCK_ENTRIES;
        let entries = BLOCK_ENTRIES.min(self.len - start);
        self.block.resize(entries * ENTRY_BYTES, 0);
        self.file.read_exact_at(&mut self.block, (start * ENTRY_BYTES) as u64)?;
        let entry = |position: usize| &self.block[position * ENTRY_BYTES..(position + 1) * ENTRY_BYTES];
        let key_at = |position: usize| u64::from_le_bytes(entry(position)[..8].try_into().expect("8 bytes"));
        let (mut low, mut high) = (0, entries);
        while low < high {
            let middle = (low + high) / 2;
            match key_at(middle).cmp(&key) {
                std::cmp::Ordering::Less => low = middle + 1,
                std::cmp::Ordering::Greater => high = middle,
                std::cmp::Ordering::Equal => return Ok(Some(Entry::from_bytes(entry(middle)))),
            }
        }
        Ok(None)
    }
}

impl Dedupe {
    /// A table that keeps up to `rows` rows in memory before it uses a temporary file.
    pub fn with_memory_for(rows: usize) -> Dedupe {
        Dedupe { entries: Vec::new(), index: HashTable::new(), in_memory_rows: rows.max(1), on_disk: None }
    }

    /// Record a valid row, or say which earlier row it repeats.
    pub fn check(&mut self, row: u64, key: DedupeKey) -> io::Result<Option<Duplicate>> {
        let entries = &self.entries;
        if let Some(&ordinal) = self.index.find(key.key, |&ordinal| entries[ordinal as usize].key.key == key.key) {
            return Ok(Some(entries[ordinal as usize].duplicate(key)));
        }
        if let Some(on_disk) = &mut self.on_disk {
            if let Some(first) = on_disk.find(key.key)? {
                return Ok(Some(first.duplicate(key)));
            }
        }
        if self.entries.len() == PRESIZE_AFTER && self.in_memory_rows > PRESIZE_AFTER {
            // A large file: make room for all the rows memory takes at once, not by doublings.
            let entries = &self.entries;
            self.index.reserve(self.in_memory_rows - PRESIZE_AFTER, |&ordinal| entries[ordinal as usize].key.key);
            self.entries.reserve_exact(self.in_memory_rows - PRESIZE_AFTER);
        }
        let ordinal = u32::try_from(self.entries.len()).expect("fewer than 4 billion rows in memory");
        self.entries.push(Entry { key, row: u32::try_from(row).unwrap_or(u32::MAX) });
        let entries = &self.entries;
        self.index.insert_unique(key.key, ordinal, |&ordinal| entries[ordinal as usize].key.key);
        if self.entries.len() >= self.in_memory_rows {
            self.spill()?;
        }
        Ok(None)
    }

    /// Merge the rows in memory into the file on disk (a new one), and empty the memory.
    fn spill(&mut self) -> io::Result<()> {
        self.entries.sort_unstable_by_key(|entry| entry.key.key);
        let mut merged = BufWriter::with_capacity(1 << 16, tempfile::tempfile()?);
        let mut first_keys = Vec::new();
        let mut written = 0usize;
        let mut write = |entry: Entry| -> io::Result<()> {
            if written.is_multiple_of(BLOCK_ENTRIES) {
                first_keys.push(entry.key.key);
            }
            written += 1;
            merged.write_all(&entry.to_bytes())
        };
        let mut in_memory = self.entries.iter().copied().peekable();
        if let Some(old) = self.on_disk.take() {
            let mut reader = BufReader::with_capacity(1 << 16, old.file);
            reader.seek(SeekFrom::Start(0))?;
            let mut bytes = [0u8; ENTRY_BYTES];
            for _ in 0..old.len {
                reader.read_exact(&mut bytes)?;
                let earlier = Entry::from_bytes(&bytes);
                while let Some(entry) = in_memory.next_if(|entry| entry.key.key < earlier.key.key) {
                    write(entry)?;
                }
                write(earlier)?;
            }
        }
        for entry in in_memory {
            write(entry)?;
        }
        let file = merged.into_inner().map_err(|error| error.into_error())?;
        self.on_disk =
            Some(OnDisk { file, len: written, first_keys, block: Vec::with_capacity(BLOCK_ENTRIES * ENTRY_BYTES) });
        self.entries.clear();
        self.index.clear();
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.entries.len() + self.on_disk.as_ref().map_or(0, |on_disk| on_disk.len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(order_id: Option<&str>, visitor: &str) -> Payload<'static> {
        let mut fields: Vec<(Field, crate::row::payload::Value<'static>)> =
            vec![(Field::AccountToken, "ex4mpl3-t0k3n-0001".into()), (Field::VisitorId, visitor.to_owned().into())];
        if let Some(order_id) = order_id {
            fields.push((Field::OrderId, order_id.to_owned().into()));
        }
        Payload::new(fields, Vec::new())
    }

    fn check(dedupe: &mut Dedupe, row: u64, payload: &Payload) -> Result<(), Duplicate> {
        match dedupe.check(row, DedupeKey::of(payload)).unwrap() {
            Some(duplicate) => Err(duplicate),
            None => Ok(()),
        }
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

    #[test]
    fn rows_on_disk_are_found_like_rows_in_memory() {
        // Two rows in memory at most: everything else goes through the file, merged many times.
        let mut dedupe = Dedupe::with_memory_for(2);
        let mut reference = std::collections::HashMap::new();
        for row in 2..3000u64 {
            // Every 7th row repeats an earlier payload, every 11th reuses an order id.
            let (order, visitor) = match row {
                row if row % 7 == 0 => (row / 3, row / 3),
                row if row % 11 == 0 => (row / 2, row + 1_000_000),
                row => (row, row),
            };
            let key = DedupeKey::of(&payload(Some(&format!("o-{order}")), &format!("v{visitor}")));
            let expected = match reference.get(&key.key) {
                Some(&(first, rid)) => {
                    Some(if rid == key.rid { Duplicate::Row(first) } else { Duplicate::OrderId(first) })
                }
                None => {
                    reference.insert(key.key, (row, key.rid));
                    None
                }
            };
            assert_eq!(dedupe.check(row, key).unwrap(), expected, "row {row}");
            assert!(dedupe.entries.len() < 2, "row {row}: {} rows in memory", dedupe.entries.len());
        }
        assert_eq!(dedupe.len(), reference.len());
        assert!(
            reference.len() > 2000 && reference.len() < 2700,
            "most rows are new, some repeat: {}",
            reference.len()
        );
    }
}
