//! Transactions v2 across brokers (cluster mode). A Produce v12 adds its partitions to the
//! producer's transaction on the partition's leader (KIP-890 part 2); a leader that does not
//! coordinate transactions asks the coordinator here: one row per request, announced on
//! [`notify::TXN_ADDS`]. The coordinator takes the unanswered rows, adds the partitions
//! (durable before it answers) and writes the error code back; the leader polls its row for
//! the answer and deletes it. The database stays the only channel between brokers, as for the
//! markers that go the other way (`pg::markers`).

use std::time::{Duration, Instant};

use anyhow::Context;

use super::{notify, Db};

/// A request nobody has answered or read for this long is dropped (its leader gave up).
const STALE: &str = "1 minute";

/// The first and the longest pause between two looks at a row's answer.
const FIRST_POLL: Duration = Duration::from_millis(2);
const MAX_POLL: Duration = Duration::from_millis(25);

/// A leader's request: add `partitions` to the transaction of (producer id, epoch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddRequest {
    pub id: i64,
    pub transactional_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub partitions: Vec<(String, i32)>,
}

/// Queue a request and wake the coordinator (the notice goes when the row commits); its id.
pub fn enqueue(
    db: &Db,
    transactional_id: &str,
    producer_id: i64,
    producer_epoch: i16,
    partitions: &[(String, i32)],
) -> anyhow::Result<i64> {
    let (topics, indexes): (Vec<&str>, Vec<i32>) =
        partitions.iter().map(|(t, i)| (t.as_str(), *i)).unzip();
    let mut conn = db.conn()?;
    let mut tx = conn.transaction()?;
    let row = tx
        .query_one(
            "INSERT INTO gregor_txn_adds
                 (transactional_id, producer_id, producer_epoch, topics, partitions)
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
            &[
                &transactional_id,
                &producer_id,
                &producer_epoch,
                &topics,
                &indexes,
            ],
        )
        .context("queueing a transaction add")?;
    notify::announce_on_commit(&mut tx, notify::TXN_ADDS)?;
    tx.commit().context("queueing a transaction add")?;
    Ok(row.get(0))
}

/// The requests not answered yet, oldest first; requests gone stale are dropped first.
pub fn unanswered(db: &Db) -> anyhow::Result<Vec<AddRequest>> {
    let mut conn = db.conn()?;
    conn.execute(
        &format!("DELETE FROM gregor_txn_adds WHERE asked_at < now() - interval '{STALE}'"),
        &[],
    )?;
    let rows = conn.query(
        "SELECT id, transactional_id, producer_id, producer_epoch, topics, partitions
         FROM gregor_txn_adds WHERE error IS NULL ORDER BY id",
        &[],
    )?;
    Ok(rows
        .iter()
        .map(|r| {
            let topics: Vec<String> = r.get(4);
            let indexes: Vec<i32> = r.get(5);
            AddRequest {
                id: r.get(0),
                transactional_id: r.get(1),
                producer_id: r.get(2),
                producer_epoch: r.get(3),
                partitions: topics.into_iter().zip(indexes).collect(),
            }
        })
        .collect())
}

/// The coordinator's answers: (request id, Kafka error code, 0 for none).
pub fn answer(db: &Db, answers: &[(i64, i16)]) -> anyhow::Result<()> {
    let (ids, errors): (Vec<i64>, Vec<i16>) = answers.iter().copied().unzip();
    db.conn()?.execute(
        "UPDATE gregor_txn_adds a SET error = u.error
         FROM unnest($1::bigint[], $2::smallint[]) AS u(id, error) WHERE a.id = u.id",
        &[&ids, &errors],
    )?;
    Ok(())
}

/// The answer to request `id`, if any yet.
fn answer_of(db: &Db, id: i64) -> anyhow::Result<Option<i16>> {
    let row = db
        .conn()?
        .query_opt("SELECT error FROM gregor_txn_adds WHERE id = $1", &[&id])?;
    Ok(row.and_then(|r| r.get(0)))
}

fn forget(db: &Db, id: i64) -> anyhow::Result<()> {
    db.conn()?
        .execute("DELETE FROM gregor_txn_adds WHERE id = $1", &[&id])?;
    Ok(())
}

/// Ask the coordinator and wait up to `timeout` for its answer (None: no answer in time).
/// The request is gone afterwards either way; one answered after the leader gave up has
/// added partitions no batch was appended to, which their markers then close.
pub fn request(
    db: &Db,
    transactional_id: &str,
    producer_id: i64,
    producer_epoch: i16,
    partitions: &[(String, i32)],
    timeout: Duration,
) -> anyhow::Result<Option<i16>> {
    let id = enqueue(
        db,
        transactional_id,
        producer_id,
        producer_epoch,
        partitions,
    )?;
    let deadline = Instant::now() + timeout;
    let mut pause = FIRST_POLL;
    let answer = loop {
        std::thread::sleep(pause);
        match answer_of(db, id) {
            Ok(Some(code)) => break Ok(Some(code)),
            Ok(None) if Instant::now() >= deadline => break Ok(None),
            Ok(None) => pause = (pause * 2).min(MAX_POLL),
            Err(e) => break Err(e),
        }
    };
    forget(db, id)?;
    answer
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pg::testing;

    #[test]
    fn a_request_wakes_the_coordinator_and_gets_its_answer() {
        let pg = testing::database();
        let db = Db::open(&pg.url, Duration::from_secs(9)).unwrap();
        let mut coordinator = notify::Listener::new(db.clone(), notify::TXN_ADDS);
        assert!(
            !coordinator.wait(Duration::from_millis(1)),
            "nothing asked yet"
        );
        let partitions = vec![("t".to_string(), 0), ("u".to_string(), 3)];
        let asking = {
            let (db, partitions) = (db.clone(), partitions.clone());
            std::thread::spawn(move || {
                request(&db, "tx", 7, 2, &partitions, Duration::from_secs(10))
            })
        };
        assert!(coordinator.wait(Duration::from_secs(5)), "asking wakes it");
        let asked = unanswered(&db).unwrap();
        assert_eq!(
            asked,
            vec![AddRequest {
                id: asked[0].id,
                transactional_id: "tx".into(),
                producer_id: 7,
                producer_epoch: 2,
                partitions,
            }]
        );
        answer(&db, &[(asked[0].id, 48)]).unwrap();
        assert!(unanswered(&db).unwrap().is_empty(), "answered");
        assert_eq!(asking.join().unwrap().unwrap(), Some(48));
        let left: i64 = db
            .conn()
            .unwrap()
            .query_one("SELECT count(*) FROM gregor_txn_adds", &[])
            .unwrap()
            .get(0);
        assert_eq!(left, 0, "the leader deletes its request once answered");
    }

    #[test]
    fn an_unanswered_request_times_out_and_is_gone() {
        let pg = testing::database();
        let db = Db::open(&pg.url, Duration::from_secs(9)).unwrap();
        let answer = request(
            &db,
            "tx",
            7,
            2,
            &[("t".into(), 0)],
            Duration::from_millis(50),
        );
        assert_eq!(answer.unwrap(), None);
        assert!(unanswered(&db).unwrap().is_empty());
    }
}
