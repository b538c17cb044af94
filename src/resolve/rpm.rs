//! RPM dependency semantics as a resolvo provider.
//!
//! An RPM capability (a `Provides`, a file path, or a package's own name)
//! can be offered by packages of many names, while resolvo knows one
//! solvable per name. So, as for Debian's virtual packages, a dependency
//! becomes the union, over every package name that offers the capability, of
//! "the solvables of that name whose offer satisfies it". Rich dependencies
//! map onto the same pieces: `or` is a union, `and` several requirements,
//! `if` a conditional requirement, `with`/`without` a finer filter on one
//! package. `Conflicts` and `Obsoletes` become constraints: whatever is
//! installed under the conflicting name must lie outside the conflicting
//! range.
//!
//! Install-only packages (kernels: dnf's default `installonlypkgs`) may be
//! installed in several versions at once, so each of their versions is a
//! name of its own for resolvo (`kernel-core-6.9.1-1.fc40`); their package
//! name stays a capability every version offers, newest first. A request
//! may name a version as dnf's forms do (`name-version`,
//! `name-version-release`, each with an optional `.arch`, and `name.arch`).
//!
//! Not modelled: rich forms that mix a condition inside an `or`, which
//! resolvo cannot express; such a dependency is reported as unsatisfiable
//! with its text rather than resolved wrongly.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::fmt;

use resolvo::utils::Pool;
use resolvo::{
    Candidates, Condition, ConditionId, ConditionalRequirement, Dependencies, DependencyProvider,
    Interner, KnownDependencies, LogicalOperator, NameId, Requirement, SolvableId, SolverCache,
    StringId, VersionSetId, VersionSetUnionId,
};

use super::{Catalogue, Requested, ResolveError, excluded_flags, solve_request};
use crate::repo::rpm::{Constraint, DepOp, Dependency, Evr, RichDep, RpmPackage};

/// One package version offered by one repository.
#[derive(Debug, Clone, Copy)]
pub struct RpmCandidate<'a> {
    pub package: &'a RpmPackage,
    /// Repository name, for errors and the result.
    pub repo: &'a str,
    /// Lower wins among equal versions (kickstart `repo --cost`).
    pub cost: i32,
}

/// What to resolve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpmRequest {
    /// Package names, provided capabilities, file paths or globs of names.
    pub install: Vec<Requested>,
    /// Globs of names removed from the universe (`-name` in `%packages`).
    pub exclude: Vec<String>,
    /// Install `Recommends` and honour `Supplements` (dnf's weak deps).
    pub weak_deps: bool,
    /// Architectures the image takes, e.g. `x86_64` and `noarch`.
    pub arches: Vec<String>,
}

/// The resolved set: indexes into the universe given to [`resolve_rpm`],
/// sorted by package name (then architecture and version).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RpmSolution {
    pub chosen: Vec<usize>,
    pub warnings: Vec<String>,
}

/// Resolves `request` against `universe` with dnf's semantics.
pub fn resolve_rpm(
    universe: &[RpmCandidate<'_>],
    request: &RpmRequest,
) -> Result<RpmSolution, ResolveError> {
    let usable: Vec<usize> = (0..universe.len())
        .filter(|&i| request.arches.contains(&universe[i].package.arch))
        .collect();
    let candidates: Vec<RpmCandidate<'_>> = usable.iter().map(|&i| universe[i]).collect();
    let excluded = excluded_flags(
        &request.exclude,
        candidates.iter().map(|c| c.package.name.as_str()),
    )?;
    let mut provider = RpmProvider::new(&candidates, &excluded);
    let install: Vec<Requested> = request
        .install
        .iter()
        .map(|want| Requested {
            pattern: provider
                .obsoleter_of(&want.pattern)
                .unwrap_or(&want.pattern)
                .to_owned(),
            ..want.clone()
        })
        .collect();
    provider.favour_recommendations_of(&install);
    let solved = solve_request(provider, Vec::new(), &install, request.weak_deps)?;
    let provider = solved.solver.provider();
    let mut chosen: Vec<usize> = solved
        .solution
        .iter()
        .map(|&s| usable[provider.idx(s)])
        .collect();
    chosen.sort_by(|&a, &b| {
        let (a, b) = (universe[a].package, universe[b].package);
        a.name
            .cmp(&b.name)
            .then(a.arch.cmp(&b.arch))
            .then(a.evr.cmp(&b.evr))
    });
    Ok(RpmSolution {
        chosen,
        warnings: solved.warnings,
    })
}

/// A condition on one package: what resolvo's version sets select among the
/// solvables of a name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Offer {
    /// The package provides `name` (its own name included) in a range that
    /// overlaps `range`.
    Capability {
        name: String,
        range: Option<Range>,
    },
    /// The package holds this path or provides it by name.
    File(String),
    /// The package's own version lies in `range` (Obsoletes look at names
    /// and versions, never at Provides).
    Version(Option<Range>),
    /// The package is built for this architecture.
    Arch(String),
    /// Every offer at once (`with`, `without`).
    All(Vec<Offer>),
    Not(Box<Offer>),
}

