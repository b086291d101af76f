"""Every malformed protocol gets one clear line per problem, a non-zero exit and no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

import protocols as P

CORPUS = sorted((Path(__file__).parent / "malformed").glob("*.yaml"))


def expected(path: Path) -> str:
    first = path.read_bytes().split(b"\n", 1)[0].decode("utf-8")
    assert first.startswith("# expect: ")
    return first.removeprefix("# expect: ").strip()


def test_corpus_is_large_enough():
    assert len(CORPUS) >= 40


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_malformed_file_fails_clearly_through_the_cli(path: Path, cli):
    result = cli("protocol", "check", str(path))
    assert result.code == 1, result.out + result.err
    assert "Traceback" not in result.err and "Traceback" not in result.out
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert lines and all(line.startswith("error: ") for line in lines)
    assert all(str(path) in line for line in lines)  # every line names the file
    assert expected(path) in result.err


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_malformed_file_raises_protocol_error_with_location(path: Path):
    with pytest.raises(P.ProtocolError) as err:
        P.load(path)
    problems = err.value.problems
    assert problems and all(p.file == str(path) for p in problems)
    assert (
        any(p.line is not None for p in problems)
        or "UTF-8" in str(err.value)
        or "mapping" in str(err.value)
    )


def test_all_problems_reported_at_once():
    text = """name: many
safety: {voltage_min: 2.5 V, voltage_max: 4.4 V, abs_current_max: 10 mA}
steps:
  - rest: {duration: 0 s}
  - cc: {current: 4 V, direction: charge, until: ["voltage >= 4.2 V"]}
  - bogus: {}
  - rest: {duration: 1 h, until: [{dV_dt: "< 1 mV/h", goto: missing}]}
"""
    with pytest.raises(P.ProtocolError) as err:
        P.loads(text, source="many.yaml")
    paths = [p.path for p in err.value.problems]
    assert "steps[0].rest.duration" in paths
    assert "steps[1].cc.current" in paths
    assert "steps[2].bogus" in paths
    assert any(p.startswith("steps[3].rest.until[0]") for p in paths)
    lines = {p.path: p.line for p in err.value.problems}
    assert lines["steps[0].rest.duration"] == 4 and lines["steps[2].bogus"] == 6


def test_includes_only_inside_the_folder(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "steps.yaml").write_text("- rest: {duration: 10 min}\n")
    main = tmp_path / "main.yaml"
    main.write_text("name: inc\nsteps:\n  - include: sub/steps.yaml\n  - rest: {duration: 1 h}\n")
    plan = P.load(main).bind()
    assert [s.limits[0].value for s in plan.steps] == [600, 3600]
    outside = tmp_path / "sub" / "escape.yaml"
    outside.write_text("name: esc\nsteps:\n  - include: ../main.yaml\n")
    with pytest.raises(P.ProtocolError) as err:
        P.load(outside)
    assert "relative path inside" in str(err.value)
    absolute = tmp_path / "abs.yaml"
    absolute.write_text("name: a\nsteps:\n  - include: /etc/passwd\n")
    with pytest.raises(P.ProtocolError):
        P.load(absolute)
    loop = tmp_path / "self.yaml"
    loop.write_text("name: s\nsteps:\n  - include: self.yaml\n")
    with pytest.raises(P.ProtocolError) as err:
        P.load(loop)
    assert "includes itself" in str(err.value)
    with pytest.raises(P.ProtocolError) as err:
        P.loads("name: s\nsteps:\n  - include: x.yaml\n")
    assert "loaded from a file" in str(err.value)
