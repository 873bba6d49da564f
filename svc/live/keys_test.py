from live import keys


def test_a_configuration_notification_changes_it_its_applications_listing_and_its_effective_views():
    change = keys.decode("c 01A 01B 3")
    assert change == keys.Change(("c:01A",), ("l:01B", "x:01A")) and not change.everything
    assert change.keys == (keys.configuration("01A"), keys.listing("01B"), keys.views("01A"))


def test_an_override_notification_changes_it_its_configurations_views_and_its_applications_listing():
    change = keys.decode("o 01A 01B 01E 2")
    assert change.entries == (keys.override("01A", "01E"),)
    assert change.groups == (keys.listing("01B"), keys.views("01A"))  # the feed waits on the listing


def test_an_environment_notification_changes_it_and_every_view():
    change = keys.decode("e 01E 0")
    assert change.entries == (keys.environment("01E"),) and change.groups == (keys.ENVIRONMENTS,)
    assert keys.effective("01A", "01E").startswith(keys.views("01A") + ":")


def test_an_application_notification_changes_it_its_listing_and_the_application_listing():
    change = keys.decode("a 01B 0")
    assert change.entries == (keys.application("01B"),)
    assert change.groups == (keys.listing("01B"), keys.APPLICATIONS)


def test_reset_and_anything_unknown_change_everything():
    for payload in ("reset", "nonsense", "", "c 01A 3", "a 01B", "o 01A 01B 2", "e 01E"):
        assert keys.decode(payload) == keys.EVERYTHING and keys.decode(payload).everything


def test_pages_of_different_queries_have_different_keys_grouped_with_what_makes_them_stale():
    page = keys.configurations_page("01B", 50, None, "db")
    assert page.startswith(keys.listing("01B") + ":")
    queries = [(50, None, None), (50, None, "None"), (50, None, ""), (50, "01C", None), (50, None, "01C"),
               (5, None, "0:"), (50, None, ":"), (50, None, "::")]
    for page in (keys.configurations_page, lambda *query: keys.applications_page(*query[1:])):
        assert len({page("01B", *query) for query in queries}) == len(queries)
