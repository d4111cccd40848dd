"""What does this cell see? A point of the picture names the cell whose centre is nearest on every
level; the boxes drawn are the topology's receptive fields through each path; the effective
receptive field peaks inside them; maps without cells say so; and the click works through the app."""
from __future__ import annotations

import math

import gradio as gr
import numpy as np
import pytest
from matplotlib.patches import Rectangle

import app
from necklab.graph import receptive_field as rfm
from necklab.lab.analysis import (
    Analysis,
    analyse,
    base_receptive_fields,
    keep_analysis,
    keep_picture,
    shared_analysis,
)
from necklab.lab.cell import (
    Field,
    NoCells,
    activation,
    cell_centre,
    cell_fields,
    cell_nodes,
    cell_under,
    chosen_fields,
    has_cells,
)
from necklab.lab.erf import cell_at, cell_erf
from necklab.lab.imaging import Picture
from necklab.ui import cell_view
from necklab.ui.neck_tab import run_neck
from necklab.viz.cell import (
    CELL_PANELS,
    MAX_PATHS,
    CellPanel,
    add_cell_panel,
    cell_figure,
    original_box,
    picker_image,
    picker_point,
    picker_zoom,
)
from necklab.widgets.session import Session, SessionBox
from tests.conftest import SAMPLES, sent_images
from tests.test_zoo import resized


@pytest.fixture(scope="module")
def odd_fpn() -> Analysis:
    # An odd-sized picture: FPN's P2…P6 have strides 4…64 and odd map sizes (P6 is 4×6).
    return analyse(resized("chelsea.png", 333, 211), "fpn")


def nearest_by_search(analysis: Analysis, node: str, x: float, y: float) -> tuple[int, int]:
    """The cell whose centre is nearest to (x, y) in analysed pixels, found by trying every cell."""
    grid = analysis.grid(analysis.topology.node(node).level)
    rows, cols = analysis.trace[node].shape[-2:]
    i = min(range(rows), key=lambda r: abs(grid.start_y + r * grid.jump - y))
    j = min(range(cols), key=lambda c: abs(grid.start_x + c * grid.jump - x))
    return i, j


