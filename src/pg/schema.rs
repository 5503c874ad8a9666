//! The cluster's tables and their versioned migrations, applied by the brokers themselves at
//! start-up. Several brokers may start at once: each takes the same transaction-scoped
//! advisory lock before looking at the version, so one migrates and the others then find
//! the schema current.

use r2d2_postgres::postgres::Client;

/// Any constant the cluster's brokers agree on ("gregor" in ASCII).
const MIGRATION_LOCK: i64 = 0x6772_6567_6f72;

/// Migration n (1-based) brings the schema from version n-1 to n. Append only: a released
/// migration is never edited (a broker of that version may have applied it).
const MIGRATIONS: &[&str] = &[
    // 1: metadata as key-value pairs (the `KvStore` every service writes), node ids, and the
    // partition logs: who leads each (with its epoch, the fence every append checks), its
    // segments, one row per appended record batch (as the producer sent it, offsets
    // rewritten), each segment's indexes and the log's small checkpoints.
    r#"
    CREATE TABLE gregor_kv (
        key bytea PRIMARY KEY,
        value bytea NOT NULL
    );
    CREATE SEQUENCE gregor_node_ids;
    CREATE TABLE gregor_logs (
        log text PRIMARY KEY,
        leader int NOT NULL,
        leader_epoch int NOT NULL
    );
    CREATE TABLE gregor_segments (
        log text NOT NULL REFERENCES gregor_logs ON DELETE CASCADE,
        base_offset bigint NOT NULL,
        offset_index bytea,
        time_index bytea,
        PRIMARY KEY (log, base_offset)
    );
    CREATE TABLE gregor_batches (
        log text NOT NULL,
        segment bigint NOT NULL,
        pos bigint NOT NULL,
        base_offset bigint NOT NULL,
        data bytea NOT NULL,
        PRIMARY KEY (log, segment, pos),
        FOREIGN KEY (log, segment) REFERENCES gregor_segments ON DELETE CASCADE
    );
    CREATE TABLE gregor_checkpoints (
        log text NOT NULL REFERENCES gregor_logs ON DELETE CASCADE,
        name text NOT NULL,
        value bytea NOT NULL,
        PRIMARY KEY (log, name)
    );
    "#,
    // 2: leases (the active broker's; see `lease.rs`), held until `expires` on the
    // database's clock.
    r#"
    CREATE TABLE gregor_leases (
        name text PRIMARY KEY,
        node_id int NOT NULL,
        incarnation uuid NOT NULL,
        expires timestamptz NOT NULL
    );
    "#,
    // 3: several active brokers. Each registers its advertised listeners (live while its
    // `broker/<id>` lease is); each partition has a preferred leader (where it was placed,
    // led again once that broker is back); leader epochs come from one sequence, so a
    // partition's epochs only grow, also across a delete and re-create of its topic. The one
    // active broker's lease of version 2 is gone.
    r#"
    CREATE TABLE gregor_brokers (
        node_id int PRIMARY KEY,
        listeners text NOT NULL,
        registered timestamptz NOT NULL
    );
    ALTER TABLE gregor_logs ADD COLUMN preferred int;
    UPDATE gregor_logs SET preferred = leader;
    CREATE SEQUENCE gregor_leader_epochs;
    SELECT setval('gregor_leader_epochs',
                  (SELECT coalesce(max(leader_epoch), 0) + 1 FROM gregor_logs), false);
    DELETE FROM gregor_leases WHERE name = 'active';
    "#,
    // 4: transaction markers the coordinator asks the leaders of other brokers' partitions to
    // write (see `markers.rs`); a row goes once its marker is durable.
    r#"
    CREATE TABLE gregor_markers (
        id bigserial PRIMARY KEY,
        log text NOT NULL,
        producer_id bigint NOT NULL,
        producer_epoch smallint NOT NULL,
        commit boolean NOT NULL
    );
    CREATE INDEX gregor_markers_log ON gregor_markers (log);
    "#,
    // 5: which opening of a log writes to it (a fresh id per open): every commit checks it
    // beside the leader and epoch, so a log opened again by its leader at the same epoch
    // fences the copy opened before (two writers at one epoch would write the same positions).
    r#"
    ALTER TABLE gregor_logs ADD COLUMN opened uuid;
    "#,
    // 6: the topic catalog's version (see `catalog.rs`), bumped by a trigger on every write
    // of a topic record (`gregor_kv` keys starting `topic/`, hex 746f7069632f) whoever
    // writes it.
    r#"
    CREATE TABLE gregor_catalog (version bigint NOT NULL);
    INSERT INTO gregor_catalog VALUES (0);
    CREATE FUNCTION gregor_catalog_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE gregor_catalog SET version = version + 1;
        RETURN NULL;
    END
    $$;
    CREATE TRIGGER gregor_topic_written AFTER INSERT OR UPDATE ON gregor_kv FOR EACH ROW
        WHEN (substring(NEW.key FROM 1 FOR 6) = '\x746f7069632f'::bytea)
        EXECUTE FUNCTION gregor_catalog_changed();
    CREATE TRIGGER gregor_topic_deleted AFTER DELETE ON gregor_kv FOR EACH ROW
        WHEN (substring(OLD.key FROM 1 FOR 6) = '\x746f7069632f'::bytea)
        EXECUTE FUNCTION gregor_catalog_changed();
    "#,
    // 7: share-partition state (KIP-932; see `store/share_states_pg.rs`), written by each
    // partition's leader under the log's fence (its `gregor_logs` row, checked in the same
    // transaction), read, reset and deleted by the group coordinator. `state` is the leader's
    // state record (JSON), `start_offset` a copy of its start for SQL. State epochs come from
    // one sequence, so a reset or a delete and re-create never reuses one a stale copy holds;
    // a deleted log takes its share states with it.
    r#"
    CREATE SEQUENCE gregor_share_state_epochs;
    CREATE TABLE gregor_share_states (
        grp text NOT NULL,
        topic_id uuid NOT NULL,
        part int NOT NULL,
        log text NOT NULL REFERENCES gregor_logs ON DELETE CASCADE,
        state_epoch bigint NOT NULL DEFAULT nextval('gregor_share_state_epochs'),
        leader_epoch int NOT NULL,
        start_offset bigint NOT NULL,
        state bytea NOT NULL,
        written timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (grp, topic_id, part)
    );
    CREATE INDEX gregor_share_states_log ON gregor_share_states (log);
    "#,
    // 8: record batches compressed with lz4 instead of pglz when PostgreSQL moves them out of
    // line (TOAST; rows over ~2 kB): 4x less CPU than pglz and half the time of no compression
    // (less WAL for the standbys) on JSON-like batches, about pglz's size. Rows written before
    // keep pglz. A server built without lz4 (or older than 14) keeps pglz.
    r#"
    DO $$
    BEGIN
        ALTER TABLE gregor_batches ALTER COLUMN data SET COMPRESSION lz4;
    EXCEPTION WHEN feature_not_supported OR syntax_error THEN
        RAISE NOTICE 'gregor_batches.data keeps pglz: %', SQLERRM;
    END
    $$;
    "#,
    // 9: share groups' dead letters for a dead-letter partition another broker leads (see
    // `pg/dead_letters.rs`): record batches queued by the source partition's leader, appended
    // by the dead-letter partition's leader, then deleted.
    r#"
    CREATE TABLE gregor_dead_letters (
        id bigserial PRIMARY KEY,
        log text NOT NULL REFERENCES gregor_logs ON DELETE CASCADE,
        batch bytea NOT NULL
    );
    CREATE INDEX gregor_dead_letters_log ON gregor_dead_letters (log);
    "#,
    // 10: transactions v2 across brokers (see `pg/txn_adds.rs`): a partition leader that does
    // not coordinate transactions asks the coordinator to add a Produce's partitions to the
    // producer's transaction; `error` is the coordinator's answer (NULL until answered).
    r#"
    CREATE TABLE gregor_txn_adds (
        id bigserial PRIMARY KEY,
        transactional_id text NOT NULL,
        producer_id bigint NOT NULL,
        producer_epoch smallint NOT NULL,
        topics text[] NOT NULL,
        partitions int[] NOT NULL,
        asked_at timestamptz NOT NULL DEFAULT now(),
        error smallint
    );
    "#,
];

