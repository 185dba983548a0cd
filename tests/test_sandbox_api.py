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
from intercom_connector.sandbox.store import Store


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


def test_an_admin_by_id_and_away_mode(api: httpx.Client) -> None:
    sam = ok(api.get("/admins/991267002"))
    assert (sam["name"], sam["away_mode_enabled"]) == ("Sam Support", False)
    away = {"away_mode_enabled": True, "away_mode_reassign": True, "away_status_reason_id": 7}
    changed = ok(api.put("/admins/991267002/away", json=away))
    assert (changed["away_mode_enabled"], changed["away_status_reason_id"]) == (True, 7)
    assert ok(api.get("/admins/991267002"))["away_mode_reassign"] is True  # it is kept
    back = {"away_mode_enabled": False, "away_mode_reassign": False, "away_status_reason_id": 7}
    assert ok(api.put("/admins/991267002/away", json=back))["away_status_reason_id"] is None

    assert refused(api.get("/admins/1"), 404, "admin_not_found") == "Admin not found"
    gone = refused(api.put("/admins/1/away", json=away), 404, "admin_not_found")
    assert gone == "Admin for admin_id not found"
    half = {"away_mode_enabled": True}
    assert "away_mode_reassign" in refused(api.put("/admins/991267002/away", json=half), 400,
                                           "parameter_not_found")  # fmt: skip
    wrong = {"away_mode_enabled": "yes", "away_mode_reassign": False}
    refused(api.put("/admins/991267002/away", json=wrong), 400, "parameter_invalid")


def test_teams_and_their_admins_agree(api: httpx.Client) -> None:
    teams = ok(api.get("/teams"))
    assert teams["type"] == "team.list"
    assert [t["name"] for t in teams["teams"]] == ["Support", "Sales", "Billing"]
    admins = ok(api.get("/admins"))["admins"]
    for team in teams["teams"]:
        members = [int(a["id"]) for a in admins if int(team["id"]) in a["team_ids"]]
        assert members == team["admin_ids"], team["name"]
    support = teams["teams"][0]
    assert ok(api.get(f"/teams/{support['id']}")) == support
    assert ok(api.get("/me"))["team_ids"] == [int(support["id"])]
    assert refused(api.get("/teams/42"), 404, "team_not_found") == "Team not found"


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
        for table in ("admins", "teams", "segments", "ticket_states", "data_attributes"):
            db.execute(f"DELETE FROM {table}")
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
    assert len(ok(client.get("/teams"))["teams"]) == 3
    assert len(ok(client.get("/segments"))["segments"]) == 5
    assert len(ok(client.get("/ticket_states"))["data"]) == 5


#: what the demo workspace gained in version 5 on two branches at once (the support inbox;
#: the help center and subscription types), merged as version 6
GAINED_IN_5 = ("conversations", "tickets", "collections", "articles", "subscription_types")


def seeded_counts(sandbox: Sandbox) -> dict[str, int]:
    with sandbox.store.transaction() as db:
        return {table: Store.scalar(db, f"SELECT COUNT(*) FROM {table}") for table in GAINED_IN_5}


@pytest.mark.parametrize(
    ("version", "lacking"),
    [
        ("4", GAINED_IN_5),
        ("5", ("conversations", "tickets")),  # a version 5 with the help center
        ("5", ("collections", "articles", "subscription_types")),  # ... with the support inbox
    ],
)
def test_an_older_sandbox_gains_what_it_lacks_once(
    tmp_path: Path, version: str, lacking: tuple[str, ...]
) -> None:
    expected = seeded_counts(Sandbox(tmp_path / "fresh"))
    assert all(expected.values())
    sandbox = Sandbox(tmp_path / "older")
    with sandbox.store.transaction() as db:
        for table in lacking:
            db.execute(f"DELETE FROM {table}")
        Store.set_meta(db, "version", version)
    sandbox.close()
    assert seeded_counts(Sandbox(tmp_path / "older")) == expected


# -- segments -----------------------------------------------------------------------------


def segment_named(api: httpx.Client, name: str) -> dict[str, Any]:
    segments = ok(api.get("/segments", params={"include_count": "true"}))["segments"]
    return next(segment for segment in segments if segment["name"] == name)


def test_segments_hold_what_their_rules_match_now(api: httpx.Client) -> None:
    listed = ok(api.get("/segments"))
    assert listed["type"] == "segment.list" and all("count" not in s for s in listed["segments"])
    leads = segment_named(api, "Leads")
    assert leads["count"] == 10 and leads["person_type"] == "contact"
    lead = ok(api.post("/contacts", json={"role": "lead", "email": "lead@example.com"}))
    assert segment_named(api, "Leads")["count"] == 11
    assert ok(api.get(f"/segments/{leads['id']}"))["name"] == "Leads"
    assert refused(api.get("/segments/nope"), 404, "not_found") == "Resource Not Found"

    held = ok(api.get(f"/contacts/{lead['id']}/segments"))
    assert held["type"] == "list" and [s["name"] for s in held["data"]] == ["Leads"]
    change = {"custom_attributes": {"plan_tier": "enterprise"}}
    ok(api.put(f"/contacts/{lead['id']}", json=change))
    held = ok(api.get(f"/contacts/{lead['id']}/segments"))
    assert [s["name"] for s in held["data"]] == ["Leads", "Enterprise plan"]
    query = {"query": {"field": "segment_id", "operator": "=", "value": leads["id"]}}
    found = ok(api.post("/contacts/search", json={**query, "pagination": {"per_page": 50}}))
    assert found["total_count"] == 11 and lead["id"] in {c["id"] for c in found["data"]}
    refused(api.get("/contacts/nope/segments"), 404, "not_found")