/// A dependency's `op evr`, kept as text so version sets can be hashed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Range {
    op: DepOp,
    evr: String,
}

impl Range {
    fn of(constraint: Option<&Constraint>) -> Option<Range> {
        constraint.map(|c| Range {
            op: c.op,
            evr: c.evr.to_string(),
        })
    }

    fn parse(&self) -> Option<Constraint> {
        Some(Constraint {
            op: self.op,
            evr: Evr::parse(&self.evr).ok()?,
        })
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.op, self.evr)
    }
}

/// A resolvo version set: an offer, or (for Conflicts/Obsoletes) its complement.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct RpmSet {
    offer: Offer,
    negate: bool,
}

/// Index into the provider's universe; resolvo requires records to display.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Record(usize);

impl fmt::Display for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

impl resolvo::utils::VersionSet for RpmSet {
    type V = Record;
}

/// The `<`, `=`, `>` senses of an operator, as rpm compares ranges.
fn senses(op: DepOp) -> (bool, bool, bool) {
    match op {
        DepOp::Less => (true, false, false),
        DepOp::LessOrEqual => (true, true, false),
        DepOp::Equal => (false, true, false),
        DepOp::GreaterOrEqual => (false, true, true),
        DepOp::Greater => (false, false, true),
    }
}

/// Whether two ranges share a version, as rpm decides it: a side without a
/// version covers every version, and releases count only when both sides
/// have one.
pub(crate) fn ranges_overlap(a: Option<&Constraint>, b: Option<&Constraint>) -> bool {
    let (Some(a), Some(b)) = (a, b) else {
        return true;
    };
    let (a_less, a_equal, a_greater) = senses(a.op);
    let (b_less, b_equal, b_greater) = senses(b.op);
    match a.evr.compare_for_dependency(&b.evr) {
        Ordering::Less => a_greater || b_less,
        Ordering::Greater => a_less || b_greater,
        Ordering::Equal => (a_equal && b_equal) || (a_less && b_less) || (a_greater && b_greater),
    }
}

fn own_version(package: &RpmPackage) -> Constraint {
    Constraint {
        op: DepOp::Equal,
        evr: package.evr.clone(),
    }
}

fn offers(package: &RpmPackage, offer: &Offer) -> bool {
    match offer {
        Offer::Capability { name, range } => {
            let wanted = match range {
                Some(range) => match range.parse() {
                    Some(c) => Some(c),
                    // A range that does not parse promises nothing.
                    None => return false,
                },
                None => None,
            };
            (package.name == *name && ranges_overlap(Some(&own_version(package)), wanted.as_ref()))
                || package.provides.iter().any(|p| {
                    p.name == *name && ranges_overlap(p.constraint.as_ref(), wanted.as_ref())
                })
        }
        // rpm and libsolv answer a path with the files a package ships
        // (directories and ghosts included) and with its Provides: Fedora's
        // bash ships /usr/bin/sh and provides /bin/sh by name.
        Offer::File(path) => {
            package.files.iter().any(|f| f.path == *path)
                || package.provides.iter().any(|p| p.name == *path)
        }
        Offer::Version(range) => match range {
            None => true,
            Some(range) => range
                .parse()
                .is_some_and(|c| ranges_overlap(Some(&own_version(package)), Some(&c))),
        },
        Offer::Arch(arch) => package.arch == *arch,
        Offer::All(all) => all.iter().all(|o| offers(package, o)),
        Offer::Not(inner) => !offers(package, inner),
    }
}

/// The offer a dependency atom asks for.
fn atom_offer(name: &str, constraint: Option<&Constraint>) -> Offer {
    if name.starts_with('/') {
        Offer::File(name.to_owned())
    } else {
        Offer::Capability {
            name: name.to_owned(),
            range: Range::of(constraint),
        }
    }
}

/// Names dnf installs in several versions side by side (its default
/// `installonlypkgs`), and the capabilities that make a package one.
const INSTALL_ONLY_NAMES: &[&str] = &["kernel", "kernel-PAE"];
const INSTALL_ONLY_PROVIDES: &[&str] = &[
    "installonlypkg(kernel)",
    "installonlypkg(kernel-module)",
    "installonlypkg(vm)",
    "multiversion(kernel)",
];

fn is_install_only(package: &RpmPackage) -> bool {
    INSTALL_ONLY_NAMES.contains(&package.name.as_str())
        || package
            .provides
            .iter()
            .any(|p| INSTALL_ONLY_PROVIDES.contains(&p.name.as_str()))
}

/// The name resolvo knows `package` by: its own, or for an install-only
/// package its name and version, so that versions do not exclude each
/// other.
fn pool_name(package: &RpmPackage) -> String {
    if is_install_only(package) {
        format!("{}-{}", package.name, package.evr)
    } else {
        package.name.clone()
    }
}

