//! Finding the path that a refused dependency would have closed into a cycle (the database
//! decides whether there is one; this only names it). A batch's order is the kernel's
//! `tui_shared::graph`.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

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
    fn the_path_that_closes_a_cycle_is_the_shortest() {
        let edges = [(2, 3), (3, 4), (2, 4), (4, 1)];
        assert_eq!(path(&edges, 2, 1), Some(vec![2, 4, 1]));
        assert_eq!(path(&edges, 1, 2), None);
        assert_eq!(path(&edges, 2, 2), Some(vec![2]));
    }
}
