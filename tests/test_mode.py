"""One mode policy: what each ``mode`` does for live and recorded sources (README "Modes")."""

from __future__ import annotations

import pytest

from stream.pipeline.mode import Mode, RunPolicy, decide


@pytest.mark.parametrize("mode,source_is_live,expected", [
    ("auto", True, RunPolicy(live=True, paced=False)),     # camera, live stream: newest frame wins
    ("auto", False, RunPolicy(live=False, paced=False)),   # file, HTTP file, images, synthetic: every frame
    ("live", True, RunPolicy(live=True, paced=False)),
    ("live", False, RunPolicy(live=True, paced=True)),     # a file played like a camera, at its own rate
    ("file", True, RunPolicy(live=False, paced=False)),    # a camera whose every frame is processed
    ("file", False, RunPolicy(live=False, paced=False)),
])
def test_mode_table(mode, source_is_live, expected) -> None:
    assert decide(mode, source_is_live) == expected
    assert decide(Mode(mode), source_is_live) == expected


def test_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError):
        decide("sometimes", True)
