//! Debian relationship semantics expressed as a resolvo dependency provider.
//!
//! resolvo knows one solvable per name and version sets over one name's
//! solvables. Debian virtual packages do not fit that directly, so a
//! dependency on a name becomes the union of "that real package" and, for
//! each package that `Provides` it, "the solvables of that package whose
//! Provides satisfies the relation". Conflicts and Breaks become resolvo
//! constraints: "if a package of this name is installed, it must lie in the
//! complement of what is conflicted with".

use std::cell::OnceCell;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::str::FromStr;

use debversion::Version;
use resolvo::utils::Pool;
use resolvo::{
    Candidates, Condition, ConditionId, ConditionalRequirement, Dependencies, DependencyProvider,
    Interner, KnownDependencies, NameId, Requirement, SolvableId, SolverCache, StringId,
    VersionSetId, VersionSetUnionId,
};

use super::{Candidate, Catalogue};
use crate::repo::relation::{Relation, VersionOp};

/// Which solvables of one name a version set selects.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Filter {
    /// Every version.
    Any,
    /// The package's own version satisfies `op version`.
    Version(VersionOp, String),
    /// The package `Provides` `virt`, satisfying the constraint if any.
    Provides {
        virt: String,
        constraint: Option<(VersionOp, String)>,
    },
}

impl Filter {
    /// The versions a relation's own `(op version)` admits.
    fn from_constraint(constraint: &Option<(VersionOp, String)>) -> Self {
        match constraint {
            None => Filter::Any,
            Some((op, version)) => Filter::Version(*op, version.clone()),
        }
    }
}

/// A resolvo version set: a filter, or (for Conflicts/Breaks) its complement.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct DebSet {
    pub filter: Filter,
    pub negate: bool,
}

/// Index of a [`Candidate`] in the universe; resolvo requires records to
/// display, and this one is never shown directly.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Record(pub usize);

impl fmt::Display for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

impl resolvo::utils::VersionSet for DebSet {
    type V = Record;
}

pub(crate) fn satisfies(version: &Version, op: VersionOp, wanted: &str) -> bool {
    // An unparsable version in a relation can match nothing: saying yes
    // would install something the archive never promised.
    let Ok(wanted) = Version::from_str(wanted) else {
        return false;
    };
    let ord = version.cmp(&wanted);
    match op {
        VersionOp::Earlier => ord.is_lt(),
        VersionOp::EarlierOrEqual => ord.is_le(),
        VersionOp::Equal => ord.is_eq(),
        VersionOp::LaterOrEqual => ord.is_ge(),
        VersionOp::Later => ord.is_gt(),
    }
}

/// The version of candidate `i`, parsed on first use.
fn parsed_version<'v>(
    versions: &'v [OnceCell<Option<Version>>],
    universe: &[Candidate<'_>],
    i: usize,
) -> Option<&'v Version> {
    versions[i]
        .get_or_init(|| Version::from_str(&universe[i].package.version).ok())
        .as_ref()
}

/// The provider: the universe, indexed for the questions resolvo asks.
pub(crate) struct DebianProvider<'u> {
    pub pool: Pool<DebSet, String>,
    pub universe: &'u [Candidate<'u>],
    /// Parsed version per solvable (same index as `universe`), parsed when
    /// first asked for (a resolution looks at a few thousand of the
    /// archive's sixty thousand); `None` for an unparsable version, which
    /// then sorts last and matches no versioned relation.
    versions: Vec<OnceCell<Option<Version>>>,
    /// Installable solvables per name, best first.
    by_name: HashMap<NameId, Vec<SolvableId>>,
    /// Solvables removed by `-name` excludes, kept for error messages.
    excluded: HashMap<NameId, Vec<SolvableId>>,
    exclude_reason: StringId,
    /// Position in the preference order of its name (0 = best).
    rank: Vec<u32>,
    /// Virtual (or real) name -> names of packages providing it, in preference order.
    providers: HashMap<&'u str, Vec<&'u str>>,
    arch: String,
}

fn priority_rank(p: Option<&str>) -> u8 {
    match p {
        Some("required") => 0,
        Some("important") => 1,
        Some("standard") => 2,
        Some("optional") => 3,
        _ => 4,
    }
}

