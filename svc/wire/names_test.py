import re
import sys
import unicodedata

import pytest

from wire import models
from wire import names
from wire.problems import Unprocessable


def accepted(name: str) -> bool:
    """What the service accepts: the contract's pattern (checked by the model) and then `canonical`."""
    if re.fullmatch(names.PATTERN, name) is None:
        return False
    try:
        names.canonical(name, "/name")
    except Unprocessable:
        return False
    return True


def test_the_pattern_and_canonical_together_refuse_exactly_cc_and_cf_and_edge_whitespace():
    for code in range(sys.maxunicode + 1):
        c = chr(code)
        if 0xD800 <= code <= 0xDFFF:
            continue  # surrogates are refused by the body checks before (bodies.check_storable)
        control_or_format = unicodedata.category(c) in ("Cc", "Cf")
        assert accepted(f"a{c}b") is not control_or_format, hex(code)
        assert accepted(c) is not (control_or_format or c.isspace()), hex(code)


def test_the_contract_carries_the_same_pattern():
    assert models.Name.model_fields["root"].metadata[-1].pattern == names.PATTERN


@pytest.mark.parametrize(("given", "stored"), [
    ("cafe\u0301", "caf\u00e9"), ("caf\u00e9", "caf\u00e9"), ("billing", "billing"), ("\u212b", "\u00c5"),
])
def test_names_are_stored_in_nfc(given, stored):
    assert names.canonical(given, "/name") == stored
    assert names.looked_up(given) == stored and names.looked_up(None) is None


def test_a_name_longer_than_the_limit_once_in_nfc_is_refused():
    # U+0958 has no composed form in NFC: it becomes two characters.
    with pytest.raises(Unprocessable) as refused:
        names.canonical("\u0958" * 200, "/name")
    assert refused.value.errors == [{"pointer": "/name", "message": refused.value.errors[0]["message"]}]
