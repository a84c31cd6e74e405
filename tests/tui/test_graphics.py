"""Images in the terminal: the mode choice, the kitty and sixel byte framing, and the
half-block renderer carrying pixel colours to the screen."""

from __future__ import annotations

import base64
import re

import pytest
from PIL import Image

from aetui.errors import UserError
from aetui.tui.graphics import choose, halfblock, kitty, sixel

from .helpers import drive, make_app, settle

RED, BLUE = (220, 20, 30), (10, 40, 230)


@pytest.mark.parametrize("env, expected", [
    ({"TERM": "xterm-256color"}, "halfblock"),
    ({"TERM": "xterm-kitty"}, "kitty"),
    ({"TERM": "xterm-256color", "KITTY_WINDOW_ID": "1"}, "kitty"),
    ({"TERM": "xterm-256color", "TERM_PROGRAM": "WezTerm"}, "kitty"),
    ({"TERM": "foot"}, "sixel"),
    ({"TERM": "xterm-256color", "TERM_PROGRAM": "iTerm.app"}, "sixel"),
    ({"TERM": "xterm-kitty", "TMUX": "/tmp/tmux-0/default,1,0"}, "halfblock"),
    ({"TERM": "screen-256color", "KITTY_WINDOW_ID": "1"}, "halfblock"),
    ({"TERM": "tmux-256color"}, "halfblock"),
    ({}, "halfblock"),
])
def test_auto_choice_from_environment(env, expected):
    assert choose(None, env) == expected
    assert choose("auto", env) == expected


def test_explicit_choice_wins_and_bad_names_are_user_errors():
    assert choose("sixel", {"TMUX": "x"}) == "sixel"
    assert choose(None, {"AETUI_GRAPHICS": "kitty", "TERM": "dumb"}) == "kitty"
    with pytest.raises(UserError, match="unknown graphics mode"):
        choose("png", {})