impl<'u> DebianProvider<'u> {
    pub fn new(universe: &'u [Candidate<'u>], excluded: &[bool], arch: &str) -> Self {
        let pool: Pool<DebSet, String> = Pool::new();
        let exclude_reason = pool.intern_string("excluded by the kickstart (-name)");
        let versions: Vec<OnceCell<Option<Version>>> = vec![OnceCell::new(); universe.len()];
        let version = |i: usize| parsed_version(&versions, universe, i);
        let mut by_name: HashMap<NameId, Vec<SolvableId>> = HashMap::new();
        let mut excl: HashMap<NameId, Vec<SolvableId>> = HashMap::new();
        for (i, c) in universe.iter().enumerate() {
            let name = pool.intern_package_name(c.package.name.as_str());
            let s = pool.intern_solvable(name, Record(i));
            if excluded.get(i).copied().unwrap_or(false) {
                excl.entry(name).or_default().push(s);
            } else {
                by_name.entry(name).or_default().push(s);
            }
        }
        let mut rank = vec![u32::MAX; universe.len()];
        for list in by_name.values_mut().chain(excl.values_mut()) {
            // Highest version first; among equal versions the cheaper repo.
            list.sort_by(|a, b| {
                let (ia, ib) = (
                    pool.resolve_solvable(*a).record.0,
                    pool.resolve_solvable(*b).record.0,
                );
                version(ib)
                    .cmp(&version(ia))
                    .then(universe[ia].cost.cmp(&universe[ib].cost))
                    .then(ia.cmp(&ib))
            });
            for (r, s) in list.iter().enumerate() {
                rank[pool.resolve_solvable(*s).record.0] = r as u32;
            }
        }
        let mut providers: HashMap<&'u str, Vec<&'u str>> = HashMap::new();
        for c in universe {
            for rel in c.package.provides.iter().flatten() {
                let list = providers.entry(rel.name.as_str()).or_default();
                if !list.contains(&c.package.name.as_str()) {
                    list.push(c.package.name.as_str());
                }
            }
        }
        // apt-like preference among providers: more important packages first,
        // then by name so the choice is reproducible.
        let best_priority: HashMap<&str, u8> = universe.iter().fold(HashMap::new(), |mut m, c| {
            let p = priority_rank(c.package.priority.as_deref());
            let e = m.entry(c.package.name.as_str()).or_insert(p);
            *e = (*e).min(p);
            m
        });
        for list in providers.values_mut() {
            list.sort_by(|a, b| {
                best_priority
                    .get(a)
                    .cmp(&best_priority.get(b))
                    .then(a.cmp(b))
            });
        }
        DebianProvider {
            pool,
            universe,
            versions,
            by_name,
            excluded: excl,
            exclude_reason,
            rank,
            providers,
            arch: arch.to_owned(),
        }
    }

    /// Universe index of a solvable.
    pub fn idx(&self, s: SolvableId) -> usize {
        self.pool.resolve_solvable(s).record.0
    }

    pub fn candidate(&self, s: SolvableId) -> &'u Candidate<'u> {
        &self.universe[self.idx(s)]
    }

    pub fn name_id(&self, name: &str) -> Option<NameId> {
        self.pool.lookup_package_name(&name.to_owned())
    }

    /// Installable solvables of a real name, best first.
    pub fn installable(&self, name: &str) -> &[SolvableId] {
        self.name_id(name)
            .and_then(|n| self.by_name.get(&n))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    fn providers(&self, name: &str) -> &[&'u str] {
        self.providers.get(name).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn matches(&self, s: SolvableId, set: &DebSet) -> bool {
        let i = self.idx(s);
        let hit = match &set.filter {
            Filter::Any => true,
            Filter::Version(op, v) => parsed_version(&self.versions, self.universe, i)
                .is_some_and(|have| satisfies(have, *op, v)),
            Filter::Provides { virt, constraint } => self.universe[i]
                .package
                .provides
                .iter()
                .flatten()
                .any(|p| p.name == *virt && provide_satisfies(p, constraint.as_ref())),
        };
        hit != set.negate
    }

    /// Whether an architecture qualifier can be satisfied in a single-arch image.
    fn arch_ok(&self, rel: &Relation) -> bool {
        match rel.arch_qualifier.as_deref() {
            None | Some("any") | Some("native") => true,
            Some(a) => a == self.arch,
        }
    }

    /// Adds the set of `name`'s versions that `filter` admits (or, negated, excludes).
    fn push_set(&self, out: &mut Vec<VersionSetId>, name: &str, filter: Filter, negate: bool) {
        push_unique(out, self.set(name, DebSet { filter, negate }));
    }

    /// Adds, for every real package providing `rel`'s name (but `except`),
    /// the set of its versions whose Provides satisfy `rel`.
    fn push_provider_sets(
        &self,
        rel: &Relation,
        negate: bool,
        except: Option<&str>,
        out: &mut Vec<VersionSetId>,
    ) {
        for provider in self.providers(&rel.name) {
            if except == Some(*provider) {
                continue;
            }
            let filter = Filter::Provides {
                virt: rel.name.clone(),
                constraint: rel.constraint.clone(),
            };
            self.push_set(out, provider, filter, negate);
        }
    }

    fn set(&self, name: &str, set: DebSet) -> VersionSetId {
        let n = self.pool.intern_package_name(name);
        self.pool.intern_version_set(n, set)
    }

    /// Version sets that together satisfy one alternative of a relation.
    fn alternative_sets(&self, rel: &Relation, out: &mut Vec<VersionSetId>) {
        if !self.arch_ok(rel) {
            return;
        }
        let known = self
            .name_id(&rel.name)
            .is_some_and(|n| self.by_name.contains_key(&n) || self.excluded.contains_key(&n));
        if known {
            self.push_set(
                out,
                &rel.name,
                Filter::from_constraint(&rel.constraint),
                false,
            );
        }
        self.push_provider_sets(rel, false, None, out);
    }

    /// The requirement for an OR group (`a | b (>= 1)`); alternatives keep
    /// their order so resolvo tries the first one first, as apt does.
    pub fn requirement(&self, group: &[Relation]) -> Requirement {
        let mut sets = Vec::new();
        for rel in group {
            self.alternative_sets(rel, &mut sets);
        }
        if sets.is_empty() {
            // Nothing anywhere satisfies it: a set over a name without
            // candidates makes resolvo report the dependency as unresolvable.
            // The relation's full text (with any `:arch`) is never a real
            // name, so it cannot accidentally match an installable package.
            let name = group
                .iter()
                .map(|r| r.to_string())
                .collect::<Vec<_>>()
                .join(" | ");
            sets.push(self.set(
                &name,
                DebSet {
                    filter: Filter::Any,
                    negate: false,
                },
            ));
        }
        if sets.len() == 1 {
            Requirement::Single(sets[0])
        } else {
            Requirement::Union(
                self.pool
                    .intern_version_set_union(sets[0], sets[1..].iter().copied()),
            )
        }
    }

    /// Constraints forbidding what `rel` conflicts with, for a package named `own`.
    fn conflict_sets(&self, own: &str, rel: &Relation, out: &mut Vec<VersionSetId>) {
        if !self.arch_ok(rel) {
            return;
        }
        // Policy: a package never conflicts with itself, even through a
        // virtual name it provides (the `Provides: x, Conflicts: x` idiom).
        if rel.name != own && self.name_id(&rel.name).is_some() {
            self.push_set(
                out,
                &rel.name,
                Filter::from_constraint(&rel.constraint),
                true,
            );
        }
        self.push_provider_sets(rel, true, Some(own), out);
    }

    pub fn describe_set(&self, set: &DebSet) -> String {
        let inner = match &set.filter {
            Filter::Any => "*".to_owned(),
            Filter::Version(op, v) => format!("({op} {v})"),
            Filter::Provides {
                virt,
                constraint: None,
            } => format!("providing {virt}"),
            Filter::Provides {
                virt,
                constraint: Some((op, v)),
            } => format!("providing {virt} ({op} {v})"),
        };
        if set.negate {
            format!("not {inner}")
        } else {
            inner
        }
    }
}

/// Debian policy: only a versioned Provides (`= v`) satisfies a versioned
/// relation; an unversioned one satisfies only unversioned relations.
fn provide_satisfies(provide: &Relation, wanted: Option<&(VersionOp, String)>) -> bool {
    match (wanted, &provide.constraint) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some((op, want)), Some((VersionOp::Equal, have))) => Version::from_str(have)
            .ok()
            .is_some_and(|have| satisfies(&have, *op, want)),
        // Provides allows only `=`; anything else is malformed and promises nothing.
        (Some(_), Some(_)) => false,
    }
}

