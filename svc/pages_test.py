from pages import split


def rows(n):
    return [{"id": f"{i:026d}"} for i in range(n)]


def test_extra_row_means_another_page_whose_cursor_is_the_last_shown():
    page, cursor = split(rows(4), 3)
    assert len(page) == 3 and cursor == page[-1]["id"]


def test_no_extra_row_means_last_page():
    assert split(rows(3), 3) == (rows(3), None)
    assert split([], 3) == ([], None)


def test_cursor_can_be_another_key_as_text():
    page, cursor = split([{"version": v} for v in (9, 8, 7)], 2, key="version")
    assert cursor == "8" and len(page) == 2