pub(crate) struct RpmProvider<'u> {
    pool: Pool<RpmSet, String>,
    universe: &'u [RpmCandidate<'u>],
    /// Installable solvables per name, best first.
    by_name: HashMap<NameId, Vec<SolvableId>>,
    /// Solvables removed by `-name` excludes, kept for error messages.
    excluded: HashMap<NameId, Vec<SolvableId>>,
    exclude_reason: StringId,
    /// Position in the preference order of its name (0 = best).
    rank: Vec<u32>,
    /// Capability or path -> resolvo names of the packages offering it.
    offered_by: HashMap<String, Vec<String>>,
    /// Package name -> its resolvo names (several for an install-only
    /// package, newest first).
    pool_names: HashMap<String, Vec<String>>,
    /// Universe indexes of the packages the requested ones recommend: the
    /// first packages libsolv decides on, whose Recommends it prefers.
    favoured: HashSet<usize>,
}

impl<'u> RpmProvider<'u> {
    pub(crate) fn new(universe: &'u [RpmCandidate<'u>], excluded: &[bool]) -> Self {
        let pool: Pool<RpmSet, String> = Pool::new();
        let exclude_reason = pool.intern_string("excluded by the kickstart (-name)");
        let mut by_name: HashMap<NameId, Vec<SolvableId>> = HashMap::new();
        let mut excluded_by_name: HashMap<NameId, Vec<SolvableId>> = HashMap::new();
        let mut offered_by: HashMap<String, Vec<String>> = HashMap::new();
        let mut pool_names: HashMap<String, Vec<String>> = HashMap::new();
        // A universe index per resolvo name, to order names by version.
        let mut example: HashMap<String, usize> = HashMap::new();
        for (i, candidate) in universe.iter().enumerate() {
            let package = candidate.package;
            let own = pool_name(package);
            let name = pool.intern_package_name(own.as_str());
            example.entry(own.clone()).or_insert(i);
            let names = pool_names.entry(package.name.clone()).or_default();
            if !names.contains(&own) {
                names.push(own.clone());
            }
            let solvable = pool.intern_solvable(name, Record(i));
            if excluded.get(i).copied().unwrap_or(false) {
                excluded_by_name.entry(name).or_default().push(solvable);
            } else {
                by_name.entry(name).or_default().push(solvable);
            }
            let capabilities = std::iter::once(package.name.as_str())
                .chain(package.provides.iter().map(|p| p.name.as_str()))
                .chain(package.files.iter().map(|f| f.path.as_str()));
            for capability in capabilities {
                let names = offered_by.entry(capability.to_owned()).or_default();
                if !names.contains(&own) {
                    names.push(own.clone());
                }
            }
        }
        let mut rank = vec![u32::MAX; universe.len()];
        for list in by_name.values_mut().chain(excluded_by_name.values_mut()) {
            // Newest first; among equal versions the cheaper repository.
            list.sort_by(|a, b| {
                let (ia, ib) = (
                    pool.resolve_solvable(*a).record.0,
                    pool.resolve_solvable(*b).record.0,
                );
                universe[ib]
                    .package
                    .evr
                    .cmp(&universe[ia].package.evr)
                    .then(universe[ia].cost.cmp(&universe[ib].cost))
                    .then(ia.cmp(&ib))
            });
            for (r, s) in list.iter().enumerate() {
                rank[pool.resolve_solvable(*s).record.0] = r as u32;
            }
        }
        // Providers in name order (byte order, as libsolv's strcmp, which
        // dnf takes the first of: `glibc-all-langpacks` before
        // `glibc-langpack-en`); versions of an install-only package newest
        // first.
        let order = |a: &String, b: &String| {
            let (pa, pb) = (universe[example[a]].package, universe[example[b]].package);
            pa.name.cmp(&pb.name).then(pb.evr.cmp(&pa.evr))
        };
        for names in offered_by.values_mut().chain(pool_names.values_mut()) {
            names.sort_by(order);
        }
        RpmProvider {
            pool,
            universe,
            by_name,
            excluded: excluded_by_name,
            exclude_reason,
            rank,
            offered_by,
            pool_names,
            favoured: HashSet::new(),
        }
    }

    /// Notes what the best installable packages of the names in `install`
    /// recommend (plain entries), to go first among candidates.
    fn favour_recommendations_of(&mut self, install: &[Requested]) {
        let recommends: Vec<&Dependency> = install
            .iter()
            .filter_map(|want| self.best_of(&want.pattern))
            .flat_map(|s| &self.package(s).recommends)
            .filter(|dep| !dep.is_rich())
            .collect();
        let favoured: HashSet<usize> = (0..self.universe.len())
            .filter(|&i| {
                recommends.iter().any(|dep| {
                    offers(
                        self.universe[i].package,
                        &atom_offer(&dep.name, dep.constraint.as_ref()),
                    )
                })
            })
            .collect();
        self.favoured = favoured;
    }

    pub(crate) fn idx(&self, s: SolvableId) -> usize {
        self.pool.resolve_solvable(s).record.0
    }

    fn package(&self, s: SolvableId) -> &'u RpmPackage {
        self.universe[self.idx(s)].package
    }

    fn installable(&self, name: &str) -> &[SolvableId] {
        self.pool
            .lookup_package_name(&name.to_owned())
            .and_then(|n| self.by_name.get(&n))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// The resolvo names of the package `name`.
    fn pool_names_of(&self, name: &str) -> &[String] {
        self.pool_names.get(name).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The best installable version of the package `name`.
    fn best_of(&self, name: &str) -> Option<SolvableId> {
        self.pool_names_of(name)
            .iter()
            .find_map(|own| self.installable(own).first().copied())
    }

    /// Package names (not resolvo's per-version names) of a table.
    fn package_names(&self, table: &HashMap<NameId, Vec<SolvableId>>) -> Vec<&str> {
        let mut names: Vec<&str> = table
            .values()
            .filter_map(|list| list.first())
            .map(|&s| self.package(s).name.as_str())
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// The requirement for a request naming a version or an architecture
    /// as dnf reads them: `name.arch`, `name-version[-release][.arch]`
    /// (the version may carry an `epoch:`). `None` when no installable
    /// package answers to `pattern` that way.
    fn versioned_request(&self, pattern: &str) -> Option<Requirement> {
        let arches: HashSet<&str> = self
            .universe
            .iter()
            .map(|c| c.package.arch.as_str())
            .collect();
        let mut readings: Vec<(&str, Option<&str>)> = vec![(pattern, None)];
        if let Some((rest, arch)) = pattern.rsplit_once('.')
            && arches.contains(arch)
        {
            readings.push((rest, Some(arch)));
        }
        let mut sets = Vec::new();
        for (text, arch) in readings {
            let mut offer_for = |name: &str, version: Option<&str>| {
                let mut all: Vec<Offer> = arch
                    .map(|a| Offer::Arch(a.to_owned()))
                    .into_iter()
                    .collect();
                if let Some(version) = version {
                    if Evr::parse(version).is_err() {
                        return;
                    }
                    all.push(Offer::Version(Some(Range {
                        op: DepOp::Equal,
                        evr: version.to_owned(),
                    })));
                }
                for own in self.pool_names_of(name) {
                    let offer = Offer::All(all.clone());
                    let wanted = self
                        .installable(own)
                        .iter()
                        .any(|&s| offers(self.package(s), &offer));
                    let set = self.set(own, offer, false);
                    if wanted && !sets.contains(&set) {
                        sets.push(set);
                    }
                }
            };
            if arch.is_some() {
                offer_for(text, None);
            }
            // `name-version` and `name-version-release`: the name is what
            // precedes the first or the second dash from the end.
            let dashes: Vec<usize> = text.rmatch_indices('-').map(|(i, _)| i).take(2).collect();
            for at in dashes {
                offer_for(&text[..at], Some(&text[at + 1..]));
            }
        }
        (!sets.is_empty()).then(|| self.requirement_of(&sets, pattern, None))
    }

    fn offering(&self, capability: &str) -> &[String] {
        self.offered_by
            .get(capability)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    fn set(&self, name: &str, offer: Offer, negate: bool) -> VersionSetId {
        let name = self.pool.intern_package_name(name);
        self.pool.intern_version_set(name, RpmSet { offer, negate })
    }

    /// The name of an installable package that obsoletes what a request for
    /// `name` would install: dnf installs the replacement instead.
    fn obsoleter_of(&self, name: &str) -> Option<&'u str> {
        let current = self.best_of(name).map(|s| self.package(s));
        let mut replacements: Vec<&'u str> = self
            .by_name
            .values()
            .filter_map(|list| list.first())
            .map(|&s| self.package(s))
            .filter(|p| p.name != name)
            .filter(|p| {
                p.obsoletes.iter().any(|o| {
                    o.name == name
                        && current.is_none_or(|c| {
                            ranges_overlap(Some(&own_version(c)), o.constraint.as_ref())
                        })
                })
            })
            .map(|p| p.name.as_str())
            .collect();
        replacements.sort_unstable();
        replacements.first().copied()
    }

    /// Adds, for each package name offering `offer`'s capability, the set
    /// of its solvables satisfying all of `offer`.
    fn offer_sets(&self, key: &str, offer: Offer, out: &mut Vec<VersionSetId>) {
        for name in self.offering(key) {
            let set = self.set(name, offer.clone(), false);
            if !out.contains(&set) {
                out.push(set);
            }
        }
    }

    /// The sets whose union means `dep`, or `false` when `dep` is not a
    /// union of single-package conditions.
    fn union_sets(&self, dep: &RichDep, out: &mut Vec<VersionSetId>) -> bool {
        match dep {
            RichDep::Atom(atom) => {
                let offer = atom_offer(&atom.name, atom.constraint.as_ref());
                self.offer_sets(&atom.name, offer, out);
                true
            }
            RichDep::Or(alternatives) => alternatives.iter().all(|a| self.union_sets(a, out)),
            RichDep::With(all) => {
                let atoms: Option<Vec<_>> = all
                    .iter()
                    .map(|d| match d {
                        RichDep::Atom(a) => Some(a),
                        _ => None,
                    })
                    .collect();
                let Some(atoms) = atoms else { return false };
                let Some(first) = atoms.first() else {
                    return false;
                };
                let offer = Offer::All(
                    atoms
                        .iter()
                        .map(|a| atom_offer(&a.name, a.constraint.as_ref()))
                        .collect(),
                );
                self.offer_sets(&first.name, offer, out);
                true
            }
            RichDep::Without(wanted, unwanted) => {
                let (RichDep::Atom(wanted), RichDep::Atom(unwanted)) = (&**wanted, &**unwanted)
                else {
                    return false;
                };
                let offer = Offer::All(vec![
                    atom_offer(&wanted.name, wanted.constraint.as_ref()),
                    Offer::Not(Box::new(atom_offer(
                        &unwanted.name,
                        unwanted.constraint.as_ref(),
                    ))),
                ]);
                self.offer_sets(&wanted.name, offer, out);
                true
            }
            _ => false,
        }
    }

    /// The package name behind a resolvo name (an install-only package's
    /// resolvo names carry its version), or the resolvo name itself when no
    /// package has it.
    fn package_name_of(&self, name: NameId) -> &str {
        match self
            .by_name
            .get(&name)
            .or_else(|| self.excluded.get(&name))
            .and_then(|list| list.first())
        {
            Some(&solvable) => self.package(solvable).name.as_str(),
            None => self.pool.resolve_package_name(name).as_str(),
        }
    }

    /// A requirement over `sets`; with none, a set over a name no package
    /// has, so resolvo reports `text` as unresolvable.
    ///
    /// resolvo tries a union's sets in order. libsolv gathers every
    /// package that can meet a dependency, the alternatives of a rich one
    /// (`or`, the else-part of `if`) together, and takes the first by name
    /// (`(light or heavy)` installs heavy), except that candidates the
    /// chosen packages recommend go first (even without weak dependencies),
    /// then a candidate another candidate requires: `(util-linux-core or
    /// util-linux)` installs util-linux-core alone, as util-linux would need
    /// it anyway. So the sets go in that order; the sorts are stable, which
    /// keeps an install-only package's versions newest first. Of the chosen
    /// packages' Recommends, only the plain ones of the `requirer` and of
    /// the requested packages are known here, before solving.
    fn requirement_of(
        &self,
        sets: &[VersionSetId],
        text: &str,
        requirer: Option<&RpmPackage>,
    ) -> Requirement {
        let mut sets = sets.to_vec();
        let name_of = |set| self.package_name_of(self.pool.resolve_version_set_package_name(set));
        sets.sort_by(|&a, &b| name_of(a).cmp(name_of(b)));
        let best_solvables: Vec<Option<SolvableId>> = sets
            .iter()
            .map(|&set| {
                let name = self.pool.resolve_version_set_package_name(set);
                self.by_name
                    .get(&name)
                    .and_then(|list| list.first())
                    .copied()
            })
            .collect();
        let best: Vec<Option<&RpmPackage>> = best_solvables
            .iter()
            .map(|s| s.map(|s| self.package(s)))
            .collect();
        // Whether a plain (not rich) entry of `deps` names `candidate`.
        let named_in = |deps: &[Dependency], candidate: &RpmPackage| {
            deps.iter().any(|dep| {
                !dep.is_rich() && offers(candidate, &atom_offer(&dep.name, dep.constraint.as_ref()))
            })
        };
        let required_by_another = |at: usize| {
            best[at].is_some_and(|candidate| {
                best.iter().flatten().any(|other| {
                    other.name != candidate.name && named_in(&other.requires, candidate)
                })
            })
        };
        let recommended = |at: usize| {
            let recommends = requirer.map(|r| r.recommends.as_slice());
            best_solvables[at].is_some_and(|s| self.favoured.contains(&self.idx(s)))
                || best[at]
                    .zip(recommends)
                    .is_some_and(|(candidate, recommends)| named_in(recommends, candidate))
        };
        let rank: Vec<(bool, bool)> = (0..sets.len())
            .map(|at| (!recommended(at), !required_by_another(at)))
            .collect();
        let mut order: Vec<usize> = (0..sets.len()).collect();
        order.sort_by_key(|&at| rank[at]);
        let sets: Vec<VersionSetId> = order.into_iter().map(|at| sets[at]).collect();
        match sets.as_slice() {
            [] => Requirement::Single(self.set(text, Offer::Version(None), false)),
            [one] => Requirement::Single(*one),
            [first, rest @ ..] => Requirement::Union(
                self.pool
                    .intern_version_set_union(*first, rest.iter().copied()),
            ),
        }
    }

    /// "One of `sets` is installed", or `None` when no package can make it true.
    fn condition_of(&self, sets: &[VersionSetId]) -> Option<ConditionId> {
        sets.iter()
            .map(|&set| self.pool.intern_condition(Condition::Requirement(set)))
            .reduce(|a, b| {
                self.pool
                    .intern_condition(Condition::Binary(LogicalOperator::Or, a, b))
            })
    }

    fn both(&self, a: Option<ConditionId>, b: ConditionId) -> ConditionId {
        match a {
            None => b,
            Some(a) => self
                .pool
                .intern_condition(Condition::Binary(LogicalOperator::And, a, b)),
        }
    }

    /// Requirements meaning `dep` when `condition` holds; `false` for a
    /// shape resolvo cannot express.
    fn rich_requirements(
        &self,
        dep: &RichDep,
        condition: Option<ConditionId>,
        requirer: &RpmPackage,
        out: &mut Vec<ConditionalRequirement>,
    ) -> bool {
        let text = dep.to_string();
        let mut sets = Vec::new();
        if self.union_sets(dep, &mut sets) {
            out.push(ConditionalRequirement {
                condition,
                requirement: self.requirement_of(&sets, &text, Some(requirer)),
            });
            return true;
        }
        match dep {
            RichDep::And(all) => all
                .iter()
                .all(|d| self.rich_requirements(d, condition, requirer, out)),
            RichDep::If {
                then,
                condition: when,
                otherwise,
            } => {
                let mut when_sets = Vec::new();
                if !self.union_sets(when, &mut when_sets) {
                    return false;
                }
                let then_ok = match self.condition_of(&when_sets) {
                    // Nothing can make the condition true: only `else` applies.
                    None => true,
                    Some(when) => self.rich_requirements(
                        then,
                        Some(self.both(condition, when)),
                        requirer,
                        out,
                    ),
                };
                // `else` applies when the condition is false: "else-part or
                // condition", tried in libsolv's order (see `requirement_of`),
                // which may pull the condition's package in.
                then_ok
                    && otherwise.as_ref().is_none_or(|otherwise| {
                        let mut either = Vec::new();
                        self.union_sets(otherwise, &mut either) && {
                            either.extend(when_sets.iter().copied());
                            out.push(ConditionalRequirement {
                                condition,
                                requirement: self.requirement_of(&either, &text, Some(requirer)),
                            });
                            true
                        }
                    })
            }
            RichDep::Unless {
                then,
                condition: unless,
                otherwise,
            } => {
                let mut unless_sets = Vec::new();
                if !self.union_sets(unless, &mut unless_sets) {
                    return false;
                }
                // "then-part or condition", in libsolv's order.
                let mut either = Vec::new();
                if !self.union_sets(then, &mut either) {
                    return false;
                }
                either.extend(unless_sets.iter().copied());
                out.push(ConditionalRequirement {
                    condition,
                    requirement: self.requirement_of(&either, &text, Some(requirer)),
                });
                match (otherwise, self.condition_of(&unless_sets)) {
                    (Some(otherwise), Some(when)) => self.rich_requirements(
                        otherwise,
                        Some(self.both(condition, when)),
                        requirer,
                        out,
                    ),
                    _ => true,
                }
            }
            _ => false,
        }
    }

    /// The requirements one `Requires` entry of `requirer` stands for.
    fn requirements(
        &self,
        dep: &Dependency,
        requirer: &RpmPackage,
        out: &mut Vec<ConditionalRequirement>,
    ) {
        if dep.is_rpmlib() {
            // Provided by rpm itself; the installer is ours.
            return;
        }
        match dep.rich() {
            None => {
                let mut sets = Vec::new();
                let offer = atom_offer(&dep.name, dep.constraint.as_ref());
                self.offer_sets(&dep.name, offer, &mut sets);
                out.push(
                    self.requirement_of(&sets, &dep.to_string(), Some(requirer))
                        .into(),
                );
            }
            Some(Ok(rich)) => {
                let mut requirements = Vec::new();
                if self.rich_requirements(&rich, None, requirer, &mut requirements) {
                    out.extend(requirements);
                } else {
                    let text = format!(
                        "{} (a rich dependency form livecompose cannot resolve)",
                        dep.name
                    );
                    out.push(self.requirement_of(&[], &text, None).into());
                }
            }
            Some(Err(error)) => {
                let text = format!("{} (unreadable: {error})", dep.name);
                out.push(self.requirement_of(&[], &text, None).into());
            }
        }
    }

    /// Whether the packages `chosen` (universe indexes) satisfy `dep`.
    fn satisfied(&self, dep: &RichDep, chosen: &[usize]) -> bool {
        let any = |offer: &Offer| {
            chosen
                .iter()
                .any(|&i| offers(self.universe[i].package, offer))
        };
        match dep {
            RichDep::Atom(atom) => any(&atom_offer(&atom.name, atom.constraint.as_ref())),
            RichDep::And(all) => all.iter().all(|d| self.satisfied(d, chosen)),
            RichDep::Or(all) => all.iter().any(|d| self.satisfied(d, chosen)),
            RichDep::With(_) | RichDep::Without(..) => {
                let mut sets = Vec::new();
                self.union_sets(dep, &mut sets)
                    && sets.iter().any(|&set| {
                        let wanted = &self.pool.resolve_version_set(set).offer;
                        any(wanted)
                    })
            }
            RichDep::If {
                then,
                condition,
                otherwise,
            } => {
                if self.satisfied(condition, chosen) {
                    self.satisfied(then, chosen)
                } else {
                    otherwise.as_ref().is_none_or(|o| self.satisfied(o, chosen))
                }
            }
            RichDep::Unless {
                then,
                condition,
                otherwise,
            } => {
                if self.satisfied(condition, chosen) {
                    otherwise.as_ref().is_none_or(|o| self.satisfied(o, chosen))
                } else {
                    self.satisfied(then, chosen)
                }
            }
        }
    }

    /// Whether adding `candidate` to the packages `chosen` (universe
    /// indexes) would leave a chosen package's `Requires` unmet that the
    /// chosen set meets without it: a rich `if` whose condition the
    /// candidate makes true (`(linux-firmware >= 2015 if linux-firmware)`
    /// against an older linux-firmware). resolvo installs such a soft
    /// requirement anyway; libsolv leaves the weak dependency out.
    fn breaks_a_condition(&self, candidate: SolvableId, chosen: &[usize]) -> bool {
        let mut with_candidate = chosen.to_vec();
        with_candidate.push(self.idx(candidate));
        chosen.iter().any(|&i| {
            self.universe[i]
                .package
                .requires
                .iter()
                .filter_map(as_rich)
                .any(|dep| self.satisfied(&dep, chosen) && !self.satisfied(&dep, &with_candidate))
        })
    }

    /// The best untried solvable that would satisfy a weak dependency.
    fn preferred_for(&self, dep: &RichDep, tried: &HashSet<SolvableId>) -> Option<SolvableId> {
        dep.atoms().into_iter().find_map(|atom| {
            let offer = atom_offer(&atom.name, atom.constraint.as_ref());
            self.offering(&atom.name).iter().find_map(|name| {
                self.installable(name)
                    .iter()
                    .copied()
                    .find(|s| !tried.contains(s) && offers(self.package(*s), &offer))
            })
        })
    }

    fn describe(&self, set: &RpmSet) -> String {
        fn offer_text(offer: &Offer) -> String {
            match offer {
                Offer::Capability { name, range: None } => format!("providing {name}"),
                Offer::Capability {
                    name,
                    range: Some(range),
                } => format!("providing {name} {range}"),
                Offer::File(path) => format!("holding {path}"),
                Offer::Version(None) => "*".to_owned(),
                Offer::Version(Some(range)) => range.to_string(),
                Offer::Arch(arch) => format!("for {arch}"),
                Offer::All(all) => all.iter().map(offer_text).collect::<Vec<_>>().join(" and "),
                Offer::Not(inner) => format!("not {}", offer_text(inner)),
            }
        }
        let text = offer_text(&set.offer);
        if set.negate {
            format!("not ({text})")
        } else {
            text
        }
    }
}

/// A dependency entry as a rich expression, so weak dependencies of both
/// shapes are evaluated alike; `None` for rpmlib and unreadable entries.
fn as_rich(dep: &Dependency) -> Option<RichDep> {
    if dep.is_rpmlib() {
        return None;
    }
    match dep.rich() {
        Some(parsed) => parsed.ok(),
        None => Some(RichDep::Atom(crate::repo::rpm::richdep::Atom {
            name: dep.name.clone(),
            constraint: dep.constraint.clone(),
        })),
    }
}

impl Catalogue for RpmProvider<'_> {
    fn installable_names(&self) -> Vec<&str> {
        self.package_names(&self.by_name)
    }

    fn excluded_names(&self) -> Vec<&str> {
        self.package_names(&self.excluded)
    }

    fn request_requirement(&self, name: &str) -> Option<Requirement> {
        let installable = self
            .offering(name)
            .iter()
            .any(|offerer| !self.installable(offerer).is_empty());
        if !installable {
            return self.versioned_request(name);
        }
        // dnf reads a request as a package name first, and as a capability
        // only when no package has that name: `coreutils` is the package
        // coreutils, not coreutils-single, which provides coreutils.
        let mut sets = Vec::new();
        if self.best_of(name).is_some() {
            for own in self.pool_names_of(name) {
                sets.push(self.set(own, Offer::Version(None), false));
            }
        } else {
            self.offer_sets(name, atom_offer(name, None), &mut sets);
        }
        Some(self.requirement_of(&sets, name, None))
    }

    fn available(&self, name: &str) -> Vec<String> {
        self.pool_names_of(name)
            .iter()
            .flat_map(|own| self.installable(own))
            .map(|&s| {
                let c = &self.universe[self.idx(s)];
                format!("{} ({})", c.package.evr, c.repo)
            })
            .collect()
    }

    fn providers_of(&self, name: &str) -> Vec<String> {
        self.offering(name)
            .iter()
            .filter(|offerer| *offerer != name)
            .cloned()
            .collect()
    }

    /// `Recommends` of the chosen packages that nothing chosen satisfies,
    /// and packages whose `Supplements` the chosen set satisfies.
    fn weak_wanted(
        &self,
        solution: &[SolvableId],
        tried: &mut HashSet<SolvableId>,
    ) -> Vec<SolvableId> {
        let chosen: Vec<usize> = solution.iter().map(|&s| self.idx(s)).collect();
        let chosen_names: HashSet<&str> = chosen
            .iter()
            .map(|&i| self.universe[i].package.name.as_str())
            .collect();
        let mut fresh = Vec::new();
        for &s in solution {
            for dep in self.package(s).recommends.iter().filter_map(as_rich) {
                if self.satisfied(&dep, &chosen) {
                    continue;
                }
                if let Some(wanted) = self.preferred_for(&dep, tried)
                    && tried.insert(wanted)
                    && !self.breaks_a_condition(wanted, &chosen)
                {
                    fresh.push(wanted);
                }
            }
        }
        let mut supplementing: Vec<SolvableId> = self
            .by_name
            .values()
            .filter_map(|list| list.first().copied())
            .filter(|&s| !chosen_names.contains(self.package(s).name.as_str()))
            .filter(|s| !tried.contains(s))
            .filter(|&s| {
                self.package(s)
                    .supplements
                    .iter()
                    .filter_map(as_rich)
                    .any(|dep| self.satisfied(&dep, &chosen))
            })
            .collect();
        // HashMap order is not reproducible; universe order is.
        supplementing.sort_by_key(|&s| self.idx(s));
        for s in supplementing {
            if tried.insert(s) && !self.breaks_a_condition(s, &chosen) {
                fresh.push(s);
            }
        }
        fresh
    }
}

impl Interner for RpmProvider<'_> {
    type NameId = NameId;
    type SolvableId = SolvableId;

    super::pool_lookups!();

    fn display_solvable(&self, solvable: SolvableId) -> impl fmt::Display + '_ {
        let c = &self.universe[self.idx(solvable)];
        format!("{} ({})", c.package.nevra(), c.repo)
    }

    fn display_merged_solvables(&self, solvables: &[SolvableId]) -> impl fmt::Display + '_ {
        let Some(first) = solvables.first() else {
            return String::new();
        };
        let mut versions: Vec<String> = solvables
            .iter()
            .map(|&s| self.package(s).evr.to_string())
            .collect();
        versions.sort_unstable();
        versions.dedup();
        format!("{} {}", self.package(*first).name, versions.join(" | "))
    }

    fn display_version_set(&self, version_set: VersionSetId) -> impl fmt::Display + '_ {
        self.describe(self.pool.resolve_version_set(version_set))
    }
}

