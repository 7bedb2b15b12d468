//! Cypher values and their three comparison semantics: equality (`=`, ternary),
//! ordering comparison (`<`, null when the types are not comparable) and the total order
//! that `ORDER BY` uses. Grouping and `DISTINCT` use *equivalence* ([`Key`]), under which
//! `null` equals `null` and `NaN` equals `NaN`.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};

/// A node's identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct NodeId(pub u64);

/// A relationship's identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct RelId(pub u64);

/// A path: `nodes.len() == rels.len() + 1`, and rel `i` joins node `i` and `i + 1`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Path {
    /// The nodes, in traversal order.
    pub nodes: Vec<NodeId>,
    /// The relationships, in traversal order.
    pub rels: Vec<RelId>,
}

/// A Cypher value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null`.
    Null,
    /// A boolean.
    Bool(bool),
    /// A 64-bit integer.
    Int(i64),
    /// A 64-bit float.
    Float(f64),
    /// A string.
    String(String),
    /// A list.
    List(Vec<Value>),
    /// A map with string keys.
    Map(BTreeMap<String, Value>),
    /// A node.
    Node(NodeId),
    /// A relationship.
    Rel(RelId),
    /// A path.
    Path(Box<Path>),
}

impl Value {
    /// The type's name, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "NULL",
            Value::Bool(_) => "BOOLEAN",
            Value::Int(_) => "INTEGER",
            Value::Float(_) => "FLOAT",
            Value::String(_) => "STRING",
            Value::List(_) => "LIST",
            Value::Map(_) => "MAP",
            Value::Node(_) => "NODE",
            Value::Rel(_) => "RELATIONSHIP",
            Value::Path(_) => "PATH",
        }
    }

    /// Whether this is `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// A number as f64, if it is one.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            Value::Null
            | Value::Bool(_)
            | Value::String(_)
            | Value::List(_)
            | Value::Map(_)
            | Value::Node(_)
            | Value::Rel(_)
            | Value::Path(_) => None,
        }
    }

    /// Whether the value may be stored as a property: primitives and lists of them.
    pub fn is_storable(&self) -> bool {
        match self {
            Value::Null | Value::Bool(_) | Value::Int(_) | Value::Float(_) | Value::String(_) => true,
            Value::List(items) => items.iter().all(|v| {
                matches!(v, Value::Bool(_) | Value::Int(_) | Value::Float(_) | Value::String(_) | Value::Null)
            }),
            Value::Map(_) | Value::Node(_) | Value::Rel(_) | Value::Path(_) => false,
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}

impl From<f64> for Value {
    fn from(f: f64) -> Self {
        Value::Float(f)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

/// `a = b` in Cypher: `None` means null (unknown).
pub fn equals(a: &Value, b: &Value) -> Option<bool> {
    match (a, b) {
        (Value::Null, _) | (_, Value::Null) => None,
        (Value::Int(x), Value::Int(y)) => Some(x == y),
        (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_)) => {
            let (x, y) = (a.as_f64()?, b.as_f64()?);
            Some(x == y)
        }
        (Value::Bool(x), Value::Bool(y)) => Some(x == y),
        (Value::String(x), Value::String(y)) => Some(x == y),
        (Value::Node(x), Value::Node(y)) => Some(x == y),
        (Value::Rel(x), Value::Rel(y)) => Some(x == y),
        (Value::Path(x), Value::Path(y)) => Some(x == y),
        (Value::List(x), Value::List(y)) => {
            if x.len() != y.len() {
                return Some(false);
            }
            let mut unknown = false;
            for (p, q) in x.iter().zip(y) {
                match equals(p, q) {
                    Some(false) => return Some(false),
                    None => unknown = true,
                    Some(true) => {}
                }
            }
            if unknown { None } else { Some(true) }
        }
        (Value::Map(x), Value::Map(y)) => {
            if x.len() != y.len() || x.keys().ne(y.keys()) {
                return Some(false);
            }
            let mut unknown = false;
            for (p, q) in x.values().zip(y.values()) {
                match equals(p, q) {
                    Some(false) => return Some(false),
                    None => unknown = true,
                    Some(true) => {}
                }
            }
            if unknown { None } else { Some(true) }
        }
        _ => Some(false),
    }
}

/// `a < b` and friends: the ordering of two comparable values, or `None` (null) when
/// either is null, either is NaN, or the types are not comparable.
pub fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Some(x.cmp(y)),
        (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_)) => {
            let (x, y) = (a.as_f64()?, b.as_f64()?);
            x.partial_cmp(&y)
        }
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (Value::List(x), Value::List(y)) => {
            for (p, q) in x.iter().zip(y) {
                let o = compare(p, q)?;
                if o.is_ne() {
                    return Some(o);
                }
            }
            Some(x.len().cmp(&y.len()))
        }
        _ => None,
    }
}

fn type_rank(v: &Value) -> u8 {
    match v {
        Value::Map(_) => 0,
        Value::Node(_) => 1,
        Value::Rel(_) => 2,
        Value::List(_) => 3,
        Value::Path(_) => 4,
        Value::String(_) => 5,
        Value::Bool(_) => 6,
        Value::Int(_) | Value::Float(_) => 7,
        Value::Null => 9,
    }
}

