//! A first pass over a YAML document that allocates nothing from its content:
//! it bounds what aliases expand to, and refuses mappings with a key twice.
//!
//! serde_yaml expands every alias in full when it builds a value, so a small
//! file with many aliases of one large string can ask for gigabytes; and a
//! map type (`IndexMap`) silently keeps the last of two equal keys. Walking
//! the document once with borrowed scalars costs time proportional to the
//! expansion, which this pass stops at a budget before anything is built.

use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// Accounting units one node costs besides its text, so that many empty
/// scalars are bounded too.
const NODE_COST: u64 = 16;

/// What the pass found wrong.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Finding {
    /// Aliases expand past the budget.
    TooLarge {
        /// The budget, in bytes.
        limit: u64,
    },
    /// A mapping holds `key` twice; `path` is the mapping's dotted key path.
    Duplicate {
        /// The mapping's key path (empty at the top).
        path: String,
        /// The repeated key.
        key: String,
    },
}

struct State {
    used: u64,
    limit: u64,
    path: Vec<String>,
    finding: Option<Finding>,
}

/// Walks `src`; `Ok(None)` when the document is fit to deserialize, the
/// finding otherwise. Syntax errors are left to the real pass, which reports
/// them with serde_yaml's positions.
pub(crate) fn check(src: &str, limit: u64) -> Option<Finding> {
    let state = RefCell::new(State {
        used: 0,
        limit,
        path: Vec::new(),
        finding: None,
    });
    let de = serde_yaml::Deserializer::from_str(src);
    let _ = Node(&state).deserialize(de);
    state.into_inner().finding
}

#[derive(Clone, Copy)]
struct Node<'s>(&'s RefCell<State>);

impl Node<'_> {
    fn charge<E: de::Error>(&self, bytes: usize) -> Result<(), E> {
        let mut s = self.0.borrow_mut();
        s.used = s.used.saturating_add(NODE_COST + bytes as u64);
        if s.used > s.limit {
            let limit = s.limit;
            s.finding.get_or_insert(Finding::TooLarge { limit });
            return Err(E::custom("alias expansion limit"));
        }
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Node<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML node")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.charge(0)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.charge(0)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.charge(0)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.charge(0)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.charge(v.len())
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<(), E> {
        self.charge(v.len())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.charge(0)
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.charge(0)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<(), A::Error> {
        // A tagged node (`!tag value`): walk the value.
        use de::VariantAccess;
        self.charge::<A::Error>(0)?;
        let (_, variant): (Key, _) = data.variant_seed(KeySeed(self))?;
        variant.newtype_variant_seed(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.charge::<A::Error>(0)?;
        let mut i = 0usize;
        loop {
            self.0.borrow_mut().path.push(format!("[{i}]"));
            let more = seq.next_element_seed(self);
            self.0.borrow_mut().path.pop();
            if more?.is_none() {
                return Ok(());
            }
            i += 1;
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.charge::<A::Error>(0)?;
        let mut seen: HashSet<String> = HashSet::new();
        while let Some(key) = map.next_key_seed(KeySeed(self))? {
            if let Key(Some(k)) = &key
                && !seen.insert(k.clone())
            {
                let mut s = self.0.borrow_mut();
                let path = join(&s.path);
                s.finding.get_or_insert(Finding::Duplicate {
                    path,
                    key: k.clone(),
                });
                return Err(de::Error::custom("duplicate key"));
            }
            let name = key.0.unwrap_or_else(|| "?".into());
            self.0.borrow_mut().path.push(name);
            let r = map.next_value_seed(self);
            self.0.borrow_mut().path.pop();
            r?;
        }
        Ok(())
    }
}

/// A mapping key as text when it is a scalar; complex keys are walked and
/// never compared.
struct Key(Option<String>);

#[derive(Clone, Copy)]
struct KeySeed<'s>(Node<'s>);

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Key;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Key, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a mapping key")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Key, E> {
        self.0.charge(0)?;
        Ok(Key(Some(v.to_string())))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Key, E> {
        self.0.charge(0)?;
        Ok(Key(Some(v.to_string())))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Key, E> {
        self.0.charge(0)?;
        Ok(Key(Some(v.to_string())))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Key, E> {
        self.0.charge(0)?;
        Ok(Key(Some(v.to_string())))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
        self.0.charge(v.len())?;
        // Only short keys are kept for comparison; a long one is charged, not copied.
        Ok(Key((v.len() <= 1024).then(|| v.to_string())))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Key, E> {
        self.0.charge(0)?;
        Ok(Key(Some("~".into())))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Key, A::Error> {
        self.0.visit_seq(seq).map(|()| Key(None))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Key, A::Error> {
        self.0.visit_map(map).map(|()| Key(None))
    }
}

fn join(path: &[String]) -> String {
    let mut out = String::new();
    for seg in path {
        if !out.is_empty() && !seg.starts_with('[') {
            out.push('.');
        }
        out.push_str(seg);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_of_a_large_string_stop_at_the_budget() {
        let big = "x".repeat(1 << 16);
        let mut src = format!("a: &s {big}\nb:\n");
        for _ in 0..1000 {
            src.push_str("  - *s\n");
        }
        assert_eq!(
            check(&src, 1 << 20),
            Some(Finding::TooLarge { limit: 1 << 20 })
        );
        let few = format!("a: &s {big}\nb: [*s, *s]\n");
        assert_eq!(check(&few, 1 << 20), None);
    }

    #[test]
    fn a_key_twice_is_found_with_its_mapping() {
        let src = "signatures:\n  speak: {a: 1}\n  speak: {a: 2}\n";
        assert_eq!(
            check(src, 1 << 20),
            Some(Finding::Duplicate {
                path: "signatures".into(),
                key: "speak".into()
            })
        );
        let src = "inputs:\n  - q: {}\n    q: {}\n";
        assert_eq!(
            check(src, 1 << 20),
            Some(Finding::Duplicate {
                path: "inputs[0]".into(),
                key: "q".into()
            })
        );
        assert_eq!(check("a: 1\nb: {a: 1}\n", 1 << 20), None);
    }
}
