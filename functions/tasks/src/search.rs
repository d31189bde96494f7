//! Full-text search: what a user types, as an FTS5 query over title, description and labels.

/// Every word of `text` must occur in a task, each as a word or the start of one
/// (`"deploy"* "api"*`). Words are what the FTS5 `unicode61` tokenizer indexes (letters and
/// digits); everything else separates them, so no input is FTS5 syntax. `None` when the text
/// has no word at all.
pub fn query(text: &str) -> Option<String> {
    let words: Vec<String> =
        text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).take(16).map(|w| format!("\"{w}\"*")).collect();
    (!words.is_empty()).then(|| words.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_become_prefix_terms_and_syntax_is_never_passed_through() {
        assert_eq!(query("deploy API").as_deref(), Some("\"deploy\"* \"API\"*"));
        assert_eq!(query("a\" OR title:x NEAR(").as_deref(), Some("\"a\"* \"OR\"* \"title\"* \"x\"* \"NEAR\"*"));
        assert_eq!(query("  -- ** "), None);
        assert_eq!(query("übersetzung"), Some("\"übersetzung\"*".into()));
    }
}
