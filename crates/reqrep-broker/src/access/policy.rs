//! The access policy: named identities, each a CURVE public key with the
//! services it may call and serve. A plain value, swapped whole on reload
//! (the driver shares it as an `Arc`).
//!
//! Service patterns are an exact name (`orders`) or a prefix ending in `*`
//! (`payments.*`). The `*` stands for one or more characters: `payments.*`
//! matches `payments.eu` but neither `payments` nor `payments.`. A `*`
//! alone matches every service. A `*` anywhere but at the end is an error.
//!
//! The discovery service ([`DISCOVERY_SERVICE`]) is callable by every
//! identity in the policy, whatever its patterns; what it lists is filtered
//! by [`Identity::may_call`]. No identity may serve a reserved
//! (`reqrep.`) name.

use std::fmt;
use std::str::FromStr;

use reqrep_core::curve::CurveKey;
use reqrep_core::{DISCOVERY_SERVICE, RESERVED_PREFIX};

/// Hash maps with a fast, randomly seeded hasher.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// A service pattern: an exact name, or a prefix followed by `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pattern {
    /// Matches this name only.
    Exact(String),
    /// Matches every name that starts with this prefix and is longer than
    /// it (`payments.*` is `Prefix("payments.")`; `*` is `Prefix("")`).
    Prefix(String),
}

/// Why a text is not a service pattern.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PatternError {
    /// An empty pattern matches nothing: a typo, never intended.
    #[error("empty pattern")]
    Empty,
    /// A `*` anywhere but at the end (`pay*ments`, `**`).
    #[error("pattern {0:?} has a `*` that is not at its end: only a trailing `*` is a wildcard")]
    InnerStar(String),
}

impl Pattern {
    /// Whether `service` matches.
    pub fn matches(&self, service: &str) -> bool {
        match self {
            Self::Exact(name) => name == service,
            Self::Prefix(prefix) => service.len() > prefix.len() && service.starts_with(&**prefix),
        }
    }
}

impl FromStr for Pattern {
    type Err = PatternError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.is_empty() {
            return Err(PatternError::Empty);
        }
        let (body, wildcard) = match text.strip_suffix('*') {
            Some(body) => (body, true),
            None => (text, false),
        };
        if body.contains('*') {
            return Err(PatternError::InnerStar(text.to_owned()));
        }
        Ok(if wildcard {
            Self::Prefix(body.to_owned())
        } else {
            Self::Exact(body.to_owned())
        })
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exact(name) => f.write_str(name),
            Self::Prefix(prefix) => write!(f, "{prefix}*"),
        }
    }
}

/// One identity of the policy: a name for logs and messages, the CURVE
/// public key that proves it, and what it may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The name operators gave it (unique in its policy).
    pub name: String,
    /// Its CURVE public key (unique in its policy).
    pub key: CurveKey,
    /// Services it may call (send REQUESTs for).
    pub call: Vec<Pattern>,
    /// Services it may serve (register for with READY).
    pub serve: Vec<Pattern>,
}

impl Identity {
    /// Whether it may send REQUESTs for `service`. The discovery service is
    /// always allowed.
    pub fn may_call(&self, service: &str) -> bool {
        service == DISCOVERY_SERVICE || self.call.iter().any(|p| p.matches(service))
    }

    /// Whether it may register as a worker for `service`. Reserved
    /// (`reqrep.`) names never are.
    pub fn may_serve(&self, service: &str) -> bool {
        !service.starts_with(RESERVED_PREFIX) && self.serve.iter().any(|p| p.matches(service))
    }
}

/// Why identities do not make a policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// Two identities share a key: which one a peer is would be ambiguous.
    #[error("identities {first:?} and {second:?} have the same key")]
    DuplicateKey {
        /// The earlier identity.
        first: String,
        /// The later one.
        second: String,
    },
    /// Two identities share a name: logs and metrics could not tell them apart.
    #[error("two identities are named {0:?}")]
    DuplicateName(String),
}

/// Named identities, found by the Z85 text of their key (the ZAP User-Id).
#[derive(Debug, Clone, Default)]
pub struct AccessPolicy {
    identities: Vec<Identity>,
    by_key: HashMap<String, usize>,
}

impl AccessPolicy {
    /// A policy of `identities`.
    ///
    /// # Errors
    /// [`PolicyError`] for a duplicate key or name.
    pub fn new(identities: Vec<Identity>) -> Result<Self, PolicyError> {
        let mut by_key = HashMap::default();
        let mut names = HashMap::default();
        for (index, identity) in identities.iter().enumerate() {
            if let Some(first) = by_key.insert(identity.key.to_z85(), index) {
                return Err(PolicyError::DuplicateKey {
                    first: identities[first].name.clone(),
                    second: identity.name.clone(),
                });
            }
            if names.insert(identity.name.as_str(), index).is_some() {
                return Err(PolicyError::DuplicateName(identity.name.clone()));
            }
        }
        Ok(Self { identities, by_key })
    }

