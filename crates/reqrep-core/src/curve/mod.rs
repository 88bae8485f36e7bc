//! CURVE security (ZeroMQ RFC 26/CURVEZMQ) for reqrep sockets: keys in the
//! 40-character Z85 text form, key pair generation, and the socket roles.
//!
//! A broker (or a direct replier) is a CURVE *server*: it holds a long-term
//! secret key, and its public key is given to every client and worker. A
//! client or worker is a CURVE *client*: it knows the server's public key and
//! has a key pair of its own, which may be freshly generated per connection
//! ([`Curve::client`]). The connection is then encrypted and the server
//! authenticated; without a ZAP handler every client key is accepted, so
//! knowing the server's public key is what lets a peer in.
//!
//! CURVE needs a libzmq built with libsodium: see
//! [`socket::curve_supported`](crate::socket::curve_supported). Asking for it
//! on a build without it fails with
//! [`SocketError::CurveUnsupported`](crate::socket::SocketError::CurveUnsupported),
//! never a silent plaintext fallback.

use std::fmt;
use std::str::FromStr;

mod key_file;

pub use key_file::KeyFileError;

/// The Z85 alphabet (ZeroMQ RFC 32).
const ALPHABET: &[u8; 85] =
    b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

/// Why a text is not a CURVE key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CurveKeyError {
    /// Keys are 40 Z85 characters (32 bytes).
    #[error("a CURVE key is 40 Z85 characters, got {0}")]
    Length(usize),
    /// A character outside the Z85 alphabet.
    #[error("a CURVE key holds only Z85 characters, found {0:?}")]
    Character(char),
    /// Five characters that encode more than 32 bits.
    #[error("a CURVE key's Z85 group {0:?} is out of range")]
    Range(String),
}

/// A 32-byte CURVE key (public or secret). `Debug` never shows its bytes,
/// so a secret key cannot leak into logs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CurveKey([u8; 32]);

impl CurveKey {
    /// The key's 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The key as 40 Z85 characters.
    pub fn to_z85(&self) -> String {
        let mut out = String::with_capacity(40);
        for chunk in self.0.chunks_exact(4) {
            let mut value = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
            let mut group = [0u8; 5];
            for slot in group.iter_mut().rev() {
                *slot = ALPHABET[(value % 85) as usize];
                value /= 85;
            }
            out.extend(group.iter().map(|&b| char::from(b)));
        }
        out
    }
}

impl FromStr for CurveKey {
    type Err = CurveKeyError;

    /// Parses 40 Z85 characters (surrounding whitespace, such as a key
    /// file's trailing newline, is ignored).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let len = text.chars().count();
        if len != 40 {
            return Err(CurveKeyError::Length(len));
        }
        let mut key = [0u8; 32];
        for (group, out) in text.as_bytes().chunks_exact(5).zip(key.chunks_exact_mut(4)) {
            let mut value: u64 = 0;
            for &byte in group {
                let digit = ALPHABET
                    .iter()
                    .position(|&a| a == byte)
                    .ok_or(CurveKeyError::Character(char::from(byte)))?;
                value = value * 85 + digit as u64;
            }
            let value = u32::try_from(value)
                .map_err(|_| CurveKeyError::Range(String::from_utf8_lossy(group).into_owned()))?;
            out.copy_from_slice(&value.to_be_bytes());
        }
        Ok(Self(key))
    }
}

impl fmt::Debug for CurveKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CurveKey(..)")
    }
}

/// A CURVE key pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CurveKeyPair {
    /// Shared with peers.
    pub public: CurveKey,
    /// Kept by its owner.
    pub secret: CurveKey,
}

impl CurveKeyPair {
    /// The key pair whose secret key is `secret`: the public key is derived
    /// from it (libzmq's `zmq_curve_public`).
    ///
    /// # Errors
    /// [`SocketError::CurveUnsupported`](crate::socket::SocketError::CurveUnsupported)
    /// on a libzmq without CURVE.
    pub fn from_secret(secret: CurveKey) -> Result<Self, crate::socket::SocketError> {
        crate::socket::require_curve()?;
        let public = derive_public(&secret).ok_or(crate::socket::SocketError::CurveUnsupported)?;
        Ok(Self { public, secret })
    }

    /// A fresh key pair from libzmq (libsodium).
    ///
    /// # Errors
    /// [`SocketError::CurveUnsupported`](crate::socket::SocketError::CurveUnsupported)
    /// on a libzmq without CURVE.
    pub fn generate() -> Result<Self, crate::socket::SocketError> {
        crate::socket::require_curve()?;
        let pair = zmq::CurveKeyPair::new()?;
        Ok(Self {
            public: CurveKey(pair.public_key),
            secret: CurveKey(pair.secret_key),
        })
    }
}