def two_colour(w=8, h=8) -> Image.Image:
    """Top half red, bottom half blue."""
    im = Image.new("RGB", (w, h), RED)
    im.paste(BLUE, (0, h // 2, w, h))
    return im


def test_kitty_framing_chunks_base64_png_in_apc_escapes():
    png = bytes(range(256)) * 40  # 10 KiB -> 13,656 base64 characters: four chunks
    out = kitty.transmit(png, cols=10, rows=5, image_id=7)
    frames = re.findall(r"\x1b_G([^;]*);([^\x1b]*)\x1b\\", out)
    assert "".join(f"\x1b_G{k};{p}\x1b\\" for k, p in frames) == out  # nothing outside the escapes
    assert len(frames) == 4
    first_keys = dict(kv.split("=") for kv in frames[0][0].split(","))
    assert first_keys["a"] == "T" and first_keys["f"] == "100" and first_keys["i"] == "7"
    assert first_keys["c"] == "10" and first_keys["r"] == "5" and first_keys["q"] == "2"
    assert [k for k, _ in frames][1:] == ["m=1", "m=1", "m=0"] and first_keys["m"] == "1"
    assert all(len(p) <= kitty.CHUNK for _, p in frames)
    assert base64.standard_b64decode("".join(p for _, p in frames)) == png
    assert kitty.delete(7) == "\x1b_Ga=d,d=I,i=7,q=2\x1b\\"


def test_sixel_framing_palette_and_bands():
    im = two_colour(10, 14)  # 14 rows: three bands of six (the last one partial)
    out = sixel.encode(im)
    assert out.startswith("\x1bPq") and out.endswith("\x1b\\")
    body = out[3:-2]
    assert body.startswith('"1;1;10;14')  # raster attributes: aspect 1:1, 10 x 14 pixels
    colours = re.findall(r"#(\d+);2;(\d+);(\d+);(\d+)", body)
    assert len(colours) == 2
    rgb = {(int(r), int(g), int(b)) for _, r, g, b in colours}
    assert rgb == {tuple(round(c * 100 / 255) for c in RED), tuple(round(c * 100 / 255) for c in BLUE)}
    bands = body.split("-")
    assert bands[-1] == "" and len(bands) - 1 == 3  # one '-' after each band
    data = re.sub(r"#\d+;2;\d+;\d+;\d+", "", body)
    assert set(data) <= set("#$-!0123456789" + "".join(chr(c) for c in range(63, 127)) + '"1;')
    # the first band is all red: one colour line of 10 full sixels ('~' = all six bits), run-length encoded
    first_band = bands[0].split("#")[-1]
    assert first_band.endswith("!10~")


def test_sixel_quantizes_to_at_most_256_colours():
    im = Image.effect_mandelbrot((64, 48), (-2, -1.2, 1, 1.2), 100).convert("RGB")
    im = Image.merge("RGB", (im.split()[0], im.split()[0].transpose(Image.Transpose.FLIP_LEFT_RIGHT),
                             im.split()[0].rotate(90, expand=False)))
    out = sixel.encode(im)
    assert 2 <= len(re.findall(r"#\d+;2;", out)) <= 256


def test_halfblock_segments_carry_top_and_bottom_pixels():
    strips = halfblock.strips(two_colour(8, 8), cols=8, rows=4)
    assert len(strips) == 4
    for row, strip in enumerate(strips):
        segs = [s for s in strip if s.text.strip()]
        assert segs and all(set(s.text) == {halfblock.UPPER_HALF} for s in segs)
        want = RED if row < 2 else BLUE
        assert {s.style.color.triplet for s in segs} == {want}
        assert {s.style.bgcolor.triplet for s in segs} == {want}
        assert strip.cell_length == 8


def test_halfblock_keeps_aspect_and_centres():
    wide = Image.new("RGB", (40, 10), RED)
    strips = halfblock.strips(wide, cols=20, rows=10)
    painted = [i for i, s in enumerate(strips) if any(seg.text.strip() for seg in s)]
    # 40x10 into 20 cells wide -> 20x5 pixels -> 3 rows of cells, centred vertically
    assert len(painted) == 3 and painted[0] == (10 - 3) // 2
    assert halfblock.fit((40, 10), 20, 10) == (20, 5)
    assert halfblock.fit((10, 40), 20, 10) == (5, 20)


def test_image_view_puts_the_pixels_colours_on_screen(tmp_path):
    """A 2-colour PNG through the real widget in the real app: the screen's segments
    have the red and blue of the picture as foreground and background."""
    from aetui.home import Home
    from aetui.tui.widgets.image_view import ImageView

    path = tmp_path / "two.png"
    two_colour(16, 16).save(path)
    app = make_app(Home(tmp_path / "home"))

    async def scenario(pilot):
        view = ImageView(path, id="probe-view")
        await pilot.app.screen.mount(view, before=0)
        view.styles.height = 8
        view.styles.width = 16
        await settle(pilot)
        assert view.image is not None
        region = view.region
        lines = pilot.app.screen._compositor.render_strips()
        seen_fg, seen_bg = set(), set()
        for y in range(region.y, region.bottom):
            x = 0
            for seg in lines[y]:
                width = len(seg.text)
                if seg.text == halfblock.UPPER_HALF * width and region.x <= x < region.right:
                    seen_fg.add(seg.style.color.triplet)
                    seen_bg.add(seg.style.bgcolor.triplet)
                x += width
        assert seen_fg == {RED, BLUE} and seen_bg == {RED, BLUE}
        svg = pilot.app.export_screenshot()
        assert "#dc141e" in svg.lower() and "#0a28e6" in svg.lower()

    drive(app, scenario)


@pytest.mark.slow  # over 1.5 s on 2 idle cores: not in the quick loop
def test_kitty_mode_emits_the_picture_and_removes_it_on_leaving(seeded):
    """In kitty mode the run screen's picture goes to the terminal as APC escapes at the
    image's cells, and is deleted when another screen takes over."""
    from aetui.tui.screens.run import RunScreen

    from .helpers import select_job, until

    home, ids = seeded
    app = make_app(home, graphics="kitty")
    written: list[str] = []

    async def scenario(pilot):
        pilot.app._driver.write = written.append  # the headless driver drops output: keep it
        await select_job(pilot, ids["done"])
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(pilot.app.screen, RunScreen)
                    and pilot.app.screen.query_one("#run-image").image is not None, what="picture")
        await until(pilot, lambda: any("a=T,f=100" in w for w in written), what="kitty transmit")
        view = pilot.app.screen.query_one("#run-image")
        out = "".join(written)
        left, top, cols, rows = view._cells()
        assert f"\x1b[{top + 1};{left + 1}H\x1b_Ga=T,f=100" in out and f"c={cols},r={rows}" in out
        written.clear()
        await pilot.press("escape")
        await settle(pilot)
        assert f"\x1b_Ga=d,d=I,i={view._kitty_id},q=2\x1b\\" in "".join(written)

    drive(app, scenario)
