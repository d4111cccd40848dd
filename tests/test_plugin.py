"""A neck is a plugin: the toy neck of tests/toy_neck.py, registered with its lesson and words and
nothing else, appears in the app's tabs, Compare, the quiz, the figure pack and the Python API."""
from __future__ import annotations

import json
import zipfile

import pytest

from necklab import i18n, lessons
from necklab.api import analyse_picture
from necklab.lab.analysis import analyse
from necklab.lab.compare import compare_zoo
from necklab.lab.imaging import decode
from necklab.lab.shape_rules import check, question
from necklab.models import registry
from necklab.pack.write import write_pack
from tests import toy_neck
from tests.conftest import SAMPLES

PICTURE = SAMPLES / "chelsea.png"


@pytest.fixture(scope="module")
def toy():
    registry.register(toy_neck.SPEC)
    lessons.register(toy_neck.LESSON)
    for lang, words in toy_neck.WORDS.items():
        i18n.add_words(lang, words)
    yield toy_neck.SPEC
    registry.unregister("toy")
    lessons.unregister("toy")
    for lang, words in toy_neck.WORDS.items():
        i18n.remove_words(lang, list(words))


def test_it_is_in_the_registry_with_its_reference_count(toy):
    neck = registry.build_neck("toy")
    assert registry.neck_parameters(neck) == toy.reference_params
    assert list(registry.NECKS)[-1] == "toy"  # registered last, shown last


def test_the_app_gives_it_a_tab_with_its_lesson_panel(toy):
    import app

    assert [s.name for s in app.tab_groups()["Toy neck"]] == ["toy"]
    demo = app.build_app()
    ids = {getattr(block, "elem_id", None) for block in demo.blocks.values()}
    assert {"toy-neck-run", "toy-neck-graph", "toy-neck-quiz-answer", "toy-lesson-panel"} <= ids


@pytest.mark.slow
def test_compare_measures_it(toy):
    rows = {row.name: row for row in compare_zoo(decode(PICTURE))}
    assert rows["toy"].params == toy.reference_params and not rows["toy"].error


def test_the_quiz_asks_and_explains_its_nodes(toy):
    analysis = analyse(decode(PICTURE), "toy")
    c, h, w = analysis.trace["T4"].shape[1:]
    assert "T4" in question(analysis, "T4")
    assert check(analysis, "T4", f"{c}x{h}x{w}").right
    wrong = check(analysis, "T4", f"{c}x{h + 1}x{w}")
    assert not wrong.right and wrong.explanation


@pytest.mark.slow
def test_its_pack_holds_the_graph_the_steps_and_its_lesson_figure(toy, tmp_path):
    analysis = analyse(decode(PICTURE), "toy")
    folder = write_pack(analysis, tmp_path / "pack", zip=True)
    names = set(zipfile.ZipFile(folder / "lesson.zip").namelist())
    assert {"figures/graph.png", "figures/toy-outputs.png", "shapes.json", "lesson.md"} <= names
    shapes = json.loads((folder / "shapes.json").read_text())
    assert [row["node"] for row in shapes] == ["C4", "C5", "L4", "L5", "T4"]
    markdown = (folder / "lesson.md").read_text()
    assert "Toy neck" in markdown and "figures/toy-outputs.png" in markdown


def test_the_api_runs_it_in_both_languages(toy):
    lab = analyse_picture(PICTURE, "toy")
    assert [row["node"] for row in lab.shapes()] == ["C4", "C5", "L4", "L5", "T4"]
    assert lab.step(4).narration
