//! Rows, and how a repository reads them: by column name, into a `#[derive(Deserialize)]`
//! record, through a serde `Deserializer` over the row (the approach of `serde_rusqlite`, and
//! of D1's own `first`/`all`, which hand rows back as objects keyed by column).
//!
//! A record must find all it asks for: every field of a struct names a column of the query (an
//! `Option` field missing from the query would otherwise read as `None` for ever), and a tuple,
//! for a query of at most a few columns, has the query's width. Either mismatch is a decode
//! error, so a query and its record cannot drift apart silently. A struct may leave columns
//! unread, for a query that serves more than one record.
//!
//! Each column decodes by the type the record asks for, with the coercions every backend needs:
//! an integer from a real without a fraction (D1 and Hrana-over-JSON may send integral numbers
//! as reals), a real from an integer, a bool from an integer, an enum or a UUID from its text,
//! `NULL` as `None`. [`Json`] reads a column that stores JSON text.

use std::{fmt, sync::Arc};

use serde::{
    Deserialize, Deserializer,
    de::{self, DeserializeOwned, IntoDeserializer, MapAccess, SeqAccess, Visitor},
};

use super::{DbError, DbResult, Value};

/// A row: its values, in the order the query selected them, and the names of its columns,
/// shared by every row of one result.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    columns: Arc<[String]>,
    values: Vec<Value>,
}

impl Row {
    /// A row of `values` under `columns` (one name per value).
    pub fn new(columns: Arc<[String]>, values: Vec<Value>) -> Self {
        debug_assert_eq!(columns.len(), values.len(), "a row has one name per value");
        Self { columns, values }
    }

    pub fn values(&self) -> &[Value] {
        &self.values
    }

    /// The whole row as a record: a struct whose fields are the columns' names, or a tuple of
    /// the row's width. `let task: TaskRecord = row.decode()?;`
    pub fn decode<T: DeserializeOwned>(&self) -> DbResult<T> {
        T::deserialize(RowDeserializer(self)).map_err(|e| DbError::Decode(e.0))
    }

    /// One column, by name.
    pub fn get<T: DeserializeOwned>(&self, column: &str) -> DbResult<T> {
        let at =
            self.columns.iter().position(|c| c == column).ok_or_else(|| DbError::Decode(format!("the query has no column `{column}`")))?;
        T::deserialize(ValueDeserializer(&self.values[at])).map_err(|e| DbError::Decode(format!("column `{column}`: {e}")))
    }
}

/// A column that holds JSON text, read as `T`.
#[derive(Debug, Clone, PartialEq)]
pub struct Json<T>(pub T);

impl<'de, T: DeserializeOwned> Deserialize<'de> for Json<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        serde_json::from_str(&text).map(Json).map_err(|e| de::Error::custom(format!("stored JSON: {e}")))
    }
}

/// Why a row did not decode.
#[derive(Debug)]
pub struct DecodeError(String);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DecodeError {}

impl de::Error for DecodeError {
    fn custom<T: fmt::Display>(message: T) -> Self {
        Self(message.to_string())
    }
}

struct RowDeserializer<'a>(&'a Row);

impl<'a> RowDeserializer<'a> {
    fn width(&self, expected: usize) -> Result<(), DecodeError> {
        match self.0.values.len() {
            found if found == expected => Ok(()),
            found => Err(DecodeError(format!("expected {expected} columns, found {found}"))),
        }
    }
}

impl<'de> Deserializer<'de> for RowDeserializer<'de> {
    type Error = DecodeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_map(Columns { row: self.0, at: 0 })
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        let columns = &self.0.columns;
        if let Some(missing) = fields.iter().find(|field| !columns.iter().any(|c| c == *field)) {
            return Err(DecodeError(format!("the query has no column `{missing}`")));
        }
        visitor.visit_map(Columns { row: self.0, at: 0 })
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, Self::Error> {
        self.width(len)?;
        visitor.visit_seq(Values { row: self.0, at: 0 })
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(self, _: &'static str, len: usize, visitor: V) -> Result<V::Value, Self::Error> {
        self.deserialize_tuple(len, visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _: &'static str, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit unit_struct seq map
        enum identifier ignored_any
    }
}

/// A struct's view of a row: each column as a named entry.
struct Columns<'a> {
    row: &'a Row,
    at: usize,
}

