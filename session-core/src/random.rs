//! Randomness from the operating system's CSPRNG, the only source this crate
//! uses for ids and keys.

/// `N` bytes from the OS CSPRNG.
///
/// If the OS cannot provide randomness the process cannot issue safe ids at
/// all, so this aborts the current operation with a panic rather than
/// returning weak bytes; it never depends on request data.
pub(crate) fn bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    if let Err(e) = getrandom::fill(&mut buf) {
        panic!("the operating system's random number generator failed: {e}");
    }
    buf
}
