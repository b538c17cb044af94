//! The SPDX 2.3 JSON document (SPDX specification 2.3, clauses 6 to 11).

use serde_json::{Value, json};

use super::{Bom, algorithm_names};
use crate::repo::date::format_rfc3339;

/// The root element: the image.
const IMAGE: &str = "SPDXRef-Image";

pub(super) fn document(bom: &Bom) -> Value {
    let mut packages = vec![json!({
        "SPDXID": IMAGE,
        "name": bom.label,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "primaryPackagePurpose": "OPERATING_SYSTEM",
        "description": format!("The {} image {}, built by livecompose", bom.format, bom.label),
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": "NOASSERTION",
        "copyrightText": "NOASSERTION",
    })];
    let mut relationships = vec![relationship("SPDXRef-DOCUMENT", "DESCRIBES", IMAGE)];

    // The build's inputs: the kickstart, the repositories, the tool.
    packages.push(json!({
        "SPDXID": "SPDXRef-Kickstart",
        "name": "kickstart",
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "primaryPackagePurpose": "SOURCE",
        "description": "The flattened kickstart the image was built from (livecompose flatten)",
        "checksums": [{"algorithm": "SHA256", "checksumValue": bom.kickstart_sha256}],
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": "NOASSERTION",
        "copyrightText": "NOASSERTION",
    }));
    relationships.push(relationship(IMAGE, "GENERATED_FROM", "SPDXRef-Kickstart"));
    for (index, repository) in bom.repositories.iter().enumerate() {
        let id = format!("SPDXRef-Repository-{}", index + 1);
        let mut package = json!({
            "SPDXID": id,
            "name": repository.name,
            "downloadLocation": download_location(&repository.url),
            "filesAnalyzed": false,
            "primaryPackagePurpose": "SOURCE",
            "description": format!(
                "The package repository {}; the checksum is its signed index {} as the build read it",
                repository.name, repository.index
            ),
            "checksums": [{"algorithm": "SHA256", "checksumValue": repository.index_sha256}],
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": "NOASSERTION",
            "copyrightText": "NOASSERTION",
        });
        if let Some(date) = repository.date {
            package["releaseDate"] = json!(format_rfc3339(date));
        }
        packages.push(package);
        relationships.push(relationship(IMAGE, "GENERATED_FROM", &id));
    }
    packages.push(json!({
        "SPDXID": "SPDXRef-Tool",
        "name": "livecompose",
        "versionInfo": bom.tool_version,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "primaryPackagePurpose": "APPLICATION",
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": "MIT",
        "copyrightText": "NOASSERTION",
    }));
    relationships.push(relationship("SPDXRef-Tool", "BUILD_TOOL_OF", IMAGE));

    for (index, component) in bom.components.iter().enumerate() {
        // SPDX ids allow letters, digits, `.` and `-` only; the index
        // keeps them unique whatever the names become.
        let name: String = component
            .name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        let id = format!("SPDXRef-Package-{}-{name}", index + 1);
        let (algorithm, _) = algorithm_names(component.checksum.kind);
        packages.push(json!({
            "SPDXID": id,
            "name": component.name,
            "versionInfo": component.version,
            "downloadLocation": download_location(&component.url),
            "filesAnalyzed": false,
            "sourceInfo": format!("from the repository {}", component.repository),
            "comment": format!("architecture {}", component.architecture),
            "checksums": [{"algorithm": algorithm, "checksumValue": component.checksum.value()}],
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": component
                .facts
                .license
                .as_ref()
                .map_or("NOASSERTION", |license| license.spdx.as_str()),
            "copyrightText": "NOASSERTION",
            "externalRefs": [{
                "referenceCategory": "PACKAGE-MANAGER",
                "referenceType": "purl",
                "referenceLocator": component.facts.purl,
            }],
        }));
        relationships.push(relationship(IMAGE, "CONTAINS", &id));
    }

    let mut document = json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": format!("{} (livecompose)", bom.label),
        "documentNamespace": format!("https://spdx.org/spdxdocs/livecompose-{}-{}", bom.label, bom.uuid()),
        "creationInfo": {
            "created": format_rfc3339(bom.created),
            "creators": [format!("Tool: livecompose-{}", bom.tool_version)],
        },
        "documentDescribes": [IMAGE],
        "packages": packages,
        "relationships": relationships,
    });
    let refs = bom.license_refs();
    if !refs.is_empty() {
        document["hasExtractedLicensingInfos"] = refs
            .into_iter()
            .map(|(id, declared)| {
                json!({
                    "licenseId": id,
                    "name": declared,
                    "extractedText": format!(
                        "A package declares the license \"{declared}\", which names no identifier of the SPDX License List"
                    ),
                })
            })
            .collect();
    }
    document
}

fn relationship(from: &str, kind: &str, to: &str) -> Value {
    json!({
        "spdxElementId": from,
        "relationshipType": kind,
        "relatedSpdxElement": to,
    })
}

/// A URL as SPDX 2.3 allows it for a download location (http, https, ftp
/// and the version-control forms): a `file://` repository (a local mirror)
/// has no location anyone else can download from, so it is NOASSERTION.
fn download_location(url: &str) -> &str {
    const SCHEMES: [&str; 3] = ["http://", "https://", "ftp://"];
    if SCHEMES.iter().any(|scheme| url.starts_with(scheme)) {
        url
    } else {
        "NOASSERTION"
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::bom;
    use super::*;

    #[test]
    fn the_image_contains_each_package_with_its_purl_and_license() {
        let doc = document(&bom());
        let packages = doc["packages"].as_array().unwrap();
        let bash = packages.iter().find(|p| p["name"] == "bash").unwrap();
        assert_eq!(bash["versionInfo"], "5.2.15-2+b2");
        assert_eq!(
            bash["licenseDeclared"],
            "GPL-3.0-or-later AND LicenseRef-odd"
        );
        assert_eq!(bash["checksums"][0]["algorithm"], "SHA256");
        assert_eq!(
            bash["externalRefs"][0]["referenceLocator"],
            "pkg:deb/debian/bash@5.2.15-2%2Bb2?arch=amd64&distro=debian-12"
        );
        let contains = doc["relationships"].as_array().unwrap().iter().any(|r| {
            r["relationshipType"] == "CONTAINS" && r["relatedSpdxElement"] == bash["SPDXID"]
        });
        assert!(contains);
        assert_eq!(
            doc["hasExtractedLicensingInfos"][0]["licenseId"],
            "LicenseRef-odd"
        );
        assert_eq!(doc["creationInfo"]["created"], "2023-06-10T09:10:11Z");
    }
}