    /// The identity whose key has the Z85 text `user_id` (what the ZAP
    /// handler gives as User-Id).
    pub fn identity(&self, user_id: &str) -> Option<&Identity> {
        self.by_key
            .get(user_id)
            .and_then(|&index| self.identities.get(index))
    }

    /// The identity holding `key`.
    pub fn by_key(&self, key: &CurveKey) -> Option<&Identity> {
        self.identity(&key.to_z85())
    }

    /// Every identity, in the order given.
    pub fn identities(&self) -> &[Identity] {
        &self.identities
    }

    /// How many identities.
    pub fn len(&self) -> usize {
        self.identities.len()
    }

    /// Whether it has no identity (every peer is refused).
    pub fn is_empty(&self) -> bool {
        self.identities.is_empty()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A distinct valid key per digit `n`.
    pub(crate) fn key(n: u8) -> CurveKey {
        char::from(b'0' + n).to_string().repeat(40).parse().unwrap()
    }

    fn identity(name: &str, n: u8, call: &[&str], serve: &[&str]) -> Identity {
        Identity {
            name: name.into(),
            key: key(n),
            call: call.iter().map(|p| p.parse().unwrap()).collect(),
            serve: serve.iter().map(|p| p.parse().unwrap()).collect(),
        }
    }

    #[test]
    fn a_trailing_star_matches_longer_names_with_the_prefix_only() {
        let p: Pattern = "payments.*".parse().unwrap();
        assert_eq!(p, Pattern::Prefix("payments.".into()));
        assert!(p.matches("payments.eu"));
        assert!(p.matches("payments.eu.card"));
        assert!(!p.matches("payments"));
        assert!(!p.matches("payments."));
        assert!(!p.matches("paymentsX"));
        assert!(!p.matches("billing"));
        let any: Pattern = "*".parse().unwrap();
        assert!(any.matches("orders") && any.matches("a"));
        let exact: Pattern = "orders".parse().unwrap();
        assert!(exact.matches("orders"));
        assert!(!exact.matches("orders.eu") && !exact.matches("order"));
        assert_eq!(p.to_string(), "payments.*");
        assert_eq!(exact.to_string(), "orders");
    }

    #[test]
    fn empty_patterns_and_inner_stars_are_errors() {
        assert_eq!("".parse::<Pattern>(), Err(PatternError::Empty));
        for bad in ["pay*ments", "**", "*.eu", "a*b*"] {
            assert_eq!(
                bad.parse::<Pattern>(),
                Err(PatternError::InnerStar(bad.into())),
                "{bad}"
            );
        }
    }

    #[test]
    fn call_and_serve_are_separate_and_discovery_is_always_callable() {
        let web = identity("web", 1, &["orders", "payments.*"], &[]);
        assert!(web.may_call("orders") && web.may_call("payments.eu"));
        assert!(!web.may_call("payments") && !web.may_call("billing"));
        assert!(!web.may_serve("orders"), "calling is not serving");
        assert!(web.may_call(DISCOVERY_SERVICE));
        let svc = identity("orders-svc", 2, &[], &["orders", "*"]);
        assert!(svc.may_serve("orders") && svc.may_serve("anything"));
        assert!(!svc.may_call("orders"));
        assert!(
            !svc.may_serve(DISCOVERY_SERVICE),
            "reserved names are never served"
        );
        assert!(!svc.may_serve("reqrep.other"));
    }

    #[test]
    fn identities_are_found_by_the_z85_text_of_their_key() {
        let policy = AccessPolicy::new(vec![
            identity("web", 1, &["orders"], &[]),
            identity("svc", 2, &[], &["orders"]),
        ])
        .unwrap();
        assert_eq!(policy.len(), 2);
        assert_eq!(policy.identity(&key(2).to_z85()).unwrap().name, "svc");
        assert_eq!(policy.by_key(&key(1)).unwrap().name, "web");
        assert!(policy.identity(&key(3).to_z85()).is_none());
        assert!(policy.identity("not a key").is_none());
        assert!(AccessPolicy::default().is_empty());
    }

    #[test]
    fn duplicate_keys_and_names_are_refused() {
        let err = AccessPolicy::new(vec![
            identity("a", 1, &["x"], &[]),
            identity("b", 1, &["x"], &[]),
        ])
        .unwrap_err();
        assert_eq!(
            err,
            PolicyError::DuplicateKey {
                first: "a".into(),
                second: "b".into()
            }
        );
        let err = AccessPolicy::new(vec![
            identity("a", 1, &["x"], &[]),
            identity("a", 2, &["x"], &[]),
        ])
        .unwrap_err();
        assert_eq!(err, PolicyError::DuplicateName("a".into()));
    }
}
