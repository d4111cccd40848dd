"""A neck that is not in the package: the proof that a neck is a plugin. Its file holds the model,
its spec, its lesson and its words; registering them is all it takes to appear everywhere."""
from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from necklab.graph.receptive_field import conv, up
from necklab.graph.topology import Edge, Node, Op, Step, Topology, input_nodes
from necklab.graph.trace import record
from necklab.lab.analysis import Analysis
from necklab.lessons.base import Lesson, LessonFigure
from necklab.models.layers import Neck, conv_block, upsample_to
from necklab.models.spec import Control, NeckSpec
from necklab.viz.panet import outputs_figure


class ToyNeck(Neck):
    """C4 and C5 brought to `out_channels` by 1×1 convs, the coarser one upsampled and added."""

    def __init__(self, in_channels: Sequence[int] = (112, 320), out_channels: int = 32) -> None:
        super().__init__()
        self.lateral4 = conv_block(in_channels[0], out_channels, 1)
        self.lateral5 = conv_block(in_channels[1], out_channels, 1)
        self.topology = Topology("toy", tuple(input_nodes(["C4", "C5"], [4, 5]) + [
            Node("L4", Op.LATERAL, (Edge("C4", (Step.conv(1),), (conv(1),)),), 4),
            Node("L5", Op.LATERAL, (Edge("C5", (Step.conv(1),), (conv(1),)),), 5),
            Node("T4", Op.ADD, (Edge("L4"), Edge("L5", (Step.up(),), (up(2),))), 4),
        ]), ("T4", "L5"))

    def forward(self, feats: Sequence[Tensor]) -> list[Tensor]:
        c4, c5 = (record(name, x) for name, x in zip(("C4", "C5"), feats))
        l4 = record("L4", self.lateral4(c4))
        l5 = record("L5", self.lateral5(c5))
        return [record("T4", l4 + upsample_to(l5, l4.shape[-2:])), l5]


SPEC = NeckSpec("toy", "Toy neck", ToyNeck, "A test's own neck", "tests/toy_neck.py",
                dict(in_channels=(112, 320), out_channels=32), 112 * 32 + 32 + 320 * 32 + 32,
                controls=(Control("out_channels", "output_channels", "int", 32, minimum=16, maximum=64, step=16),))


def toy_figures(analysis: Analysis, lang: str = "en") -> list[LessonFigure]:
    return [LessonFigure("toy-outputs", "The toy's outputs on the picture",
                         lambda: outputs_figure([analysis], ["Toy"], lang))]


def toy_panel(tab) -> None:
    import gradio as gr

    gr.Markdown("The toy lesson", elem_id="toy-lesson-panel")


LESSON = Lesson("toy", toy_figures, toy_panel)
WORDS = {"en": {"lesson.idea.toy": "A toy adds an upsampled coarse level to a finer one."},
         "zh": {"lesson.idea.toy": "玩具颈部把上采样的粗层级加到细层级上。"}}