fn push_unique(out: &mut Vec<VersionSetId>, id: VersionSetId) {
    if !out.contains(&id) {
        out.push(id);
    }
}

impl Interner for DebianProvider<'_> {
    type NameId = NameId;
    type SolvableId = SolvableId;

    super::pool_lookups!();

    fn display_solvable(&self, solvable: SolvableId) -> impl fmt::Display + '_ {
        let c = self.candidate(solvable);
        format!("{} {} ({})", c.package.name, c.package.version, c.repo)
    }

    fn display_merged_solvables(&self, solvables: &[SolvableId]) -> impl fmt::Display + '_ {
        let Some(first) = solvables.first() else {
            return String::new();
        };
        let mut versions: Vec<&str> = solvables
            .iter()
            .map(|&s| self.candidate(s).package.version.as_str())
            .collect();
        versions.sort_unstable();
        versions.dedup();
        format!(
            "{} {}",
            self.candidate(*first).package.name,
            versions.join(" | ")
        )
    }

    fn display_version_set(&self, version_set: VersionSetId) -> impl fmt::Display + '_ {
        self.describe_set(self.pool.resolve_version_set(version_set))
    }
}

impl DependencyProvider for DebianProvider<'_> {
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
            .filter(|&s| self.matches(s, set) != inverse)
            .collect()
    }

    async fn get_candidates(&self, name: NameId) -> Option<Candidates<SolvableId>> {
        super::candidates(name, &self.by_name, &self.excluded, self.exclude_reason)
    }

    async fn sort_candidates(&self, _: &SolverCache<Self>, solvables: &mut [SolvableId]) {
        solvables.sort_by_key(|s| self.rank[self.idx(*s)]);
    }

    async fn get_dependencies(&self, solvable: SolvableId) -> Dependencies {
        let pkg = &self.candidate(solvable).package;
        let requirements = pkg
            .pre_depends
            .iter()
            .chain(&pkg.depends)
            .map(|group| ConditionalRequirement::from(self.requirement(group)))
            .collect();
        let mut constrains = Vec::new();
        // Conflicts and Breaks are flat lists; an OR inside them is not
        // meaningful, so every alternative counts.
        for rel in pkg.conflicts.iter().chain(&pkg.breaks).flatten() {
            self.conflict_sets(&pkg.name, rel, &mut constrains);
        }
        Dependencies::Known(KnownDependencies {
            requirements,
            constrains,
        })
    }
}

