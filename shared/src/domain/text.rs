//! Checked strings. Each type states its length limit and allowed characters once; the JSON
//! layer reports a violation as a field error.

use serde::{Deserialize, Serialize};

/// Passwords a user may not choose; the file's header says where they come from.
const COMMON_PASSWORDS: &str = include_str!("common_passwords.txt");

/// A common password, or one stretched to the length rule with digits and symbols at the end
/// ("dragon2024!!"), which is how a short favourite usually meets such a rule.
fn is_common(password: &str) -> bool {
    let lowered = password.to_lowercase();
    let stem = lowered.trim_end_matches(|c: char| c.is_ascii_digit() || c.is_ascii_punctuation());
    COMMON_PASSWORDS.lines().filter(|line| !line.starts_with('#')).any(|common| common == lowered || common == stem)
}

/// Why a string was refused: what a 422 says of the field after its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    #[error("must be at least {0} characters")]
    TooShort(usize),
    #[error("must be at most {0} characters")]
    TooLong(usize),
    #[error("must not contain control characters")]
    ControlCharacters,
    #[error("must not contain control characters other than newlines and tabs")]
    ControlCharactersBesidesNewlines,
    #[error("must not contain spaces or control characters")]
    SpacesOrControlCharacters,
    #[error("must not contain NUL characters")]
    Nul,
    #[error("must not be blank")]
    Blank,
    #[error("must be an email address")]
    NotAnEmail,
    #[error("may contain only letters, digits, '_' and '-', and must start with a letter or digit")]
    NotAUsername,
    #[error("is too common; choose another")]
    TooCommon,
    #[error("must not be one repeated character")]
    OneRepeatedCharacter,
    #[error("is not a token this service issued")]
    NotIssued,
}

fn char_count_between(text: &str, min: usize, max: usize) -> Result<(), Invalid> {
    let count = text.chars().count();
    if count < min {
        return Err(Invalid::TooShort(min));
    }
    if count > max {
        return Err(Invalid::TooLong(max));
    }
    Ok(())
}

/// Single-line text: no control characters at all (this also refuses NUL).
fn single_line(text: &str) -> Result<(), Invalid> {
    if text.chars().any(char::is_control) {
        return Err(Invalid::ControlCharacters);
    }
    Ok(())
}

/// What a checked string's OpenAPI schema says of it: the same bounds its check enforces, so
/// that the document and the code cannot drift apart (lengths in characters, as both count them).
struct Text {
    min: usize,
    max: usize,
    /// An ECMA-262 pattern the value matches, where the check has more rules than a length.
    pattern: Option<&'static str>,
    format: Option<&'static str>,
}

impl Text {
    fn schema(self) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
        let format = self
            .format
            .map(|f| if f == "email" { SchemaFormat::KnownFormat(KnownFormat::Email) } else { SchemaFormat::Custom(f.to_owned()) });
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length((self.min > 0).then_some(self.min))
            .max_length(Some(self.max))
            .pattern(self.pattern)
            .format(format)
            .into()
    }
}

/// No C0 or C1 control character (what `char::is_control` refuses), and at least one character
/// that trimming keeps.
const ONE_LINE: &str = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$";

macro_rules! checked_string {
    ($(#[$meta:meta])* $name:ident, $schema:expr, $check:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                let text: Text = $schema;
                text.schema()
            }
        }

        impl utoipa::ToSchema for $name {}

        impl TryFrom<String> for $name {
            type Error = Invalid;
            fn try_from(value: String) -> Result<Self, Invalid> {
                let check: fn(String) -> Result<String, Invalid> = $check;
                check(value).map(Self)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
    };
}

checked_string!(
    /// An email address, stored lower-cased.
    Email,
    Text { min: 3, max: 254, pattern: Some("^\\s*[^@\\s\\u0000-\\u001f\\u007f-\\u009f]{1,64}@[^@\\s.\\u0000-\\u001f\\u007f-\\u009f][^@\\s\\u0000-\\u001f\\u007f-\\u009f]*\\.[^@\\s\\u0000-\\u001f\\u007f-\\u009f]*[^@\\s.\\u0000-\\u001f\\u007f-\\u009f]\\s*$"), format: None },
    |value| {
        let value = value.trim().to_lowercase();
        char_count_between(&value, 3, 254)?;
        single_line(&value)?;
        let (local, domain) = value.split_once('@').ok_or(Invalid::NotAnEmail)?;
        let valid = !local.is_empty()
            && local.len() <= 64
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains('@')
            && !value.contains(char::is_whitespace);
        if valid { Ok(value) } else { Err(Invalid::NotAnEmail) }
    }
);

checked_string!(
    /// A public handle: 3 to 32 letters, digits, `_` or `-`, starting with a letter or digit.
    Username,
    Text { min: 3, max: 32, pattern: Some("^[A-Za-z0-9][A-Za-z0-9_-]*$"), format: None },
    |value| {
        char_count_between(&value, 3, 32)?;
        let mut chars = value.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
        if first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            Ok(value)
        } else {
            Err(Invalid::NotAUsername)
        }
    }
);

