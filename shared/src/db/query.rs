//! A statement built in pieces, numbering its own parameters, for SQL that splices in shared
//! fragments (a role guard, a lease check): each value is bound through the builder, which
//! hands back its placeholder, so no piece of SQL computes a parameter number by hand and the
//! numbers cannot fall out of order with the values (the approach of sqlx's `QueryBuilder`).
//!
//! ```
//! # use tui_shared::db::Query;
//! let mut q = Query::default();
//! let id = q.bind("t1");
//! let version = q.bind(3_i64);
//! q.push(format!("UPDATE tasks SET title = 'x' WHERE id = {id} AND version = {version}"));
//! let statement = q.finish();
//! assert_eq!(statement.sql, "UPDATE tasks SET title = 'x' WHERE id = ?1 AND version = ?2");
//! ```

use std::fmt;

use super::{Statement, Value};

/// SQL text and the values its placeholders stand for, in order.
#[derive(Debug, Default)]
pub struct Query {
    sql: String,
    params: Vec<Value>,
}

/// The placeholder of a value bound to a [`Query`]: writes itself as `?k`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param(usize);

impl fmt::Display for Param {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "?{}", self.0)
    }
}

/// What a shared fragment compares against: a value bound to the statement, or a column of the
/// statement's own tables, qualified by its table or alias (`tasks.project_id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operand {
    Param(Param),
    Column(&'static str),
}

impl From<Param> for Operand {
    fn from(param: Param) -> Self {
        Self::Param(param)
    }
}

impl fmt::Display for Operand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Param(param) => param.fmt(f),
            Self::Column(column) => f.write_str(column),
        }
    }
}

impl Query {
    /// A query that starts with `sql`, which names no parameter yet.
    pub fn new(sql: impl Into<String>) -> Self {
        Self { sql: sql.into(), params: Vec::new() }
    }

    /// Appends text.
    pub fn push(&mut self, sql: impl AsRef<str>) -> &mut Self {
        self.sql.push_str(sql.as_ref());
        self
    }

    /// Binds a value and returns its placeholder, to write into the text.
    pub fn bind(&mut self, value: impl Into<Value>) -> Param {
        self.params.push(value.into());
        Param(self.params.len())
    }

    /// Binds a value and appends its placeholder.
    pub fn push_bind(&mut self, value: impl Into<Value>) -> &mut Self {
        let param = self.bind(value);
        self.sql.push_str(&param.to_string());
        self
    }

    pub fn finish(self) -> Statement {
        Statement::new(self.sql, self.params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_numbered_in_the_order_they_are_bound() {
        let mut q = Query::new("SELECT 1 WHERE a = ");
        q.push_bind("x").push(" AND b IN (");
        let b = q.bind(2_i64);
        let c = q.bind(Value::Null);
        q.push(format!("{b}, {c})"));
        let statement = q.finish();
        assert_eq!(statement.sql, "SELECT 1 WHERE a = ?1 AND b IN (?2, ?3)");
        assert_eq!(statement.params, vec![Value::Text("x".into()), Value::Integer(2), Value::Null]);
    }

    #[test]
    fn operands_write_a_placeholder_or_a_column() {
        let mut q = Query::default();
        let p = q.bind(1_i64);
        assert_eq!(Operand::from(p).to_string(), "?1");
        assert_eq!(Operand::Column("t.id").to_string(), "t.id");
    }
}
