"""/docs and /redoc render from the service alone: the page and everything it loads come from the service."""

import hashlib
import re
from html.parser import HTMLParser

import pytest

import docs


class Loads(HTMLParser):
    """Every URL an HTML page makes the browser fetch: script src, link href, img src."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if value and (name, tag) in {("src", "script"), ("href", "link"), ("src", "img")}:
                self.urls.append(value)


@pytest.mark.parametrize(("path", "script"), [("/docs", "/static/swagger-ui/swagger-ui-bundle.js"),
                                              ("/redoc", "/static/redoc/redoc.standalone.js")])
def test_the_page_and_everything_it_loads_come_from_the_service(client, path, script):
    page = client.get(path)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert not re.search(r"(https?:)?//[a-z]", page.text, re.IGNORECASE), "the page names another host"
    parser = Loads()
    parser.feed(page.text)
    assert script in parser.urls
    # What the page's script is told to fetch: the contract, from here too.
    assert "/openapi.json" in page.text
    for url in [*parser.urls, "/openapi.json"]:
        assert url.startswith("/") and not url.startswith("//"), url
        loaded = client.get(url)
        assert loaded.status_code == 200, url
        assert len(loaded.content) > 0


def test_the_scripts_and_styles_load_no_fonts_or_code_from_other_hosts():
    for name in ("swagger-ui/swagger-ui-bundle.js", "swagger-ui/swagger-ui.css", "redoc/redoc.standalone.js"):
        text = (docs.STATIC / name).read_text(errors="replace")
        for host in ("fonts.googleapis.com", "fonts.gstatic.com", "cdn.jsdelivr.net", "unpkg.com", "cdn.redoc.ly"):
            assert host not in text, (name, host)
        assert "@import url(" not in text


def test_the_served_files_are_the_pinned_ones_with_their_licences():
    listed = re.findall(r"^([0-9a-f]{64})  (\S+)$", (docs.STATIC / "README.md").read_text(), re.MULTILINE)
    # console/ is the console's own code (console_test.py), not a pinned third party's.
    files = sorted(str(p.relative_to(docs.STATIC)) for p in docs.STATIC.glob("*/*") if p.parent.name != "console")
    assert sorted(name for _, name in listed) == files
    for digest, name in listed:
        assert hashlib.sha256((docs.STATIC / name).read_bytes()).hexdigest() == digest, name
    assert {"swagger-ui/LICENSE", "swagger-ui/NOTICE", "redoc/LICENSE"} <= set(files)
    readme = (docs.STATIC / "README.md").read_text()
    assert "swagger-ui-dist 5.35.0" in readme and "redoc 2.5.2" in readme
