//! The order rpm installs a transaction in: every package after what it
//! requires, so that a `%pre` finds its interpreter and the users and files
//! it needs.
//!
//! Requirements are matched inside the set only: against each package's
//! provides and, for file requirements (`/bin/sh`), against its file list;
//! a rich dependency counts through each name it mentions. Where the
//! requirements form a cycle, rpm's rule applies: the cycle is cut at a
//! plain `Requires`, and edges marked `Requires(pre)` or `Requires(post)`
//! (or the `%pretrans`/`%posttrans` forms) are kept wherever possible.

use std::collections::{BTreeSet, HashMap};

use super::package::{RpmFile, sense};
use crate::repo::rpm::richdep;

/// A package's edge to one it requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Edge {
    to: usize,
    /// Needed before the package's scriptlets run.
    strong: bool,
}

/// The names a requirement asks for: itself, or each name of a rich
/// dependency.
fn wanted_names(name: &str) -> Vec<String> {
    if !name.starts_with('(') {
        return vec![name.to_string()];
    }
    match richdep::parse(name) {
        Ok(dep) => dep.atoms().into_iter().map(|a| a.name.clone()).collect(),
        Err(_) => Vec::new(),
    }
}

fn edges(packages: &[RpmFile]) -> Vec<Vec<Edge>> {
    let mut providers: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, p) in packages.iter().enumerate() {
        providers.entry(&p.name).or_default().push(i);
        for name in &p.provides {
            providers.entry(name).or_default().push(i);
        }
    }
    let mut file_owners: HashMap<&[u8], Vec<usize>> = HashMap::new();
    for (i, p) in packages.iter().enumerate() {
        for f in &p.files {
            file_owners.entry(&f.path).or_default().push(i);
        }
    }
    packages
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut out: Vec<Edge> = Vec::new();
            for req in &p.requires {
                if req.flags & sense::RPMLIB != 0 || req.name.starts_with("rpmlib(") {
                    continue;
                }
                let strong = req.flags
                    & (sense::SCRIPT_PRE | sense::SCRIPT_POST | sense::PRETRANS | sense::POSTTRANS)
                    != 0;
                for name in wanted_names(&req.name) {
                    let by_provide = providers.get(name.as_str());
                    let by_file = file_owners.get(name.as_bytes());
                    for &to in by_provide.into_iter().chain(by_file).flatten() {
                        if to == i {
                            continue;
                        }
                        match out.iter_mut().find(|e| e.to == to) {
                            Some(e) => e.strong |= strong,
                            None => out.push(Edge { to, strong }),
                        }
                    }
                }
            }
            out
        })
        .collect()
}

/// Indexes of `packages` in installation order.
///
/// Kahn's algorithm over "requires" edges, taking ready packages by name so
/// the order does not depend on the order of `packages`. When only cycles
/// are left, the package whose unmet requirements are all plain ones is
/// taken first (fewest unmet strong edges, then name): this cuts the plain
/// edges and keeps the `Requires(pre)`/`(post)` ones.
pub fn install_order(packages: &[RpmFile]) -> Vec<usize> {
    let names: Vec<&str> = packages.iter().map(|p| p.name.as_str()).collect();
    order_by_edges(&names, &edges(packages))
}

fn order_by_edges(names: &[&str], edges: &[Vec<Edge>]) -> Vec<usize> {
    let n = names.len();
    let by_name = |i: usize| (names[i], i);
    let mut placed = vec![false; n];
    let mut order = Vec::with_capacity(n);
    let unmet = |i: usize, placed: &[bool], strong_only: bool| {
        edges[i]
            .iter()
            .filter(|e| !placed[e.to] && (e.strong || !strong_only))
            .count()
    };
    while order.len() < n {
        let ready: BTreeSet<(&str, usize)> = (0..n)
            .filter(|&i| !placed[i] && unmet(i, &placed, false) == 0)
            .map(by_name)
            .collect();
        if ready.is_empty() {
            let Some(cut) = (0..n)
                .filter(|&i| !placed[i])
                .min_by_key(|&i| (unmet(i, &placed, true), by_name(i)))
            else {
                break;
            };
            placed[cut] = true;
            order.push(cut);
            continue;
        }
        for (_, i) in ready {
            placed[i] = true;
            order.push(i);
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(to: usize) -> Edge {
        Edge { to, strong: false }
    }

    fn strong(to: usize) -> Edge {
        Edge { to, strong: true }
    }

    #[test]
    fn dependencies_first_then_names() {
        // c requires b requires a; d is free.
        let names = ["c", "b", "a", "d"];
        let edges = vec![vec![plain(1)], vec![plain(2)], vec![], vec![]];
        let order: Vec<&str> = order_by_edges(&names, &edges)
            .into_iter()
            .map(|i| names[i])
            .collect();
        assert_eq!(order, ["a", "d", "b", "c"]);
    }

    #[test]
    fn cycles_are_cut_at_plain_requires() {
        // The first Requires(pre) the second, which plainly requires the
        // first: the second comes first, whichever name sorts first.
        for (names, expected) in [(["a", "b"], ["b", "a"]), (["b", "a"], ["a", "b"])] {
            let edges = vec![vec![strong(1)], vec![plain(0)]];
            let order: Vec<&str> = order_by_edges(&names, &edges)
                .into_iter()
                .map(|i| names[i])
                .collect();
            assert_eq!(order, expected, "{names:?}");
        }
        // A three-cycle of plain edges still places everyone once.
        let edges = vec![vec![plain(1)], vec![plain(2)], vec![plain(0)]];
        let mut order = order_by_edges(&["x", "y", "z"], &edges);
        order.sort_unstable();
        assert_eq!(order, [0, 1, 2]);
    }
}
