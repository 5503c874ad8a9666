//! The metadata store in cluster mode: key-value pairs in the cluster's database
//! (`gregor_kv`), so every broker of the cluster reads what any of them wrote. A write returns
//! once PostgreSQL has committed it (with the synchronous standbys the database is configured
//! with).

use std::collections::BTreeMap;

use crate::pg::{notify, Db};

use super::{Entries, KvStore, StoreError, WriteOp};

pub struct PgStore {
    db: Db,
}

impl PgStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    fn conn(&self) -> Result<crate::pg::Conn, StoreError> {
        self.db.conn().map_err(|e| StoreError(format!("{e:#}")))
    }
}

fn failed(e: crate::pg::postgres::Error) -> StoreError {
    StoreError(format!("postgresql: {e}"))
}

/// The least byte string greater than every string starting with `prefix` (None: no bound).
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

impl KvStore for PgStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let row = self
            .conn()?
            .query_opt("SELECT value FROM gregor_kv WHERE key = $1", &[&key])
            .map_err(failed)?;
        Ok(row.map(|r| r.get(0)))
    }

    /// Two statements whatever the batch's size (a coordinator batch holds up to hundreds of
    /// writes): each key's last op is its outcome, so puts and deletes can go separately.
    fn write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        let mut last: BTreeMap<Vec<u8>, Option<Vec<u8>>> = BTreeMap::new();
        for op in ops {
            match op {
                WriteOp::Put(k, v) => last.insert(k, Some(v)),
                WriteOp::Delete(k) => last.insert(k, None),
            };
        }
        let (mut put_keys, mut values, mut deleted) = (vec![], vec![], vec![]);
        for (k, v) in last {
            match v {
                Some(v) => {
                    put_keys.push(k);
                    values.push(v);
                }
                None => deleted.push(k),
            }
        }
        let mut conn = self.conn()?;
        let mut tx = conn.transaction().map_err(failed)?;
        if !put_keys.is_empty() {
            tx.execute(
                "INSERT INTO gregor_kv (key, value) SELECT * FROM unnest($1::bytea[], $2::bytea[])
                 ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                &[&put_keys, &values],
            )
            .map_err(failed)?;
        }
        if !deleted.is_empty() {
            tx.execute("DELETE FROM gregor_kv WHERE key = ANY($1)", &[&deleted])
                .map_err(failed)?;
        }
        tx.commit().map_err(failed)
    }

    fn scan_prefix(&self, prefix: &[u8]) -> Result<Entries, StoreError> {
        // bytea compares bytewise, as the other stores order keys.
        let end = prefix_end(prefix);
        let rows = self
            .conn()?
            .query(
                "SELECT key, value FROM gregor_kv
                 WHERE key >= $1 AND ($2::bytea IS NULL OR key < $2) ORDER BY key",
                &[&prefix, &end],
            )
            .map_err(failed)?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    fn compare_and_swap(
        &self,
        key: &[u8],
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        let changed = match expected {
            None => conn.execute(
                "INSERT INTO gregor_kv (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
                &[&key, &new],
            ),
            Some(old) => conn.execute(
                "UPDATE gregor_kv SET value = $3 WHERE key = $1 AND value = $2",
                &[&key, &old, &new],
            ),
        }
        .map_err(failed)?;
        Ok(changed == 1)
    }

    fn announce(&self) {
        if let Err(e) = notify::announce(&self.db, notify::CATALOG) {
            tracing::debug!(error = %format!("{e:#}"), "could not announce a change");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pg::testing;

    #[test]
    fn conformance() {
        let pg = testing::database();
        let store = PgStore::new(Db::open(&pg.url, std::time::Duration::from_secs(9)).unwrap());
        super::super::conformance(&store);
        // Keys ending in 0xff still bound their prefix scans.
        store.put(&[b'p', 0xff, 1], b"x").unwrap();
        store.put(&[b'p', 0xff], b"y").unwrap();
        store.put(b"q", b"z").unwrap();
        assert_eq!(store.scan_prefix(&[b'p', 0xff]).unwrap().len(), 2);
        assert_eq!(store.scan_prefix(&[0xff]).unwrap().len(), 0);
    }

    #[test]
    fn an_announcement_reaches_the_brokers_listening() {
        let pg = testing::database();
        let db = Db::open(&pg.url, std::time::Duration::from_secs(9)).unwrap();
        let mut listener = notify::Listener::new(db.clone(), notify::CATALOG);
        // The first wait starts listening; nothing was announced yet.
        assert!(!listener.wait(std::time::Duration::from_millis(10)));
        PgStore::new(db).announce();
        assert!(listener.wait(std::time::Duration::from_secs(30)));
    }

    #[test]
    fn prefix_ends() {
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(&[b'a', 0xff]), Some(b"b".to_vec()));
        assert_eq!(prefix_end(&[0xff, 0xff]), None);
        assert_eq!(prefix_end(b""), None);
    }
}
