"""The integration designer's server (`intercom-connector ui`) over real loopback HTTP:
its security (token, Host check, no CORS), connections with write-only secrets, data sources,
flows run and saved as `flow run` reads them. The browser side is tests/test_ui_browser.py."""

from __future__ import annotations

import pytest

from intercom_connector.hosts.docs import manifest_json
from intercom_connector.runtime.errors import ManifestError
from intercom_connector.runtime.manifest import _package_file, load_manifest, parse_manifest

# -- the palette's groups: every operation names the resource it acts on ------------------


def test_every_operation_names_a_declared_resource() -> None:
    manifest = load_manifest()
    assert manifest.resources, "the manifest declares no resources"
    operations = [
        *manifest.actions.values(),
        *manifest.data_sources.values(),
        *manifest.triggers.values(),
    ]
    unnamed = [op.key for op in operations if op.resource not in manifest.resources]
    assert not unnamed, f"operations with no declared resource (a palette group): {unnamed}"


def test_the_export_gives_the_groups_in_order_and_each_operation_its_group() -> None:
    manifest = load_manifest()
    exported = manifest_json(manifest)
    assert [r["key"] for r in exported["resources"]] == list(manifest.resources)
    assert all(r["label"] for r in exported["resources"])
    for kind in ("actions", "data_sources", "triggers"):
        for entry in exported[kind]:
            assert entry["resource"] == getattr(manifest, kind)[entry["key"]].resource


def test_an_undeclared_resource_is_refused_at_load() -> None:
    text = _package_file("connector.yaml").read_text(encoding="utf-8")
    broken = text.replace("resource: tags", "resource: labels", 1)
    with pytest.raises(ManifestError, match=r"resource: 'labels' is not in resources \(contacts"):
        parse_manifest(broken)
