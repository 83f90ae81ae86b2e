//! A decision as the group-commit log writer receives it: one fixed-size shared-memory slot holds
//! its bytes, so the record is a flat little-endian layout with length-prefixed text, and a
//! decision whose text does not fit is not queued (the caller inserts it itself).

/// One row of the decision log, with the id and time the deciding call chose.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRecord {
    pub decision_id: i64,
    pub policy_id: i64,
    pub policy_version: i32,
    /// PostgreSQL's timestamptz: microseconds since 2000-01-01 UTC.
    pub decided_at: i64,
    pub probability: f64,
    pub subject: Option<String>,
    /// jsonb as text.
    pub context: String,
    pub state: String,
    pub action: String,
    /// jsonb as text.
    pub probabilities: String,
}

const FIXED: usize = 8 + 8 + 4 + 8 + 8;
const NO_SUBJECT: u32 = u32::MAX;

impl LogRecord {
    fn texts(&self) -> [Option<&str>; 5] {
        [
            self.subject.as_deref(),
            Some(&self.context),
            Some(&self.state),
            Some(&self.action),
            Some(&self.probabilities),
        ]
    }

    /// Bytes the record takes.
    pub fn size(&self) -> usize {
        FIXED + self.texts().iter().map(|t| 4 + t.map_or(0, str::len)).sum::<usize>()
    }

    /// Writes the record at the start of `buf`; returns the bytes written, or None (and writes
    /// nothing) when it does not fit.
    pub fn encode(&self, buf: &mut [u8]) -> Option<usize> {
        let n = self.size();
        if n > buf.len() {
            return None;
        }
        let mut at = 0;
        let mut put = |bytes: &[u8]| {
            buf[at..at + bytes.len()].copy_from_slice(bytes);
            at += bytes.len();
        };
        put(&self.decision_id.to_le_bytes());
        put(&self.policy_id.to_le_bytes());
        put(&self.policy_version.to_le_bytes());
        put(&self.decided_at.to_le_bytes());
        put(&self.probability.to_le_bytes());
        for t in self.texts() {
            match t {
                None => put(&NO_SUBJECT.to_le_bytes()),
                Some(s) => {
                    put(&(s.len() as u32).to_le_bytes());
                    put(s.as_bytes());
                }
            }
        }
        Some(n)
    }

    /// Reads a record `encode` wrote; None for bytes it did not write.
    pub fn decode(buf: &[u8]) -> Option<LogRecord> {
        let mut at = 0;
        let mut take = |n: usize| -> Option<&[u8]> {
            let s = buf.get(at..at + n)?;
            at += n;
            Some(s)
        };
        let decision_id = i64::from_le_bytes(take(8)?.try_into().ok()?);
        let policy_id = i64::from_le_bytes(take(8)?.try_into().ok()?);
        let policy_version = i32::from_le_bytes(take(4)?.try_into().ok()?);
        let decided_at = i64::from_le_bytes(take(8)?.try_into().ok()?);
        let probability = f64::from_le_bytes(take(8)?.try_into().ok()?);
        let mut texts: Vec<Option<String>> = Vec::with_capacity(5);
        for _ in 0..5 {
            let len = u32::from_le_bytes(take(4)?.try_into().ok()?);
            if len == NO_SUBJECT {
                texts.push(None);
            } else {
                let bytes = take(len as usize)?;
                texts.push(Some(String::from_utf8(bytes.to_vec()).ok()?));
            }
        }
        let mut texts = texts.into_iter();
        let subject = texts.next()?;
        let mut text = || texts.next().flatten();
        Some(LogRecord {
            decision_id,
            policy_id,
            policy_version,
            decided_at,
            probability,
            subject,
            context: text()?,
            state: text()?,
            action: text()?,
            probabilities: text()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(subject: Option<&str>) -> LogRecord {
        LogRecord {
            decision_id: 42,
            policy_id: -7,
            policy_version: 3,
            decided_at: 846_000_123_456_789,
            probability: 0.125,
            subject: subject.map(str::to_string),
            context: r#"{"segment": 2, "city": "Zürich"}"#.to_string(),
            state: "segment=2".to_string(),
            action: "coupon".to_string(),
            probabilities: r#"{"coupon": 0.125, "none": 0.875}"#.to_string(),
        }
    }

    #[test]
    fn round_trips_with_and_without_a_subject() {
        for r in [record(Some("customer 9")), record(None), record(Some(""))] {
            let mut buf = [0u8; 512];
            let n = r.encode(&mut buf).unwrap();
            assert_eq!(n, r.size());
            assert_eq!(LogRecord::decode(&buf[..n]).unwrap(), r);
        }
    }

    #[test]
    fn a_record_that_does_not_fit_writes_nothing() {
        let r = record(Some("s"));
        let mut buf = vec![7u8; r.size() - 1];
        assert_eq!(r.encode(&mut buf), None);
        assert!(buf.iter().all(|&b| b == 7));
        let mut exact = vec![0u8; r.size()];
        assert_eq!(r.encode(&mut exact), Some(r.size()));
    }

    #[test]
    fn truncated_or_foreign_bytes_are_refused() {
        let r = record(Some("s"));
        let mut buf = [0u8; 512];
        let n = r.encode(&mut buf).unwrap();
        for cut in [0, 10, FIXED, n - 1] {
            assert_eq!(LogRecord::decode(&buf[..cut]), None, "cut at {cut}");
        }
        let mut bad = buf;
        bad[FIXED + 4] = 0xff; // not UTF-8
        assert_eq!(LogRecord::decode(&bad[..n]), None);
    }
}
