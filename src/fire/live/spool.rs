//! The spool: valid rows waiting to be fired, in a private temporary file, so that exactly the
//! rows that were validated and dumped are the ones sent, however large the file.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Seek, SeekFrom, Write};

use anyhow::{Context, Result};

use crate::fire::Job;

pub struct Spool {
    file: BufWriter<File>,
    pub rows: u64,
}

impl Spool {
    pub fn create(directory: &std::path::Path) -> Result<Spool> {
        // tempfile creates it readable by its owner only, and it is gone when closed.
        let file = tempfile::tempfile_in(directory)
            .with_context(|| format!("cannot create a temporary file in {}", directory.display()))?;
        Ok(Spool { file: BufWriter::with_capacity(256 * 1024, file), rows: 0 })
    }

    pub fn push(&mut self, row: u64, account: &str, rid: &str, url: &str) -> Result<()> {
        // Tag URLs and tokens are percent-encoded or plain: no tab or newline can occur in them.
        writeln!(self.file, "{row}\t{account}\t{rid}\t{url}")?;
        self.rows += 1;
        Ok(())
    }

    /// A reader from the start of everything pushed so far.
    fn reader(&mut self) -> Result<BufReader<File>> {
        self.file.flush()?;
        let mut file = self.file.get_ref().try_clone()?;
        file.seek(SeekFrom::Start(0))?;
        Ok(BufReader::with_capacity(256 * 1024, file))
    }

    /// Every job, in order, to the end of the spool.
    pub fn into_jobs(mut self) -> Result<impl Iterator<Item = Result<Job>>> {
        Ok(self.reader()?.lines().map(|line| {
            let line = line.context("cannot read the spool file")?;
            parse_job(&line).context("the spool file is damaged")
        }))
    }

    /// The jobs in batches of 1,000, from the start; the spool stays open.
    pub fn batches(&mut self) -> Result<impl Iterator<Item = Result<Vec<Job>>>> {
        let mut lines = self.reader()?.lines();
        Ok(std::iter::from_fn(move || {
            let mut batch = Vec::with_capacity(1000);
            for line in lines.by_ref() {
                let job = line
                    .map_err(anyhow::Error::from)
                    .and_then(|line| parse_job(&line).context("the spool file is damaged"));
                match job {
                    Ok(job) => batch.push(job),
                    Err(error) => return Some(Err(error)),
                }
                if batch.len() == 1000 {
                    break;
                }
            }
            (!batch.is_empty()).then_some(Ok(batch))
        }))
    }
}

fn parse_job(line: &str) -> Option<Job> {
    let mut parts = line.splitn(4, '\t');
    Some(Job {
        row: parts.next()?.parse().ok()?,
        account: parts.next()?.to_owned(),
        rid: parts.next()?.to_owned(),
        url: parts.next()?.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spool_round_trips_jobs() {
        let directory = tempfile::tempdir().unwrap();
        let mut spool = Spool::create(directory.path()).unwrap();
        spool.push(2, "acct-0001", &"a".repeat(32), "http://127.0.0.1/tag?x=%09").unwrap();
        spool.push(9, "acct-0001", &"b".repeat(32), "http://127.0.0.1/tag?y=1").unwrap();
        let batches: Vec<Vec<Job>> = spool.batches().unwrap().map(Result::unwrap).collect();
        assert_eq!(batches.len(), 1);
        let jobs: Vec<Job> = spool.into_jobs().unwrap().map(Result::unwrap).collect();
        assert_eq!(jobs.len(), 2);
        assert_eq!((jobs[1].row, jobs[1].url.as_str()), (9, "http://127.0.0.1/tag?y=1"));
    }
}
