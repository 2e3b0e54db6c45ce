//! The frame a byte transport (Redis) puts around each payload: who sent it, and whether the
//! sender must skip it, since such transports deliver a node's own broadcasts back to it.

use bytes::{BufMut, Bytes, BytesMut};

use super::NodeId;

const VERSION: u8 = 1;
const SKIP_SENDER: u8 = 1;

/// A decoded frame.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Envelope {
    pub(crate) from: NodeId,
    pub(crate) skip_sender: bool,
    pub(crate) payload: Bytes,
}

/// The sender's side of the frame: its id, checked once to fit the frame's u16 length field.
#[derive(Debug)]
pub(crate) struct FrameSender {
    id: NodeId,
    id_len: u16,
}

impl FrameSender {
    /// `None` when `id` is longer than 65,535 bytes.
    pub(crate) fn new(id: &NodeId) -> Option<Self> {
        let id_len = u16::try_from(id.as_str().len()).ok()?;
        Some(FrameSender {
            id: id.clone(),
            id_len,
        })
    }

    /// `[version][flags][sender length: u16 big-endian][sender][payload]`.
    pub(crate) fn encode(&self, skip_sender: bool, payload: &[u8]) -> Bytes {
        let mut out = BytesMut::with_capacity(4 + usize::from(self.id_len) + payload.len());
        out.put_u8(VERSION);
        out.put_u8(if skip_sender { SKIP_SENDER } else { 0 });
        out.put_u16(self.id_len);
        out.put_slice(self.id.as_str().as_bytes());
        out.put_slice(payload);
        out.freeze()
    }
}

/// Reads a frame; `None` for anything that is not one (another program on the same channel,
/// or a newer version).
pub(crate) fn decode(frame: &[u8]) -> Option<Envelope> {
    let (&version, rest) = frame.split_first()?;
    if version != VERSION {
        return None;
    }
    let (&flags, rest) = rest.split_first()?;
    let (len, rest) = rest.split_first_chunk::<2>()?;
    let len = usize::from(u16::from_be_bytes(*len));
    if rest.len() < len {
        return None;
    }
    let (id, payload) = rest.split_at(len);
    let id = std::str::from_utf8(id).ok()?;
    Some(Envelope {
        from: NodeId::new(id),
        skip_sender: flags & SKIP_SENDER != 0,
        payload: Bytes::copy_from_slice(payload),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_garbage_is_refused() {
        let node = NodeId::new("node-a");
        let frame = FrameSender::new(&node).unwrap().encode(true, b"hello");
        assert_eq!(
            decode(&frame),
            Some(Envelope {
                from: node,
                skip_sender: true,
                payload: Bytes::from_static(b"hello"),
            })
        );
        for cut in 0..6 {
            assert_eq!(decode(&frame[..cut]), None, "truncated at {cut}");
        }
        assert_eq!(decode(b"\x02\x00\x00\x00"), None, "unknown version");
        assert_eq!(
            decode(b"\x01\x00\x00\x02\xff\xfe"),
            None,
            "sender not UTF-8"
        );
    }

    #[test]
    fn the_longest_sender_id_round_trips_and_a_longer_one_is_refused() {
        let longest = NodeId::new("n".repeat(usize::from(u16::MAX)));
        let frame = FrameSender::new(&longest).unwrap().encode(false, b"x");
        assert_eq!(decode(&frame).unwrap().from, longest);
        let longer = NodeId::new("n".repeat(usize::from(u16::MAX) + 1));
        assert!(FrameSender::new(&longer).is_none());
    }
}
