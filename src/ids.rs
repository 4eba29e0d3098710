//! Per-call random identifiers: request IDs (UUIDv4 text) and W3C trace and
//! span IDs.
//!
//! They come from fastrand's per-thread generator, not from the operating
//! system: `Uuid::new_v4` asks getrandom, one system call per ID, on every
//! call's path. These IDs name calls in logs and traces; they guard nothing,
//! so they need to be unique, not unpredictable.

/// A random UUIDv4 in its 36-character hyphenated lower-case form.
pub fn request_id() -> String {
    let uuid = uuid::Builder::from_random_bytes(fastrand::u128(..).to_le_bytes()).into_uuid();
    uuid.hyphenated()
        .encode_lower(&mut uuid::Uuid::encode_buffer())
        .to_owned()
}

/// A W3C trace ID. It is kept as a number and written out (32 lower-case hex
/// digits) only where a log line or header needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceId(pub u128);

impl TraceId {
    /// A random, non-zero trace ID.
    pub fn random() -> TraceId {
        TraceId(fastrand::u128(1..))
    }
}

impl std::fmt::Display for TraceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut hex = [0u8; 32];
        write_hex(&mut hex, self.0);
        f.write_str(std::str::from_utf8(&hex).expect("hex digits are ASCII"))
    }
}

/// Writes the low `dst.len()` hex digits of `value` into `dst`, lower case.
/// By hand because trace IDs are written on every call (log line and
/// `traceparent`), and `format!`'s padding machinery costs several times more.
pub fn write_hex(dst: &mut [u8], mut value: u128) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for digit in dst.iter_mut().rev() {
        *digit = DIGITS[(value & 0xf) as usize];
        value >>= 4;
    }
}

/// A random, non-zero W3C span ID (8 bytes).
pub fn span_id() -> u64 {
    fastrand::u64(1..)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_version_4_uuids_and_differ() {
        let a = request_id();
        let parsed = uuid::Uuid::parse_str(&a).unwrap();
        assert_eq!(parsed.get_version_num(), 4);
        assert_eq!(a, parsed.hyphenated().to_string());
        assert_ne!(a, request_id());
    }

    #[test]
    fn trace_ids_print_as_32_hex_digits() {
        assert_eq!(TraceId(0xab).to_string(), format!("{}ab", "0".repeat(30)));
        assert_ne!(TraceId::random().0, 0);
    }
}
