"""Name and label syntax helpers, with Kubernetes' messages."""

import pytest

from tinykube.api.validation import names
from tinykube.api.validation.names import (
    dns1035_label_errors, dns1123_label_errors, dns1123_subdomain_errors, is_config_map_key,
    is_dns1035_label, is_dns1123_label, is_dns1123_subdomain, is_env_var_name, is_qualified_name,
    is_valid_label_value, is_valid_port_name, path_segment_errors, qualified_name_errors,
)

SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
                 "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
                 "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
             "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
             "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")


@pytest.mark.parametrize("value, ok", [
    ("example.com", True), ("a", True), ("a-b.c-d", True), ("1.2", True), ("a" * 253, True),
    ("a" * 254, False), ("Bad_Name", False), ("-a", False), ("a-", False), ("a..b", False), ("", False),
    (".", False), ("..", False), ("a/b", False), ("a%b", False), ("UPPER", False),
])
def test_dns1123_subdomain(value, ok):
    assert is_dns1123_subdomain(value) is ok


@pytest.mark.parametrize("value, ok", [
    ("my-name", True), ("123-abc", True), ("a" * 63, True), ("a" * 64, False), ("a.b", False), ("A", False), ("", False),
])
def test_dns1123_label(value, ok):
    assert is_dns1123_label(value) is ok


@pytest.mark.parametrize("value, ok", [
    ("my-name", True), ("abc-123", True), ("1abc", False), ("a" * 64, False), ("a.b", False),
])
def test_dns1035_label(value, ok):
    assert is_dns1035_label(value) is ok


def test_messages_are_kubernetes_text():
    assert dns1123_subdomain_errors("Bad_Name") == [SUBDOMAIN_MSG]
    assert dns1123_label_errors("Bad") == [LABEL_MSG]
    assert dns1123_label_errors("a.b") == ["must not contain dots"]
    assert dns1123_label_errors("a" * 64) == ["must be no more than 63 characters"]
    assert dns1035_label_errors("1a") == [
        "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
        "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for "
        "validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"]


@pytest.mark.parametrize("value, ok", [
    ("app", True), ("app.kubernetes.io/name", True), ("A_b.c-D", True), ("a" * 63, True), ("example.com/" + "a" * 63, True),
    ("a" * 64, False), ("/a", False), ("a/", False), ("a/b/c", False), ("-a", False), ("Bad_Prefix/a", False),
    ("", False),
])
def test_qualified_name(value, ok):
    assert is_qualified_name(value) is ok


def test_qualified_name_messages():
    assert qualified_name_errors("/a") == ["prefix part must be non-empty"]
    assert qualified_name_errors("a/b/c")[0].startswith("a qualified name must consist of alphanumeric characters")
    assert qualified_name_errors("a" * 64) == ["name part must be no more than 63 characters"]
    assert qualified_name_errors("Bad_/x")[0].startswith("prefix part a lowercase RFC 1123 subdomain")


@pytest.mark.parametrize("value, ok", [
    ("", True), ("v1", True), ("a.b_c-d", True), ("a" * 63, True), ("a" * 64, False), ("-a", False), ("a b", False),
])
def test_label_value(value, ok):
    assert is_valid_label_value(value) is ok


@pytest.mark.parametrize("value, errors", [
    ("http", []), ("h-1", []),
    ("a" * 16, ["must be no more than 15 characters"]),
    ("HTTP", ["must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
              "must contain at least one letter (a-z)"]),
    ("123", ["must contain at least one letter (a-z)"]),
    ("a--b", ["must not contain consecutive hyphens"]),
    ("-ab", ["must not begin or end with a hyphen"]),
])
def test_port_names(value, errors):
    assert names.port_name_errors(value) == errors
    assert is_valid_port_name(value) is (not errors)


@pytest.mark.parametrize("value, ok", [
    ("PATH", True), ("my.env-name", True), ("1FOO", True), ("a:b", True), ("", False), ("A=B", False), ("é", False),
])
def test_env_var_names_are_relaxed_in_132(value, ok):
    assert is_env_var_name(value) is ok


def test_strict_env_var_rule_is_available():
    assert names.env_var_name_errors("1FOO")[0].startswith("a valid environment variable name must consist of")
    assert names.env_var_name_errors("..x") == ["must not start with '..'"]


@pytest.mark.parametrize("value, ok", [("key.name", True), ("KEY_NAME", True), ("a/b", False), ("..a", False), (".", False)])
def test_config_map_keys(value, ok):
    assert is_config_map_key(value) is ok


@pytest.mark.parametrize("name, errors", [
    ("ok", []), (".", ["may not be '.'"]), ("..", ["may not be '..'"]),
    ("a/b", ["may not contain '/'"]), ("a%b/c", ["may not contain '/'", "may not contain '%'"]),
])
def test_path_segment_names(name, errors):
    assert path_segment_errors(name) == errors


def test_generate_name_prefix_masks_trailing_dash():
    assert names.name_is_dns_subdomain("web-", prefix=True) == []
    assert names.name_is_dns_subdomain("web-", prefix=False) != []
