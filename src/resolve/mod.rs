//! Dependency resolution: which binary packages make up the image.
//!
//! Input is every candidate the repository stage loaded plus what the
//! kickstart asks for; output is the full set of packages to install, one
//! version per name. The SAT work is done by resolvo; `debian` teaches it
//! Debian's relationship semantics.

/// The [`resolvo::Interner`] methods that only look things up in a
/// provider's `pool`: the same for every package format.
macro_rules! pool_lookups {
    () => {
        fn display_name(&self, name: NameId) -> impl fmt::Display + '_ {
            self.pool.resolve_package_name(name).clone()
        }

        fn display_string(&self, string_id: StringId) -> impl fmt::Display + '_ {
            self.pool.resolve_string(string_id).to_owned()
        }

        fn version_set_name(&self, version_set: VersionSetId) -> NameId {
            self.pool.resolve_version_set_package_name(version_set)
        }

        fn solvable_name(&self, solvable: SolvableId) -> NameId {
            self.pool.resolve_solvable(solvable).name
        }

        fn version_sets_in_union(
            &self,
            version_set_union: VersionSetUnionId,
        ) -> impl Iterator<Item = VersionSetId> {
            self.pool.resolve_version_set_union(version_set_union)
        }

        fn resolve_condition(&self, condition: ConditionId) -> Condition {
            self.pool.resolve_condition(condition).clone()
        }
    };
}
use pool_lookups;

pub(crate) mod debian;
mod rpm;

use std::collections::{BTreeSet, HashSet};

use globset::{Glob, GlobMatcher};
use resolvo::{
    ConditionalRequirement, DependencyProvider, Interner, Problem, Requirement, SolvableId, Solver,
    UnsolvableOrCancelled,
};

use crate::repo::packages::BinaryPackage;
use crate::repo::relation::Relation;
use debian::DebianProvider;
pub use rpm::{RpmCandidate, RpmRequest, RpmSolution, resolve_rpm};

/// One package version offered by one repository.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    pub package: &'a BinaryPackage,
    /// Repository name, reported back in [`Chosen`] and in errors.
    pub repo: &'a str,
    /// Lower wins among equal versions (kickstart `repo --cost`).
    pub cost: i32,
}

/// Which packages are installed whether or not anything asks for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BaseSet {
    /// Only what is requested and its dependencies.
    None,
    /// `Essential: yes` packages.
    Essential,
    /// debootstrap's minbase: Essential plus `Priority: required`.
    #[default]
    Minbase,
}

/// A package (or glob of package names) the kickstart asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requested {
    /// A name (real or virtual) or a glob such as `linux-image-*`.
    pub pattern: String,
    /// Where it was asked for, e.g. `ks.cfg:12`.
    pub origin: String,
    /// `%packages --ignoremissing`: a missing name is a warning, not an error.
    pub ignore_missing: bool,
}

/// What to resolve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub install: Vec<Requested>,
    /// Globs of names removed from the universe (`-name` in `%packages`).
    pub exclude: Vec<String>,
    pub with_recommends: bool,
    /// Debian architecture of the image (`amd64`); `all` is always accepted.
    pub arch: String,
    pub base: BaseSet,
}

/// One package of the result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chosen {
    pub package: BinaryPackage,
    pub repo: String,
}

/// The resolved set of packages.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Transaction {
    /// Sorted by package name.
    pub packages: Vec<Chosen>,
    /// Sum of the `.deb` sizes, in bytes.
    pub download_size: u64,
    /// Things the user should hear about that did not stop resolution.
    pub warnings: Vec<String>,
}

