//! Status codes and statuses.

use std::fmt;

use crate::pb;
pub use crate::pb::Code;

impl Code {
    /// Maps a wire value to a code; values this version does not know read as
    /// [`Code::Unknown`], as the protocol prescribes.
    pub fn from_wire(value: i32) -> Self {
        Self::try_from(value).unwrap_or(Self::Unknown)
    }

    /// The canonical upper-case name, e.g. `DEADLINE_EXCEEDED`.
    pub fn name(self) -> &'static str {
        self.as_str_name()
    }

    /// The lower-case name, e.g. `deadline_exceeded`, for metric labels.
    pub fn label(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Cancelled => "cancelled",
            Self::Unknown => "unknown",
            Self::InvalidArgument => "invalid_argument",
            Self::DeadlineExceeded => "deadline_exceeded",
            Self::NotFound => "not_found",
            Self::AlreadyExists => "already_exists",
            Self::PermissionDenied => "permission_denied",
            Self::ResourceExhausted => "resource_exhausted",
            Self::FailedPrecondition => "failed_precondition",
            Self::Aborted => "aborted",
            Self::OutOfRange => "out_of_range",
            Self::Unimplemented => "unimplemented",
            Self::Internal => "internal",
            Self::Unavailable => "unavailable",
            Self::DataLoss => "data_loss",
            Self::Unauthenticated => "unauthenticated",
        }
    }

    /// Every code, in wire order.
    pub const ALL: [Self; 17] = [
        Self::Ok,
        Self::Cancelled,
        Self::Unknown,
        Self::InvalidArgument,
        Self::DeadlineExceeded,
        Self::NotFound,
        Self::AlreadyExists,
        Self::PermissionDenied,
        Self::ResourceExhausted,
        Self::FailedPrecondition,
        Self::Aborted,
        Self::OutOfRange,
        Self::Unimplemented,
        Self::Internal,
        Self::Unavailable,
        Self::DataLoss,
        Self::Unauthenticated,
    ];

    /// Whether a client may retry a request that failed with this code.
    ///
    /// Only transient, broker-side conditions qualify; application errors and
    /// malformed requests do not.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            Self::Unavailable | Self::ResourceExhausted | Self::Aborted
        )
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The outcome of a request: a [`Code`] and a human-readable message.
///
/// A code this version does not know reads as [`Code::Unknown`] but keeps
/// its wire value ([`Status::wire_code`]), which is sent on unchanged when
/// the status is forwarded: a broker passes applications' own codes through
/// (protocol section 9).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Status {
    /// What happened.
    pub code: Code,
    /// Details for people; may be empty.
    pub message: String,
    /// The wire value of a code this version does not know; used only
    /// while `code` is [`Code::Unknown`].
    unknown_wire: Option<i32>,
}

impl Status {
    /// A status with `code` and `message`.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            unknown_wire: None,
        }
    }

    /// A status with the wire value `code`, which may be one this version
    /// does not define (an application's own): it reads as
    /// [`Code::Unknown`] and is sent as `code`.
    pub fn from_wire_code(code: i32, message: impl Into<String>) -> Self {
        let known = Code::from_wire(code);
        Self {
            code: known,
            message: message.into(),
            unknown_wire: (known as i32 != code).then_some(code),
        }
    }

    /// The code's wire value: the one received when it was not a known
    /// code, else `code as i32`.
    pub fn wire_code(&self) -> i32 {
        match (self.code, self.unknown_wire) {
            (Code::Unknown, Some(wire)) => wire,
            (code, _) => code as i32,
        }
    }

    /// The success status, with an empty message.
    pub fn ok() -> Self {
        Self::new(Code::Ok, String::new())
    }

    /// Whether this is [`Code::Ok`].
    pub fn is_ok(&self) -> bool {
        self.code == Code::Ok
    }

    /// `INVALID_ARGUMENT` with `message`.
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(Code::InvalidArgument, message)
    }

    /// `DEADLINE_EXCEEDED` with `message`.
    pub fn deadline_exceeded(message: impl Into<String>) -> Self {
        Self::new(Code::DeadlineExceeded, message)
    }

    /// `UNAVAILABLE` with `message`.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(Code::Unavailable, message)
    }

    /// `RESOURCE_EXHAUSTED` with `message`.
    pub fn resource_exhausted(message: impl Into<String>) -> Self {
        Self::new(Code::ResourceExhausted, message)
    }

    /// `NOT_FOUND` with `message`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(Code::NotFound, message)
    }

    /// `INTERNAL` with `message`.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(Code::Internal, message)
    }

    pub(crate) fn from_pb(status: Option<pb::Status>) -> Self {
        match status {
            Some(pb::Status { code, message }) => Self::from_wire_code(code, message),
            None => Self::ok(),
        }
    }

    pub(crate) fn into_pb(self) -> Option<pb::Status> {
        if self.is_ok() && self.message.is_empty() {
            return None;
        }
        Some(pb::Status {
            code: self.wire_code(),
            message: self.message,
        })
    }
}

