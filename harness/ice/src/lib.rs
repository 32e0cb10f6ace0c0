//! ice4j's observable rules (filled in by the ICE work).
