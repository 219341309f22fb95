"""Issue 14, item 3: when sync.ca_file is set it is the only trust, whatever the environment says.

requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE replace a session's CA file; a kiosk's pin must
not be replaceable that way. A real TLS server on 127.0.0.1, certificates made here.
"""

from __future__ import annotations

import pytest

from kiosk.journal import Journal
from sync.client import Uploader
from sync.errors import BatchRefused, TransientError
from sync_helpers import bare_config
from tls_helpers import TlsServer, make_ca, server_cert


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pki")
    city_ca, other_ca = make_ca(folder, "city-ca"), make_ca(folder, "other-ca")
    server = TlsServer(*server_cert(folder, city_ca))
    yield server, city_ca.cert_file, other_ca.cert_file
    server.close()


def _request(tmp_path, url: str, ca_file: str):
    config = bare_config(tmp_path, "k-tls", url=url, ca_file=ca_file, timeout_seconds=5.0)
    with Journal(config.journal_path) as journal:
        uploader = Uploader(config, journal)
        try:
            uploader.request("GET", "/v1/bundles/rules")
        finally:
            uploader.close()


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"])
def test_a_wrong_pin_is_not_rescued_by_the_environment(pki, tmp_path, monkeypatch, variable):
    server, city_ca, other_ca = pki
    monkeypatch.setenv(variable, str(city_ca))  # the variable would trust the server...
    with pytest.raises(TransientError, match="TLS verification failed"):
        _request(tmp_path, server.url, str(other_ca))  # ...but the pin names another CA


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"])
def test_a_right_pin_is_not_undone_by_the_environment(pki, tmp_path, monkeypatch, variable):
    server, city_ca, other_ca = pki
    monkeypatch.setenv(variable, str(other_ca))
    with pytest.raises(BatchRefused) as refused:  # TLS verified; the city answered 404
        _request(tmp_path, server.url, str(city_ca))
    assert refused.value.status == 404


def test_without_a_pin_the_system_store_refuses_a_private_ca(pki, tmp_path, monkeypatch):
    server, _city_ca, _other = pki
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    with pytest.raises(TransientError, match="TLS verification failed"):
        _request(tmp_path, server.url, "")
