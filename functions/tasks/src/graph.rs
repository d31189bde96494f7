//! Graph work done in memory: ordering a batch so that every task comes after the tasks it
//! depends on, and finding the path that a refused dependency would have closed into a cycle
//! (the database decides whether there is one; this only names it).

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

/// The order in which to create `nodes` (each listing the indexes it depends on) so that each
/// comes after its dependencies, or a cycle among them, in dependency order, first node
/// repeated at the end.
pub fn creation_order(depends_on: &[Vec<usize>]) -> Result<Vec<usize>, Vec<usize>> {
    let n = depends_on.len();
    let mut remaining: Vec<usize> = depends_on.iter().map(Vec::len).collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (node, upstream) in depends_on.iter().enumerate() {
        for &up in upstream {
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
        node = depends_on[node].iter().copied().find(|&up| remaining[up] > 0).unwrap_or(node);
    }
    let mut cycle = walk.split_off(seen[&node]);
    cycle.push(node);
    Err(cycle)
}

/// The shortest path from `from` to `to` along `edges` (each `(a, b)`: a depends on b),
/// both ends included.
pub fn path<T: Copy + Eq + Hash>(edges: &[(T, T)], from: T, to: T) -> Option<Vec<T>> {
    let mut next: HashMap<T, Vec<T>> = HashMap::new();
    for &(a, b) in edges {
        next.entry(a).or_default().push(b);
    }
    let mut came_from: HashMap<T, T> = HashMap::new();
    let mut queue = VecDeque::from([from]);
    while let Some(node) = queue.pop_front() {
        if node == to {
            let mut path = vec![to];
            let mut at = to;
            while at != from {
                at = came_from[&at];
                path.push(at);
            }
            path.reverse();
            return Some(path);
        }
        for &up in next.get(&node).map(Vec::as_slice).unwrap_or_default() {
            if up != from && !came_from.contains_key(&up) {
                came_from.insert(up, node);
                queue.push_back(up);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_is_ordered_after_its_dependencies() {
        // 0 <- 1 <- 2, and 3 depends on 0 and 2.
        let order = creation_order(&[vec![], vec![0], vec![1], vec![0, 2]]).unwrap();
        let at = |i| order.iter().position(|&n| n == i).unwrap();
        assert!(at(0) < at(1) && at(1) < at(2) && at(2) < at(3));
    }

    #[test]
    fn a_cycle_in_a_batch_is_named_in_order() {
        // 0 depends on 2, 2 on 1, 1 on 0; 3 hangs off the cycle.
        let cycle = creation_order(&[vec![2], vec![0], vec![1], vec![0]]).unwrap_err();
        assert_eq!(cycle.first(), cycle.last());
        assert_eq!(cycle.len(), 4);
        for pair in cycle.windows(2) {
            let deps = [vec![2], vec![0], vec![1], vec![0]];
            assert!(deps[pair[0]].contains(&pair[1]), "{cycle:?}");
        }
    }

    #[test]
    fn the_path_that_closes_a_cycle_is_the_shortest() {
        let edges = [(2, 3), (3, 4), (2, 4), (4, 1)];
        assert_eq!(path(&edges, 2, 1), Some(vec![2, 4, 1]));
        assert_eq!(path(&edges, 1, 2), None);
        assert_eq!(path(&edges, 2, 2), Some(vec![2]));
    }
}
