"""The webhook URL guard: every address a host resolves to must be public, and the request is pinned to
the address that was checked (the name travels in Host and, for https, in SNI and the certificate check).
Name resolution is replaced here (there is no public DNS in tests); the real resolver is used for
`localhost` and literal addresses in tests/test_webhooks.py."""

from __future__ import annotations

import socket

import pytest

from shotline.webhooks import guard


def fake_dns(monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[str]]) -> None:
    def getaddrinfo(host, port, *args, **kwargs):
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
                for a in answers[host]]

    monkeypatch.setattr(guard.socket, "getaddrinfo", getaddrinfo)


def test_a_public_name_is_pinned_to_the_checked_address(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dns(monkeypatch, {"hooks.example.com": ["93.184.216.34"]})
    target = guard.check("https://hooks.example.com:8443/in?x=1", allow_private=False)
    assert target.url == "https://93.184.216.34:8443/in?x=1"
    assert target.headers == {"Host": "hooks.example.com:8443"}
    assert target.extensions == {"sni_hostname": "hooks.example.com"}
    plain = guard.check("http://hooks.example.com/", allow_private=False)
    assert (plain.url, plain.headers, plain.extensions) == ("http://93.184.216.34/", {"Host": "hooks.example.com"}, {})


def test_a_name_with_any_private_address_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dns(monkeypatch, {"rebind.example.com": ["93.184.216.34", "10.0.0.5"],
                           "v6.example.com": ["2606:4700::1111", "fd00::1"]})
    for url in ("https://rebind.example.com/", "https://v6.example.com/"):
        with pytest.raises(guard.UnsafeUrl, match="private"):
            guard.check(url, allow_private=False)


def test_allowing_private_addresses_sends_as_given(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dns(monkeypatch, {})
    target = guard.check("http://localhost:9000/hook", allow_private=True)
    assert (target.url, target.headers) == ("http://localhost:9000/hook", {})
    with pytest.raises(guard.UnsafeUrl, match="port"):
        guard.check("http://example.com:99999/", allow_private=True)