checked_string!(
    /// A password being chosen: at least 12 characters and not a commonly used one.
    NewPassword,
    Text { min: 12, max: 256, pattern: Some("^[^\\u0000]*$"), format: Some("password") },
    |value| {
        char_count_between(&value, 12, 256)?;
        if value.contains('\0') {
            return Err(Invalid::Nul);
        }
        if is_common(&value) {
            return Err(Invalid::TooCommon);
        }
        let mut chars = value.chars();
        let first = chars.next();
        if chars.all(|c| Some(c) == first) {
            return Err(Invalid::OneRepeatedCharacter);
        }
        Ok(value)
    }
);

checked_string!(
    /// A password presented to sign in: only bounded, never judged (a wrong one is just wrong).
    Password,
    Text { min: 1, max: 256, pattern: None, format: Some("password") },
    |value| {
        char_count_between(&value, 1, 256)?;
        Ok(value)
    }
);

checked_string!(
    /// What a user signs in with: their email or their username.
    LoginName,
    Text { min: 1, max: 254, pattern: Some(ONE_LINE), format: None },
    |value| {
        let value = value.trim().to_owned();
        char_count_between(&value, 1, 254)?;
        single_line(&value)?;
        Ok(value)
    }
);

checked_string!(
    /// A name people give things (a project, an API key): one line of 1 to 100 characters.
    Name,
    Text { min: 1, max: 100, pattern: Some(ONE_LINE), format: None },
    |value| {
        let value = value.trim().to_owned();
        char_count_between(&value, 1, 100)?;
        single_line(&value)?;
        Ok(value)
    }
);

checked_string!(
    /// The title of a piece of work (a task, a workflow step): one line of 1 to 200 characters.
    Title,
    Text { min: 1, max: 200, pattern: Some(ONE_LINE), format: None },
    |value| {
        let value = value.trim().to_owned();
        char_count_between(&value, 1, 200)?;
        single_line(&value)?;
        Ok(value)
    }
);

checked_string!(
    /// A label on something (a task, a template): 1 to 50 characters without spaces or control
    /// characters, compared as given.
    Label,
    Text { min: 1, max: 50, pattern: Some("^[^\\s\\u0000-\\u001f\\u007f-\\u009f]+$"), format: None },
    |value| {
        char_count_between(&value, 1, 50)?;
        if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Invalid::SpacesOrControlCharacters);
        }
        Ok(value)
    }
);

checked_string!(
    /// Free text of up to 10,000 characters; newlines and tabs are allowed, other control
    /// characters are not.
    Description,
    Text { min: 0, max: 10_000, pattern: Some("^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f]*$"), format: None },
    |value| {
        char_count_between(&value, 0, 10_000)?;
        if value.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
            return Err(Invalid::ControlCharactersBesidesNewlines);
        }
        Ok(value)
    }
);

checked_string!(
    /// What someone asks of an AI agent, or proposes to a vote: 1 to 10,000 characters, not all
    /// blank; newlines and tabs are allowed, other control characters are not.
    Prompt,
    Text { min: 1, max: 10_000, pattern: Some("^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f]*$"), format: None },
    |value| {
        char_count_between(&value, 1, 10_000)?;
        if value.trim().is_empty() {
            return Err(Invalid::Blank);
        }
        if value.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
            return Err(Invalid::ControlCharactersBesidesNewlines);
        }
        Ok(value)
    }
);

