//! W3C trace context (`traceparent`) propagation between events.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

/// `00-<trace-id: 32 hex>-<parent-id: 16 hex>-<flags: 2 hex>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    trace_id: u128,
    parent_id: u64,
    flags: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid traceparent {0:?}: expected 00-<32 hex>-<16 hex>-<2 hex>, non-zero ids")]
pub struct InvalidTraceParent(pub String);

impl TraceParent {
    /// A new sampled trace.
    pub fn new_root() -> Self {
        let trace_id = rand::random::<u128>().max(1);
        TraceParent { trace_id, parent_id: rand::random::<u64>().max(1), flags: 1 }
    }

    /// The same trace, one hop further: the span id comes from the child event's
    /// id so a re-published event carries the same trace context.
    pub fn child(&self, event_id: Uuid) -> Self {
        let span = (event_id.as_u128() as u64).max(1);
        TraceParent { parent_id: span, ..*self }
    }

    pub fn trace_id(&self) -> String {
        format!("{:032x}", self.trace_id)
    }

    pub fn parent_id(&self) -> String {
        format!("{:016x}", self.parent_id)
    }

    /// X-Ray form (`Root=1-<8 hex>-<24 hex>;Parent=<16 hex>;Sampled=<0|1>`), as Lambda sets `_X_AMZN_TRACE_ID`.
    pub fn to_xray(&self) -> String {
        let hex = self.trace_id();
        format!("Root=1-{}-{};Parent={};Sampled={}", &hex[..8], &hex[8..], self.parent_id(), self.flags & 1)
    }
}

impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "00-{:032x}-{:016x}-{:02x}", self.trace_id, self.parent_id, self.flags)
    }
}

impl FromStr for TraceParent {
    type Err = InvalidTraceParent;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidTraceParent(s.to_owned());
        let parts: Vec<&str> = s.trim().split('-').collect();
        let [version, trace, parent, flags] = parts.as_slice() else { return Err(invalid()) };
        let hex_of = |p: &str, len: usize| p.len() == len && p.bytes().all(|b| b.is_ascii_hexdigit());
        if !(hex_of(version, 2) && *version != "ff" && hex_of(trace, 32) && hex_of(parent, 16) && hex_of(flags, 2)) {
            return Err(invalid());
        }
        let trace_id = u128::from_str_radix(trace, 16).map_err(|_| invalid())?;
        let parent_id = u64::from_str_radix(parent, 16).map_err(|_| invalid())?;
        let flags = u8::from_str_radix(flags, 16).map_err(|_| invalid())?;
        if trace_id == 0 || parent_id == 0 {
            return Err(invalid());
        }
        Ok(TraceParent { trace_id, parent_id, flags })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_the_w3c_example() {
        let s = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let t: TraceParent = s.parse().unwrap();
        assert_eq!(t.to_string(), s);
        assert_eq!(t.to_xray(), "Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=00f067aa0ba902b7;Sampled=1");
    }

    #[test]
    fn rejects_malformed_values() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
        ] {
            assert!(bad.parse::<TraceParent>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn new_roots_are_valid_and_distinct() {
        let (a, b) = (TraceParent::new_root(), TraceParent::new_root());
        assert_ne!(a.trace_id(), b.trace_id());
        assert_eq!(a.to_string().parse::<TraceParent>().unwrap(), a);
    }
}