impl Transaction {
    pub fn get(&self, name: &str) -> Option<&Chosen> {
        self.packages
            .binary_search_by(|c| c.package.name.as_str().cmp(name))
            .ok()
            .map(|i| &self.packages[i])
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    #[error("{origin}: no package matches {pattern:?} in the configured repositories")]
    Missing { pattern: String, origin: String },
    #[error("{origin}: {pattern:?} is requested but also excluded by the kickstart")]
    Excluded { pattern: String, origin: String },
    #[error("{origin}: invalid package pattern {pattern:?}: {reason}")]
    BadPattern {
        pattern: String,
        origin: String,
        reason: String,
    },
    #[error("the requested packages cannot be installed together:\n{explanation}")]
    Unsatisfiable { explanation: String },
    #[error("dependency resolution was cancelled")]
    Cancelled,
}

/// How many rounds of "install what the chosen packages recommend" to run;
/// real archives settle in 3 or 4, the bound only guards against oscillation.
const MAX_RECOMMENDS_ROUNDS: usize = 10;

fn is_glob(pattern: &str) -> bool {
    pattern.contains(['*', '?', '['])
}

fn matcher(pattern: &str) -> Result<GlobMatcher, globset::Error> {
    Ok(Glob::new(pattern)?.compile_matcher())
}

/// Resolves `request` against `universe`.
pub fn resolve(universe: &[Candidate<'_>], request: &Request) -> Result<Transaction, ResolveError> {
    let arch_ok: Vec<Candidate<'_>> = universe
        .iter()
        .filter(|c| c.package.architecture == request.arch || c.package.architecture == "all")
        .copied()
        .collect();
    let excluded = excluded_flags(
        &request.exclude,
        arch_ok.iter().map(|c| c.package.name.as_str()),
    )?;
    let provider = DebianProvider::new(&arch_ok, &excluded, &request.arch);

    let mut base_requirements = Vec::new();
    if request.base != BaseSet::None {
        let base: BTreeSet<&str> = arch_ok
            .iter()
            .zip(&excluded)
            .filter(|(c, ex)| {
                !**ex
                    && (c.package.essential
                        || (request.base == BaseSet::Minbase
                            && c.package.priority.as_deref() == Some("required")))
            })
            .map(|(c, _)| c.package.name.as_str())
            .collect();
        for name in base {
            base_requirements.push((
                provider.requirement(&[plain(name)]).into(),
                format!("{name} (base system)"),
            ));
        }
    }

    let solved = solve_request(
        provider,
        base_requirements,
        &request.install,
        request.with_recommends,
    )?;
    let provider = solved.solver.provider();
    let mut packages: Vec<Chosen> = solved
        .solution
        .iter()
        .map(|&s| {
            let c = provider.candidate(s);
            Chosen {
                package: c.package.clone(),
                repo: c.repo.to_owned(),
            }
        })
        .collect();
    packages.sort_by(|a, b| a.package.name.cmp(&b.package.name));
    let download_size = packages.iter().map(|c| c.package.size).sum();
    Ok(Transaction {
        packages,
        download_size,
        warnings: solved.warnings,
    })
}

/// The package names of a name-indexed solvable table.
fn names<'p, VS: resolvo::utils::VersionSet>(
    pool: &'p resolvo::utils::Pool<VS, String>,
    table: &std::collections::HashMap<resolvo::NameId, Vec<SolvableId>>,
) -> Vec<&'p str> {
    table
        .keys()
        .map(|&n| pool.resolve_package_name(n).as_str())
        .collect()
}

/// resolvo's candidates for `name`: the installable solvables, and the
/// excluded ones with the reason, so that errors can mention them.
fn candidates(
    name: resolvo::NameId,
    installable: &std::collections::HashMap<resolvo::NameId, Vec<SolvableId>>,
    excluded: &std::collections::HashMap<resolvo::NameId, Vec<SolvableId>>,
    reason: resolvo::StringId,
) -> Option<resolvo::Candidates<SolvableId>> {
    let installable = installable.get(&name);
    let excluded = excluded.get(&name);
    if installable.is_none() && excluded.is_none() {
        return None;
    }
    Some(resolvo::Candidates {
        candidates: installable.cloned().unwrap_or_default(),
        excluded: excluded
            .map(|e| e.iter().map(|&s| (s, reason)).collect())
            .unwrap_or_default(),
        hint_dependencies_available: resolvo::HintDependenciesAvailable::None,
        ..resolvo::Candidates::default()
    })
}