/// The total order of `ORDER BY` (ascending): maps, nodes, relationships, lists, paths,
/// strings, booleans, numbers (NaN after every other number), and null last.
pub fn order(a: &Value, b: &Value) -> Ordering {
    let (ra, rb) = (type_rank(a), type_rank(b));
    if ra != rb {
        return ra.cmp(&rb);
    }
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => x.cmp(y),
        (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_)) => {
            let (x, y) = (a.as_f64().unwrap_or(f64::NAN), b.as_f64().unwrap_or(f64::NAN));
            match (x.is_nan(), y.is_nan()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
            }
        }
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::List(x), Value::List(y)) => {
            for (p, q) in x.iter().zip(y) {
                let o = order(p, q);
                if o.is_ne() {
                    return o;
                }
            }
            x.len().cmp(&y.len())
        }
        (Value::Map(x), Value::Map(y)) => {
            let kx: Vec<_> = x.keys().collect();
            let ky: Vec<_> = y.keys().collect();
            kx.cmp(&ky).then_with(|| {
                for (p, q) in x.values().zip(y.values()) {
                    let o = order(p, q);
                    if o.is_ne() {
                        return o;
                    }
                }
                Ordering::Equal
            })
        }
        (Value::Node(x), Value::Node(y)) => x.cmp(y),
        (Value::Rel(x), Value::Rel(y)) => x.cmp(y),
        (Value::Path(x), Value::Path(y)) => x.nodes.cmp(&y.nodes).then_with(|| x.rels.cmp(&y.rels)),
        _ => Ordering::Equal,
    }
}

/// A value under *equivalence*, for grouping keys, `DISTINCT` and `UNION`: `null ≡ null`,
/// `NaN ≡ NaN`, `1 ≡ 1.0`.
#[derive(Debug, Clone)]
pub struct Key(pub Value);

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        equivalent(&self.0, &other.0)
    }
}

impl Eq for Key {}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_value(&self.0, state);
    }
}

fn equivalent(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_)) => {
            if let (Value::Int(x), Value::Int(y)) = (a, b) {
                return x == y;
            }
            let (x, y) = (a.as_f64().unwrap_or(0.0), b.as_f64().unwrap_or(0.0));
            x == y || (x.is_nan() && y.is_nan())
        }
        (Value::List(x), Value::List(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| equivalent(p, q)),
        (Value::Map(x), Value::Map(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|((kp, p), (kq, q))| kp == kq && equivalent(p, q))
        }
        _ => a == b,
    }
}

fn hash_value<H: Hasher>(v: &Value, state: &mut H) {
    match v {
        Value::Null => 0u8.hash(state),
        Value::Bool(b) => (1u8, b).hash(state),
        Value::Int(i) => hash_number(*i as f64, state),
        Value::Float(f) => hash_number(*f, state),
        Value::String(s) => (3u8, s).hash(state),
        Value::List(items) => {
            (4u8, items.len()).hash(state);
            items.iter().for_each(|i| hash_value(i, state));
        }
        Value::Map(m) => {
            (5u8, m.len()).hash(state);
            for (k, v) in m {
                k.hash(state);
                hash_value(v, state);
            }
        }
        Value::Node(n) => (6u8, n).hash(state),
        Value::Rel(r) => (7u8, r).hash(state),
        Value::Path(p) => (8u8, p).hash(state),
    }
}

fn hash_number<H: Hasher>(f: f64, state: &mut H) {
    2u8.hash(state);
    if f.is_nan() {
        u64::MAX.hash(state);
    } else if f == 0.0 {
        0u64.hash(state);
    } else {
        f.to_bits().hash(state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equality_is_ternary() {
        assert_eq!(equals(&Value::Int(1), &Value::Float(1.0)), Some(true));
        assert_eq!(equals(&Value::Null, &Value::Int(1)), None);
        let l = |v: Vec<Value>| Value::List(v);
        assert_eq!(equals(&l(vec![Value::Int(1), Value::Null]), &l(vec![Value::Int(2), Value::Null])), Some(false));
        assert_eq!(equals(&l(vec![Value::Int(1), Value::Null]), &l(vec![Value::Int(1), Value::Null])), None);
        assert_eq!(equals(&Value::Float(f64::NAN), &Value::Float(f64::NAN)), Some(false));
        assert_eq!(equals(&Value::from("1"), &Value::Int(1)), Some(false));
    }

    #[test]
    fn orders() {
        assert_eq!(compare(&Value::from("a"), &Value::Int(1)), None);
        assert_eq!(compare(&Value::Int(1), &Value::Float(1.5)), Some(Ordering::Less));
        let mut v = [Value::Null, Value::Float(f64::NAN), Value::Int(2), Value::from("x"), Value::Bool(true)];
        v.sort_by(order);
        assert_eq!(v[0], Value::from("x"));
        assert_eq!(v[1], Value::Bool(true));
        assert_eq!(v[2], Value::Int(2));
        assert!(matches!(v[3], Value::Float(f) if f.is_nan()));
        assert_eq!(v[4], Value::Null);
    }

    #[test]
    fn equivalence_groups() {
        use std::collections::HashSet;
        let set: HashSet<Key> = [
            Value::Int(1),
            Value::Float(1.0),
            Value::Null,
            Value::Null,
            Value::Float(f64::NAN),
            Value::Float(f64::NAN),
        ]
        .into_iter()
        .map(Key)
        .collect();
        assert_eq!(set.len(), 3);
    }
}
