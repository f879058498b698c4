"""Joining the jar and the storage with who set them: the jar is the truth, writes only attribute."""

from __future__ import annotations

from consent_service.scan.attribution import attribute_cookies, attribute_storage
from consent_service.scan.instrument import Caller, ScriptEvent
from consent_service.scan.parties import Parties
from consent_service.scan.setcookie import CookieWrite

PAGE = "https://www.shop.example/"
PARTIES = Parties([PAGE])


def jar(name: str, domain: str = "www.shop.example", **extra: object) -> dict[str, object]:
    return {"name": name, "value": "secret", "domain": domain, "path": "/", "expires": -1, "httpOnly": False,
            "secure": False, "sameSite": "Lax", **extra}


def script(seq: int, name: str, url: str, *, domain: str = "www.shop.example", deletion: bool = False,
           kind: str = "cookie", origin: str = "https://www.shop.example") -> ScriptEvent:
    cookie = CookieWrite(name, domain, deletion) if kind in ("cookie", "cookieStore") else None
    return ScriptEvent(seq, kind, name, PAGE, origin, "www.shop.example", True, Caller(url, (), False), cookie)


def test_the_earliest_setter_wins_and_the_others_are_listed() -> None:
    http = [(1, CookieWrite("_ga", "www.shop.example", False), "https://www.shop.example/")]
    events = [script(0, "_ga", "https://stats.example/a.js"), script(2, "_ga", "https://stats.example/b.js")]
    (seen,) = attribute_cookies([jar("_ga")], http, events, state="accept", page=PAGE, parties=PARTIES)
    assert (seen.source, seen.set_by, seen.attribution) == ("script", "https://stats.example/a.js", "observed")
    assert seen.also_set_by == ("https://www.shop.example/", "https://stats.example/b.js")
    assert not seen.third_party and seen.expires is None


def test_a_deletion_forgets_the_setters_before_it() -> None:
    events = [script(0, "x", "https://a.example/old.js"), script(1, "x", "https://consent.example/banner.js",
                                                                 deletion=True)]
    http = [(2, CookieWrite("x", "www.shop.example", False), "https://www.shop.example/again")]
    (seen,) = attribute_cookies([jar("x")], http, events, state="reject", page=PAGE, parties=PARTIES)
    assert (seen.source, seen.set_by, seen.also_set_by) == ("http", "https://www.shop.example/again", ())


def test_domains_must_match_and_unseen_setters_are_inferred() -> None:
    http = [(0, CookieWrite("sid", "other.example", False), "https://other.example/")]
    seen = attribute_cookies([jar("sid", httpOnly=True), jar("js", domain=".shop.example", expires=1.9e9)], http, [],
                             state="before", page=PAGE, parties=PARTIES)
    assert [(s.name, s.source, s.set_by, s.attribution) for s in seen] == [
        ("sid", "http", None, "inferred"), ("js", "script", None, "inferred")]
    assert seen[1].domain == "shop.example" and seen[1].expires == 1.9e9


def test_third_party_and_partitioned_cookies() -> None:
    (seen,) = attribute_cookies([jar("IDE", domain=".ads.example", partitionKey="https://shop.example")], [], [],
                                state="before", page=PAGE, parties=PARTIES)
    assert seen.third_party and seen.partition_key == "https://shop.example"


def test_storage_per_origin_with_its_writer() -> None:
    frames = [{"origin": "https://www.shop.example", "localStorage": ["theme"], "sessionStorage": [],
               "indexedDB": ["db"]},
              {"origin": "https://www.shop.example", "localStorage": ["theme"]},
              {"origin": "https://video.example", "localStorage": ["yt"], "sessionStorage": ["s"]},
              {"origin": "null", "localStorage": ["sandboxed"]}]
    events = [script(3, "theme", "https://www.shop.example/app.js", kind="localStorage"),
              script(4, "db", "https://stats.example/a.js", kind="indexedDB"),
              script(5, "yt", "https://video.example/p.js", kind="localStorage", origin="https://video.example")]
    seen = attribute_storage(frames, events, state="before", page=PAGE, parties=PARTIES)
    assert [(s.kind, s.name, s.origin, s.set_by, s.attribution, s.third_party) for s in seen] == [
        ("localStorage", "theme", "https://www.shop.example", "https://www.shop.example/app.js", "observed", False),
        ("indexedDB", "db", "https://www.shop.example", "https://stats.example/a.js", "observed", False),
        ("localStorage", "yt", "https://video.example", "https://video.example/p.js", "observed", True),
        ("sessionStorage", "s", "https://video.example", None, "inferred", True),
    ]
    assert seen[0].domain == "www.shop.example"