/// For each name, whether one of the `-name` globs removes it.
fn excluded_flags<'n>(
    patterns: &[String],
    names: impl Iterator<Item = &'n str>,
) -> Result<Vec<bool>, ResolveError> {
    let mut excludes = Vec::new();
    for pattern in patterns {
        excludes.push(matcher(pattern).map_err(|e| ResolveError::BadPattern {
            pattern: format!("-{pattern}"),
            origin: "%packages".to_owned(),
            reason: e.to_string(),
        })?);
    }
    Ok(names
        .map(|name| excludes.iter().any(|m| m.is_match(name)))
        .collect())
}

/// What the request handling shared by every package format asks of a
/// format's resolvo provider.
pub(crate) trait Catalogue:
    DependencyProvider + Interner<SolvableId = SolvableId> + Sized
{
    /// Real package names that can be installed, for glob expansion.
    fn installable_names(&self) -> Vec<&str>;
    /// Real package names removed by `-name` excludes.
    fn excluded_names(&self) -> Vec<&str>;
    /// What a request for `name` (a package or something a package
    /// provides) requires; `None` when nothing installable answers to it.
    fn request_requirement(&self, name: &str) -> Option<Requirement>;
    /// `version (repository)` of each installable package called `name`.
    fn available(&self, name: &str) -> Vec<String>;
    /// Names of the packages providing `name`.
    fn providers_of(&self, name: &str) -> Vec<String>;
    /// The solvables the weak dependencies of `solution` ask for that were
    /// not tried yet (each is recorded in `tried`).
    fn weak_wanted(
        &self,
        solution: &[SolvableId],
        tried: &mut HashSet<SolvableId>,
    ) -> Vec<SolvableId>;

    fn is_excluded_name(&self, name: &str) -> bool {
        self.excluded_names().contains(&name) && !self.installable_names().contains(&name)
    }
}

/// A solved request: the solver (which owns the provider) and the solvables it chose.
pub(crate) struct Solved<P: Catalogue> {
    pub solver: Solver<P>,
    pub solution: Vec<SolvableId>,
    pub warnings: Vec<String>,
}

/// Turns the kickstart's requests into requirements, solves them with
/// `base` (labelled requirements every image gets), then adds weak
/// dependencies round by round when `weak` is set.
pub(crate) fn solve_request<P: Catalogue>(
    provider: P,
    base: Vec<(ConditionalRequirement, String)>,
    install: &[Requested],
    weak: bool,
) -> Result<Solved<P>, ResolveError> {
    let mut warnings = Vec::new();
    // (requirement, who asked) in request order; the label feeds error text.
    let mut requirements = base;
    for want in install {
        let names = expand(&provider, want)?;
        if names.is_empty() {
            let excluded_hit = if is_glob(&want.pattern) {
                let m = matcher(&want.pattern).map_err(|e| bad_pattern(want, e))?;
                provider
                    .excluded_names()
                    .iter()
                    .any(|name| m.is_match(name))
            } else {
                provider.is_excluded_name(&want.pattern)
            };
            if excluded_hit {
                return Err(ResolveError::Excluded {
                    pattern: want.pattern.clone(),
                    origin: want.origin.clone(),
                });
            }
            if want.ignore_missing {
                warnings.push(format!(
                    "{}: no package matches {:?}; skipped (--ignoremissing)",
                    want.origin, want.pattern
                ));
                continue;
            }
            return Err(ResolveError::Missing {
                pattern: want.pattern.clone(),
                origin: want.origin.clone(),
            });
        }
        for (name, requirement) in names {
            requirements.push((
                requirement.into(),
                format!("{name} (requested at {})", want.origin),
            ));
        }
    }

    let labels: Vec<String> = requirements.iter().map(|(_, l)| l.clone()).collect();
    let hard: Vec<ConditionalRequirement> = requirements.into_iter().map(|(r, _)| r).collect();
    let mut solver = Solver::new(provider);
    let mut soft: Vec<SolvableId> = Vec::new();
    let mut solution = solve(&mut solver, &hard, &soft, &labels)?;
    if weak {
        let mut tried: HashSet<SolvableId> = HashSet::new();
        for _ in 0..MAX_RECOMMENDS_ROUNDS {
            let fresh = solver.provider().weak_wanted(&solution, &mut tried);
            if fresh.is_empty() {
                break;
            }
            soft.extend(fresh);
            solution = solve(&mut solver, &hard, &soft, &labels)?;
        }
    }
    Ok(Solved {
        solver,
        solution,
        warnings,
    })
}