checked_string!(
    /// An opaque token a client hands back (a refresh token, a reset token, a device code): a
    /// prefix and base64url, at most 256 characters; whether it is valid is for the service to
    /// find out.
    OpaqueToken,
    Text { min: 1, max: 256, pattern: Some("^[A-Za-z0-9_-]+$"), format: None },
    |value| {
        let issued = (1..=256).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !issued {
            return Err(Invalid::NotIssued);
        }
        Ok(value)
    }
);

impl Description {
    pub fn empty() -> Self {
        Self(String::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok<T: TryFrom<String>>(text: &str) -> bool {
        T::try_from(text.to_owned()).is_ok()
    }

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(Email::try_from(" Ada@Example.COM ".to_owned()).unwrap().as_str(), "ada@example.com");
        for bad in ["", "ada", "ada@", "@example.com", "ada@example", "a da@example.com", "ada@@example.com", "ada@example.com\0"] {
            assert!(!ok::<Email>(bad), "{bad:?} passed");
        }
        assert!(!ok::<Email>(&format!("{}@example.com", "a".repeat(10_000))));
    }

    #[test]
    fn usernames_allow_a_small_alphabet() {
        assert!(ok::<Username>("ada_lovelace-1"));
        for bad in ["ab", "-ada", "ada lovelace", "ada'; DROP TABLE users;--", "ådå", "ada\0x"] {
            assert!(!ok::<Username>(bad), "{bad:?} passed");
        }
    }

    #[test]
    fn new_passwords_must_be_long_and_uncommon() {
        assert!(ok::<NewPassword>("violet-staple-orbit-42"));
        assert!(!ok::<NewPassword>("short"));
        assert!(!ok::<NewPassword>("password1234"));
        assert!(!ok::<NewPassword>("Password1234"));
        assert!(!ok::<NewPassword>("Sunshine2024!!"));
        assert!(!ok::<NewPassword>("michael19851985"));
        assert!(ok::<NewPassword>("sunshine-on-a-tuesday"));
        assert!(!ok::<NewPassword>("aaaaaaaaaaaaaaaa"));
        assert!(!ok::<NewPassword>("twelve chars\0"));
        assert!(!ok::<NewPassword>(&"x".repeat(257)));
    }

    #[test]
    fn names_are_single_lines_and_descriptions_may_have_newlines() {
        assert!(ok::<Name>("TUI backend"));
        assert!(!ok::<Name>("   "));
        assert!(!ok::<Name>("line\nbreak"));
        assert!(!ok::<Name>(&"n".repeat(101)));
        assert!(ok::<Description>("first line\nsecond\tline"));
        assert!(!ok::<Description>("nul\0byte"));
        assert!(!ok::<Description>(&"d".repeat(10_001)));
    }

    #[test]
    fn refusals_say_what_the_field_must_be() {
        assert_eq!(Name::try_from(" ".repeat(3)).unwrap_err().to_string(), "must be at least 1 characters");
        assert_eq!(Title::try_from("t".repeat(201)).unwrap_err().to_string(), "must be at most 200 characters");
        assert_eq!(Email::try_from("ada".to_owned()), Err(Invalid::NotAnEmail));
        assert_eq!(Prompt::try_from("  \n ".to_owned()), Err(Invalid::Blank));
        assert_eq!(
            Description::try_from("bell\u{7}".to_owned()).unwrap_err().to_string(),
            "must not contain control characters other than newlines and tabs"
        );
    }

    #[test]
    fn titles_are_single_lines_and_labels_single_words() {
        assert_eq!(Title::try_from("  Ship it ".to_owned()).unwrap().as_str(), "Ship it");
        assert!(!ok::<Title>(&"t".repeat(201)));
        assert!(!ok::<Title>("two\nlines"));
        assert!(ok::<Label>("backend/api"));
        for bad in ["", "two words", "tab\tbed", &"l".repeat(51)] {
            assert!(!ok::<Label>(bad), "{bad:?} passed");
        }
    }
}
