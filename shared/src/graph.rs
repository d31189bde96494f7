//! Ordering things by what they depend on, in memory: a batch of tasks before it is created, a
//! workflow's steps before the definition is saved. When there is no order, the cycle that
//! prevents it is named, so that the caller can say which dependencies to change.

use std::{
    collections::{HashMap, VecDeque},
    fmt::Display,
};

/// Dependencies that go round: the nodes along the cycle in dependency order (each depends on
/// the next), the first repeated at the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cycle(pub Vec<usize>);

impl Cycle {
    /// The cycle as a person reads it, `a -> c -> b -> a`, each node called by `name`.
    pub fn describe<N: Display>(&self, mut name: impl FnMut(usize) -> N) -> String {
        self.0.iter().map(|&node| name(node).to_string()).collect::<Vec<_>>().join(" -> ")
    }
}

/// An order of the nodes `0..depends_on.len()` in which each comes after the nodes it depends
/// on (`depends_on[i]` lists those of node `i`), or a cycle among them.
///
/// Nodes are taken breadth first, those that depend on nothing first, each in index order, so
/// the same graph always gives the same order. The cycle named is the one reached by following,
/// from the first node left unordered, its first dependency that is left unordered too.
pub fn topological_order<D: AsRef<[usize]>>(depends_on: &[D]) -> Result<Vec<usize>, Cycle> {
    let n = depends_on.len();
    let mut remaining: Vec<usize> = depends_on.iter().map(|upstream| upstream.as_ref().len()).collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (node, upstream) in depends_on.iter().enumerate() {
        for &up in upstream.as_ref() {
            dependents[up].push(node);
        }
    }
    let mut ready: VecDeque<usize> = (0..n).filter(|&i| remaining[i] == 0).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(node) = ready.pop_front() {
        order.push(node);
        for &down in &dependents[node] {
            remaining[down] -= 1;
            if remaining[down] == 0 {
                ready.push_back(down);
            }
        }
    }
    if order.len() == n {
        return Ok(order);
    }
    // Every node left waits on another one left: walking "depends on" from any of them must
    // come back to a node already seen.
    let start = (0..n).find(|&i| remaining[i] > 0).unwrap_or(0);
    let mut seen = HashMap::new();
    let mut walk = Vec::new();
    let mut node = start;
    while !seen.contains_key(&node) {
        seen.insert(node, walk.len());
        walk.push(node);
        node = depends_on[node].as_ref().iter().copied().find(|&up| remaining[up] > 0).unwrap_or(node);
    }
    let mut cycle = walk.split_off(seen[&node]);
    cycle.push(node);
    Err(Cycle(cycle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_node_comes_after_what_it_depends_on() {
        // 0 <- 1 <- 2, and 3 depends on 0 and 2.
        let order = topological_order(&[vec![], vec![0], vec![1], vec![0, 2]]).unwrap();
        let at = |i| order.iter().position(|&n| n == i).unwrap();
        assert!(at(0) < at(1) && at(1) < at(2) && at(2) < at(3));
    }

    #[test]
    fn independent_nodes_keep_their_order() {
        assert_eq!(topological_order::<Vec<usize>>(&[]).unwrap(), Vec::<usize>::new());
        assert_eq!(topological_order(&[vec![], vec![], vec![0]]).unwrap(), [0, 1, 2]);
        assert_eq!(topological_order(&[vec![2], vec![], vec![]]).unwrap(), [1, 2, 0]);
    }

    #[test]
    fn a_cycle_is_named_in_dependency_order() {
        // 0 depends on 2, 2 on 1, 1 on 0; 3 hangs off the cycle.
        let deps = [vec![2], vec![0], vec![1], vec![0]];
        let cycle = topological_order(&deps).unwrap_err();
        assert_eq!(cycle, Cycle(vec![0, 2, 1, 0]));
        for pair in cycle.0.windows(2) {
            assert!(deps[pair[0]].contains(&pair[1]), "{cycle:?}");
        }
    }

    #[test]
    fn the_cycle_named_is_the_first_reached_not_a_node_that_only_waits_on_it() {
        // 0 waits on the cycle 1 <-> 2 without being on it; 3 <-> 4 is a second cycle.
        let cycle = topological_order(&[vec![1], vec![2], vec![1], vec![4], vec![3]]).unwrap_err();
        assert_eq!(cycle, Cycle(vec![1, 2, 1]));
    }

    #[test]
    fn a_node_that_depends_on_itself_is_a_cycle() {
        assert_eq!(topological_order(&[vec![], vec![1]]).unwrap_err(), Cycle(vec![1, 1]));
    }

    #[test]
    fn a_cycle_reads_as_its_names() {
        let keys = ["a", "b", "c"];
        assert_eq!(Cycle(vec![0, 2, 1, 0]).describe(|i| keys[i]), "a -> c -> b -> a");
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    /// Up to 8 nodes, each depending on up to 3 of them: self-loops and repeated edges
    /// included, since nothing in the signature rules them out.
    fn graphs() -> impl Strategy<Value = Vec<Vec<usize>>> {
        (0..8usize).prop_flat_map(|n| prop::collection::vec(prop::collection::vec(0..n.max(1), 0..4), n))
    }

    /// The reference: a depth-first search that finds a back edge exactly when there is a cycle.
    fn has_cycle(depends_on: &[Vec<usize>]) -> bool {
        fn visit(node: usize, depends_on: &[Vec<usize>], state: &mut [u8]) -> bool {
            match state[node] {
                1 => return true,
                2 => return false,
                _ => {}
            }
            state[node] = 1;
            let found = depends_on[node].iter().any(|&up| visit(up, depends_on, state));
            state[node] = 2;
            found
        }
        let mut state = vec![0; depends_on.len()];
        (0..depends_on.len()).any(|node| visit(node, depends_on, &mut state))
    }

    proptest! {
        #[test]
        fn an_order_exactly_when_there_is_no_cycle(depends_on in graphs()) {
            match topological_order(&depends_on) {
                Ok(order) => {
                    prop_assert!(!has_cycle(&depends_on));
                    let mut at = vec![usize::MAX; depends_on.len()];
                    for (position, &node) in order.iter().enumerate() {
                        prop_assert_eq!(at[node], usize::MAX, "{} is ordered twice", node);
                        at[node] = position;
                    }
                    prop_assert_eq!(order.len(), depends_on.len());
                    for (node, upstream) in depends_on.iter().enumerate() {
                        for &up in upstream {
                            prop_assert!(at[up] < at[node], "{} comes before {}, which it depends on", node, up);
                        }
                    }
                }
                Err(Cycle(cycle)) => {
                    prop_assert!(has_cycle(&depends_on));
                    // A closed walk along real edges that repeats no node but its start.
                    prop_assert!(cycle.len() >= 2 && cycle.first() == cycle.last(), "{:?}", cycle);
                    for pair in cycle.windows(2) {
                        prop_assert!(depends_on[pair[0]].contains(&pair[1]), "{:?} is not an edge", pair);
                    }
                    let inner = &cycle[..cycle.len() - 1];
                    prop_assert!(inner.iter().all(|node| inner.iter().filter(|&other| other == node).count() == 1), "{:?}", cycle);
                }
            }
        }
    }
}