fn plain(name: &str) -> Relation {
    Relation {
        name: name.to_owned(),
        arch_qualifier: None,
        constraint: None,
    }
}

fn bad_pattern(want: &Requested, e: globset::Error) -> ResolveError {
    ResolveError::BadPattern {
        pattern: want.pattern.clone(),
        origin: want.origin.clone(),
        reason: e.to_string(),
    }
}

/// The names a request stands for, with their requirements: every
/// installable name a glob matches, or the name itself when something real
/// or provided answers to it.
fn expand<P: Catalogue>(
    provider: &P,
    want: &Requested,
) -> Result<Vec<(String, Requirement)>, ResolveError> {
    let names: Vec<String> = if is_glob(&want.pattern) {
        let m = matcher(&want.pattern).map_err(|e| bad_pattern(want, e))?;
        let mut names: Vec<String> = provider
            .installable_names()
            .into_iter()
            .filter(|n| m.is_match(n))
            .map(str::to_owned)
            .collect();
        names.sort();
        names
    } else {
        vec![want.pattern.clone()]
    };
    Ok(names
        .into_iter()
        .filter_map(|name| {
            let requirement = provider.request_requirement(&name)?;
            Some((name, requirement))
        })
        .collect())
}

fn solve<P: Catalogue>(
    solver: &mut Solver<P>,
    hard: &[ConditionalRequirement],
    soft: &[SolvableId],
    labels: &[String],
) -> Result<Vec<SolvableId>, ResolveError> {
    let problem = Problem::new()
        .requirements(hard.to_vec())
        .soft_requirements(soft.iter().copied());
    match solver.solve(problem) {
        Ok(s) => Ok(s),
        Err(UnsolvableOrCancelled::Cancelled(_)) => Err(ResolveError::Cancelled),
        Err(UnsolvableOrCancelled::Unsolvable(conflict)) => {
            let detail = conflict.display_user_friendly(solver).to_string();
            Err(ResolveError::Unsatisfiable {
                explanation: explain(&detail, labels, solver.provider()),
            })
        }
    }
}

/// One line of resolvo's explanation tree: how far it is indented (tree
/// glyphs included) and its words.
struct TreeLine<'a> {
    depth: usize,
    text: &'a str,
}

fn tree_lines(detail: &str) -> Vec<TreeLine<'_>> {
    detail
        .lines()
        .map(|line| {
            // Only the tree's glyphs: a rich dependency starts with "(".
            let text = line.trim_start_matches([' ', '│', '├', '└', '─']);
            TreeLine {
                depth: line.chars().count() - text.chars().count(),
                text,
            }
        })
        .filter(|line| !line.text.is_empty())
        .collect()
}

/// How resolvo ends a branch where nothing can satisfy a requirement.
const NO_CANDIDATES: &str = ", for which no candidates were found.";

