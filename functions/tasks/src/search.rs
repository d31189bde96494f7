//! Full-text search: what a user types, as an FTS5 query over title, description and labels.

/// The most words a search looks for.
const MAX_WORDS: usize = 8;

/// Every word of `text` must occur in a task, each as a word or the start of one
/// (`"deploy"* "api"*`); a one-letter word only as itself, since the start of a word that short
/// matches nearly every task of every project in the index. Words are what the FTS5
/// `unicode61` tokenizer indexes (letters and digits); everything else separates them, so no
/// input is FTS5 syntax. `None` when the text has no word at all.
pub fn query(text: &str) -> Option<String> {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(MAX_WORDS)
        .map(|w| if w.chars().count() > 1 { format!("\"{w}\"*") } else { format!("\"{w}\"") })
        .collect();
    (!words.is_empty()).then(|| words.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_become_prefix_terms_and_syntax_is_never_passed_through() {
        assert_eq!(query("deploy API").as_deref(), Some("\"deploy\"* \"API\"*"));
        assert_eq!(query("ab\" OR title:x NEAR(").as_deref(), Some("\"ab\"* \"OR\"* \"title\"* \"x\" \"NEAR\"*"));
        assert_eq!(query("  -- ** "), None);
        assert_eq!(query("übersetzung"), Some("\"übersetzung\"*".into()));
        assert_eq!(query("a bc").as_deref(), Some("\"a\" \"bc\"*"), "one letter only as a word");
        assert_eq!(query("a b c d e f g h i j").unwrap().matches('"').count(), 2 * MAX_WORDS);
    }
}
