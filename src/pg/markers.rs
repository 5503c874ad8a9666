//! Transaction markers across brokers (cluster mode): the transaction coordinator writes the
//! markers of the partitions it leads itself and queues the others here, one row per
//! partition; each broker takes the rows of the partitions it leads, writes their markers and
//! deletes a row once its marker is durable. The coordinator completes the transaction only
//! when all its rows are gone. Queueing notifies [`notify::MARKERS`], on which the writers wait.

use anyhow::Context;

use super::{notify, Db};

/// A marker to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    pub id: i64,
    pub log: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub commit: bool,
}

/// Queue markers for `logs` and wake the brokers that write them (a notice on
/// [`notify::MARKERS`], sent when the rows commit); their row ids.
pub fn enqueue(
    db: &Db,
    logs: &[String],
    producer_id: i64,
    producer_epoch: i16,
    commit: bool,
) -> anyhow::Result<Vec<i64>> {
    let mut conn = db.conn()?;
    let mut tx = conn.transaction()?;
    let rows = tx
        .query(
            "INSERT INTO gregor_markers (log, producer_id, producer_epoch, commit)
             SELECT unnest($1::text[]), $2, $3, $4 RETURNING id",
            &[&logs, &producer_id, &producer_epoch, &commit],
        )
        .context("queueing transaction markers")?;
    notify::announce_on_commit(&mut tx, notify::MARKERS)?;
    tx.commit().context("queueing transaction markers")?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// How many of `ids` are still to be written.
pub fn pending(db: &Db, ids: &[i64]) -> anyhow::Result<i64> {
    Ok(db
        .conn()?
        .query_one(
            "SELECT count(*) FROM gregor_markers WHERE id = ANY($1)",
            &[&ids],
        )?
        .get(0))
}

/// The queued markers of `logs`, oldest first.
pub fn queued(db: &Db, logs: &[String]) -> anyhow::Result<Vec<Marker>> {
    Ok(db
        .conn()?
        .query(
            "SELECT id, log, producer_id, producer_epoch, commit FROM gregor_markers
             WHERE log = ANY($1) ORDER BY id",
            &[&logs],
        )?
        .iter()
        .map(|r| Marker {
            id: r.get(0),
            log: r.get(1),
            producer_id: r.get(2),
            producer_epoch: r.get(3),
            commit: r.get(4),
        })
        .collect())
}

/// The marker is written (or has nothing left to mark).
pub fn done(db: &Db, id: i64) -> anyhow::Result<()> {
    db.conn()?
        .execute("DELETE FROM gregor_markers WHERE id = $1", &[&id])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pg::testing;

    #[test]
    fn queued_markers_wake_the_writers_and_are_taken_by_log_and_done_one_by_one() {
        let pg = testing::database();
        let db = Db::open(&pg.url, std::time::Duration::from_secs(9)).unwrap();
        let logs = vec!["t-0".to_string(), "t-1".to_string()];
        let mut writers = notify::Listener::new(db.clone(), notify::MARKERS);
        assert!(
            !writers.wait(std::time::Duration::from_millis(1)),
            "listening, nothing queued"
        );
        let ids = enqueue(&db, &logs, 7, 2, true).unwrap();
        assert!(
            writers.wait(std::time::Duration::from_secs(5)),
            "queueing wakes the writers"
        );
        assert_eq!(ids.len(), 2);
        assert_eq!(pending(&db, &ids).unwrap(), 2);
        let mine = queued(&db, &["t-1".to_string()]).unwrap();
        assert_eq!(
            mine,
            vec![Marker {
                id: ids[1],
                log: "t-1".into(),
                producer_id: 7,
                producer_epoch: 2,
                commit: true
            }]
        );
        done(&db, mine[0].id).unwrap();
        assert_eq!(pending(&db, &ids).unwrap(), 1);
        done(&db, ids[0]).unwrap();
        assert_eq!(pending(&db, &ids).unwrap(), 0);
    }
}
