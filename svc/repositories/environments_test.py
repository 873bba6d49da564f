import pytest

from repositories import applications, configurations, environments, overrides
from wire.etags import Preconditions, Named
from wire.problems import Conflict, NotFound, PreconditionFailed, Unprocessable

MISSING = "01JD3B5ZQ6V2K9X4N8M7P1R0ST"


def make(cur, name, parent=None):
    return environments.create(cur, name=name, parent_id=parent and parent["id"], comments=None)


def test_create_get_and_page_by_name(cur):
    prod = make(cur, "prod")
    eu = make(cur, "prod-eu", prod)
    assert environments.get(cur, eu["id"]) == eu and eu["parent_id"] == prod["id"] and eu["version"] == 1
    rows, cursor = environments.page(cur, limit=1)
    assert [row["id"] for row in rows] == [prod["id"]] and cursor == prod["id"]
    assert environments.page(cur, limit=5, name="prod-eu")[0] == [eu]


def test_a_name_is_unique_for_the_whole_service(cur):
    make(cur, "prod")
    with pytest.raises(Conflict):
        make(cur, "prod")


def test_an_unknown_parent_is_unprocessable_at_parent_id(cur):
    with pytest.raises(Unprocessable) as error:
        environments.create(cur, name="x", parent_id=MISSING, comments=None)
    assert error.value.errors[0]["pointer"] == "/parent_id"


def test_a_chain_holds_at_most_max_depth_environments(cur):
    chain = [make(cur, "e1")]
    for n in range(2, environments.MAX_DEPTH + 1):
        chain.append(make(cur, f"e{n}", chain[-1]))
    with pytest.raises(Unprocessable) as error:
        make(cur, "one-too-many", chain[-1])
    assert "chain of 9" in error.value.errors[0]["message"]


def test_reparenting_refuses_a_cycle_and_counts_the_subtree_in_the_depth(cur):
    root = make(cur, "root")
    child = make(cur, "child", root)
    grandchild = make(cur, "grandchild", child)
    for parent in (root, child, grandchild):  # itself, or below itself
        if parent is root:
            continue
    with pytest.raises(Unprocessable, match="itself or one of its descendants"):
        environments.update(cur, root["id"], name="root", parent_id=grandchild["id"], comments=None)
    with pytest.raises(Unprocessable, match="itself or one of its descendants"):
        environments.update(cur, root["id"], name="root", parent_id=root["id"], comments=None)
    # a chain of 6 above the subtree root → child → grandchild (3) makes 9
    tall = [make(cur, "t1")]
    for n in range(2, 7):
        tall.append(make(cur, f"t{n}", tall[-1]))
    with pytest.raises(Unprocessable, match="chain of 9"):
        environments.update(cur, root["id"], name="root", parent_id=tall[-1]["id"], comments=None)
    moved = environments.update(cur, root["id"], name="root", parent_id=tall[-2]["id"], comments="moved")
    assert moved["parent_id"] == tall[-2]["id"] and moved["version"] == 2 and moved["comments"] == "moved"


def test_update_and_delete_honour_if_match_and_answer_404_for_a_missing_one(cur):
    prod = make(cur, "prod")
    stale = Preconditions([Named(7)])
    with pytest.raises(PreconditionFailed):
        environments.update(cur, prod["id"], name="p", parent_id=None, comments=None, when=stale)
    with pytest.raises(PreconditionFailed):
        environments.delete(cur, prod["id"], when=stale)
    with pytest.raises(NotFound):
        environments.update(cur, MISSING, name="p", parent_id=None, comments=None)
    with pytest.raises(NotFound):
        environments.delete(cur, MISSING)
    environments.delete(cur, prod["id"], when=Preconditions([Named(1)]))
    with pytest.raises(NotFound):
        environments.get(cur, prod["id"])


def test_delete_refuses_an_environment_with_children_or_overrides_and_says_which(cur):
    prod = make(cur, "prod")
    eu = make(cur, "prod-eu", prod)
    app = applications.create(cur, name="billing", comments=None)
    config = configurations.create(cur, application_id=app["id"], name="db", comments=None, config={"a": 1})
    overrides.put(cur, config["id"], eu["id"], patch={"a": 2}, comments=None)
    with pytest.raises(Conflict, match=r"1 child environment\(s\) \(prod-eu\)"):
        environments.delete(cur, prod["id"])
    with pytest.raises(Conflict, match=r"1 override\(s\)"):
        environments.delete(cur, eu["id"])
    overrides.delete(cur, config["id"], eu["id"])
    environments.delete(cur, eu["id"])
    environments.delete(cur, prod["id"])
