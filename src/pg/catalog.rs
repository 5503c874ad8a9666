//! The topic catalog's version: a trigger bumps it on every write of a topic record to
//! `gregor_kv` (schema 6), whichever broker writes it. A broker that remembers the version
//! it last read the catalog at tells with one small query whether there is anything new: a
//! Metadata request for every topic asks, and would otherwise read every topic record.

use super::Db;

/// The catalog's version now (blocks on the database).
pub fn version(db: &Db) -> anyhow::Result<i64> {
    Ok(db
        .conn()?
        .query_one("SELECT version FROM gregor_catalog", &[])?
        .get(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pg::testing;

    #[test]
    fn topic_records_move_the_version_and_other_keys_do_not() {
        let pg = testing::database();
        let db = Db::open(&pg.url, std::time::Duration::from_secs(9)).unwrap();
        let write = |sql: &str, key: &[u8]| {
            db.conn().unwrap().execute(sql, &[&key]).unwrap();
            version(&db).unwrap()
        };
        let upsert = "INSERT INTO gregor_kv (key, value) VALUES ($1, 'x')
                      ON CONFLICT (key) DO UPDATE SET value = 'y'";
        let start = version(&db).unwrap();
        assert_eq!(write(upsert, b"topic/orders"), start + 1);
        assert_eq!(write(upsert, b"topic/orders"), start + 2, "altered");
        assert_eq!(write(upsert, b"group/orders"), start + 2);
        assert_eq!(write(upsert, b"topi"), start + 2);
        assert_eq!(
            write("DELETE FROM gregor_kv WHERE key = $1", b"group/orders"),
            start + 2
        );
        assert_eq!(
            write("DELETE FROM gregor_kv WHERE key = $1", b"topic/orders"),
            start + 3
        );
    }
}
