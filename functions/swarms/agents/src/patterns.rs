//! Learned assignment: for each (agent type, task kind), a Beta posterior over the chance that
//! an agent of that type gives a good result on a task of that kind, fitted on the project's
//! recorded outcomes.
//!
//! Why this model: a project has tens to hundreds of outcomes, not millions; per-cell Beta
//! posteriors are exact in one pass, need no tuning, stay calibrated with little data (an unseen
//! cell is an honest 0.5) and say why they chose. A logistic regression over hashed text would
//! need far more outcomes than a project makes before it beat them. `epochs` is accepted for
//! the contract's shape; a conjugate fit has no iterations to run.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::model::{AgentType, PatternType, TaskKind};

/// One recorded outcome.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub id: i64,
    pub agent_type: AgentType,
    pub kind: TaskKind,
    pub valid: bool,
    pub tokens: i64,
}

/// The fitted parameters: per `type/kind`, the posterior's alpha and beta (the prior Beta(1, 1)
/// plus good and bad outcomes).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Model {
    pub cells: BTreeMap<String, (f64, f64)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Metrics {
    /// Outcomes used: fitted on, and held out (every fifth by id) to score the fit.
    pub samples: usize,
    pub trained_on: usize,
    pub held_out: usize,
    /// Mean log loss and accuracy of the model fitted on the rest, on the held-out outcomes
    /// (null with none held out).
    pub log_loss: Option<f64>,
    pub accuracy: Option<f64>,
    /// The log loss of always saying 0.5, for scale (ln 2).
    pub baseline_log_loss: f64,
}

fn cell(agent_type: AgentType, kind: TaskKind) -> String {
    format!("{}/{}", agent_type.as_str(), kind.as_str())
}

/// Whether an outcome counts as good for this kind of model.
fn target(pattern: PatternType, outcome: &Outcome, median_tokens: i64) -> bool {
    match pattern {
        PatternType::Prediction | PatternType::Coordination => outcome.valid,
        PatternType::Optimization => outcome.valid && outcome.tokens <= median_tokens,
    }
}

fn fit<'a>(pattern: PatternType, outcomes: impl Iterator<Item = &'a Outcome>, median_tokens: i64) -> Model {
    let mut model = Model::default();
    for o in outcomes {
        let entry = model.cells.entry(cell(o.agent_type, o.kind)).or_insert((1.0, 1.0));
        if target(pattern, o, median_tokens) {
            entry.0 += 1.0;
        } else {
            entry.1 += 1.0;
        }
    }
    model
}

impl Model {
    /// The posterior mean chance of a good result.
    pub fn chance(&self, agent_type: AgentType, kind: TaskKind) -> f64 {
        let (a, b) = self.cells.get(&cell(agent_type, kind)).copied().unwrap_or((1.0, 1.0));
        a / (a + b)
    }

    /// Every agent type by its chance on `kind`, best first; on a tie, the kind's own type first.
    pub fn rank(&self, kind: TaskKind) -> Vec<(AgentType, f64)> {
        let mut ranked: Vec<(AgentType, f64)> = AgentType::ALL.iter().map(|&t| (t, self.chance(t, kind))).collect();
        ranked.sort_by(|x, y| {
            y.1.total_cmp(&x.1)
                .then_with(|| (kind.natural_type() != Some(x.0)).cmp(&(kind.natural_type() != Some(y.0))))
                .then_with(|| x.0.as_str().cmp(y.0.as_str()))
        });
        ranked
    }
}

/// Fits a model on every outcome, and scores a fit on four fifths of them against the fifth.
pub fn train(pattern: PatternType, outcomes: &[Outcome]) -> (Model, Metrics) {
    let mut tokens: Vec<i64> = outcomes.iter().map(|o| o.tokens).collect();
    tokens.sort_unstable();
    let median = tokens.get(tokens.len() / 2).copied().unwrap_or(0);
    let held = |o: &&Outcome| o.id % 5 == 0;
    let scored = fit(pattern, outcomes.iter().filter(|o| !held(o)), median);
    let test: Vec<&Outcome> = outcomes.iter().filter(held).collect();
    let (log_loss, accuracy) = if test.is_empty() {
        (None, None)
    } else {
        let mut loss = 0.0;
        let mut right = 0;
        for o in &test {
            let p = scored.chance(o.agent_type, o.kind).clamp(1e-6, 1.0 - 1e-6);
            let y = target(pattern, o, median);
            loss -= if y { p.ln() } else { (1.0 - p).ln() };
            if (p >= 0.5) == y {
                right += 1;
            }
        }
        (Some(loss / test.len() as f64), Some(f64::from(right) / test.len() as f64))
    };
    let metrics = Metrics {
        samples: outcomes.len(),
        trained_on: outcomes.len() - test.len(),
        held_out: test.len(),
        log_loss,
        accuracy,
        baseline_log_loss: std::f64::consts::LN_2,
    };
    (fit(pattern, outcomes.iter(), median), metrics)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcomes() -> Vec<Outcome> {
        let mut all = Vec::new();
        for id in 1..=40 {
            let coder = id % 2 == 0;
            all.push(Outcome {
                id,
                agent_type: if coder { AgentType::Coder } else { AgentType::Researcher },
                kind: TaskKind::Code,
                valid: coder,
                tokens: 100,
            });
        }
        all
    }

    #[test]
    fn coders_that_succeed_on_code_are_preferred_for_code() {
        let (model, metrics) = train(PatternType::Prediction, &outcomes());
        let ranked = model.rank(TaskKind::Code);
        assert_eq!(ranked[0].0, AgentType::Coder);
        assert!(ranked[0].1 > 0.9, "{ranked:?}");
        assert!(model.chance(AgentType::Researcher, TaskKind::Code) < 0.1);
        assert_eq!((metrics.samples, metrics.held_out), (40, 8));
        assert!(metrics.log_loss.unwrap() < metrics.baseline_log_loss);
        assert_eq!(metrics.accuracy, Some(1.0));
    }

    #[test]
    fn without_outcomes_every_type_is_even_and_the_kinds_own_type_leads() {
        let model = Model::default();
        let ranked = model.rank(TaskKind::Test);
        assert_eq!(ranked[0], (AgentType::Tester, 0.5));
    }
}