impl<'de> MapAccess<'de> for Columns<'de> {
    type Error = DecodeError;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Self::Error> {
        let Some(name) = self.row.columns.get(self.at) else { return Ok(None) };
        seed.deserialize(name.as_str().into_deserializer()).map(Some)
    }

    fn next_value_seed<V: de::DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Self::Error> {
        let at = self.at;
        self.at += 1;
        seed.deserialize(ValueDeserializer(&self.row.values[at]))
            .map_err(|e| DecodeError(format!("column `{}`: {e}", self.row.columns[at])))
    }
}

/// A tuple's view of a row: the columns in order.
struct Values<'a> {
    row: &'a Row,
    at: usize,
}

impl<'de> SeqAccess<'de> for Values<'de> {
    type Error = DecodeError;

    fn next_element_seed<T: de::DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, Self::Error> {
        let Some(value) = self.row.values.get(self.at) else { return Ok(None) };
        let at = self.at;
        self.at += 1;
        seed.deserialize(ValueDeserializer(value)).map(Some).map_err(|e| DecodeError(format!("column {at}: {e}")))
    }
}

/// One column's value, read as the record's field asks.
struct ValueDeserializer<'a>(&'a Value);

impl ValueDeserializer<'_> {
    fn mismatch(&self, expected: &str) -> DecodeError {
        DecodeError(format!("expected {expected}, found {:?}", self.0))
    }

    fn integer(&self) -> Result<i64, DecodeError> {
        match self.0 {
            Value::Integer(v) => Ok(*v),
            Value::Real(v) if v.fract() == 0.0 => Ok(*v as i64),
            _ => Err(self.mismatch("integer")),
        }
    }
}

macro_rules! integers {
    ($($method:ident)+) => {
        $(fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
            visitor.visit_i64(self.integer()?)
        })+
    };
}

impl<'de> Deserializer<'de> for ValueDeserializer<'de> {
    type Error = DecodeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            Value::Integer(v) => visitor.visit_i64(*v),
            Value::Real(v) => visitor.visit_f64(*v),
            Value::Text(v) => visitor.visit_borrowed_str(v),
            Value::Blob(v) => visitor.visit_borrowed_bytes(v),
        }
    }

    integers!(deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64);

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_bool(self.integer().map_err(|_| self.mismatch("integer as bool"))? != 0)
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Real(v) => visitor.visit_f64(*v),
            Value::Integer(v) => visitor.visit_f64(*v as f64),
            _ => Err(self.mismatch("real")),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Text(v) => visitor.visit_borrowed_str(v),
            _ => Err(self.mismatch("text")),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Blob(v) => visitor.visit_borrowed_bytes(v),
            _ => Err(self.mismatch("blob")),
        }
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Null => visitor.visit_unit(),
            _ => Err(self.mismatch("null")),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _: &'static str, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_newtype_struct(self)
    }

    /// An enum stored as its variant's name (`pending`), as every enum here is.
    fn deserialize_enum<V: Visitor<'de>>(self, _: &'static str, _: &'static [&'static str], visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Text(v) => visitor.visit_enum(v.as_str().into_deserializer()),
            _ => Err(self.mismatch("text")),
        }
    }

    /// A blob read as `Vec<u8>`, which serde asks for as a sequence.
    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Blob(v) => visitor.visit_seq(de::value::SeqDeserializer::new(v.iter().copied())),
            _ => Err(self.mismatch("blob")),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        i128 u128 unit_struct tuple tuple_struct map struct identifier
    }
}

