//! The `implies` graph: its transitive closure at compile time and cycle detection at write time.

use std::collections::{HashMap, VecDeque};

use super::{Scope, ScopeName};

/// Transitive closure of a graph given as direct edges per node id.
///
/// Returns, per node, every node reachable through one or more edges, ascending and without
/// the node itself, plus the nodes that reach themselves (members of a cycle, which writes
/// reject but stored data might still hold: the closure is well defined either way).
pub(crate) fn transitive_closure(edges: &[Vec<u32>]) -> (Vec<Box<[u32]>>, Vec<u32>) {
    let mut closure = Vec::with_capacity(edges.len());
    let mut on_cycle = Vec::new();
    // `seen[n] == stamp` marks n as visited in the current walk, so the buffer is never cleared.
    let mut seen = vec![u32::MAX; edges.len()];
    let mut stack = Vec::new();
    for (start, direct) in edges.iter().enumerate() {
        if direct.is_empty() {
            closure.push(Box::default());
            continue;
        }
        // Node ids are u32 by construction (the catalog interns to u32).
        #[allow(clippy::cast_possible_truncation)]
        let stamp = start as u32;
        let mut reach = Vec::new();
        let mut self_reached = false;
        stack.extend_from_slice(direct);
        while let Some(node) = stack.pop() {
            let Some(mark) = seen.get_mut(node as usize) else {
                continue;
            };
            if *mark == stamp {
                continue;
            }
            *mark = stamp;
            if node == stamp {
                self_reached = true;
            } else {
                reach.push(node);
            }
            if let Some(next) = edges.get(node as usize) {
                stack.extend_from_slice(next);
            }
        }
        if self_reached {
            on_cycle.push(stamp);
        }
        reach.sort_unstable();
        closure.push(reach.into_boxed_slice());
    }
    (closure, on_cycle)
}

/// Whether giving `candidate` the direct implications `candidate_implies` (a new scope, or a
/// replacement of an existing scope's list) would close a cycle among `scopes`.
///
/// Returns the shortest cycle as a path that starts and ends with `candidate`
/// (`[a, b, a]`; `[a, a]` for a scope implying itself), or `None` when the write is safe.
/// Names that are not in `scopes` end a path (an implication of a deleted scope grants
/// nothing). Only cycles through the candidate are looked for: since every write goes
/// through this check, no other cycle can exist.
pub fn implies_cycle(
    scopes: &[Scope],
    candidate: &ScopeName,
    candidate_implies: &[ScopeName],
) -> Option<Vec<ScopeName>> {
    let mut edges: HashMap<&ScopeName, &[ScopeName]> = scopes
        .iter()
        .map(|s| (&s.name, s.implies.as_slice()))
        .collect();
    edges.insert(candidate, candidate_implies);

    // Breadth-first from the candidate; `parent` records how each name was first reached.
    let mut parent: HashMap<&ScopeName, &ScopeName> = HashMap::new();
    let mut queue: VecDeque<&ScopeName> = VecDeque::from([candidate]);
    while let Some(node) = queue.pop_front() {
        let Some(next) = edges.get(node) else {
            continue;
        };
        for to in *next {
            if to == candidate {
                return Some(path_back(&parent, candidate, node));
            }
            if edges.contains_key(to) && !parent.contains_key(to) {
                parent.insert(to, node);
                queue.push_back(to);
            }
        }
    }
    None
}

/// Rebuilds `candidate → … → last → candidate` from the breadth-first parents.
fn path_back(
    parent: &HashMap<&ScopeName, &ScopeName>,
    candidate: &ScopeName,
    last: &ScopeName,
) -> Vec<ScopeName> {
    let mut rev = vec![candidate.clone(), last.clone()];
    let mut at = last;
    // The candidate is never given a parent, so the walk ends there.
    while at != candidate {
        let Some(&up) = parent.get(at) else { break };
        rev.push(up.clone());
        at = up;
    }
    rev.reverse();
    rev
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    fn scope(name: &str, implies: &[&str]) -> Scope {
        Scope {
            id: 0,
            name: ScopeName::parse(name).unwrap(),
            description: String::new(),
            is_default: false,
            is_system: false,
            is_reserved: false,
            implies: implies
                .iter()
                .map(|n| ScopeName::parse(n).unwrap())
                .collect(),
            created_at_ms: 0,
            updated_at_ms: 0,
            etag: String::new(),
        }
    }

    fn names(path: &[ScopeName]) -> Vec<&str> {
        path.iter().map(ScopeName::as_str).collect()
    }

    #[test]
    fn closure_is_transitive_sorted_and_excludes_self() {
        let edges = vec![vec![1], vec![2], vec![], vec![0, 2]];
        let (closure, cycles) = transitive_closure(&edges);
        assert_eq!(&*closure[0], [1, 2]);
        assert_eq!(&*closure[1], [2]);
        assert!(closure[2].is_empty());
        assert_eq!(&*closure[3], [0, 1, 2]);
        assert!(cycles.is_empty());
        let (closure, cycles) = transitive_closure(&[vec![1], vec![0]]);
        assert_eq!((&*closure[0], &*closure[1]), (&[1][..], &[0][..]));
        assert_eq!(cycles, [0, 1]);
    }

    #[test]
    fn cycle_detection_returns_the_shortest_path_through_the_candidate() {
        let catalog = vec![
            scope("a", &["b"]),
            scope("b", &["c"]),
            scope("c", &[]),
            scope("d", &["a", "gone"]),
        ];
        let c = ScopeName::parse("c").unwrap();
        let a = ScopeName::parse("a").unwrap();
        let d = ScopeName::parse("d").unwrap();
        type Case<'a> = (&'a ScopeName, Vec<&'a str>, Option<Vec<&'a str>>);
        let cases: Vec<Case<'_>> = vec![
            (&c, vec!["a"], Some(vec!["c", "a", "b", "c"])),
            (&c, vec!["d"], Some(vec!["c", "d", "a", "b", "c"])),
            (&c, vec!["gone"], None),
            (&a, vec!["a"], Some(vec!["a", "a"])),
            (&a, vec!["c", "d"], Some(vec!["a", "d", "a"])),
            (&d, vec!["a", "b"], None),
        ];
        for (candidate, implies, want) in cases {
            let implies: Vec<ScopeName> = implies
                .iter()
                .map(|n| ScopeName::parse(n).unwrap())
                .collect();
            let got = implies_cycle(&catalog, candidate, &implies);
            assert_eq!(
                got.as_deref().map(names),
                want,
                "{candidate} -> {implies:?}"
            );
        }
        let new = ScopeName::parse("new").unwrap();
        let b = ScopeName::parse("b").unwrap();
        assert_eq!(implies_cycle(&catalog, &new, &[b]), None);
    }
}
