//! Test data shared by this crate's unit tests.

/// An endless xorshift64 sequence from `seed`: deterministic test data
/// without a dependency.
pub(crate) fn xorshift(seed: u64) -> impl Iterator<Item = u64> {
    let mut x = seed | 1;
    std::iter::repeat_with(move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    })
}

/// `len` incompressible bytes from `seed`.
pub(crate) fn noise(seed: u64, len: usize) -> Vec<u8> {
    xorshift(seed).map(|x| x as u8).take(len).collect()
}