def test_a_point_names_the_nearest_cell_on_every_level(odd_fpn) -> None:
    rng = np.random.default_rng(0)
    w, h = odd_fpn.picture.size
    strides = {}
    for node in ("P2", "P3", "P4", "P5", "P6"):
        level = odd_fpn.topology.node(node).level
        strides[2 ** level] = tuple(odd_fpn.trace[node].shape[-2:])
        grid = odd_fpn.grid(level)
        rows, cols = odd_fpn.trace[node].shape[-2:]
        # every cell's centre names that cell, and so does a point a third of a cell off it
        for i, j in [(0, 0), (rows - 1, cols - 1), (rows // 2, cols // 3), (rows - 1, 0)]:
            x, y = cell_centre(odd_fpn, node, (i, j))
            assert (x, y) == (grid.start_x + j * grid.jump, grid.start_y + i * grid.jump)
            assert cell_under(odd_fpn, node, x, y) == (i, j)
            assert cell_under(odd_fpn, node, x + grid.jump / 3, y - grid.jump / 3) == (i, j)
        # any point of the picture: the cell an exhaustive search finds nearest
        for x, y in rng.uniform((-0.5, -0.5), (w - 0.5, h - 0.5), size=(40, 2)):
            assert cell_under(odd_fpn, node, x, y) == nearest_by_search(odd_fpn, node, x, y), (node, x, y)
    assert sorted(strides) == [4, 8, 16, 32, 64]
    assert any(r % 2 and c % 2 for r, c in strides.values())  # odd map sizes among them


def test_the_picture_to_click_lines_up_with_the_cells(odd_fpn) -> None:
    """A click at a pixel of the picture to click names the cell the picture outlines there, also
    where a small picture is enlarged for clicking."""
    small = analyse(resized("chelsea.png", 97, 61), "fpn")
    assert picker_zoom(small.picture) == 4 and picker_zoom(odd_fpn.picture) == 1
    for analysis, node, cell in [(odd_fpn, "P3", (7, 11)), (odd_fpn, "P6", (3, 5)), (small, "P4", (2, 3)),
                                 (small, "P2", (0, 24))]:
        plain, marked = picker_image(analysis, node), picker_image(analysis, node, cell)
        zoom = picker_zoom(analysis.picture)
        assert plain.shape == (analysis.picture.size[1] * zoom, analysis.picture.size[0] * zoom, 3)
        ys, xs = np.nonzero((plain != marked).any(axis=-1))  # the outline drawn around the cell
        for py, px in [(ys.min() + 4, xs.min() + 4), (ys.max() - 4, xs.max() - 4), (ys.mean(), xs.mean())]:
            x, y = picker_point(analysis.picture, float(px), float(py))
            assert cell_under(analysis, node, x, y) == cell, (node, cell, px, py)


def test_the_aspp_click_and_the_cell_view_name_the_same_cell() -> None:
    rgb = np.asarray(resized("chelsea.png", 160, 107).rgb)
    analysis = analyse(Picture(rgb, (320, 214), "PNG", 1), "aspp")  # shown at twice its analysed size
    for x, y in [(0, 0), (319, 213), (100, 50), (250, 170)]:
        u_x, u_y = (x + 0.5) * 0.5 - 0.5, (y + 0.5) * 0.5 - 0.5
        assert cell_at(analysis, 5, x, y) == cell_under(analysis, "project", u_x, u_y)


def test_the_boxes_are_the_topologys_receptive_fields(chelsea) -> None:
    analysis = analyse(chelsea, "pafpn")
    cell = (5, 9)
    fields = cell_fields(analysis, "N4", cell)
    expected = analysis.topology.receptive_fields(base_receptive_fields(analysis))["N4"]
    assert [f.path for f in fields] == [p.path for p in expected]
    assert [f.size for f in fields] == [p.rf.size for p in expected]
    assert [f.y for f in fields] == [p.rf.centre(cell[0]) for p in expected]
    base_x = {name: rfm.RF(rf.size, rf.jump, analysis.backbone.grids[name].start_x)
              for name, rf in base_receptive_fields(analysis).items()}
    across = {p.path: p.rf for p in analysis.topology.receptive_fields(base_x)["N4"]}
    assert [f.x for f in fields] == [across[f.path].centre(cell[1]) for f in fields]

    erf = np.random.default_rng(0).random(analysis.picture.rgb.shape[:2])
    fig = cell_figure(analysis, "N4", cell, fields, erf, activation(analysis, "N4", cell))
    drawn = sorted((p for p in fig.axes[0].patches if isinstance(p, Rectangle) and (p.get_gid() or "").startswith(
        "field-")), key=lambda p: int(p.get_gid().split("-")[1]))
    shown = chosen_fields(fields, MAX_PATHS)
    assert len(drawn) == len(shown) == min(len(fields), MAX_PATHS)
    for patch, field in zip(drawn, shown):
        x0, y0, x1, y1 = original_box(analysis.picture, field)
        assert patch.get_xy() == pytest.approx((x0, y0)) and patch.get_width() == pytest.approx(x1 - x0)
        assert patch.get_height() == pytest.approx(y1 - y0)
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    for field in shown:
        assert any(f"{field.size:,.0f}×{field.size:,.0f} px" in text for text in legend), field
    assert fig._suptitle is not None and "What does cell (5, 9) of N4 see?" in fig._suptitle.get_text()
    assert "px" in fig.axes[0].get_xlabel()


def test_a_few_paths_of_many_are_chosen_one_per_size() -> None:
    fields = [Field(("C3", "a", "x"), 10.0, 0, 0), Field(("C4", "x"), 10.0, 0, 0)] + \
        [Field((f"C{3 + k % 3}", "b" * k, "x"), 20.0 + k, 0, 0) for k in range(30)] + \
        [Field(("C5", "gp", "x"), math.inf, 0, 0)]
    chosen = chosen_fields(fields, 8)
    assert len(chosen) == 8 and len({f.size for f in chosen}) == 8
    assert chosen[0].size == 10.0 and chosen[0].path == ("C3", "a", "x") and chosen[-1].whole
    assert [f.size for f in chosen] == sorted(f.size for f in chosen)
    assert chosen_fields(fields[:5], 8) == fields[:5]
    few = fields[:2] + [Field(("C5", "x"), 30.0, 0, 0)] * 0 + [Field((f"C{k}", "y", "x"), 30.0, k, 0) for k in range(8)]
    kept = chosen_fields(few, 8)  # 10 paths of 2 sizes: both sizes, then the next paths in order
    assert kept == few[:8] and {f.size for f in kept} == {10.0, 30.0}


def test_the_effective_field_peaks_inside_the_theoretical_one() -> None:
    analysis = shared_analysis(resized("chelsea.png", 320, 213), "pafpn")
    h, w = analysis.picture.rgb.shape[:2]
    for node, cell in [("N4", (3, 12)), ("P3", (20, 4))]:
        erf = cell_erf(analysis, node, cell)
        assert erf.shape == (h, w) and erf.max() > 0
        py, px = np.unravel_index(int(erf.argmax()), erf.shape)
        fields = cell_fields(analysis, node, cell)
        assert any(f.contains(float(px), float(py), w, h) for f in fields), (node, px, py)
        # no gradient reaches beyond the widest field (none of PANet's paths pools globally)
        left, top, right, bottom = fields[-1].box(w, h)
        ys, xs = np.indices(erf.shape)
        outside = (xs < left - 1) | (xs > right + 1) | (ys < top - 1) | (ys > bottom + 1)
        assert erf[outside].sum() <= 1e-6 * erf.sum()
    assert cell_erf(analysis, "N4", (3, 12)) is cell_erf(analysis, "N4", (3, 12))  # kept by recipe


def test_spp_nets_pooled_maps_have_no_cells(chelsea) -> None:
    analysis = analyse(chelsea, "spp")
    assert cell_nodes(analysis) == ["C5"]
    assert not has_cells(analysis, "vector") and not has_cells(analysis, "bins4")
    with pytest.raises(NoCells):
        cell_fields(analysis, "vector", (0, 0))
    session = Session(lang="en")
    steps = [k for k in range(len(analysis.topology.order))
             if cell_view.step_node(analysis, k, every=True) == "vector"]
    shown = cell_view.follow(session, analysis, steps[0], every=True)
    assert shown.picker is None and "pooled vector of 6,720 values" in shown.note and "no cells" in shown.note
    bins = cell_view.pick(session, analysis, "bins4")
    assert bins.picker is None and "4×4 grid of pooled bins" in bins.note
    evt = gr.SelectData(target=None, data={"index": [10, 10], "value": None})
    with pytest.raises(gr.Error, match="no cells"):
        cell_view.click(session, analysis, "vector", evt)
    assert cell_view.pick(session, analysis, "C5").picker.ndim == 3
    for index in ([float("nan"), 3], ["left", 2], None):  # what only an API client sends
        with pytest.raises(gr.Error, match="A number was expected"):
            cell_view.click(session, analysis, "C5", gr.SelectData(target=None, data={"index": index, "value": None}))


def test_an_extra_panel_takes_its_place_in_the_figure(chelsea) -> None:
    analysis = analyse(chelsea, "fpn", weights="fresh")  # no head: no registered maker has a panel
    erf = np.ones(analysis.picture.rgb.shape[:2])
    fields = cell_fields(analysis, "P4", (3, 3))
    act = activation(analysis, "P4", (3, 3))
    plain = cell_figure(analysis, "P4", (3, 3), fields, erf, act)
    assert "Detection response" in plain._suptitle.get_text() and len(plain.axes) == 4  # 3 panels + colour bar

    def response(analysis, node, cell, lang):
        return CellPanel("detector at the cell", lambda ax: ax.plot([10], [10], "o"))

    add_cell_panel(response)
    try:
        fig = cell_figure(analysis, "P4", (3, 3), fields, erf, act)
    finally:
        CELL_PANELS.remove(response)
    assert "Detection response" not in fig._suptitle.get_text()
    assert "detector at the cell" in [ax.get_title() for ax in fig.axes]


@pytest.fixture(scope="module")
def built():
    return app.build_app()


def endpoint(demo, name: str):
    return next(fn.fn for fn in demo.fns.values() if fn.api_name == name)


@pytest.mark.parametrize("title, node", [("FPN", "P3"), ("PANet", "N4"), ("ASPP", "project")])
def test_a_click_through_the_app(built, chelsea, title, node) -> None:
    """The tab's click event as Gradio calls it: the session's box, the tab's state (an AnalysisRef),
    the map chosen and the click; out come the figure, its words and the click kept by key."""
    session = Session(picture=keep_picture(chelsea), device="cpu", tab=title.lower())
    specs = app.tab_groups()[title]
    defaults = [str(c.default) if c.kind == "choice" else ", ".join(map(str, c.default)) if c.kind == "ints"
                else c.default for s in specs for c in s.controls]
    analysis = run_neck(specs, session, specs[0].title, *defaults).analysis
    ref = keep_analysis(analysis)
    x, y = cell_centre(analysis, node, (2, 3))
    evt = gr.SelectData(target=None, data={"index": [round(x), round(y)], "value": None})
    key = title.lower().replace("-", "_")
    updates = endpoint(built, f"{key}_cell")(SessionBox(session), ref, node, evt)
    clicked = next(v for v in updates.values() if isinstance(v, cell_view.Clicked))
    assert clicked == cell_view.Clicked(ref.key, node, (2, 3))
    images = sent_images(updates)
    assert len(images) == 2 and all(img.ndim == 3 and img.std() > 5 for img in images)
    assert any(isinstance(v, str) and f"What does cell (2, 3) of {node} see?" in v for v in updates.values())
    # in Chinese, the same click is drawn again from what the session kept (no second backward pass)
    redrawn = cell_view.redraw(Session(lang="zh"), analysis, 0, False, clicked)
    assert redrawn.clicked == clicked and f"{node} 的格子 (2, 3) 看到了什么" in redrawn.note
    # a new analysis forgets the click
    fresh = cell_view.redraw(session, analyse(resized("chelsea.png", 160, 107), analysis.neck_name), 0, False,
                             clicked)
    assert fresh.clicked is None and fresh.figure is None and "Click a cell of" in fresh.note


def test_the_dropdown_follows_the_step(chelsea) -> None:
    analysis = analyse(chelsea, "pafpn")
    session = Session()
    opening = cell_view.follow(session, analysis, 0)
    assert opening.node.value == "C2" and opening.picker.ndim == 3  # the opening's first map
    k = analysis.topology.order.index("N4")
    shown = cell_view.follow(session, analysis, k, every=True)
    assert shown.node.value == "N4" and "`N4` (19×29 cells, stride 16)" in shown.note
    assert cell_view.follow(session, None, 3) is None


@pytest.mark.browser
def test_browser_clicking_a_cell_of_a_map_shows_what_it_sees(tmp_path):
    from playwright.sync_api import expect

    from necklab.ui.fair_queue import serve_fairly
    from tests.test_served import analyse_in_browser, browser_page, free_port

    demo = serve_fairly(app.build_app())
    settings = app.launch_settings("127.0.0.1", free_port())
    demo.launch(prevent_thread_lock=True, quiet=True, **settings)
    try:
        with browser_page(f"http://127.0.0.1:{settings['server_port']}/") as (page, errors):
            analyse_in_browser(page, str(SAMPLES / "chelsea.png"))
            page.locator("button[data-tab-id=fpn]").click()
            expect(page.locator("#fpn-narration")).to_contain_text("Step 0 of", timeout=120_000)
            page.locator("#fpn-next").click()  # step 1: the neck's first node
            expect(page.locator("#fpn-narration")).to_contain_text("Step 1 of", timeout=30_000)
            page.locator("#fpn-cell").get_by_text("What does this cell see?").first.click()
            picture = page.locator("#fpn-cell-pick img").first
            picture.wait_for(state="visible", timeout=30_000)
            expect(page.locator("#fpn-cell-note")).to_contain_text("Click a cell of", timeout=30_000)
            box = picture.bounding_box()
            picture.click(position={"x": box["width"] * 0.6, "y": box["height"] * 0.4})
            expect(page.locator("#fpn-cell-note")).to_contain_text("What does cell", timeout=120_000)
            page.locator("#fpn-cell-figure img").first.wait_for(state="attached", timeout=30_000)
            page.screenshot(path=str(tmp_path / "cell.png"), full_page=True)
        assert not errors, errors
    finally:
        demo.close()