/// Starts from what failed, in the user's words: each package whose
/// dependency nothing satisfies, with what the repositories have instead;
/// then the requests that led there, each once; then resolvo's dependency
/// tree, which speaks only in package names.
fn explain<P: Catalogue>(detail: &str, labels: &[String], provider: &P) -> String {
    let lines = tree_lines(detail);
    let mut causes: Vec<String> = Vec::new();
    for (at, line) in lines.iter().enumerate() {
        let Some(wanted) = line.text.strip_suffix(NO_CANDIDATES) else {
            continue;
        };
        let Some(name) = wanted.split_whitespace().next() else {
            continue;
        };
        let needing = lines[..at]
            .iter()
            .rev()
            .find(|parent| parent.depth < line.depth)
            .and_then(|parent| parent.text.strip_suffix(" would require"));
        // A requirement no package can meet is shown by name, with "*"
        // (any version) after it.
        let wanted = wanted.strip_suffix(" *").unwrap_or(wanted);
        // A rich dependency is not one name to look up.
        let available = if wanted.starts_with('(') {
            "no package in the repositories satisfies it".to_owned()
        } else {
            availability(name, provider)
        };
        let cause = match needing {
            Some(package) => format!("{package} requires {wanted}: {available}"),
            None => format!("{wanted}: {available}"),
        };
        if !causes.contains(&cause) {
            causes.push(cause);
        }
    }
    let mut out = String::new();
    for cause in &causes {
        out.push_str(cause);
        out.push('\n');
    }
    let involved = involved_requests(&lines, labels);
    if !involved.is_empty() {
        out.push_str("involved requests:\n");
        for request in involved {
            out.push_str("  - ");
            out.push_str(&request);
            out.push('\n');
        }
    }
    if !out.is_empty() {
        out.push_str("why:\n");
    }
    out.push_str(detail.trim_end());
    out
}

/// resolvo says only "no candidates were found"; what the repositories
/// actually have for `name` is what a sysadmin needs to fix the kickstart.
fn availability<P: Catalogue>(name: &str, provider: &P) -> String {
    let available = provider.available(name);
    let providers = provider.providers_of(name);
    if provider.is_excluded_name(name) {
        format!("{name} is excluded by the kickstart (-name)")
    } else if !available.is_empty() {
        format!("the repositories have only {name} {}", available.join(", "))
    } else if !providers.is_empty() {
        format!(
            "{name} is virtual; provided (possibly at other versions) by {}",
            providers.join(", ")
        )
    } else {
        format!("no repository has a package named or providing {name}")
    }
}

/// The requests at the roots of resolvo's tree (and below its "The
/// following packages are incompatible" headings), each name
/// once with every place it was asked for: a name a group and a line both
/// ask for is one request, and packages deeper in the tree are not
/// requests.
fn involved_requests(lines: &[TreeLine<'_>], labels: &[String]) -> Vec<String> {
    let Some(top) = lines.iter().map(|line| line.depth).min() else {
        return Vec::new();
    };
    // Top-level lines are roots, except a heading, whose children are.
    let mut roots: Vec<&str> = Vec::new();
    let mut under_heading = false;
    let mut child_depth = None;
    for line in lines {
        if line.depth == top {
            under_heading = line.text.starts_with("The following");
            child_depth = None;
            if !under_heading {
                roots.push(line.text);
            }
        } else if under_heading && *child_depth.get_or_insert(line.depth) == line.depth {
            roots.push(line.text);
        }
    }
    let root_words: HashSet<&str> = roots
        .iter()
        .flat_map(|root| root.split(|c: char| c.is_whitespace() || c == ','))
        .collect();
    let mut merged: Vec<(&str, Vec<&str>)> = Vec::new();
    for label in labels {
        let (name, why) = label.split_once(' ').unwrap_or((label, ""));
        if !root_words.contains(name) {
            continue;
        }
        match merged.iter_mut().find(|(known, _)| *known == name) {
            Some((_, whys)) if whys.contains(&why) => {}
            Some((_, whys)) => whys.push(why),
            None => merged.push((name, vec![why])),
        }
    }
    merged
        .into_iter()
        .map(|(name, whys)| {
            format!("{name} {}", whys.join(" and "))
                .trim_end()
                .to_owned()
        })
        .collect()
}

#[cfg(test)]
mod tests;
