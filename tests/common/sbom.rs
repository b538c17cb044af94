//! The SBOM oracles: the SPDX project's validator (`pyspdxtools`, from
//! spdx-tools) and the CycloneDX project's Python library with its strict
//! JSON validator, installed by `tests/install-python-oracles` into the
//! clone's `target/oracles/python` (Debian packages neither); and what the
//! documents list.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The virtual environment `tests/install-python-oracles` makes.
fn oracles() -> PathBuf {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target directory");
    let venv = target.join("oracles/python");
    assert!(
        venv.join("bin/pyspdxtools").is_file(),
        "{} is missing: run tests/install-python-oracles (tests/run does)",
        venv.display()
    );
    venv
}

fn check(what: &str, document: &Path, command: &mut Command) {
    let out = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} refuses {}:\n{}{}",
        document.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Validates a `LABEL.spdx.json` with pyspdxtools (SPDX 2.3: the schema,
/// the license expressions, every element a relationship names) and a
/// `LABEL.cdx.json` with cyclonedx-python-lib's strict validator for
/// CycloneDX 1.6; fails the test with what they say.
pub fn validate_both(spdx: &Path, cyclonedx: &Path) {
    let venv = oracles();
    check(
        "pyspdxtools",
        spdx,
        Command::new(venv.join("bin/pyspdxtools"))
            .arg("-i")
            .arg(spdx),
    );
    let script = r#"
import sys
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(open(sys.argv[1]).read())
if error is not None:
    print(error)
    sys.exit(1)
"#;
    check(
        "cyclonedx-python-lib",
        cyclonedx,
        Command::new(venv.join("bin/python3"))
            .args(["-c", script])
            .arg(cyclonedx),
    );
}

fn read(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The `arch` qualifier of a purl.
fn purl_arch(purl: &str) -> String {
    purl.split_once('?')
        .and_then(|(_, qualifiers)| {
            qualifiers
                .split('&')
                .find_map(|q| q.strip_prefix("arch=").map(str::to_owned))
        })
        .unwrap_or_else(|| panic!("{purl} has no arch"))
}

/// `(name, version, architecture)` of each package the SPDX document
/// says the image contains.
pub fn spdx_packages(path: &Path) -> BTreeSet<(String, String, String)> {
    let doc = read(path);
    let image = doc["documentDescribes"][0]
        .as_str()
        .expect("documentDescribes");
    let contained: BTreeSet<&str> = doc["relationships"]
        .as_array()
        .expect("relationships")
        .iter()
        .filter(|r| r["spdxElementId"] == image && r["relationshipType"] == "CONTAINS")
        .filter_map(|r| r["relatedSpdxElement"].as_str())
        .collect();
    doc["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .filter(|p| contained.contains(p["SPDXID"].as_str().unwrap_or("")))
        .map(|p| {
            let purl = p["externalRefs"][0]["referenceLocator"]
                .as_str()
                .expect("purl");
            (
                p["name"].as_str().unwrap().to_owned(),
                p["versionInfo"].as_str().unwrap().to_owned(),
                purl_arch(purl),
            )
        })
        .collect()
}

/// The same of the CycloneDX document: the components the image depends on.
pub fn cyclonedx_packages(path: &Path) -> BTreeSet<(String, String, String)> {
    let doc = read(path);
    let image = doc["metadata"]["component"]["bom-ref"].clone();
    let dependencies = doc["dependencies"]
        .as_array()
        .expect("dependencies")
        .iter()
        .find(|d| d["ref"] == image)
        .expect("the image's dependencies");
    let refs: BTreeSet<&str> = dependencies["dependsOn"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r.as_str())
        .collect();
    doc["components"]
        .as_array()
        .expect("components")
        .iter()
        .filter(|c| refs.contains(c["bom-ref"].as_str().unwrap_or("")))
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_owned(),
                c["version"].as_str().unwrap().to_owned(),
                purl_arch(c["purl"].as_str().unwrap()),
            )
        })
        .collect()
}

/// The `LABEL.packages` manifest as a set.
pub fn manifest_packages(path: &Path) -> BTreeSet<(String, String, String)> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            assert_eq!(fields.len(), 3, "{line}");
            (
                fields[0].to_owned(),
                fields[1].to_owned(),
                fields[2].to_owned(),
            )
        })
        .collect()
}
