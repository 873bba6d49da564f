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


@pytest.mark.parametrize("path", ["/static/console/app.js%00", "/static/%00", "/static/README.md%00.txt"])
def test_a_path_holding_nul_is_a_404_problem_not_a_500(client, path):
    for method in ("GET", "HEAD"):
        answer = client.request(method, path)
        assert answer.status_code == 404 and answer.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("path", ["/console", "/static/console/app.js"])
@pytest.mark.parametrize("ranges", ["bytes=10-5", "bytes=abc", "items=0-1", "bytes=99999999-", "bytes=0-1,3-4",
                                    "bytes=0-9"])
def test_a_file_is_served_whole_whatever_range_is_asked(client, path, ranges):
    """Starlette answered a bad Range with a text/plain 400 or 416, and several ranges with a malformed
    Content-Range; RFC 9110 §14.2 lets a server ignore Range, and these files are small."""
    whole = client.get(path)
    answer = client.get(path, headers={"Range": ranges, "If-Range": whole.headers.get("etag", "x")})
    assert answer.status_code == 200 and answer.content == whole.content and "content-range" not in answer.headers
    assert answer.headers["accept-ranges"] == whole.headers["accept-ranges"] == "none"  # none is taken
