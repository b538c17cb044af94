//! The SBOM oracles: the official SPDX 2.3 and CycloneDX 1.6 JSON schemas
//! (kept under `tests/fixtures/sbom/` with their licenses), checked by
//! python3-jsonschema, and what the documents list.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

/// Validates `document` against the schema `schema` (a file under
/// `tests/fixtures/sbom/`) and the schemas it refers to; fails the test
/// with every error.
pub fn validate(document: &Path, schema: &str) {
    let schemas = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sbom");
    // RefResolver is in every jsonschema from bookworm's 4.10 on; its
    // store maps the schemas' own ids to the files, so nothing is fetched.
    let script = r#"
import json, sys, pathlib, warnings
warnings.simplefilter("ignore")
import jsonschema
dir = pathlib.Path(sys.argv[1])
store = {}
for path in dir.glob("*.json"):
    schema = json.loads(path.read_text())
    if "$id" in schema:
        store[schema["$id"]] = schema
schema = json.loads((dir / sys.argv[2]).read_text())
resolver = jsonschema.RefResolver.from_schema(schema, store=store)
validator = jsonschema.Draft7Validator(schema, resolver=resolver)
errors = list(validator.iter_errors(json.loads(pathlib.Path(sys.argv[3]).read_text())))
for error in errors:
    print("/".join(map(str, error.absolute_path)) + ": " + error.message)
sys.exit(1 if errors else 0)
"#;
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(&schemas)
        .arg(schema)
        .arg(document)
        .output()
        .expect("python3 runs (Debian package python3-jsonschema)");
    assert!(
        out.status.success(),
        "{} does not validate against {schema} (install python3-jsonschema if it is missing):\n{}{}",
        document.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Validates a `LABEL.spdx.json` and a `LABEL.cdx.json`.
pub fn validate_both(spdx: &Path, cyclonedx: &Path) {
    validate(spdx, "spdx-2.3-schema.json");
    validate(cyclonedx, "bom-1.6.schema.json");
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