def test_company_segments(api: httpx.Client) -> None:
    large = segment_named(api, "Large companies")
    assert large["count"] == 3  # Globex, Umbrella, Hooli
    members = ok(api.get("/companies", params={"segment_id": large["id"]}))["data"]
    assert sorted(c["name"] for c in members) == ["Globex Corporation", "Hooli", "Umbrella Health"]
    globex = next(c for c in members if c["name"] == "Globex Corporation")
    names = [s["name"] for s in ok(api.get(f"/companies/{globex['id']}/segments"))["data"]]
    assert names == ["Enterprise companies", "Large companies"]
    assert [s["name"] for s in globex["segments"]["segments"]] == names
    ok(api.put(f"/companies/{globex['id']}", json={"size": 40}))
    names = [s["name"] for s in ok(api.get(f"/companies/{globex['id']}/segments"))["data"]]
    assert names == ["Enterprise companies"]
    assert segment_named(api, "Large companies")["count"] == 2
    refused(api.get("/companies/nope/segments"), 404, "company_not_found")


# -- ticket states ------------------------------------------------------------------------


def test_ticket_states_belong_to_ticket_types_and_start_tickets(api: httpx.Client) -> None:
    states = ok(api.get("/ticket_states"))["data"]
    assert {s["category"] for s in states} == {
        "submitted", "in_progress", "waiting_on_customer", "resolved"
    }  # fmt: skip
    reproducing = next(s for s in states if s["internal_label"] == "Reproducing")
    assert [t["name"] for t in reproducing["ticket_types"]["data"]] == ["Bug Report"]
    types = {t["name"]: t for t in ok(api.get("/ticket_types"))["data"]}
    assert len(types["Bug Report"]["ticket_states"]["data"]) == 5
    assert len(types["Feature Request"]["ticket_states"]["data"]) == 4
    contact = ok(api.post("/contacts", json={"email": "ticket@example.com"}))
    ticket = ok(api.post("/tickets", json={
        "ticket_type_id": types["Feature Request"]["id"], "contacts": [{"id": contact["id"]}],
        "ticket_attributes": {"_default_title_": "Dark mode"}}))  # fmt: skip
    assert ticket["ticket_state"]["category"] == "submitted"
    assert ticket["ticket_state"]["id"] in {s["id"] for s in states}


# -- what is attached to a contact or a company --------------------------------------------


def test_a_contact_s_tags_and_companies_and_a_company_s_contacts(api: httpx.Client) -> None:
    contact = ok(api.post("/contacts", json={"email": "attached@example.com"}))
    cid = contact["id"]
    assert ok(api.get(f"/contacts/{cid}/tags")) == {"type": "list", "data": []}
    vip = ok(api.get("/tags"))["data"][0]
    ok(api.post(f"/contacts/{cid}/tags", json={"id": vip["id"]}))
    (tag,) = ok(api.get(f"/contacts/{cid}/tags"))["data"]
    assert (tag["id"], tag["name"], tag["applied_by"]["type"]) == (vip["id"], "VIP", "admin")
    ok(api.delete(f"/contacts/{cid}/tags/{vip['id']}"))
    assert ok(api.get(f"/contacts/{cid}/tags"))["data"] == []

    made = [ok(api.post("/companies", json={"company_id": f"att-{n}", "name": f"Att {n}"}))
            for n in range(2)]  # fmt: skip
    for company in made:
        ok(api.post(f"/contacts/{cid}/companies", json={"id": company["id"]}))
    listed = ok(api.get(f"/contacts/{cid}/companies"))
    assert listed["total_count"] == 2 and [c["id"] for c in listed["data"]] == [
        c["id"] for c in made
    ]
    first = ok(api.get(f"/contacts/{cid}/companies", params={"per_page": 1}))
    assert first["pages"]["total_pages"] == 2 and first["pages"]["next"].endswith(
        f"/contacts/{cid}/companies?page=2&per_page=1"
    )
    second = ok(api.get(first["pages"]["next"]))
    assert [c["id"] for c in second["data"]] == [made[1]["id"]] and second["pages"]["next"] is None

    people = ok(api.get(f"/companies/{made[0]['id']}/contacts"))
    assert [c["id"] for c in people["data"]] == [cid] and people["total_count"] == 1
    ok(api.delete(f"/contacts/{cid}/companies/{made[0]['id']}"))
    assert ok(api.get(f"/companies/{made[0]['id']}/contacts"))["data"] == []

    for path in ("tags", "companies"):
        refused(api.get(f"/contacts/nope/{path}"), 404, "not_found")
    refused(api.get("/companies/nope/contacts"), 404, "company_not_found")
