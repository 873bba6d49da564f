"""/console: the page and everything it loads come from the service, under a strict Content-Security-Policy, and
its code never turns text into markup (what the browser test of tests/test_console.py checks in a real browser)."""

import re
from html.parser import HTMLParser

import console
from middleware.security_headers import CONSOLE_CSP

MODULES = sorted(console.FILES.glob("*.js"))


class Page(HTMLParser):
    """What an HTML page loads (script src, link href), and anything inline: scripts, styles, handlers."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "script":
            if attributes.get("src"):
                self.urls.append(attributes["src"])
            else:
                self._in_script = True
        if tag == "link" and attributes.get("href"):
            self.urls.append(attributes["href"])
        if tag == "style":
            self.inline.append("<style>")
        for name, _ in attrs:
            if name == "style" or name.startswith("on"):
                self.inline.append(f"{tag} {name}=")

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.inline.append("inline <script>")


def test_the_page_and_everything_it_loads_come_from_the_service_under_the_policy(client):
    page = client.get(console.PATH)
    assert page.status_code == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
    parser = Page()
    parser.feed(page.text)
    assert parser.inline == []
    assert "/static/console/app.js" in parser.urls and "/static/console/console.css" in parser.urls
    imported = {f"{console.ASSETS}{name}" for module in MODULES
                for name in re.findall(r'^import .* from "\./([a-z]+\.js)";$', module.read_text(), re.MULTILINE)}
    assert imported, "the modules import each other"
    for url in {*parser.urls, *imported}:
        assert url.startswith(console.ASSETS), url
        loaded = client.get(url)
        assert loaded.status_code == 200 and loaded.content, url
        assert loaded.headers["content-security-policy"] == CONSOLE_CSP, url
    for answer in (page, client.get("/static/console/app.js")):
        assert answer.headers["content-security-policy"] == CONSOLE_CSP
        assert answer.headers["x-frame-options"] == "DENY" and answer.headers["referrer-policy"] == "no-referrer"
        assert answer.headers["cache-control"] == "no-cache"


def test_the_policy_allows_nothing_inline_nothing_from_elsewhere_and_no_framing():
    directives = dict(d.strip().split(" ", 1) for d in CONSOLE_CSP.split(";"))
    assert directives["default-src"] == "'self'" and directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'" and directives["frame-ancestors"] == "'none'"
    assert directives["base-uri"] == "'none'" and directives["form-action"] == "'self'"
    assert "unsafe" not in CONSOLE_CSP and "http" not in CONSOLE_CSP and "*" not in CONSOLE_CSP


def test_every_module_is_plain_code_that_never_parses_markup_or_keeps_the_key_beyond_the_tab():
    assert {m.name for m in MODULES} == {"api.js", "app.js", "config.js", "diff.js", "dom.js", "json.js", "keys.js",
                                           "transfer.js", "views.js"}
    for module in MODULES:
        code = module.read_text()
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function",
                     "setHTMLUnsafe", "parseFromString", "createContextualFragment", "localStorage",
                     "document.cookie", "http://", "https://"):
            assert sink not in code, (module.name, sink)
        if module.name != "dom.js":  # the one module that makes elements, from tag names it is given in code
            assert "createElement" not in code, module.name
    assert "sessionStorage" in (console.FILES / "api.js").read_text()


def test_the_stylesheet_loads_nothing():
    css = (console.FILES / "console.css").read_text()
    assert "@import" not in css and "url(" not in css


def test_the_console_tells_no_override_from_another_404_by_the_services_own_words():
    """An override that does not exist is offered to be added; any other 404 of its read (an environment or a
    configuration out of the key's sight) is said as it is. The console knows the first by the service's detail."""
    from repositories import overrides

    code = (console.FILES / "config.js").read_text()
    assert f'const NO_OVERRIDE = "{overrides.MISSING}";' in code
