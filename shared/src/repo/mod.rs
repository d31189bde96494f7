//! Repositories: the SQL for each aggregate, over the `Database` port. They return domain
//! records and leave policy (who may do what) to the services.

pub mod api_keys;
pub mod audit;
pub mod sessions;
pub mod users;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use uuid::Uuid;

use crate::{
    ApiError,
    db::{Param, Row},
};

/// A page of a list, in the contract's shape.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// `rows` holds up to `limit + 1` items; the extra one only says that there is more.
    pub fn from_overfetch(items: Vec<T>, limit: usize, cursor_of: impl Fn(&T) -> Uuid) -> Self {
        Self::from_overfetch_by(items, limit, |item| encode_cursor(cursor_of(item)))
    }

    /// As [`Page::from_overfetch`], for lists whose cursor is more than an id (a sort value
    /// and an id: [`encode_position`]).
    pub fn from_overfetch_by(mut items: Vec<T>, limit: usize, cursor_of: impl Fn(&T) -> String) -> Self {
        let next_cursor = if items.len() > limit {
            items.truncate(limit);
            items.last().map(cursor_of)
        } else {
            None
        };
        Self { items, next_cursor }
    }
}

/// A cursor for a position in a sorted list (for example the sort value and the id of the
/// last item of a page): base64url of its JSON, opaque to clients.
pub fn encode_position<T: serde::Serialize>(position: &T) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(position).unwrap_or_default())
}

/// The position a cursor of [`encode_position`] holds, or a field error for anything else.
pub fn decode_position<T: serde::de::DeserializeOwned>(cursor: &str) -> Result<T, ApiError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| ApiError::field("cursor", "is not a cursor this service issued"))
}

pub fn encode_cursor(id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(id.as_bytes())
}

/// Any 16 bytes make a cursor: one this service did not issue only starts a page somewhere, so
/// the trailing bits of its last character are not held against it.
pub fn decode_cursor(cursor: &str) -> Result<Uuid, ApiError> {
    const LENIENT: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        base64::engine::general_purpose::NO_PAD.with_decode_allow_trailing_bits(true),
    );
    LENIENT
        .decode(cursor)
        .ok()
        .and_then(|bytes| Uuid::from_slice(&bytes).ok())
        .ok_or_else(|| ApiError::field("cursor", "is not a cursor this service issued"))
}

/// SQL that holds when `column` contains the text bound to `text` (ASCII lower-cased), ignoring
/// ASCII case as LIKE would. Not LIKE itself: D1 refuses LIKE patterns over 50 bytes, and a
/// search text needs no escaping this way.
pub fn contains(column: &str, text: Param) -> String {
    format!("instr(lower({column}), {text}) > 0")
}

pub fn decode<T>(rows: Vec<Row>, f: impl Fn(&Row) -> crate::db::DbResult<T>) -> Result<Vec<T>, ApiError> {
    rows.iter().map(f).collect::<Result<_, _>>().map_err(ApiError::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_a_field_error() {
        let id = Uuid::now_v7();
        assert_eq!(decode_cursor(&encode_cursor(id)).unwrap(), id);
        assert_eq!(decode_cursor("%%%").unwrap_err().errors[0].field, "cursor");
    }

    #[test]
    fn positions_round_trip_and_garbage_is_a_field_error() {
        let position = (serde_json::json!(2), Uuid::now_v7());
        assert_eq!(decode_position::<(serde_json::Value, Uuid)>(&encode_position(&position)).unwrap(), position);
        assert_eq!(decode_position::<(serde_json::Value, Uuid)>("bm9wZQ").unwrap_err().errors[0].field, "cursor");
    }

    #[test]
    fn a_page_reports_a_cursor_only_when_there_is_more() {
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
        let page = Page::from_overfetch(ids.clone(), 2, |id| *id);
        assert_eq!(page.items.len(), 2);
        assert_eq!(page.next_cursor, Some(encode_cursor(ids[1])));
        let last = Page::from_overfetch(ids, 3, |id| *id);
        assert_eq!(last.next_cursor, None);
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;
    use serde_json::Value as Json;

    use super::*;

    fn is_url_safe(c: char) -> bool {
        c.is_ascii_alphanumeric() || c == '-' || c == '_'
    }

    /// Any text at all, and text near the alphabet cursors use, so that both refusals and
    /// acceptances are common.
    fn strings() -> impl Strategy<Value = String> {
        prop_oneof![any::<String>(), "[A-Za-z0-9_-]{20,24}", "[A-Za-z0-9_=+/%.-]{0,30}"]
    }

    /// Positions as the lists make them: a sort value (a rank or a timestamp) and an id.
    fn positions() -> impl Strategy<Value = (Json, Uuid)> {
        let value = prop_oneof![any::<i64>().prop_map(Json::from), any::<String>().prop_map(Json::from)];
        (value, any::<[u8; 16]>().prop_map(Uuid::from_bytes))
    }

    proptest! {
        #[test]
        fn every_id_round_trips(bytes in any::<[u8; 16]>()) {
            let id = Uuid::from_bytes(bytes);
            let cursor = encode_cursor(id);
            prop_assert!(cursor.len() == 22 && cursor.chars().all(is_url_safe), "{}", cursor);
            prop_assert_eq!(decode_cursor(&cursor).unwrap(), id);
        }

        /// The reference: 22 characters of the base64url alphabet are 132 bits, the 128 of an
        /// id and 4 left over; anything else is refused as a field error.
        #[test]
        fn a_cursor_is_accepted_exactly_when_it_is_22_url_safe_characters(text in strings()) {
            match decode_cursor(&text) {
                Ok(id) => {
                    prop_assert!(text.len() == 22 && text.chars().all(is_url_safe), "{:?} was accepted", text);
                    // Only the leftover bits of the last character may differ from what was issued.
                    prop_assert_eq!(&encode_cursor(id)[..21], &text[..21]);
                }
                Err(refused) => {
                    prop_assert!(!(text.len() == 22 && text.chars().all(is_url_safe)), "{:?} was refused", text);
                    prop_assert_eq!(&refused.errors[0].field, "cursor");
                }
            }
        }

        #[test]
        fn every_position_round_trips(position in positions(), seq in any::<i64>()) {
            prop_assert_eq!(decode_position::<(Json, Uuid)>(&encode_position(&position)).unwrap(), position);
            prop_assert_eq!(decode_position::<i64>(&encode_position(&seq)).unwrap(), seq);
        }

        #[test]
        fn a_position_from_garbage_is_refused_or_stable(text in strings()) {
            match decode_position::<(Json, Uuid)>(&text) {
                Ok(position) => prop_assert_eq!(decode_position::<(Json, Uuid)>(&encode_position(&position)).unwrap(), position),
                Err(refused) => prop_assert_eq!(&refused.errors[0].field, "cursor"),
            }
            if !text.chars().all(is_url_safe) {
                prop_assert!(decode_position::<i64>(&text).is_err(), "{:?} was accepted", text);
            }
        }
    }
}
