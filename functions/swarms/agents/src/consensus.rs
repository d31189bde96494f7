//! Counting votes. A vote is decided as soon as no vote still to come could change it, and
//! otherwise when its deadline closes it.

use std::collections::BTreeMap;

use serde_json::{Value as Json, json};

use crate::model::Algorithm;

/// The fewest voters a byzantine vote needs: 3f + 1 with f = 1.
pub const BYZANTINE_MIN_VOTERS: usize = 4;

#[derive(Debug, Clone)]
pub struct Vote {
    pub value: String,
    pub confidence: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Decided(String),
    /// Closed without any value carrying the vote.
    NoConsensus,
    /// Still open: votes to come could decide it.
    Open,
}

/// How many faulty voters of `voters` a byzantine vote tolerates.
pub fn faulty_tolerated(voters: usize) -> usize {
    voters.saturating_sub(1) / 3
}

/// The verdict on `votes` of `voters` eligible ones, with the tally to show; `closed` once the
/// deadline has passed.
pub fn tally(algorithm: Algorithm, voters: usize, votes: &[Vote], closed: bool) -> (Verdict, Json) {
    // With every voter heard, nothing more can change: the vote closes now.
    let closed = closed || votes.len() >= voters;
    let mut counts: BTreeMap<&str, (usize, f64)> = BTreeMap::new();
    for vote in votes {
        let entry = counts.entry(vote.value.as_str()).or_default();
        entry.0 += 1;
        entry.1 += vote.confidence;
    }
    let by_value: Json =
        counts.iter().map(|(v, (n, w))| ((*v).to_owned(), json!({"votes": n, "weight": w}))).collect::<serde_json::Map<_, _>>().into();
    // The leading value: by count, or by weight when votes are weighted.
    let weighted = algorithm == Algorithm::Weighted;
    let leader =
        counts.iter().max_by(|a, b| if weighted { a.1.1.total_cmp(&b.1.1) } else { a.1.0.cmp(&b.1.0) }).map(|(v, c)| ((*v).to_owned(), *c));
    let cast_weight: f64 = counts.values().map(|c| c.1).sum();
    let f = faulty_tolerated(voters);
    let verdict = match (algorithm, leader) {
        (_, None) => None,
        (Algorithm::Majority, Some((value, (n, _)))) => (n * 2 > voters).then_some(value),
        (Algorithm::Byzantine, Some((value, (n, _)))) => (n > 2 * f).then_some(value),
        // Certain once it holds more than half of all the weight there could be (each voter's
        // at most 1); at the deadline, more than half of the weight cast.
        (Algorithm::Weighted, Some((value, (_, w)))) => (w * 2.0 > voters as f64 || (closed && w * 2.0 > cast_weight)).then_some(value),
    };
    let verdict = match verdict {
        Some(value) => Verdict::Decided(value),
        None if closed => Verdict::NoConsensus,
        None => Verdict::Open,
    };
    let mut shown = json!({"voters": voters, "cast": votes.len(), "by_value": by_value});
    if algorithm == Algorithm::Byzantine {
        shown["faulty_tolerated"] = f.into();
        shown["needed"] = (2 * f + 1).into();
    }
    (verdict, shown)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn votes(values: &[&str]) -> Vec<Vote> {
        values.iter().map(|v| Vote { value: (*v).into(), confidence: 1.0 }).collect()
    }

    #[test]
    fn byzantine_agrees_with_one_faulty_of_four() {
        let (verdict, tally) = tally(Algorithm::Byzantine, 4, &votes(&["yes", "yes", "no", "yes"]), false);
        assert_eq!(verdict, Verdict::Decided("yes".into()));
        assert_eq!((tally["faulty_tolerated"].as_u64(), tally["needed"].as_u64()), (Some(1), Some(3)));
        // Two against two is no agreement, once all voted.
        assert_eq!(super::tally(Algorithm::Byzantine, 4, &votes(&["yes", "yes", "no", "no"]), false).0, Verdict::NoConsensus);
        assert_eq!(faulty_tolerated(3), 0);
    }

    #[test]
    fn a_majority_decides_early_and_a_deadline_closes() {
        assert_eq!(tally(Algorithm::Majority, 5, &votes(&["a", "a", "a"]), false).0, Verdict::Decided("a".into()));
        assert_eq!(tally(Algorithm::Majority, 5, &votes(&["a", "a"]), false).0, Verdict::Open);
        assert_eq!(tally(Algorithm::Majority, 5, &votes(&["a", "a"]), true).0, Verdict::NoConsensus);
    }

    #[test]
    fn weights_are_confidences() {
        let cast = vec![
            Vote { value: "a".into(), confidence: 0.9 },
            Vote { value: "b".into(), confidence: 0.2 },
            Vote { value: "b".into(), confidence: 0.2 },
        ];
        assert_eq!(tally(Algorithm::Weighted, 5, &cast, false).0, Verdict::Open);
        assert_eq!(tally(Algorithm::Weighted, 5, &cast, true).0, Verdict::Decided("a".into()));
    }
}
