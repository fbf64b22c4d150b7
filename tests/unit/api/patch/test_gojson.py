"""Go compatibility: encoding/json error texts, fmt verbs, encoding/json output."""

import pytest

from tinykube.api.patch import gojson


@pytest.mark.parametrize("text, message", [
    ("", "unexpected end of JSON input"),
    ("{", "unexpected end of JSON input"),
    ('{"a" 1}', "invalid character '1' after object key"),
    ("[1,]", "invalid character ']' looking for beginning of value"),
    ("{,}", "invalid character ',' looking for beginning of object key string"),
    ("01", "invalid character '1' after top-level value"),
    ("1.x", "invalid character 'x' after decimal point in numeric literal"),
    ("1ex", "invalid character 'x' in exponent of numeric literal"),
    ('"\\q"', "invalid character 'q' in string escape code"),
    ('"\\u12x4"', "invalid character 'x' in \\u hexadecimal character escape"),
    ("-a", "invalid character 'a' in numeric literal"),
    ("[1 2]", "invalid character '2' after array element"),
    ('{"a":1 "b"}', "invalid character '\"' after object key:value pair"),
    ('"a\nb"', "invalid character '\\n' in string literal"),
    ("trux", "invalid character 'x' in literal true (expecting 'e')"),
    ("nope", "invalid character 'o' in literal null (expecting 'u')"),
    ("NaN", "invalid character 'N' looking for beginning of value"),
])
def test_syntax_errors(text, message):
    with pytest.raises(gojson.GoJSONError) as info:
        gojson.loads(text)
    assert str(info.value) == message


def test_valid_json_parses():
    assert gojson.loads(b' {"a": [1, 2.5, true, null, "x"]} ') == {"a": [1, 2.5, True, None, "x"]}


@pytest.mark.parametrize("value, text", [
    ({"b": [1, "x", None], "a": {"c": True}}, "map[a:map[c:true] b:[1 x <nil>]]"),
    (1.5, "1.5"), (1e6, "1e+06"), (123456.0, "123456"), (1e-5, "1e-05"), (3.0, "3"),
])
def test_percent_v(value, text):
    assert gojson.go_v(value) == text


@pytest.mark.parametrize("value, text", [
    ({"b": "<&>", "a": 1.0}, '{"a":1,"b":"\\u003c\\u0026\\u003e"}'),
    (1e21, "1e+21"), (1e-7, "1e-7"), (0.000025, "0.000025"), (1e20, "100000000000000000000"),
    ("tab\there\u2028", '"tab\\there\\u2028"'),
])
def test_encoding_json(value, text):
    assert gojson.go_json(value) == text


def test_quote():
    assert gojson.go_quote('a"b\n\x1b\u00e9') == '"a\\"b\\n\\x1bé"'


def test_unix_seconds():
    assert gojson.unix_seconds("1970-01-01T00:01:00Z") == 60
    assert gojson.unix_seconds(None) == 0
