"""The sandbox behaves as Intercom does, beyond the shapes of its answers: what it refuses,
with which status and code, and what a change does to what is read back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import REPO

from intercom_connector.sandbox import Sandbox


@pytest.fixture
def api() -> Iterator[httpx.Client]:
    """The demo workspace, over its in-process transport, authenticated."""
    sandbox = Sandbox(":memory:")
    headers = {"Authorization": f"Bearer {sandbox.token}"}
    transport = sandbox.transport()
    with httpx.Client(transport=transport, base_url=sandbox.base_url, headers=headers) as client:
        yield client


def ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def refused(response: httpx.Response, status: int, code: str) -> str:
    """Asserts an Intercom error answer; returns its message."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"] == "error.list"
    (error,) = body["errors"]
    assert error["code"] == code, error
    return str(error["message"])


def names(listing: dict[str, Any]) -> list[str]:
    return [attribute["name"] for attribute in listing["data"]]


# -- custom attributes must exist in the workspace ---------------------------------------


def test_an_unknown_custom_attribute_is_refused_and_nothing_is_written(
    api: httpx.Client,
) -> None:
    before = ok(api.get("/contacts"))["total_count"]
    new = {"email": "new@example.com", "custom_attributes": {"plan_tier": "pro", "nope": 1}}
    message = refused(api.post("/contacts", json=new), 400, "parameter_invalid")
    assert message == "Custom attribute 'nope' does not exist"
    assert ok(api.get("/contacts"))["total_count"] == before

    contact = ok(api.post("/contacts", json={"email": "known@example.com"}))
    update = {"name": "Changed", "custom_attributes": {"nope": "x"}}
    refused(api.put(f"/contacts/{contact['id']}", json=update), 400, "parameter_invalid")
    assert ok(api.get(f"/contacts/{contact['id']}"))["name"] != "Changed"
    known = {"custom_attributes": {"plan_tier": "gold", "seats": 3, "beta_opt_in": True}}
    updated = ok(api.put(f"/contacts/{contact['id']}", json=known))
    assert updated["custom_attributes"] == known["custom_attributes"]

    company = {"company_id": "fidelity", "custom_attributes": {"region": "EMEA", "nope": "x"}}
    message = refused(api.post("/companies", json=company), 400, "parameter_invalid")
    assert message == "Custom attribute 'nope' does not exist"
    refused(api.get("/companies", params={"company_id": "fidelity"}), 404, "company_not_found")
    company["custom_attributes"] = {"region": "EMEA"}
    made = ok(api.post("/companies", json=company))
    change = {"custom_attributes": {"plan_tier": "gold"}}  # a contact attribute, not a company's
    message = refused(api.put(f"/companies/{made['id']}", json=change), 400, "parameter_invalid")
    assert message == "Custom attribute 'plan_tier' does not exist"


def test_an_attribute_created_through_the_api_can_then_be_set(api: httpx.Client) -> None:
    contact = ok(api.post("/contacts", json={"email": "colour@example.com"}))
    favourite = {"custom_attributes": {"favourite colour": "teal"}}
    refused(api.put(f"/contacts/{contact['id']}", json=favourite), 400, "parameter_invalid")
    created = ok(
        api.post(
            "/data_attributes",
            json={"name": "favourite colour", "model": "contact", "data_type": "string"},
        )
    )
    assert created["full_name"] == "custom_attributes.favourite colour"
    assert created["custom"] is True and isinstance(created["id"], int)
    assert ok(api.put(f"/contacts/{contact['id']}", json=favourite))["custom_attributes"] == {
        "favourite colour": "teal"
    }


def test_the_cli_reports_an_unknown_custom_attribute_as_intercom_refusing(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTERCOM_")}
    env["INTERCOM_SANDBOX_DIR"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "intercom_connector", "run", "create_contact",
         "-i", "email=cli@example.com", "-i", 'custom_attributes={"nope": "x"}'],
        capture_output=True, text=True, env=env, timeout=60, cwd=REPO,
    )  # fmt: skip
    assert done.returncode == 4, done.stderr
    assert "400 parameter_invalid" in done.stderr
    assert "Custom attribute 'nope' does not exist" in done.stderr


# -- admins -------------------------------------------------------------------------------


def test_admins_are_the_workspace_s_and_me_is_one_of_them(api: httpx.Client) -> None:
    me = ok(api.get("/me"))
    admins = ok(api.get("/admins"))
    assert admins["type"] == "admin.list"
    assert [a["name"] for a in admins["admins"]][:2] == ["Sandbox Admin", "Sam Support"]
    assert me["id"] in {a["id"] for a in admins["admins"]}
    assert me["app"]["name"] == "Sandbox Workspace" and me["avatar"]["type"] == "avatar"
    assert all("avatar" not in a for a in admins["admins"])
    with_avatars = ok(api.get("/admins", params={"display_avatar": "true"}))
    assert all(a["avatar"].startswith("https://") for a in with_avatars["admins"])
    away = next(a for a in admins["admins"] if a["name"] == "Alex Away")
    assert away["away_mode_enabled"] is True


def test_an_empty_workspace_still_has_its_owner(tmp_path: Path) -> None:
    sandbox = Sandbox(tmp_path, seed=False)
    headers = {"Authorization": f"Bearer {sandbox.token}"}
    client = httpx.Client(transport=sandbox.transport(), base_url=sandbox.base_url, headers=headers)
    assert [a["id"] for a in ok(client.get("/admins"))["admins"]] == [ok(client.get("/me"))["id"]]


# -- data attributes ----------------------------------------------------------------------


