//! The SIP identifiers the stack keys its tables by, as types of their own so a branch is never
//! looked up where a Call-ID belongs: [`CallId`] (RFC 3261 §20.8), [`Tag`] (§19.3) and
//! [`Branch`] (§8.1.1.7). Each is its text, compared byte for byte, and borrows as `&str` so a
//! table is searched with a slice of a received message without copying it.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;

macro_rules! sip_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        ///
        /// Shared, not copied, when cloned: a call's dialogs, maps and events hold the same
        /// identifiers many times over.
        #[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(std::sync::Arc<str>);

        impl $name {
            /// The identifier's text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s.into())
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.into())
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> Self {
                id.0.as_ref().to_owned()
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                *self.0 == *other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                *self.0 == **other
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

sip_id!(
    /// A Call-ID (RFC 3261 §20.8).
    CallId
);
sip_id!(
    /// A From or To tag (RFC 3261 §19.3).
    Tag
);
sip_id!(
    /// A Via branch (RFC 3261 §8.1.1.7).
    Branch
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Map;

    #[test]
    fn a_table_keyed_by_an_id_is_searched_with_a_slice() {
        let mut m: Map<CallId, u32> = Map::default();
        m.insert(CallId::from("a84b4c76e66710"), 1);
        assert_eq!(m.get("a84b4c76e66710"), Some(&1));
        assert_eq!(m.get("A84B4C76E66710"), None, "compared byte for byte");
        assert_eq!(Branch::from("z9hG4bK1").to_string(), "z9hG4bK1");
        let tag = Tag::from("x");
        assert!(tag == "x" && tag.as_str() == "x");
    }
}
