"""Status bodies back into the typed error tree; kubeconfig loading."""

from __future__ import annotations

import base64
import ssl

import pytest
import yaml

from tinykube.api import errors
from tinykube.client.config import ClientConfig, load_kubeconfig
from tinykube.client.status import error_from_response, error_from_status, is_retryable, retry_after
from tinykube.util import jsonutil


@pytest.mark.parametrize("code,reason,cls", [
    (404, "NotFound", errors.NotFound),
    (409, "AlreadyExists", errors.AlreadyExists),
    (409, "Conflict", errors.Conflict),
    (410, "Expired", errors.Expired),
    (410, "Gone", errors.Gone),
    (422, "Invalid", errors.Invalid),
    (429, "TooManyRequests", errors.TooManyRequests),
    (403, "Forbidden", errors.Forbidden),
    (409, "", errors.Conflict),  # no reason: by code
    (500, "", errors.InternalError),
])
def test_status_maps_to_the_same_class(code, reason, cls):
    exc = error_from_status({"kind": "Status", "code": code, "reason": reason, "message": "m",
                             "details": {"name": "x"}})
    assert type(exc) is cls and exc.code == code and exc.message == "m" and exc.details == {"name": "x"}


def test_round_trip_of_every_server_error():
    for original in (errors.not_found("pods", "p"), errors.conflict("pods", "p", errors.STALE_OBJECT),
                     errors.too_old_resource_version(5, 9),
                     errors.invalid("Pod", "p", [errors.Cause(errors.REQUIRED, "spec", "")])):
        back = error_from_status(original.to_status())
        assert type(back) is type(original) and back.to_status() == original.to_status()


def test_unknown_code_keeps_what_the_server_said():
    exc = error_from_status({"code": 504, "reason": "Timeout", "message": "slow"})
    assert exc.code == 504 and exc.reason == "Timeout"
    assert is_retryable(exc)


def test_non_status_body_and_retry_after():
    exc = error_from_response(429, b"slow down", {"Retry-After": "3"})
    assert isinstance(exc, errors.TooManyRequests) and retry_after(exc) == 3.0 and is_retryable(exc)
    body = jsonutil.dumps(errors.NotFound("gone").to_status())
    assert not is_retryable(error_from_response(404, body, {}))
    assert retry_after(error_from_response(404, body, {})) is None


def test_kubeconfig_with_embedded_data_and_relative_paths(tmp_path):
    (tmp_path / "ca.crt").write_text("not used")
    (tmp_path / "tok").write_text("secret-token\n")
    doc = {
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443/",
                                               "certificate-authority": "ca.crt"}},
                     {"name": "other", "cluster": {"server": "https://x", "insecure-skip-tls-verify": True}}],
        "users": [{"name": "u", "user": {"tokenFile": "tok"}},
                  {"name": "v", "user": {"client-certificate-data": base64.b64encode(b"CERT").decode(),
                                         "client-key-data": base64.b64encode(b"KEY").decode()}}],
        "contexts": [{"name": "a", "context": {"cluster": "c", "user": "u"}},
                     {"name": "b", "context": {"cluster": "other", "user": "v"}}],
        "current-context": "a",
    }
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(doc))
    config = load_kubeconfig(str(path))
    assert config.server == "https://127.0.0.1:6443"
    assert config.token == "secret-token" and config.ca_file == str(tmp_path / "ca.crt")
    other = load_kubeconfig(str(path), context="b")
    assert other.insecure_skip_tls_verify and other.cert_data == b"CERT" and other.key_data == b"KEY"
    with pytest.raises(ValueError):
        load_kubeconfig(str(path), context="missing")


def test_insecure_context_skips_verification():
    context = ClientConfig("https://x", insecure_skip_tls_verify=True).ssl_context()
    assert context.verify_mode == ssl.CERT_NONE and not context.check_hostname
    assert ClientConfig("http://x").ssl_context() is None
