"""Resource quantities: parsing and Kubernetes' canonical printing."""

from decimal import Decimal

import pytest

from tinykube.api.validation.quantity import FORMAT_ERROR, SUFFIX_ERROR, canonical_string, parse_quantity


@pytest.mark.parametrize("text, value", [
    ("100m", Decimal("0.1")), ("1", Decimal(1)), ("0.5", Decimal("0.5")), ("1e3", Decimal(1000)),
    ("1Gi", Decimal(2 ** 30)), ("1Ki", Decimal(1024)), ("1k", Decimal(1000)), ("1M", Decimal(10 ** 6)),
    ("1n", Decimal("1e-9")), ("-1", Decimal(-1)), ("+3", Decimal(3)), ("1.5", Decimal("1.5")),
    ("0.0000000001", Decimal("1e-9")), (2, Decimal(2)), (0.25, Decimal("0.25")),
])
def test_parse(text, value):
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text, canonical", [
    ("1000m", "1"), ("500m", "500m"), ("0.5", "500m"), ("1.5Gi", "1536Mi"), ("1200000", "1200k"),
    ("1e3", "1e3"), ("8Gi", "8Gi"), ("0", "0"), ("1536Mi", "1536Mi"), ("0.5Gi", "512Mi"), ("1.5Ki", "1536"),
    ("2.5", "2500m"), ("100Mi", "100Mi"), ("1500", "1500"),
])
def test_canonical(text, canonical):
    assert canonical_string(text) == canonical


@pytest.mark.parametrize("text, message", [
    ("", FORMAT_ERROR), ("abc", FORMAT_ERROR), ("1.5.5", FORMAT_ERROR), ("1K", SUFFIX_ERROR),
    ("1Ki5", SUFFIX_ERROR), (True, FORMAT_ERROR), (None, FORMAT_ERROR),
])
def test_invalid(text, message):
    with pytest.raises(ValueError) as err:
        parse_quantity(text)
    assert str(err.value) == message


def test_format_error_text():
    assert FORMAT_ERROR == ("quantities must match the regular expression "
                            "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")
