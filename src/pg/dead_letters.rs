//! Share groups' dead letters across brokers (cluster mode): a share-partition's leader whose
//! dead letter goes to a partition another broker leads queues the record batches here (the
//! commit counts as written: its records are archived); the dead-letter partition's leader
//! appends them and deletes each row once its batch is durable (a crash in between appends it
//! twice: at least once, as Kafka's dead-letter queue).

use anyhow::Context;

use super::{notify, Db};

/// A queued dead-letter batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    pub id: i64,
    pub log: String,
    pub batch: Vec<u8>,
}

/// Queue `batches` for log `log`, in order, in one transaction, and wake the brokers that
/// append them (a notice on [`notify::MARKERS`], sent when the rows commit).
pub fn enqueue(db: &Db, log: &str, batches: &[&[u8]]) -> anyhow::Result<()> {
    let mut conn = db.conn()?;
    let mut tx = conn.transaction()?;
    tx.execute(
        "INSERT INTO gregor_dead_letters (log, batch)
         SELECT $1, b FROM unnest($2::bytea[]) WITH ORDINALITY AS u(b, n) ORDER BY n",
        &[&log, &batches],
    )
    .context("queueing dead letters")?;
    notify::announce_on_commit(&mut tx, notify::MARKERS)?;
    tx.commit().context("queueing dead letters")?;
    Ok(())
}

/// The queued batches of `logs`, oldest first.
pub fn queued(db: &Db, logs: &[String]) -> anyhow::Result<Vec<Queued>> {
    Ok(db
        .conn()?
        .query(
            "SELECT id, log, batch FROM gregor_dead_letters WHERE log = ANY($1) ORDER BY id",
            &[&logs],
        )?
        .iter()
        .map(|r| Queued {
            id: r.get(0),
            log: r.get(1),
            batch: r.get(2),
        })
        .collect())
}

/// The batch is appended (or has nowhere to go).
pub fn done(db: &Db, id: i64) -> anyhow::Result<()> {
    db.conn()?
        .execute("DELETE FROM gregor_dead_letters WHERE id = $1", &[&id])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pg::testing;

    #[test]
    fn queued_dead_letters_wake_the_appenders_and_are_taken_by_log_in_order_and_done_one_by_one() {
        let pg = testing::database();
        let db = Db::open(&pg.url, std::time::Duration::from_secs(9)).unwrap();
        db.conn()
            .unwrap()
            .batch_execute(
                "INSERT INTO gregor_logs (log, leader, leader_epoch)
                 VALUES ('dlq-0', 1, 1), ('dlq-1', 1, 1)",
            )
            .unwrap();
        let mut appenders = notify::Listener::new(db.clone(), notify::MARKERS);
        assert!(
            !appenders.wait(std::time::Duration::from_millis(1)),
            "listening, nothing queued"
        );
        enqueue(&db, "dlq-1", &[b"a", b"b"]).unwrap();
        assert!(
            appenders.wait(std::time::Duration::from_secs(5)),
            "queueing wakes the appenders"
        );
        enqueue(&db, "dlq-0", &[b"c"]).unwrap();
        let mine = queued(&db, &["dlq-1".to_string()]).unwrap();
        let batches: Vec<&[u8]> = mine.iter().map(|q| q.batch.as_slice()).collect();
        assert_eq!(batches, vec![&b"a"[..], &b"b"[..]]);
        done(&db, mine[0].id).unwrap();
        let left = queued(&db, &["dlq-0".to_string(), "dlq-1".to_string()]).unwrap();
        let left: Vec<(&str, &[u8])> = left
            .iter()
            .map(|q| (q.log.as_str(), q.batch.as_slice()))
            .collect();
        assert_eq!(left, vec![("dlq-1", &b"b"[..]), ("dlq-0", &b"c"[..])]);
        assert!(
            enqueue(&db, "gone-0", &[b"d"]).is_err(),
            "only for a log that exists"
        );
    }
}
