//! Dependency resolution: which binary packages make up the image.
//!
//! Input is every candidate the repository stage loaded plus what the
//! kickstart asks for; output is the full set of packages to install, one
//! version per name. The SAT work is done by resolvo; `debian` teaches it
//! Debian's relationship semantics.

mod debian;

use std::collections::{BTreeSet, HashSet};

use globset::{Glob, GlobMatcher};
use resolvo::{ConditionalRequirement, Problem, SolvableId, Solver, UnsolvableOrCancelled};

use crate::repo::packages::BinaryPackage;
use crate::repo::relation::Relation;
use debian::DebianProvider;

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

    let mut excludes = Vec::new();
    for pattern in &request.exclude {
        excludes.push(matcher(pattern).map_err(|e| ResolveError::BadPattern {
            pattern: format!("-{pattern}"),
            origin: "%packages".to_owned(),
            reason: e.to_string(),
        })?);
    }
    let excluded: Vec<bool> = arch_ok
        .iter()
        .map(|c| excludes.iter().any(|m| m.is_match(&c.package.name)))
        .collect();
    let provider = DebianProvider::new(&arch_ok, &excluded, &request.arch);

    let mut warnings = Vec::new();
    // (requirement, who asked) in request order; the label feeds error text.
    let mut requirements: Vec<(ConditionalRequirement, String)> = Vec::new();

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
            requirements.push((
                provider.requirement(&[plain(name)]).into(),
                format!("{name} (base system)"),
            ));
        }
    }

    for want in &request.install {
        let names = expand(&provider, want)?;
        if names.is_empty() {
            let excluded_hit = if is_glob(&want.pattern) {
                let m = matcher(&want.pattern).map_err(|e| bad_pattern(want, e))?;
                arch_ok
                    .iter()
                    .zip(&excluded)
                    .any(|(c, ex)| *ex && m.is_match(&c.package.name))
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
        for name in names {
            requirements.push((
                provider.requirement(&[plain(&name)]).into(),
                format!("{name} (requested at {})", want.origin),
            ));
        }
    }

    let labels: Vec<String> = requirements.iter().map(|(_, l)| l.clone()).collect();
    let hard: Vec<ConditionalRequirement> = requirements.into_iter().map(|(r, _)| r).collect();
    let mut solver = Solver::new(provider);
    let mut soft: Vec<SolvableId> = Vec::new();
    let mut solution = solve(&mut solver, &hard, &soft, &labels)?;
    if request.with_recommends {
        let mut tried: HashSet<SolvableId> = HashSet::new();
        for _ in 0..MAX_RECOMMENDS_ROUNDS {
            let provider = solver.provider();
            let chosen: HashSet<usize> = solution.iter().map(|&s| provider.idx(s)).collect();
            let mut fresh = Vec::new();
            for &s in &solution {
                for group in &provider.candidate(s).package.recommends {
                    if debian::satisfied_by(provider, &chosen, group) {
                        continue;
                    }
                    if let Some(p) = debian::preferred_for(provider, group, &tried)
                        && tried.insert(p)
                    {
                        fresh.push(p);
                    }
                }
            }
            if fresh.is_empty() {
                break;
            }
            soft.extend(fresh);
            solution = solve(&mut solver, &hard, &soft, &labels)?;
        }
    }

    let provider = solver.provider();
    let mut packages: Vec<Chosen> = solution
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

/// Names a request stands for: every installable name a glob matches, or
/// the name itself when something real or virtual answers to it.
fn expand(provider: &DebianProvider<'_>, want: &Requested) -> Result<Vec<String>, ResolveError> {
    if is_glob(&want.pattern) {
        let m = matcher(&want.pattern).map_err(|e| bad_pattern(want, e))?;
        let mut names: Vec<String> = provider
            .installable_names()
            .filter(|n| m.is_match(n))
            .map(str::to_owned)
            .collect();
        names.sort();
        return Ok(names);
    }
    let name = want.pattern.as_str();
    let real = !provider.installable(name).is_empty();
    let virt = provider
        .providers_of(name)
        .iter()
        .any(|p| !provider.installable(p).is_empty());
    Ok(if real || virt {
        vec![name.to_owned()]
    } else {
        Vec::new()
    })
}

fn solve(
    solver: &mut Solver<DebianProvider<'_>>,
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

/// Puts the user's own words (which request, from where) in front of
/// resolvo's dependency tree, which speaks only in package names.
fn explain(detail: &str, labels: &[String], provider: &DebianProvider<'_>) -> String {
    let words: HashSet<&str> = detail
        .split(|c: char| c.is_whitespace() || c == ',' || c == '(' || c == ')')
        .collect();
    let involved: Vec<&str> = labels
        .iter()
        .filter(|l| {
            l.split_whitespace()
                .next()
                .is_some_and(|name| words.contains(name))
        })
        .map(String::as_str)
        .collect();
    let mut out = String::new();
    if !involved.is_empty() {
        out.push_str("involved requests:\n");
        for l in involved {
            out.push_str("  - ");
            out.push_str(l);
            out.push('\n');
        }
        out.push_str("why:\n");
    }
    out.push_str(detail.trim_end());
    // resolvo says only "no candidates were found"; say what the archive
    // actually has, which is what a sysadmin needs to fix the kickstart.
    let mut notes = BTreeSet::new();
    for line in detail
        .lines()
        .filter(|l| l.contains("no candidates were found"))
    {
        let Some(name) = line
            .trim_start_matches(|c: char| !c.is_alphanumeric())
            .split_whitespace()
            .next()
        else {
            continue;
        };
        let name = name.trim_end_matches(',');
        let available: Vec<String> = provider
            .installable(name)
            .iter()
            .map(|&s| {
                let c = provider.candidate(s);
                format!("{} ({})", c.package.version, c.repo)
            })
            .collect();
        let note = if provider.is_excluded_name(name) {
            format!("{name} is excluded by the kickstart (-name)")
        } else if !available.is_empty() {
            format!(
                "{name}: the repositories have only {}",
                available.join(", ")
            )
        } else if !provider.providers_of(name).is_empty() {
            format!(
                "{name} is virtual; provided (possibly at other versions) by {}",
                provider.providers_of(name).join(", ")
            )
        } else {
            format!("no repository has a package named or providing {name}")
        };
        notes.insert(note);
    }
    if !notes.is_empty() {
        out.push_str("\nnotes:");
        for n in notes {
            out.push_str("\n  - ");
            out.push_str(&n);
        }
    }
    out
}

#[cfg(test)]
mod tests;