impl DependencyProvider for RpmProvider<'_> {
    async fn filter_candidates(
        &self,
        candidates: &[SolvableId],
        version_set: VersionSetId,
        inverse: bool,
    ) -> Vec<SolvableId> {
        let set = self.pool.resolve_version_set(version_set);
        candidates
            .iter()
            .copied()
            .filter(|&s| (offers(self.package(s), &set.offer) != set.negate) != inverse)
            .collect()
    }

    async fn get_candidates(&self, name: NameId) -> Option<Candidates<SolvableId>> {
        super::candidates(name, &self.by_name, &self.excluded, self.exclude_reason)
    }

    async fn sort_candidates(&self, _: &SolverCache<Self>, solvables: &mut [SolvableId]) {
        solvables.sort_by_key(|s| self.rank[self.idx(*s)]);
    }

    async fn get_dependencies(&self, solvable: SolvableId) -> Dependencies {
        let package = self.package(solvable);
        let mut requirements = Vec::new();
        for dep in &package.requires {
            self.requirements(dep, package, &mut requirements);
        }
        let mut constrains = Vec::new();
        let mut forbid = |set: VersionSetId| {
            if !constrains.contains(&set) {
                constrains.push(set);
            }
        };
        // A package never conflicts with itself, even through a capability
        // it provides.
        let own = pool_name(package);
        for dep in package.conflicts.iter().filter(|d| !d.is_rich()) {
            let offer = atom_offer(&dep.name, dep.constraint.as_ref());
            for name in self.offering(&dep.name).iter().filter(|n| **n != own) {
                forbid(self.set(name, offer.clone(), true));
            }
        }
        for dep in package.obsoletes.iter().filter(|d| d.name != package.name) {
            for name in self.pool_names_of(&dep.name) {
                forbid(self.set(
                    name,
                    Offer::Version(Range::of(dep.constraint.as_ref())),
                    true,
                ));
            }
        }
        Dependencies::Known(KnownDependencies {
            requirements,
            constrains,
        })
    }
}

#[cfg(test)]
mod tests;
