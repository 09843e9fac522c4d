//! The values that cross the storage facade, the same for both databases:
//! what a statement is given ([`Value`], built with [`args!`]) and what a
//! read returns ([`Row`]).

use std::sync::Arc;

use super::StorageError;

/// One SQL value: SQLite's five storage classes, which PostgreSQL's
/// columns of our schema map onto (BIGINT, DOUBLE PRECISION, TEXT, BYTEA).
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// NULL.
    Null,
    /// A whole number (also PostgreSQL's booleans, as 0 and 1).
    Integer(i64),
    /// A floating-point number.
    Real(f64),
    /// Text.
    Text(String),
    /// Bytes.
    Blob(Vec<u8>),
}

impl From<i64> for Value {
    fn from(n: i64) -> Self {
        Self::Integer(n)
    }
}

impl From<u64> for Value {
    fn from(n: u64) -> Self {
        Self::Integer(i64::try_from(n).unwrap_or(i64::MAX))
    }
}

impl From<u32> for Value {
    fn from(n: u32) -> Self {
        Self::Integer(n.into())
    }
}

impl From<i32> for Value {
    fn from(n: i32) -> Self {
        Self::Integer(n.into())
    }
}

impl From<usize> for Value {
    fn from(n: usize) -> Self {
        Self::Integer(i64::try_from(n).unwrap_or(i64::MAX))
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Self::Integer(b.into())
    }
}

impl From<f64> for Value {
    fn from(f: f64) -> Self {
        Self::Real(f)
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Self::Text(s)
    }
}

impl From<&String> for Value {
    fn from(s: &String) -> Self {
        Self::Text(s.clone())
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Self::Text(s.to_owned())
    }
}

impl From<Vec<u8>> for Value {
    fn from(b: Vec<u8>) -> Self {
        Self::Blob(b)
    }
}

impl From<&[u8]> for Value {
    fn from(b: &[u8]) -> Self {
        Self::Blob(b.to_vec())
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Self::Null, Into::into)
    }
}

/// A statement's arguments, `?1` first: `args![id, n]`.
macro_rules! args {
    ($($v:expr),* $(,)?) => { vec![$($crate::storage::Value::from($v)),*] };
}
pub(crate) use args;

/// One row a read returned.
#[derive(Clone, Debug)]
pub struct Row {
    names: Arc<[String]>,
    values: Vec<Value>,
}

impl Row {
    pub(super) fn new(names: Arc<[String]>, values: Vec<Value>) -> Self {
        Self { names, values }
    }

    /// Column `i`, as `T`.
    pub fn get<T: FromValue>(&self, i: usize) -> Result<T, StorageError> {
        let v = self.values.get(i).ok_or_else(|| StorageError::Corrupt(format!("no column {i}")))?;
        T::from_value(v).map_err(|want| {
            let name = self.names.get(i).map_or("?", String::as_str);
            StorageError::Corrupt(format!("column {name}: expected {want}, found {v:?}"))
        })
    }

    /// The columns' names and values.
    pub fn columns(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.names.iter().map(String::as_str).zip(&self.values)
    }
}

/// A Rust type a column reads as. The error names what was expected.
pub trait FromValue: Sized {
    /// Reads `v`.
    fn from_value(v: &Value) -> Result<Self, &'static str>;
}

impl FromValue for i64 {
    fn from_value(v: &Value) -> Result<Self, &'static str> {
        match v {
            Value::Integer(n) => Ok(*n),
            _ => Err("an integer"),
        }
    }
}

impl FromValue for u64 {
    fn from_value(v: &Value) -> Result<Self, &'static str> {
        i64::from_value(v).and_then(|n| u64::try_from(n).map_err(|_| "an integer of 0 or more"))
    }
}

impl FromValue for u32 {
    fn from_value(v: &Value) -> Result<Self, &'static str> {
        i64::from_value(v).and_then(|n| u32::try_from(n).map_err(|_| "an integer from 0 to 2^32"))
    }
}

impl FromValue for bool {
    fn from_value(v: &Value) -> Result<Self, &'static str> {
        i64::from_value(v).map(|n| n != 0)
    }
}

impl FromValue for f64 {
    fn from_value(v: &Value) -> Result<Self, &'static str> {
        match v {
            Value::Real(f) => Ok(*f),
            Value::Integer(n) => Ok(*n as f64),
            _ => Err("a number"),
        }
    }
}

impl FromValue for String {
    fn from_value(v: &Value) -> Result<Self, &'static str> {
        match v {
            Value::Text(s) => Ok(s.clone()),
            _ => Err("text"),
        }
    }
}

impl FromValue for Vec<u8> {
    fn from_value(v: &Value) -> Result<Self, &'static str> {
        match v {
            Value::Blob(b) => Ok(b.clone()),
            _ => Err("bytes"),
        }
    }
}

impl FromValue for Value {
    fn from_value(v: &Value) -> Result<Self, &'static str> {
        Ok(v.clone())
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: &Value) -> Result<Self, &'static str> {
        match v {
            Value::Null => Ok(None),
            v => T::from_value(v).map(Some),
        }
    }
}
