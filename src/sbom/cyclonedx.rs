//! The CycloneDX 1.6 JSON document.

use serde_json::{Value, json};

use super::{Bom, algorithm_names};
use crate::checksum::ChecksumKind;
use crate::repo::date::format_rfc3339;

/// The root element's reference: the image.
const IMAGE: &str = "image";

pub(super) fn document(bom: &Bom) -> Value {
    let components: Vec<Value> = bom
        .components
        .iter()
        .map(|component| {
            let mut value = json!({
                "type": "library",
                "bom-ref": component.facts.purl,
                "name": component.name,
                "version": component.version,
                "purl": component.facts.purl,
                "externalReferences": [{"type": "distribution", "url": component.url}],
                "properties": [
                    {"name": "livecompose:architecture", "value": component.architecture},
                    {"name": "livecompose:repository", "value": component.repository},
                ],
            });
            // CycloneDX knows no SHA-224; such a package goes without.
            if component.checksum.kind != ChecksumKind::Sha224 {
                let (_, algorithm) = algorithm_names(component.checksum.kind);
                value["hashes"] =
                    json!([{"alg": algorithm, "content": component.checksum.value()}]);
            }
            if let Some(license) = &component.facts.license {
                value["licenses"] = json!([{"expression": license.spdx}]);
            }
            value
        })
        .collect();
    // The build's inputs, as properties of the document.
    let mut properties = vec![json!({
        "name": "livecompose:kickstart:sha256",
        "value": bom.kickstart_sha256,
    })];
    for repository in &bom.repositories {
        let prefix = format!("livecompose:repository:{}", repository.name);
        properties.push(json!({"name": format!("{prefix}:url"), "value": repository.url}));
        properties.push(json!({"name": format!("{prefix}:index"), "value": repository.index}));
        properties.push(json!({
            "name": format!("{prefix}:index:sha256"),
            "value": repository.index_sha256,
        }));
        if let Some(date) = repository.date {
            properties.push(json!({
                "name": format!("{prefix}:date"),
                "value": format_rfc3339(date),
            }));
        }
    }
    let refs: Vec<&Value> = components.iter().map(|c| &c["bom-ref"]).collect();
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": format!("urn:uuid:{}", bom.uuid()),
        "version": 1,
        "metadata": {
            "timestamp": format_rfc3339(bom.created),
            "tools": {
                "components": [{
                    "type": "application",
                    "name": "livecompose",
                    "version": bom.tool_version,
                }],
            },
            "component": {
                "type": "operating-system",
                "bom-ref": IMAGE,
                "name": bom.label,
                "description": format!("The {} image {}, built by livecompose", bom.format, bom.label),
            },
            "properties": properties,
        },
        "components": components,
        "dependencies": [{"ref": IMAGE, "dependsOn": refs}],
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::bom;
    use super::*;

    #[test]
    fn the_image_depends_on_each_package() {
        let doc = document(&bom());
        assert_eq!(
            doc["components"][0]["licenses"][0]["expression"],
            "GPL-3.0-or-later AND LicenseRef-odd"
        );
        assert_eq!(doc["components"][0]["hashes"][0]["alg"], "SHA-256");
        assert_eq!(
            doc["dependencies"][0]["dependsOn"][0],
            doc["components"][0]["bom-ref"]
        );
        assert!(
            doc["serialNumber"]
                .as_str()
                .unwrap()
                .starts_with("urn:uuid:")
        );
    }
}
