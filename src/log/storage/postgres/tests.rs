//! Pure helpers of the PostgreSQL medium, and the fence between two openings of one log (the
//! medium itself runs the conformance suite).

use super::*;

#[test]
fn batches_are_split_at_their_lengths() {
    let mut data = vec![0u8; 12 + 3];
    data[8..12].copy_from_slice(&3i32.to_be_bytes());
    let mut second = vec![0u8; 12 + 1];
    second[..8].copy_from_slice(&7i64.to_be_bytes());
    second[8..12].copy_from_slice(&1i32.to_be_bytes());
    data.extend_from_slice(&second);
    data.extend_from_slice(&[0, 0, 0]); // torn
    let split = split_batches(&data);
    assert_eq!(split.len(), 2);
    assert_eq!((split[0].0, split[0].1.len()), (0, 15));
    assert_eq!((split[1].0, split[1].1.len()), (15, 13));
    assert_eq!(base_offset_of(&split[1].1), 7);
    assert_eq!(base_offset_of(&[1, 2]), -1);
}

/// The leader opening a log again at the same epoch (a reopened partition) fences the copy it
/// opened before: that one's next commit is refused, the new one's goes through, and nothing
/// of the refused commit reaches the database.
#[test]
fn a_second_opening_at_one_epoch_fences_the_first() {
    let pg = crate::pg::testing::database();
    let db = Db::open(&pg.url, std::time::Duration::from_secs(9)).unwrap();
    let cache = tempfile::TempDir::new().unwrap();
    let logs = PgLogs::new(db, 1, cache.path().join("cache")).unwrap();
    let first = logs.open("t-0").unwrap();
    first.write_checkpoint("kept", b"1").unwrap();
    let second = logs.open_led("t-0", first.leader_epoch()).unwrap();
    assert_eq!(second.leader_epoch(), first.leader_epoch());
    let refused = first.write_checkpoint("lost", b"2").unwrap_err();
    assert!(
        refused.get_ref().is_some_and(|e| e.is::<Fenced>()),
        "{refused}"
    );
    second.write_checkpoint("later", b"3").unwrap();
    let third = logs.open_led("t-0", first.leader_epoch()).unwrap();
    assert_eq!(third.read_checkpoint("kept").unwrap(), Some(b"1".to_vec()));
    assert_eq!(third.read_checkpoint("later").unwrap(), Some(b"3".to_vec()));
    assert_eq!(third.read_checkpoint("lost").unwrap(), None);
}
