"""Figure packs: the CLI run as a subprocess writes a pack whose ZIP holds every figure as a 300 dpi
PNG and a valid SVG, the shapes of the trace as CSV and JSON, and a lesson.md that references every
figure; the README's API example runs; packs stay bounded for necks that repeat stages."""
from __future__ import annotations

import csv
import io
import json
import re
import struct
import subprocess
import sys
import zipfile
from pathlib import Path
from xml.etree import ElementTree

import pytest

from necklab.api import analyse_picture, neck_config, resolve_neck
from necklab.lab.analysis import analyse
from necklab.lessons import lesson_figures
from necklab.lessons.base import step_nodes
from necklab.models.registry import NECKS
from necklab.viz.step import NODE_TABLE_HEADERS
from tests.conftest import SAMPLES

ROOT = Path(__file__).resolve().parent.parent
INCH = 0.0254


def png_dpi(data: bytes) -> tuple[float, float]:
    """The resolution a PNG states in its pHYs chunk, in dots per inch."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos = 8
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"pHYs":
            x, y, unit = struct.unpack(">IIB", data[pos + 8:pos + 17])
            assert unit == 1  # pixels per metre
            return x * INCH, y * INCH
        pos += 12 + length
    raise AssertionError("no pHYs chunk")


@pytest.fixture(scope="module")
def cli_pack(tmp_path_factory):
    """SPP-net with two pyramid levels, written by the CLI exactly as a teacher would run it."""
    out = tmp_path_factory.mktemp("pack") / "spp-lesson"
    (out / "figures").mkdir(parents=True)
    (out / "figures" / "step-009-stale.png").write_bytes(b"left by an earlier pack")  # must not be zipped
    run = subprocess.run([sys.executable, "-m", "necklab.cli.render", str(SAMPLES / "chelsea.png"), "--neck", "SPP-net",
                          "--out", str(out), "--config", "levels=1,3", "pool=avg", "--zip"],
                         cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == str(out)
    assert "Packing the ZIP" in run.stderr
    return out


@pytest.mark.slow
def test_the_cli_pack_zip_holds_every_figure_shape_and_the_lesson(cli_pack, chelsea):
    analysis = analyse(chelsea, "spp", {"levels": (1, 3), "pool": "avg"})
    expected = {f.name for f in lesson_figures(analysis)}
    with zipfile.ZipFile(cli_pack / "lesson.zip") as z:
        names = set(z.namelist())
        figures = {Path(n).stem for n in names if n.startswith("figures/")}
        assert figures == expected
        for name in expected:
            assert png_dpi(z.read(f"figures/{name}.png")) == pytest.approx((300, 300), abs=0.01)
            root = ElementTree.fromstring(z.read(f"figures/{name}.svg"))
            assert root.tag == "{http://www.w3.org/2000/svg}svg"
        rows = list(csv.reader(io.StringIO(z.read("shapes.csv").decode())))
        records = json.loads(z.read("shapes.json"))
        lesson = z.read("lesson.md").decode()
        assert "picture.png" in names
    order = analysis.topology.order
    assert rows[0] == NODE_TABLE_HEADERS
    assert [r[1] for r in rows[1:]] == order == [r["node"] for r in records]
    for row, record, node in zip(rows[1:], records, order):
        shape = list(analysis.trace[node].shape[1:])
        assert record["shape"] == shape
        assert [int(v) for v in row[5:8]] == (shape + [1, 1])[:3]
    assert records[-1]["shape"] == [320 * (1 + 9)]  # avg bins of 1×1 and 3×3 over C5's 320 channels
    referenced = set(re.findall(r"\]\((figures/[^)]+)\)", lesson))
    assert referenced == {f"figures/{n}.{ext}" for n in expected for ext in ("png", "svg")}
    assert "Step 3 of 3" in lesson and "SPP-net" in lesson and "levels=(1, 3)" in lesson


@pytest.mark.slow
def test_cli_names_what_is_wrong(tmp_path):
    def fails(*args: str) -> str:
        run = subprocess.run([sys.executable, "-m", "necklab.cli.render", *args, "--out", str(tmp_path / "x")],
                             cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert run.returncode == 2
        return run.stderr

    assert "choose one of: spp, yolo_spp" in fails(str(SAMPLES / "chelsea.png"), "--neck", "pafnp")
    assert "no such file" in fails(str(tmp_path / "missing.png"), "--neck", "fpn")
    assert "not a picture" in fails(str(ROOT / "README.md"), "--neck", "fpn")
    assert "from 16 to 256" in fails(str(SAMPLES / "chelsea.png"), "--neck", "fpn", "--config", "out_channels=7")
    assert "has no setting 'width'" in fails(str(SAMPLES / "chelsea.png"), "--neck", "fpn", "--config", "width=64")
    assert not (tmp_path / "x").exists()


def test_neck_names_and_settings_as_text():
    assert resolve_neck("PAFPN") == resolve_neck("PANet (PAFPN)") == "pafpn"
    assert neck_config("aspp", {"atrous_rates": "6, 12", "out_channels": "64"}) == \
        {"atrous_rates": (6, 12), "out_channels": 64}
    assert neck_config("fpn", {"add_extra_convs": "on_input"}) == {"add_extra_convs": "on_input"}
    with pytest.raises(ValueError, match="distinct"):
        neck_config("aspp", {"atrous_rates": "6,6"})


def test_repeated_stages_are_packed_once():
    picture = analyse_picture(SAMPLES / "chelsea.png", "nasfpn", {"stack_times": 3}).analysis
    steps = step_nodes(picture)
    stages = {picture.topology.node(n).stage for n in steps}
    assert stages == {None, 1}
    assert len(steps) == 4 + 3 + 2 + 9  # inputs, laterals, extras, one stage of nine cells
    names = [f.name for f in lesson_figures(picture)]
    assert sum(n.startswith("nasfpn-cell-") for n in names) == 9


def readme_block(title: str) -> str:
    text = (ROOT / "README.md").read_text()
    return re.search(rf"{title}\n\n```(?:python|bash)\n(.*?)```", text, re.S).group(1)


@pytest.mark.slow
def test_the_readme_api_example_runs(tmp_path, monkeypatch):
    code = readme_block("From Python").replace('"out/', f'"{tmp_path}/')
    monkeypatch.chdir(ROOT)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    lab = scope["lab"]
    assert lab.shapes()[8]["node"] == "T4" and lab.shapes()[8]["shape"] == [64, 19, 29]
    assert "64×19×29" in lab.explain("N4")
    pack = next(tmp_path.iterdir())
    assert (pack / "lesson.zip").is_file() and (pack / "figures" / "panet-paths.png").is_file()


def test_the_readme_cli_example_is_the_cli():
    line = readme_block("From the command line").strip().splitlines()[0]
    assert line.startswith("necklab render assets/samples/") and "--neck pafpn" in line


@pytest.mark.parametrize("name", list(NECKS))
def test_every_necks_lesson_lists_its_figures(chelsea, name):
    """Listing a lesson's figures (what Export, the CLI and the API draw from) works for every neck
    in both languages, with a caption for each."""
    analysis = analyse(chelsea, name)
    for lang in ("en", "zh"):
        figures = lesson_figures(analysis, steps=[], lang=lang)
        assert figures[0].name == "graph" and all(f.caption for f in figures)
        assert len({f.name for f in figures}) == len(figures)