/// Bring the schema to the newest version; refuse a database a newer gregor has migrated.
pub(super) fn migrate(client: &mut Client) -> anyhow::Result<()> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    // "relation already exists, skipping" on every start is not news.
    tx.batch_execute("SET LOCAL client_min_messages = warning")?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS gregor_schema (
            version int PRIMARY KEY,
            applied_at timestamptz NOT NULL DEFAULT now()
        )",
    )?;
    let current: i32 = tx
        .query_one("SELECT coalesce(max(version), 0) FROM gregor_schema", &[])?
        .get(0);
    let known = MIGRATIONS.len() as i32;
    if current > known {
        anyhow::bail!(
            "the database's schema is version {current}, newer than this gregor knows ({known})"
        );
    }
    for (version, sql) in (1..).zip(MIGRATIONS).skip(current as usize) {
        tx.batch_execute(sql)?;
        tx.execute(
            "INSERT INTO gregor_schema (version) VALUES ($1)",
            &[&version],
        )?;
        tracing::info!(version, "migrated the cluster's schema");
    }
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pg::testing;

    #[test]
    fn brokers_starting_at_once_migrate_once() {
        let pg = testing::database();
        let migrated: Vec<_> = std::thread::scope(|s| {
            let runs: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| {
                        let mut client = pg.client();
                        migrate(&mut client)
                    })
                })
                .collect();
            runs.into_iter().map(|r| r.join().unwrap()).collect()
        });
        assert!(migrated.iter().all(Result::is_ok), "{migrated:?}");
        let mut client = pg.client();
        let versions: Vec<i32> = client
            .query("SELECT version FROM gregor_schema ORDER BY version", &[])
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(versions, (1..=MIGRATIONS.len() as i32).collect::<Vec<_>>());
        // A database from a newer gregor is refused, not downgraded.
        client
            .execute("INSERT INTO gregor_schema (version) VALUES (1000)", &[])
            .unwrap();
        let err = migrate(&mut client).unwrap_err().to_string();
        assert!(err.contains("newer"), "{err}");
    }

    /// Debian's PostgreSQL is built with lz4: a large batch row is stored lz4-compressed.
    #[test]
    fn record_batches_are_compressed_with_lz4() {
        let pg = testing::database();
        let mut client = pg.client();
        migrate(&mut client).unwrap();
        client
            .batch_execute(
                "INSERT INTO gregor_logs (log, leader, leader_epoch) VALUES ('t-0', 1, 0);
                 INSERT INTO gregor_segments (log, base_offset) VALUES ('t-0', 0);",
            )
            .unwrap();
        let batch = br#"{"order_id":1,"status":"paid"}"#.repeat(4_000);
        client
            .execute(
                "INSERT INTO gregor_batches (log, segment, pos, base_offset, data)
                 VALUES ('t-0', 0, 0, 0, $1)",
                &[&batch],
            )
            .unwrap();
        let row = client
            .query_one(
                "SELECT pg_column_compression(data), pg_column_size(data), length(data)
                 FROM gregor_batches",
                &[],
            )
            .unwrap();
        let (method, stored, len): (Option<String>, i32, i32) =
            (row.get(0), row.get(1), row.get(2));
        assert_eq!(method.as_deref(), Some("lz4"));
        assert!(stored < len / 4, "stored {stored} of {len} bytes");
    }
}