def test_data_attributes_are_listed_by_model_and_archived_ones_on_request(
    api: httpx.Client,
) -> None:
    contact = ok(api.get("/data_attributes", params={"model": "contact"}))
    assert {"email", "name", "plan_tier", "seats", "beta_opt_in"} <= set(names(contact))
    assert "legacy_crm_id" not in names(contact)  # archived
    assert {a["model"] for a in contact["data"]} == {"contact"}
    standard = next(a for a in contact["data"] if a["name"] == "email")
    assert standard["custom"] is False and "id" not in standard
    archived = ok(
        api.get("/data_attributes", params={"model": "contact", "include_archived": "true"})
    )
    assert "legacy_crm_id" in names(archived)

    company = ok(api.get("/data_attributes", params={"model": "company"}))
    assert {"region", "account_manager", "industry"} <= set(names(company))
    assert "plan_tier" not in names(company)
    both = ok(api.get("/data_attributes"))
    assert {a["model"] for a in both["data"]} == {"contact", "company"}

    message = refused(api.get("/data_attributes", params={"model": "conversation"}), 422,
                      "parameter_invalid")  # fmt: skip
    assert "no longer supported" in message


def test_creating_a_data_attribute_refuses_what_intercom_refuses(api: httpx.Client) -> None:
    def create(**body: Any) -> httpx.Response:
        return api.post("/data_attributes", json=body)

    same = refused(create(name="account_manager", model="contact", data_type="string"), 400,
                   "parameter_invalid")  # fmt: skip
    assert same == (
        "You already have 'account_manager' in your company data. "
        "To save this as new people data, use a different name."
    )
    standard = refused(create(name="name", model="contact", data_type="string"), 400,
                       "parameter_invalid")  # fmt: skip
    assert "is one of our standard attributes for your people data" in standard
    invalid = refused(create(name="!nv@l!d n@me", model="company", data_type="string"), 400,
                      "parameter_invalid")  # fmt: skip
    assert "must only contain alphanumeric characters" in invalid
    kind = refused(create(name="Ring", model="company", data_type="mithril"), 400,
                   "parameter_invalid")  # fmt: skip
    assert kind == "Data Type isn't an option"
    model = refused(create(name="Ring", model="ticket", data_type="string"), 400,
                    "parameter_invalid")  # fmt: skip
    assert "must be either contact or company" in model
    few = refused(create(name="Size band", model="company", data_type="options",
                         options=[{"value": "small"}]), 400, "parameter_invalid")  # fmt: skip
    assert "at least two options" in few
    listed = ok(create(name="Size band", model="company", data_type="options",
                       options=[{"value": "small"}, {"value": "large"}]))  # fmt: skip
    assert (listed["data_type"], listed["options"]) == ("string", ["small", "large"])


def test_updating_a_data_attribute(api: httpx.Client) -> None:
    region = next(
        a
        for a in ok(api.get("/data_attributes", params={"model": "company"}))["data"]
        if a["name"] == "region"
    )
    changed = ok(
        api.put(
            f"/data_attributes/{region['id']}",
            json={"description": "Where the account is run from", "archived": True},
        )
    )
    assert changed["description"] == "Where the account is run from" and changed["archived"]
    listed = ok(api.get("/data_attributes", params={"model": "company"}))
    assert "region" not in names(listed)
    both = ok(api.get("/data_attributes", params={"model": "company", "include_archived": "true"}))
    assert "region" in names(both)

    missing = refused(api.put("/data_attributes/999999", json={"archived": True}), 404,
                      "field_not_found")  # fmt: skip
    assert missing == "We couldn't find that data attribute to update"
    not_a_list = refused(api.put(f"/data_attributes/{region['id']}",
                                 json={"options": {"value": "1-10"}}), 400,
                         "parameter_invalid")  # fmt: skip
    assert not_a_list == "Options isn't an array"


def test_a_sandbox_from_before_data_attributes_keeps_working(tmp_path: Path) -> None:
    """An older sandbox had no data attributes: opening it adds the demo workspace's and
    every custom attribute its records already hold, so nothing that worked is refused."""
    sandbox = Sandbox(tmp_path)
    with sandbox.store.transaction() as db:
        db.execute("DELETE FROM admins")
        db.execute("DELETE FROM data_attributes")
        db.execute("DELETE FROM meta WHERE key = 'version'")
        row = db.execute("SELECT id, body FROM contacts ORDER BY seq LIMIT 1").fetchone()
        contact = json.loads(row[1])
        contact["custom_attributes"]["favourite_colour"] = "teal"
        db.execute("UPDATE contacts SET body = ? WHERE id = ?", (json.dumps(contact), row[0]))
    sandbox.close()

    reopened = Sandbox(tmp_path)
    headers = {"Authorization": f"Bearer {reopened.token}"}
    client = httpx.Client(
        transport=reopened.transport(), base_url=reopened.base_url, headers=headers
    )
    listed = names(ok(client.get("/data_attributes", params={"model": "contact"})))
    assert {"plan_tier", "seats", "favourite_colour"} <= set(listed)
    change = {"custom_attributes": {"favourite_colour": "red", "plan_tier": "pro"}}
    assert (
        ok(client.put(f"/contacts/{contact['id']}", json=change))["custom_attributes"]
        == change["custom_attributes"]
    )
    refused(client.put(f"/contacts/{contact['id']}", json={"custom_attributes": {"x": 1}}), 400,
            "parameter_invalid")  # fmt: skip
    assert ok(client.get("/me"))["email"] == "admin@sandbox.example"
    assert len(ok(client.get("/admins"))["admins"]) == 4
