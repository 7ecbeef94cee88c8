//! The hashes the model file depends on. They are part of the file format: changing any of
//! them changes which embedding row an entity or an address prefix uses, so they are written
//! out here instead of borrowed from a crate whose output may change between versions.

/// FNV-1a 64-bit offset basis.
pub const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
/// FNV-1a 64-bit prime.
pub const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Seeded FNV-1a (64 bit): the offset basis is XORed with `seed`, then each byte is XORed in
/// and multiplied by the FNV prime.
pub fn fnv1a64(seed: u64, bytes: &[u8]) -> u64 {
    let mut h = FNV_OFFSET ^ seed;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

/// The SplitMix64 finalizer. FNV's low and high bits are poorly mixed for short keys; this
/// spreads every input bit over the whole word before it is reduced to a row index.
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Maps a 64-bit hash uniformly onto `0..n` with a multiply and a shift (Lemire's reduction)
/// instead of a division.
pub fn reduce(h: u64, n: u64) -> u64 {
    ((u128::from(h) * u128::from(n)) >> 64) as u64
}

/// The embedding row of an entity: `reduce(mix64(fnv1a64(seed, entity)), num_rows)`.
pub fn entity_row(seed: u64, entity: &str, num_rows: u64) -> u64 {
    reduce(mix64(fnv1a64(seed, entity.as_bytes())), num_rows)
}

/// A fast checksum of tensor bytes: FNV-1a over little-endian 64-bit words (then over the
/// trailing bytes), so that it runs at several GB/s while still catching flipped bits.
pub fn checksum(bytes: &[u8]) -> u64 {
    let mut h = FNV_OFFSET;
    let mut words = bytes.chunks_exact(8);
    for w in &mut words {
        let mut a = [0u8; 8];
        a.copy_from_slice(w);
        h ^= u64::from_le_bytes(a);
        h = h.wrapping_mul(FNV_PRIME);
    }
    for &b in words.remainder() {
        h ^= u64::from(b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_reference_vectors() {
        // Published FNV-1a 64 test vectors (seed 0 is plain FNV-1a).
        assert_eq!(fnv1a64(0, b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(0, b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(0, b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn rows_are_stable_across_builds() {
        // Pinned values: if these change, every saved model scores differently.
        assert_eq!(mix64(0), 0);
        assert_eq!(mix64(1), 0x5692_161d_100b_05e5);
        let r = entity_row(0x1234, "i-0dee580a031e28c14", 20_000);
        assert_eq!(r, entity_row(0x1234, "i-0dee580a031e28c14", 20_000));
        assert!(r < 20_000);
        assert_eq!(reduce(u64::MAX, 10), 9);
        assert_eq!(reduce(0, 10), 0);
    }

    #[test]
    fn checksum_sees_every_byte() {
        let a = vec![0u8; 20];
        let mut b = a.clone();
        b[19] = 1;
        let mut c = a.clone();
        c[3] = 1;
        assert_ne!(checksum(&a), checksum(&b));
        assert_ne!(checksum(&a), checksum(&c));
    }
}
