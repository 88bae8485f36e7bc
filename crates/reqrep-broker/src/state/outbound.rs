//! What the broker sends: a message to encode, or one whose header is
//! already encoded and goes on as it is.

use reqrep_core::{DecodeError, Frame, Limits, Message, decode_body};

/// A message for the driver to send after the route.
#[derive(Debug)]
pub enum Outbound {
    /// A message the broker built (errors, discovery, cache hits, control
    /// messages), encoded on sending.
    Message(Message),
    /// A header frame already encoded and its payload, sent as they are:
    /// a client's REQUEST header with the broker's fields appended, or a
    /// worker's REPLY header with its `route` cut off (section 3.1 of the
    /// protocol). No header is decoded or re-encoded on the way.
    Encoded {
        /// The header frame.
        header: Frame,
        /// The payload frames.
        payload: Vec<Frame>,
    },
}

impl Outbound {
    /// The frames after the route: `[header, payload...]`.
    pub fn into_body(self) -> Vec<Frame> {
        match self {
            Self::Message(message) => message.encode_body(),
            Self::Encoded {
                header,
                mut payload,
            } => {
                payload.insert(0, header);
                payload
            }
        }
    }

    /// The message as its receiver decodes it.
    ///
    /// # Errors
    /// Only if an encoded header does not decode, which the broker never
    /// sends.
    pub fn into_message(self) -> Result<Message, DecodeError> {
        match self {
            Self::Message(message) => Ok(message),
            encoded => decode_body(encoded.into_body(), &Limits::default()),
        }
    }
}

impl From<Message> for Outbound {
    fn from(message: Message) -> Self {
        Self::Message(message)
    }
}