impl Default for Status {
    fn default() -> Self {
        Self::ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_use_grpc_numbering() {
        assert_eq!(Code::Ok as i32, 0);
        assert_eq!(Code::InvalidArgument as i32, 3);
        assert_eq!(Code::DeadlineExceeded as i32, 4);
        assert_eq!(Code::NotFound as i32, 5);
        assert_eq!(Code::ResourceExhausted as i32, 8);
        assert_eq!(Code::Internal as i32, 13);
        assert_eq!(Code::Unavailable as i32, 14);
        assert_eq!(Code::Unauthenticated as i32, 16);
    }

    #[test]
    fn labels_are_lower_case_names_in_wire_order() {
        for (i, code) in Code::ALL.iter().enumerate() {
            assert_eq!(*code as usize, i);
            assert_eq!(code.label(), code.name().to_ascii_lowercase());
        }
    }

    #[test]
    fn unknown_wire_codes_read_as_unknown() {
        assert_eq!(Code::from_wire(14), Code::Unavailable);
        assert_eq!(Code::from_wire(99), Code::Unknown);
        assert_eq!(Code::from_wire(-1), Code::Unknown);
    }

    #[test]
    fn unknown_wire_codes_are_kept_for_forwarding() {
        let status = Status::from_pb(Some(pb::Status {
            code: 99,
            message: "application code".into(),
        }));
        assert_eq!(status.code, Code::Unknown);
        assert_eq!(status.wire_code(), 99);
        assert_eq!(status.clone().into_pb().map(|s| s.code), Some(99));
        let known = Status::from_wire_code(14, "");
        assert_eq!((known.code, known.wire_code()), (Code::Unavailable, 14));
        let mut changed = status;
        changed.code = Code::Internal;
        assert_eq!(changed.wire_code(), 13, "a code set afterwards wins");
    }

    #[test]
    fn display_names_code_and_message() {
        let status = Status::deadline_exceeded("expired in queue");
        assert_eq!(status.to_string(), "DEADLINE_EXCEEDED: expired in queue");
        assert!(!status.is_ok());
        assert!(Status::ok().is_ok());
    }

    #[test]
    fn ok_status_is_omitted_on_the_wire() {
        assert_eq!(Status::ok().into_pb(), None);
        assert_eq!(Status::from_pb(None), Status::ok());
        let status = Status::unavailable("worker lost");
        assert_eq!(Status::from_pb(status.clone().into_pb()), status);
    }

    #[test]
    fn only_transient_codes_are_retryable() {
        assert!(Code::Unavailable.is_retryable());
        assert!(Code::ResourceExhausted.is_retryable());
        assert!(!Code::InvalidArgument.is_retryable());
        assert!(!Code::DeadlineExceeded.is_retryable());
        assert!(!Code::Unknown.is_retryable());
    }
}
