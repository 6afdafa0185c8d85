"""``pages/_lib/share.py``'s parsing of what a link carries, and the follow board: checked
against Python's own URL parser and plain float arithmetic, not the module's functions."""

from __future__ import annotations

import random
import threading
import urllib.parse

import pytest

from pages._lib import share
from pages._lib.follow import Board


def test_a_latent_survives_the_link_to_4_decimals() -> None:
    rng = random.Random(0)
    z = [rng.gauss(0, 2) for _ in range(32)] + [0.0, -0.0, 1e-9, -3.00004]
    text = share.latent_text(z)
    back = [float(p) for p in text.split(",")]  # what any reader of the URL gets
    assert len(back) == len(z)
    assert all(abs(a - b) <= 5e-5 for a, b in zip(back, z, strict=True))
    assert "-0," not in text + "," and "e" not in text  # no negative zero, no exponent
    assert share.latent_from_text(text, len(z)) == back


@pytest.mark.parametrize(
    "text",
    ["", "1,2", "1,2,3,4", "1,nan,3", "1,inf,3", "1,2,x", "1,,3", "1,2,10.5", "1e400,0,0"],
)
def test_a_malformed_latent_is_refused(text: str) -> None:
    assert share.latent_from_text(text, 3) is None


def test_limits_of_a_latent() -> None:
    assert share.latent_from_text("10,-10,0", 3) == [10.0, -10.0, 0.0]
    assert share.latent_from_text("10.0001,0,0", 3) is None


@pytest.mark.parametrize(
    ("text", "want"),
    [("3,7", [3, 7]), ("0", [0]), ("-1", None), ("1.5", None), ("", None), ("1234567", None), ("2,", None)],
)
def test_integers_in_a_link(text: str, want: list[int] | None) -> None:
    assert share.ints_from_text(text) == want


def test_the_link_keeps_the_host_and_names_the_page_and_every_parameter() -> None:
    params = {"model": "mnist_32", "z": "0.1,-2", "noise:seed": "42", "x": "a b&c"}
    url = share.link_url("http://class.example.edu:8080/sliders?old=1", "plane", params)
    parts = urllib.parse.urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path, parts.fragment) == ("http", "class.example.edu:8080", "/plane", "")
    assert dict(urllib.parse.parse_qsl(parts.query)) == params
    assert urllib.parse.urlsplit(share.link_url("https://h/", "", {})).path == "/"


def test_the_board_takes_posts_from_the_unlocked_teacher_only() -> None:
    b = Board()
    b.post("", "sliders", {"z": "1"})  # nobody unlocked: the empty token matches nothing new
    assert b.read() == (0, "", {})
    b.claim("teacher")
    b.post("student", "plane", {"pin": "1,1"})
    assert b.read() == (0, "", {})
    b.post("teacher", "sliders", {"z": "1"})
    b.post("teacher", "sliders", {"z": "1"})  # unchanged: no new sequence number
    assert b.read() == (1, "sliders", {"z": "1"})
    b.claim("another tab")  # the latest unlock wins
    b.post("teacher", "plane", {})
    assert b.read()[0] == 1


def test_the_board_counts_every_change_under_concurrent_posts() -> None:
    b = Board()
    b.claim("t")

    def post(k: int) -> None:
        for i in range(200):
            b.post("t", "p", {"i": f"{k}-{i}"})

    threads = [threading.Thread(target=post, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seq, _, params = b.read()
    # Every post changed the view (all values distinct), so each one counted exactly once.
    assert seq == 800 and params["i"].endswith("-199")
