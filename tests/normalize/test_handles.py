from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.normalize.handles import handle_from_url, normalize_handle

CHANNEL = "UCabcdefghij1234567890"


@pytest.mark.parametrize(
    ("kind", "value", "handle"),
    [
        ("linkedin", "https://www.linkedin.com/in/theogrant/", "theogrant"),
        ("linkedin", "https://fr.linkedin.com/in/Theo-Grant-12345?trk=public", "theo-grant-12345"),
        ("linkedin", "linkedin.com/in/theogrant", "theogrant"),
        ("linkedin", "https://www.linkedin.com/in/jos%C3%A9-garc%C3%ADa-1a2b/", "josé-garcía-1a2b"),
        ("linkedin", "https://www.linkedin.com/pub/theo-grant/1/2/3", "theo-grant"),
        ("linkedin", "TheoGrant", "theogrant"),
        ("twitter", "@TheoGrant", "theogrant"),
        ("twitter", "TheoGrant", "theogrant"),
        ("twitter", "https://twitter.com/TheoGrant", "theogrant"),
        ("twitter", "https://x.com/TheoGrant/status/123", "theogrant"),
        ("twitter", "https://mobile.twitter.com/TheoGrant?lang=fr", "theogrant"),
        ("x", "@TheoGrant", "theogrant"),
        ("facebook", "https://www.facebook.com/theo.grant", "theo.grant"),
        ("facebook", "https://m.facebook.com/profile.php?id=100012345", "id:100012345"),
        ("facebook", "https://www.facebook.com/people/Theo-Grant/100012345/", "id:100012345"),
        ("facebook", "id:100012345", "id:100012345"),
        ("instagram", "https://www.instagram.com/theo.grant/", "theo.grant"),
        ("instagram", "@Theo.Grant", "theo.grant"),
        ("github", "https://github.com/TheoGrant", "theogrant"),
        ("github", "https://github.com/TheoGrant/crmhub", "theogrant"),
        ("xing", "https://www.xing.com/profile/Anna_Schmidt/cv", "anna_schmidt"),
        ("tiktok", "https://www.tiktok.com/@TheoGrant", "theogrant"),
        ("tiktok", "@TheoGrant", "theogrant"),
        ("youtube", "https://www.youtube.com/@TheoGrant", "theogrant"),
        ("youtube", "@TheoGrant", "theogrant"),
        ("youtube", f"https://www.youtube.com/channel/{CHANNEL}", f"channel:{CHANNEL}"),
        ("youtube", "https://www.youtube.com/user/TheoGrant", "user:theogrant"),
        ("skype", "Theo.Grant", "theo.grant"),
    ],
)  # fmt: skip
def test_normalize_handle_canonicalises_urls_and_bare_values(
    kind: str, value: str, handle: str
) -> None:
    assert normalize_handle(kind, value) == handle


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("twitter", "https://www.facebook.com/theogrant"),
        ("linkedin", "https://github.com/theogrant"),
        ("linkedin", "https://www.linkedin.com/company/acme"),
        ("linkedin", "https://www.linkedin.com/"),
        ("twitter", "https://twitter.com/intent/tweet?text=hi"),
        ("facebook", "https://www.facebook.com/sharer/sharer.php?u=x"),
        ("instagram", "https://www.instagram.com/p/Cabc123/"),
        ("twitter", "theo grant"),
        ("twitter", "@"),
        ("github", "-theo"),
        ("linkedin", "https://example.com/in/theogrant"),
        ("twitter", None),
        ("twitter", "   "),
    ],
)
def test_values_that_are_not_a_handle_of_the_kind_give_none(kind: str, value: str | None) -> None:
    assert normalize_handle(kind, value) is None


@pytest.mark.parametrize(
    ("url", "found"),
    [
        ("https://www.linkedin.com/in/theogrant/", ("linkedin", "theogrant")),
        ("https://x.com/TheoGrant", ("twitter", "theogrant")),
        ("instagram.com/theo.grant", ("instagram", "theo.grant")),
        ("https://www.tiktok.com/@theo", ("tiktok", "theo")),
        ("https://www.acme.fr/team/theo", None),
        ("not a url", None),
        (None, None),
    ],
)
def test_handle_from_url_identifies_the_network(
    url: str | None, found: tuple[str, str] | None
) -> None:
    assert handle_from_url(url) == found


_kinds = st.sampled_from(
    ["linkedin", "twitter", "x", "facebook", "instagram", "github", "tiktok", "youtube", "skype"]
)


@given(_kinds, st.text())
def test_normalize_handle_never_raises_and_is_idempotent(kind: str, value: str) -> None:
    handle = normalize_handle(kind, value)
    if handle is not None:
        assert normalize_handle(kind, handle) == handle


_profile_url = st.builds(
    lambda host, path, name, tail: f"https://{host}/{path}{name}{tail}",
    st.sampled_from(
        ["www.linkedin.com", "fr.linkedin.com", "x.com", "twitter.com", "www.facebook.com",
         "instagram.com", "github.com", "www.tiktok.com", "www.youtube.com"]
    ),
    st.sampled_from(["", "in/", "@", "channel/", "user/"]),
    st.text(min_size=1, max_size=20),
    st.sampled_from(["", "/", "?x=1", "#top", "/status/1"]),
)  # fmt: skip


@given(_profile_url)
def test_handle_from_url_result_normalises_to_itself(url: str) -> None:
    found = handle_from_url(url)
    if found is not None:
        kind, handle = found
        assert normalize_handle(kind, url) == handle
        assert normalize_handle(kind, handle) == handle