// libzmq's `zmq_curve_public` (since 4.2), which neither `zmq` nor the
// bindings it re-exports wrap; the library itself is linked by `zmq`.
#[allow(unsafe_code)]
unsafe extern "C" {
    fn zmq_curve_public(
        z85_public_key: *mut std::ffi::c_char,
        z85_secret_key: *const std::ffi::c_char,
    ) -> std::ffi::c_int;
}

/// The public key of `secret`, from libzmq; `None` when libzmq cannot
/// derive it (no CURVE support).
#[allow(unsafe_code)]
fn derive_public(secret: &CurveKey) -> Option<CurveKey> {
    let mut secret_z85 = secret.to_z85().into_bytes();
    secret_z85.push(0);
    let mut public_z85 = [0u8; 41];
    // SAFETY: both buffers are the 41 bytes (40 Z85 characters and a NUL)
    // that `zmq_curve_public` reads and writes; the secret is
    // NUL-terminated, and neither buffer outlives the call.
    let rc =
        unsafe { zmq_curve_public(public_z85.as_mut_ptr().cast(), secret_z85.as_ptr().cast()) };
    if rc != 0 {
        return None;
    }
    std::str::from_utf8(&public_z85[..40]).ok()?.parse().ok()
}

/// A socket's CURVE role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Curve {
    /// The side that binds and holds the long-term key: the broker's
    /// frontend and backend, a direct replier.
    Server {
        /// The server's secret key.
        secret: CurveKey,
    },
    /// The side that connects: a client or a worker.
    Client {
        /// The server's public key: the connection fails unless the server
        /// holds the matching secret key.
        server: CurveKey,
        /// This side's key pair.
        keys: CurveKeyPair,
    },
}

impl Curve {
    /// A server holding `secret`.
    pub fn server(secret: CurveKey) -> Self {
        Self::Server { secret }
    }

    /// A client of the server whose public key is `server`, with the key
    /// pair `keys` as its identity (a broker with an access policy knows the
    /// client by `keys.public`).
    pub fn client_with(server: CurveKey, keys: CurveKeyPair) -> Self {
        Self::Client { server, keys }
    }

    /// A client of the server whose public key is `server`, with a fresh
    /// key pair of its own.
    ///
    /// # Errors
    /// [`SocketError::CurveUnsupported`](crate::socket::SocketError::CurveUnsupported)
    /// on a libzmq without CURVE.
    pub fn client(server: CurveKey) -> Result<Self, crate::socket::SocketError> {
        Ok(Self::Client {
            server,
            keys: CurveKeyPair::generate()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test vector of ZeroMQ RFC 32 (Z85).
    #[test]
    fn z85_matches_the_rfc_vector() {
        let bytes = [0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B];
        let mut key = [0u8; 32];
        for chunk in key.chunks_exact_mut(8) {
            chunk.copy_from_slice(&bytes);
        }
        let text = CurveKey(key).to_z85();
        assert_eq!(text, "HelloWorld".repeat(4));
        assert_eq!(text.parse::<CurveKey>().unwrap(), CurveKey(key));
    }

    #[test]
    fn keys_round_trip_through_z85_and_libzmq_agrees() {
        let key = CurveKey(std::array::from_fn(|i| (i * 37 % 256) as u8));
        let text = key.to_z85();
        assert_eq!(text.len(), 40);
        assert_eq!(format!(" {text}\n").parse::<CurveKey>().unwrap(), key);
        assert_eq!(zmq::z85_encode(key.as_bytes()).unwrap(), text);
    }

    #[test]
    fn bad_keys_are_typed_errors() {
        assert_eq!("abc".parse::<CurveKey>(), Err(CurveKeyError::Length(3)));
        let bad = format!("{}~", "0".repeat(39));
        assert_eq!(bad.parse::<CurveKey>(), Err(CurveKeyError::Character('~')));
        let over = "#".repeat(40);
        assert!(matches!(
            over.parse::<CurveKey>(),
            Err(CurveKeyError::Range(_))
        ));
        let err = "abc".parse::<CurveKey>().unwrap_err().to_string();
        assert!(err.contains("40 Z85 characters"), "{err}");
    }

    #[test]
    fn debug_hides_key_bytes() {
        let pair = CurveKeyPair {
            public: CurveKey([1; 32]),
            secret: CurveKey([2; 32]),
        };
        let shown = format!(
            "{:?}",
            Curve::Client {
                server: CurveKey([3; 32]),
                keys: pair
            }
        );
        assert!(!shown.contains(&CurveKey([2; 32]).to_z85()), "{shown}");
        assert!(shown.contains("CurveKey(..)"), "{shown}");
    }

    #[test]
    fn generation_needs_curve_support() {
        match CurveKeyPair::generate() {
            Ok(pair) => {
                assert!(crate::socket::curve_supported());
                assert_ne!(pair.public, pair.secret);
            }
            Err(err) => {
                assert!(!crate::socket::curve_supported());
                assert!(matches!(err, crate::socket::SocketError::CurveUnsupported));
            }
        }
    }
}
