"""Effective views and comparisons read from the database (the merge itself is tested in jsondoc/)."""

from decimal import Decimal

import pytest

from repositories import applications, configurations, effective, environments, overrides
from wire.problems import NotFound

MISSING = "01JD3B5ZQ6V2K9X4N8M7P1R0ST"


@pytest.fixture
def tree(cur):
    """billing/db with config {host, port, pool}; prod overrides host, prod-eu (child of prod) overrides pool."""
    app = applications.create(cur, name="billing", comments=None)
    config = configurations.create(cur, application_id=app["id"], name="db", comments=None,
                                   config={"host": "a", "port": 5432, "pool": {"min": 1, "max": Decimal("10.50")}})
    prod = environments.create(cur, name="prod", parent_id=None, comments=None)
    eu = environments.create(cur, name="prod-eu", parent_id=prod["id"], comments=None)
    overrides.put(cur, config["id"], prod["id"], patch={"host": "p"}, comments=None)
    overrides.put(cur, config["id"], eu["id"], patch={"pool": {"max": 20}, "port": None}, comments=None)
    return app, config, prod, eu


def test_a_view_applies_the_chain_root_first_and_names_each_values_layer(cur, tree):
    app, config, prod, eu = tree
    seen = effective.configuration(cur, config["id"], eu["id"])
    assert seen["config"] == {"host": "p", "pool": {"min": 1, "max": 20}}
    assert seen["environment"] == "prod-eu" and seen["application_id"] == app["id"]
    assert seen["provenance"] == [
        {"environment_id": None, "environment": None, "pointers": ["/pool/min"]},
        {"environment_id": prod["id"], "environment": "prod", "pointers": ["/host"]},
        {"environment_id": eu["id"], "environment": "prod-eu", "pointers": ["/pool/max"]}]
    assert effective.configuration(cur, config["id"], prod["id"])["config"]["pool"]["max"] == Decimal("10.50")


def test_reparenting_changes_the_view(cur, tree):
    _, config, prod, eu = tree
    environments.update(cur, eu["id"], name="prod-eu", parent_id=None, comments=None)
    assert effective.configuration(cur, config["id"], eu["id"])["config"] == {"host": "a", "pool": {"min": 1, "max": 20}}


def test_missing_configuration_or_environment_is_404_naming_which(cur, tree):
    _, config, _, eu = tree
    with pytest.raises(NotFound, match="configuration"):
        effective.configuration(cur, MISSING, eu["id"])
    with pytest.raises(NotFound, match="environment"):
        effective.configuration(cur, config["id"], MISSING)


def test_an_applications_views_all_or_one_by_name_and_names_resolved(cur, tree):
    app, config, _, eu = tree
    other = configurations.create(cur, application_id=app["id"], name="cache", comments=None, config={"ttl": 5})
    assert effective.named(cur, application="billing", environment="prod-eu") == (app["id"], eu["id"])
    every = effective.application(cur, app["id"], eu["id"])
    assert [v["name"] for v in every["configurations"]] == ["db", "cache"]
    assert every["configurations"][1]["provenance"] == [{"environment_id": None, "environment": None,
                                                         "pointers": ["/ttl"]}]
    assert effective.application(cur, app["id"], eu["id"], name="cache")[
        "configurations"][0]["configuration_id"] == other["id"]
    with pytest.raises(NotFound, match="no configuration with this name"):
        effective.application(cur, app["id"], eu["id"], name="nope")
    for names in ({"application": "nope", "environment": "prod-eu"}, {"application": "billing", "environment": "x"}):
        with pytest.raises(NotFound):
            effective.named(cur, **names)


def test_compare_is_a_patch_between_two_views_with_each_sides_provenance_of_what_differs(cur, tree):
    app, config, prod, eu = tree
    result = effective.compare(cur, config["id"], first=prod["id"], second=eu["id"])
    # (jsonb orders keys by length, then bytes: pool before port)
    assert result["patch"] == [{"op": "replace", "path": "/pool/max", "value": 20},
                               {"op": "remove", "path": "/port"}]
    assert result["from_provenance"] == [{"environment_id": None, "environment": None,
                                          "pointers": ["/pool/max", "/port"]}]
    assert result["to_provenance"] == [{"environment_id": eu["id"], "environment": "prod-eu",
                                        "pointers": ["/pool/max"]}]
    own = effective.compare(cur, config["id"], first=None, second=prod["id"])
    assert own["patch"] == [{"op": "replace", "path": "/host", "value": "p"}] and own["from_environment_id"] is None
    whole = effective.compare_application(cur, app["id"], first=prod["id"], second=eu["id"])
    assert [c["patch"] for c in whole["configurations"]] == [result["patch"]]
