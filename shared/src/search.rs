//! Full-text search: what a user types, as an FTS5 query. No input is read as FTS5 syntax, and
//! no query asks the index for more than a search needs: a bounded number of words, and no
//! word so short that its prefix matches nearly every row.
//!
//! Two kinds of index use these rules. One tokenized by `unicode61` over a table's own text
//! ([`query`]: tasks). One shared by many tenants whose every word carries its tenant's scope
//! token ([`query_in`], [`indexed_words`]: swarm memory): there a term, and a prefix of any
//! length, names only the scope's own entries, so what a search reads depends on that tenant's
//! rows alone, whatever the others store (only `bm25`'s corpus figures, the row count and the
//! mean length, are the whole index's).

/// The most words a search looks for.
pub const MAX_WORDS: usize = 8;

/// The words of `text`: runs of letters and digits, what the FTS5 `unicode61` tokenizer indexes
/// as words; everything else separates them, so no word holds a quote or an operator.
pub fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty())
}

/// Every word of `text` must occur, each as a word or the start of one (`"deploy"* "api"*`);
/// a one-letter word only as itself, since the start of a word that short matches nearly
/// every row. `None` when the text has no word at all.
fn terms(text: &str, indexed: impl Fn(&str) -> String) -> Option<String> {
    let terms: Vec<String> = words(text)
        .take(MAX_WORDS)
        .map(|w| if w.chars().nth(1).is_some() { format!("\"{}\"*", indexed(w)) } else { format!("\"{}\"", indexed(w)) })
        .collect();
    (!terms.is_empty()).then(|| terms.join(" "))
}

/// A query over an index tokenized by `unicode61`, which folds case itself.
pub fn query(text: &str) -> Option<String> {
    terms(text, str::to_owned)
}

/// A query over an index of [`indexed_words`] whose every word the schema prefixed with
/// `scope`, tokenized by FTS5's `ascii` tokenizer: each word is one token (it holds no ASCII
/// separator, and `ascii` takes any other character as part of a word), so no part of it
/// escapes the scope.
pub fn query_in(scope: &str, text: &str) -> Option<String> {
    terms(text, |w| format!("{scope}{}", w.to_lowercase()))
}

/// The words of `text` as a scoped index stores them: lowercased (the `ascii` tokenizer folds
/// ASCII only), one space apart, so that the schema can put the scope before each.
pub fn indexed_words(text: &str) -> String {
    words(text).map(str::to_lowercase).collect::<Vec<_>>().join(" ")
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

    #[test]
    fn scoped_terms_carry_the_scope_and_fold_case_as_the_index_does() {
        assert_eq!(query_in("s1", "Über a-b cache").as_deref(), Some("\"s1über\"* \"s1a\" \"s1b\" \"s1cache\"*"));
        assert_eq!(query_in("s1", "\"*:^ NEAR(x)").as_deref(), Some("\"s1near\"* \"s1x\""));
        assert_eq!(query_in("s1", " ,; "), None);
        assert_eq!(indexed_words("parser-design: {\"todo\":\"Fuzz the Tokenizer\"}"), "parser design todo fuzz the tokenizer");
        assert_eq!(indexed_words("--"), "");
    }
}