impl Catalogue for DebianProvider<'_> {
    fn installable_names(&self) -> Vec<&str> {
        super::names(&self.pool, &self.by_name)
    }

    fn excluded_names(&self) -> Vec<&str> {
        super::names(&self.pool, &self.excluded)
    }

    fn request_requirement(&self, name: &str) -> Option<Requirement> {
        let real = !self.installable(name).is_empty();
        let virt = self
            .providers(name)
            .iter()
            .any(|p| !self.installable(p).is_empty());
        (real || virt).then(|| self.requirement(&[super::plain(name)]))
    }

    fn available(&self, name: &str) -> Vec<String> {
        self.installable(name)
            .iter()
            .map(|&s| {
                let c = self.candidate(s);
                format!("{} ({})", c.package.version, c.repo)
            })
            .collect()
    }

    fn providers_of(&self, name: &str) -> Vec<String> {
        self.providers(name)
            .iter()
            .map(|&name| name.to_owned())
            .collect()
    }

    /// Recommends of the chosen packages that nothing chosen satisfies yet.
    fn weak_wanted(
        &self,
        solution: &[SolvableId],
        tried: &mut HashSet<SolvableId>,
    ) -> Vec<SolvableId> {
        let chosen: HashSet<usize> = solution.iter().map(|&s| self.idx(s)).collect();
        let mut fresh = Vec::new();
        for &s in solution {
            for group in &self.candidate(s).package.recommends {
                if satisfied_by(self, &chosen, group) {
                    continue;
                }
                if let Some(p) = preferred_for(self, group, tried)
                    && tried.insert(p)
                {
                    fresh.push(p);
                }
            }
        }
        fresh
    }
}

/// Whether the chosen set (universe indexes) already satisfies an OR group,
/// which tells whether a Recommends still needs acting on.
fn satisfied_by(
    provider: &DebianProvider<'_>,
    chosen: &HashSet<usize>,
    group: &[Relation],
) -> bool {
    group.iter().any(|rel| {
        let mut sets = Vec::new();
        provider.alternative_sets(rel, &mut sets);
        sets.iter().any(|&vs| {
            let name = provider.pool.resolve_version_set_package_name(vs);
            let deb = provider.pool.resolve_version_set(vs);
            provider
                .by_name
                .get(&name)
                .into_iter()
                .flatten()
                .any(|&s| chosen.contains(&provider.idx(s)) && provider.matches(s, deb))
        })
    })
}

/// The next solvable to try for a Recommends group: the best candidate of
/// the first alternative not yet tried, so a failed first choice falls back
/// to the next alternative in a later round.
fn preferred_for(
    provider: &DebianProvider<'_>,
    group: &[Relation],
    tried: &HashSet<SolvableId>,
) -> Option<SolvableId> {
    for rel in group {
        let mut sets = Vec::new();
        provider.alternative_sets(rel, &mut sets);
        for vs in sets {
            let name = provider.pool.resolve_version_set_package_name(vs);
            let deb = provider.pool.resolve_version_set(vs);
            if let Some(s) = provider
                .by_name
                .get(&name)
                .into_iter()
                .flatten()
                .find(|&&s| !tried.contains(&s) && provider.matches(s, deb))
            {
                return Some(*s);
            }
        }
    }
    None
}
