//! The connection's unit tests.
#[test]
#[cfg(feature = "cluster")]
fn slots_follow_redis() {
    // Values from the Redis Cluster specification and CLUSTER KEYSLOT.
    assert_eq!(super::slot_of("123456789"), 12_739);
    assert_eq!(super::slot_of("foo"), 12_182);
    assert_eq!(super::slot_of("p:{b7}:s:x"), super::slot_of("b7"));
}
