//! ICE-TCP framing: RFC 4571 length prefixes and ice4j's "ssltcp" pseudo-SSL
//! handshake.
//!
//! The two handshake messages are the fixed byte strings of ice4j
//! `harvest/GoogleTurnSSLCandidateHarvester.java` (`SSL_CLIENT_HANDSHAKE`,
//! 72 bytes, an SSLv2-framed ClientHello; `SSL_SERVER_HANDSHAKE`, 79 bytes, a
//! TLS 1.0 ServerHello record). They are protocol constants (from Google's
//! libjingle "ssltcp"), written out here byte by byte.

/// The pseudo-SSL ClientHello a client sends first (72 bytes).
pub const SSLTCP_CLIENT_HELLO: [u8; 72] = [
    0x80, 0x46, // SSLv2 record, length 70
    0x01, // ClientHello
    0x03, 0x01, // TLS 1.0
    0x00, 0x2d, // cipher spec length 45
    0x00, 0x00, // session id length 0
    0x00, 0x10, // challenge length 16
    0x01, 0x00, 0x80, 0x03, 0x00, 0x80, 0x07, 0x00, 0xc0, 0x06, 0x00, 0x40, 0x02, 0x00, 0x80, 0x04,
    0x00, 0x80, 0x00, 0x00, 0x04, 0x00, 0xfe, 0xff, 0x00, 0x00, 0x0a, 0x00, 0xfe, 0xfe, 0x00, 0x00,
    0x09, 0x00, 0x00, 0x64, 0x00, 0x00, 0x62, 0x00, 0x00, 0x03, 0x00, 0x00, 0x06,
    // challenge
    0x1f, 0x17, 0x0c, 0xa6, 0x2f, 0x00, 0x78, 0xfc, 0x46, 0x55, 0x2e, 0xb1, 0x83, 0x39, 0xf1, 0xea,
];

/// The pseudo-SSL ServerHello the bridge answers with (79 bytes).
pub const SSLTCP_SERVER_HELLO: [u8; 79] = [
    0x16, 0x03, 0x01, 0x00, 0x4a, // handshake record, TLS 1.0, length 74
    0x02, 0x00, 0x00, 0x46, // ServerHello, length 70
    0x03, 0x01, // TLS 1.0
    // 32 bytes "random"
    0x42, 0x85, 0x45, 0xa7, 0x27, 0xa9, 0x5d, 0xa0, 0xb3, 0xc5, 0xe7, 0x53, 0xda, 0x48, 0x2b, 0x3f,
    0xc6, 0x5a, 0xca, 0x89, 0xc1, 0x58, 0x52, 0xa1, 0x78, 0x3c, 0x5b, 0x17, 0x46, 0x00, 0x85, 0x3f,
    0x20, // session id length 32
    0x0e, 0xd3, 0x06, 0x72, 0x5b, 0x5b, 0x1b, 0x5f, 0x15, 0xac, 0x13, 0xf9, 0x88, 0x53, 0x9d, 0x9b,
    0xe8, 0x3d, 0x7b, 0x0c, 0x30, 0x32, 0x6e, 0x38, 0x4d, 0xa2, 0x75, 0x57, 0x41, 0x6c, 0x34, 0x5c,
    0x00, 0x04, // TLS_RSA_WITH_RC4_128_MD5
    0x00, // no compression
];

/// RFC 4571: prefix `payload` with its 16-bit length. Payloads over 65535
/// bytes cannot be framed.
pub fn frame(payload: &[u8]) -> Option<Vec<u8>> {
    let len = u16::try_from(payload.len()).ok()?;
    let mut out = Vec::with_capacity(payload.len() + 2);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload);
    Some(out)
}

/// Incremental RFC 4571 de-framer for a byte stream.
#[derive(Debug, Default, Clone)]
pub struct Unframer {
    buf: Vec<u8>,
}

impl Unframer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Add received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Take the next complete frame's payload, if any.
    pub fn next_frame(&mut self) -> Option<Vec<u8>> {
        if self.buf.len() < 2 {
            return None;
        }
        let len = usize::from(u16::from_be_bytes([self.buf[0], self.buf[1]]));
        if self.buf.len() < 2 + len {
            return None;
        }
        let payload = self.buf[2..2 + len].to_vec();
        self.buf.drain(..2 + len);
        Some(payload)
    }

    /// Bytes received but not yet part of a complete frame.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }
}

/// Split a whole buffer into frames; returns the frames and the leftover bytes.
pub fn unframe_all(bytes: &[u8]) -> (Vec<Vec<u8>>, Vec<u8>) {
    let mut u = Unframer::new();
    u.push(bytes);
    let mut frames = Vec::new();
    while let Some(f) = u.next_frame() {
        frames.push(f);
    }
    (frames, u.buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// GoogleTurnSSLCandidateHarvester: 72-byte client hello announcing 70
    /// bytes (SSLv2 header 0x8046), 79-byte server hello announcing 74.
    #[test]
    fn handshake_constants_are_self_consistent() {
        assert_eq!(SSLTCP_CLIENT_HELLO.len(), 72);
        assert_eq!(usize::from(SSLTCP_CLIENT_HELLO[1]), 72 - 2);
        assert_eq!(SSLTCP_SERVER_HELLO.len(), 79);
        assert_eq!(usize::from(SSLTCP_SERVER_HELLO[4]), 79 - 5);
        assert_eq!(usize::from(SSLTCP_SERVER_HELLO[8]), 79 - 9);
    }

    #[test]
    fn frame_unframe() {
        let mut u = Unframer::new();
        let a = frame(b"hello").unwrap();
        let b = frame(b"").unwrap();
        let mut all = a.clone();
        all.extend_from_slice(&b);
        all.extend_from_slice(&[0, 3, b'x']);
        u.push(&all[..3]);
        assert_eq!(u.next_frame(), None);
        u.push(&all[3..]);
        assert_eq!(u.next_frame().as_deref(), Some(&b"hello"[..]));
        assert_eq!(u.next_frame().as_deref(), Some(&b""[..]));
        assert_eq!(u.next_frame(), None);
        assert_eq!(u.pending(), 3);
        assert!(frame(&vec![0; 70000]).is_none());
        let (frames, rest) = unframe_all(&all);
        assert_eq!(frames.len(), 2);
        assert_eq!(rest, vec![0, 3, b'x']);
    }
}
