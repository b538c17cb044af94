//! EVR ordering checked against rpm itself: every pair is compared by
//! `rpm.vercmp` (rpm's `rpmverCmp`) in one `rpm --eval` run and by
//! [`Evr`]'s `Ord`, and the two must agree.

use std::cmp::Ordering;
use std::fmt::Write as _;
use std::process::Command;

use livecompose::repo::rpm::{Evr, rpmvercmp};

/// Hand-picked pairs for the rules people get wrong.
const PAIRS: &[(&str, &str)] = &[
    ("1.0", "1.0"),
    ("1.0", "1.0.0"),
    ("1.01", "1.1"),
    ("1.0a", "1.0"),
    ("1.0a", "1.0.1"),
    ("1.0~rc1", "1.0"),
    ("1.0~rc1", "1.0~rc2"),
    ("1.0~~", "1.0~"),
    ("1.0~rc1^git1", "1.0~rc1"),
    ("1.0^", "1.0"),
    ("1.0^git1", "1.0"),
    ("1.0^git1", "1.0.1"),
    ("1.0^git1", "1.0^git2"),
    ("1.0^git1~pre", "1.0^git1"),
    ("a", "1"),
    ("1.a", "1.1"),
    ("10", "9"),
    ("1_0", "1.0"),
    ("1..0", "1.0"),
    ("1.0.", "1.0"),
    ("FC5", "fc4"),
    ("2a", "2.0"),
    ("1:1.0", "2.0"),
    ("0:1.0", "1.0"),
    ("1.0", "1.0-1"),
    ("1.0-", "1.0"),
    ("1.0-1", "1.0-2"),
    ("1.0-10", "1.0-9"),
    ("1.0-1.fc40", "1.0-1.el9"),
    ("1.0-rc1-1", "1.0-1"),
    ("2:0.1-1", "1:9.9-9"),
    ("010:1", "10:1"),
    ("6.0.0-0.rc1.20220405git.fc37", "6.0.0-1.fc37"),
    ("5.2.15^20230101git1a2b3c-1", "5.2.15-1"),
    ("4.18.0+dfsg", "4.18.0"),
    ("1.0~beta", "1.0~alpha"),
];

const TOKENS: &[&str] = &[
    "0",
    "1",
    "2",
    "9",
    "10",
    "01",
    "007",
    "123456789012345678901",
    "a",
    "b",
    "z",
    "A",
    "rc",
    "rc1",
    "beta",
    "git",
    "~",
    "^",
    "~rc1",
    "^git1",
    "_",
    "+",
    ".",
    "fc40",
    "el9",
];

const SEPARATORS: &[&str] = &[".", "", "", "_", "+"];

/// A small deterministic generator, so a failure reproduces.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as usize
    }

    fn segment_string(&mut self) -> String {
        let mut s = String::new();
        for i in 0..1 + self.next(4) {
            if i > 0 {
                s.push_str(SEPARATORS[self.next(SEPARATORS.len())]);
            }
            s.push_str(TOKENS[self.next(TOKENS.len())]);
        }
        s
    }

    fn evr(&mut self) -> String {
        let mut s = String::new();
        if self.next(10) < 3 {
            write!(s, "{}:", self.next(3)).unwrap();
        }
        s.push_str(&self.segment_string());
        if self.next(10) < 6 {
            write!(s, "-{}", self.segment_string()).unwrap();
        }
        s
    }
}

fn generated_pairs(count: usize) -> Vec<(String, String)> {
    let mut rng = Lcg(0x5eed);
    (0..count)
        .map(|i| {
            let a = rng.evr();
            // Every few pairs, a near neighbour of `a` rather than a
            // stranger, so that long common prefixes get compared too.
            let b = if i % 3 == 0 {
                format!("{a}{}", TOKENS[rng.next(TOKENS.len())])
            } else {
                rng.evr()
            };
            (a, b)
        })
        .collect()
}

/// Asks rpm about every pair at once; one process keeps the test fast.
fn rpm_vercmp(pairs: &[(String, String)]) -> Vec<Ordering> {
    let mut lua = String::from("local r = {}\n");
    for (a, b) in pairs {
        // The test strings hold no quote or backslash, so plain Lua
        // string literals are safe.
        assert!(!format!("{a}{b}").contains(['"', '\\']));
        writeln!(lua, "r[#r+1] = rpm.vercmp(\"{a}\", \"{b}\")").unwrap();
    }
    lua.push_str("print(table.concat(r, \" \"))\n");
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("pairs.lua");
    std::fs::write(&script, lua).unwrap();
    let output = Command::new("rpm")
        .arg("--eval")
        .arg(format!("%{{lua: dofile(\"{}\")}}", script.display()))
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run rpm ({e}): the oracle for this test is Debian's `rpm` package; \
                 install it with `apt-get install rpm` (tests/run does)"
            )
        });
    assert!(
        output.status.success(),
        "rpm --eval failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    let answers: Vec<Ordering> = text
        .split_whitespace()
        .map(|n| match n {
            "-1" => Ordering::Less,
            "0" => Ordering::Equal,
            "1" => Ordering::Greater,
            other => panic!("rpm answered {other:?}"),
        })
        .collect();
    assert_eq!(answers.len(), pairs.len(), "rpm output: {text}");
    answers
}

#[test]
fn evr_order_agrees_with_rpm() {
    let mut pairs: Vec<(String, String)> = PAIRS
        .iter()
        .flat_map(|(a, b)| {
            [
                (a.to_string(), b.to_string()),
                (b.to_string(), a.to_string()),
            ]
        })
        .collect();
    pairs.extend(generated_pairs(3000));
    let oracle = rpm_vercmp(&pairs);
    for ordering in [Ordering::Less, Ordering::Equal, Ordering::Greater] {
        let n = oracle.iter().filter(|o| **o == ordering).count();
        assert!(
            n >= 30,
            "only {n} pairs compare {ordering:?}: the generator is degenerate"
        );
    }

    let mut disagreements = Vec::new();
    for ((a, b), want) in pairs.iter().zip(oracle) {
        let ours = Evr::parse(a).unwrap().cmp(&Evr::parse(b).unwrap());
        if ours != want {
            disagreements.push(format!("{a} vs {b}: rpm {want:?}, ours {ours:?}"));
        }
        // Without ':' or '-' the whole string is a version, so the oracle
        // also checks bare rpmvercmp.
        if !format!("{a}{b}").contains([':', '-']) && rpmvercmp(a, b) != want {
            disagreements.push(format!("rpmvercmp({a}, {b}): rpm {want:?}"));
        }
    }
    assert!(
        disagreements.is_empty(),
        "{} of {} pairs disagree with rpm:\n{}",
        disagreements.len(),
        pairs.len(),
        disagreements.join("\n")
    );
}