/// Reads rows as records of type `T`, however many there are: `rows.iter().map(Row::decode)`
/// with the type named once.
pub fn decode_all<T: DeserializeOwned>(rows: &[Row]) -> DbResult<Vec<T>> {
    rows.iter().map(Row::decode).collect()
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    fn row(columns: &[&str], values: Vec<Value>) -> Row {
        Row::new(columns.iter().map(|c| c.to_string()).collect(), values)
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "snake_case")]
    enum State {
        Ready,
        Running,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Record {
        id: Uuid,
        count: i64,
        done: bool,
        score: f64,
        state: State,
        note: Option<String>,
        labels: Json<Vec<String>>,
    }

    #[test]
    fn structs_decode_by_column_name_in_any_order() {
        let id = Uuid::now_v7();
        let row = row(
            &["state", "labels", "note", "score", "done", "count", "id"],
            vec![
                Value::Text("running".into()),
                Value::Text(r#"["a","b"]"#.into()),
                Value::Null,
                Value::Integer(3),
                Value::Integer(1),
                // D1 may hand an integer back as a real.
                Value::Real(7.0),
                Value::Text(id.to_string()),
            ],
        );
        let record: Record = row.decode().unwrap();
        assert_eq!(
            record,
            Record { id, count: 7, done: true, score: 3.0, state: State::Running, note: None, labels: Json(vec!["a".into(), "b".into()]) }
        );
    }

    #[test]
    fn every_field_needs_its_column() {
        #[derive(Debug, Deserialize)]
        #[expect(dead_code, reason = "only decoded")]
        struct Pair {
            a: i64,
            b: Option<i64>,
        }
        let missing = row(&["a"], vec![Value::Integer(1)]).decode::<Pair>().unwrap_err();
        assert!(missing.to_string().contains("no column `b`"), "{missing}");
        let more = row(&["a", "b", "c"], vec![Value::Integer(1), Value::Null, Value::Text("c".into())]);
        assert!(more.decode::<Pair>().is_ok(), "a column may be left unread");
        assert_eq!(more.get::<String>("c").unwrap(), "c");
        assert!(more.get::<String>("d").is_err());
    }

    #[test]
    fn a_wrong_type_names_its_column() {
        #[derive(Debug, Deserialize)]
        #[expect(dead_code, reason = "only decoded")]
        struct One {
            n: i64,
        }
        let error = row(&["n"], vec![Value::Text("x".into())]).decode::<One>().unwrap_err();
        assert!(error.to_string().contains("column `n`: expected integer"), "{error}");
        let fraction = row(&["n"], vec![Value::Real(1.5)]).decode::<One>().unwrap_err();
        assert!(fraction.to_string().contains("expected integer"), "{fraction}");
        let state = row(&["s"], vec![Value::Text("gone".into())]).decode::<(State,)>().unwrap_err();
        assert!(state.to_string().contains("column 0"), "{state}");
    }

    #[test]
    fn tuples_decode_by_position_with_exactly_the_rows_width() {
        let row = row(&["a", "b", "c"], vec![Value::Text("a".into()), Value::Integer(2), Value::Null]);
        let (text, number, missing): (String, i64, Option<String>) = row.decode().unwrap();
        assert_eq!((text.as_str(), number, missing), ("a", 2, None));
        assert!(row.decode::<(String, i64)>().is_err());
        assert!(row.decode::<(String, i64, Option<String>, i64)>().is_err());
        assert!(row.decode::<(i64, i64, Option<String>)>().is_err());
    }

    #[test]
    fn text_enums_decode_from_the_text_they_store() {
        use crate::domain::Priority;
        for priority in Priority::ALL {
            let stored = row(&["p"], vec![Value::Text(priority.as_str().into())]);
            assert_eq!(stored.decode::<(Priority,)>().unwrap().0, *priority);
        }
    }

    #[test]
    fn blobs_and_reals_decode_as_asked() {
        let row = row(&["b", "r"], vec![Value::Blob(vec![1, 2]), Value::Integer(2)]);
        let (blob, real): (Vec<u8>, f64) = row.decode().unwrap();
        assert_eq!((blob, real), (vec![1, 2], 2.0));
    }
}
