"""The served app in the browser's language: a zh-CN browser gets Chinese labels, narration and
lesson; an en-US one English; the EN / 中文 switch changes every word on the page."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.conftest import SAMPLES
from tests.test_served import analyse_in_browser, browser_page, server  # noqa: F401  (the served app)


@pytest.mark.browser
def test_chinese_browser_gets_chinese_and_the_switch_turns_it_english(server):  # noqa: F811
    with browser_page(server, locale="zh-CN") as (page, errors):
        expect(page.locator("#analyze")).to_have_text("分析", timeout=30_000)
        expect(page.locator("button[data-tab-id=backbone]")).to_have_text("主干网络")
        expect(page.locator("button[data-tab-id=playground]")).to_have_text("实验场")
        expect(page.locator("#language")).to_contain_text("语言")
        analyse_in_browser(page, str(SAMPLES / "chelsea.png"))
        expect(page.locator("#status")).to_contain_text("分析尺寸", timeout=60_000)
        expect(page.locator("#shapes")).to_contain_text("感受野")
        page.locator("button[data-tab-id=fpn]").click()
        narration = page.locator("#fpn-narration")
        expect(narration).to_contain_text("第 0 步，共", timeout=120_000)
        expect(narration).to_contain_text("颈部网络的起点金字塔")  # step 0: the opening's maps, each named
        expect(narration).to_contain_text("C2 — 输入")
        expect(narration).to_contain_text("L5 — 横向连接")
        expect(page.locator("#fpn-run")).to_have_text("运行颈部网络")
        expect(page.locator("#fpn-jump-top-down")).to_have_text("跳到自上而下的融合")
        expect(page.locator("#fpn-every")).to_contain_text("显示每一步")
        page.locator("#fpn-lesson-mode").get_by_text("课程模式").click()
        lesson = page.locator("#fpn-lesson")
        expect(lesson).to_contain_text("看这里", timeout=30_000)
        page.locator("#fpn-next").click()
        expect(narration).to_contain_text("第 1 步，共", timeout=30_000)
        expect(lesson).to_contain_text("课程 · 第 1 步")
        page.locator("#language label", has_text="EN").click()
        expect(page.locator("#fpn-run")).to_have_text("Run neck", timeout=30_000)
        expect(page.locator("#fpn-jump-top-down")).to_have_text("Jump to the top-down merge")
        expect(page.locator("#fpn-every")).to_contain_text("Show every step")
        expect(narration).to_contain_text("Step 1 of", timeout=60_000)
        expect(lesson).to_contain_text("Look at:")
        expect(page.locator("#fpn-summary")).to_contain_text("Parameters:")
        expect(page.locator("#status")).to_contain_text("Analysed at")
        expect(page.locator("button[data-tab-id=backbone]")).to_have_text("Backbone")
    assert not errors, errors


@pytest.mark.browser
def test_english_browser_gets_english_and_the_switch_turns_it_chinese(server):  # noqa: F811
    with browser_page(server, locale="en-US") as (page, errors):
        expect(page.locator("#analyze")).to_have_text("Analyze", timeout=30_000)
        page.wait_for_timeout(1500)  # the page-load language event has run: still English
        expect(page.locator("#analyze")).to_have_text("Analyze")
        expect(page.locator("#status")).to_contain_text("Upload a picture")
        page.locator("#language label", has_text="中文").click()
        expect(page.locator("#analyze")).to_have_text("分析", timeout=30_000)
        expect(page.locator("#status")).to_contain_text("上传一张图片")
        expect(page.locator("button[data-tab-id=compare]")).to_have_text("对比")
        page.locator("button[data-tab-id=playground]").click()
        expect(page.locator("#playground-cells")).to_contain_text("输入 A", timeout=30_000)
        expect(page.locator("#playground-status")).to_contain_text("有效")
        page.locator("#analyze").click()  # no picture: the error speaks Chinese too
        expect(page.get_by_text("请先选择图片")).to_be_visible(timeout=30_000)
    assert not errors, errors
