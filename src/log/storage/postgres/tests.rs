//! Pure helpers of the PostgreSQL medium (the medium itself runs the conformance suite).

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
