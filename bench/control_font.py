"""Build the web page's font of control pictures (src/logcycle/web/static/controls.woff).

    .venv/bin/pip install fonttools && .venv/bin/python bench/control_font.py

The page shows control characters as the Unicode control pictures (ESC as U+241B "␛"),
but no font Debian installs by default draws U+2400-U+2421: Chromium shows empty boxes.
This draws them the way the Unicode charts do, the abbreviation in small capitals set on a
diagonal, from the capitals of DejaVu Sans Mono (Bitstream Vera license, modifications
allowed under a new name: the font is named "logcycle Control Pictures"). The page loads it
with `unicode-range: U+2400-2421`, so no other character ever uses it.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from fontTools.pens.transformPen import TransformPen
from fontTools.pens.ttGlyphPen import TTGlyphPen
from fontTools.subset import Options, Subsetter
from fontTools.ttLib import TTFont

SOURCE = Path("/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf")
OUT = Path(__file__).resolve().parent.parent / "src/logcycle/web/static/controls.woff"
NAMES = ("NUL SOH STX ETX EOT ENQ ACK BEL BS HT LF VT FF CR SO SI DLE DC1 DC2 DC3 DC4 NAK "
         "SYN ETB CAN EM SUB ESC FS GS RS US SP DEL").split()
FAMILY = "logcycle Control Pictures"


def letter_glyphs(font: TTFont) -> dict[str, str]:
    """Character → glyph name for the capitals and digits used in the abbreviations."""
    cmap = font.getBestCmap()
    return {c: cmap[ord(c)] for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"}


def draw(font: TTFont, text: str, advance: int) -> Any:
    """The abbreviation's letters, scaled down and stepped down a diagonal in one advance."""
    glyphs = font.getGlyphSet()
    names = letter_glyphs(font)
    n = len(text)
    scale = 0.62 if n == 2 else 0.5
    step_x = (advance - advance * scale) / max(1, n - 1)
    cap = 1493 * scale  # DejaVu's capital height, scaled
    top = 1500
    step_y = (top - cap) / max(1, n - 1)
    pen = TTGlyphPen(glyphs)
    for i, ch in enumerate(text):
        dx, dy = i * step_x, top - cap - i * step_y
        glyphs[names[ch]].draw(TransformPen(pen, (scale, 0, 0, scale, dx, dy)))
    return pen.glyph()


def build(source: Path, out: Path) -> None:
    font = TTFont(str(source))
    advance = font["hmtx"]["A"][0]
    glyf, hmtx = font["glyf"], font["hmtx"]
    order = font.getGlyphOrder()
    mapping: dict[int, str] = {}
    for code, name in enumerate(NAMES):
        point = 0x2421 if name == "DEL" else 0x2400 + code
        glyph_name = f"ctl.{name}"
        glyf[glyph_name] = draw(font, name, advance)
        hmtx[glyph_name] = (advance, 0)
        if glyph_name not in order:  # glyf may share the font's glyph order list
            order.append(glyph_name)
        mapping[point] = glyph_name
    font.setGlyphOrder(order)
    for table in font["cmap"].tables:
        if table.isUnicode():
            table.cmap.update(mapping)
    options = Options()
    options.flavor = "woff"
    options.name_IDs = [0, 1, 2, 3, 4, 5, 6, 13, 14]
    options.notdef_outline = True
    subsetter = Subsetter(options)
    subsetter.populate(unicodes=list(mapping))
    subsetter.subset(font)
    for record in font["name"].names:
        if record.nameID in (1, 4, 16):
            record.string = FAMILY
        elif record.nameID == 6:
            record.string = FAMILY.replace(" ", "")
    font.flavor = "woff"
    font.save(str(out))
    print(f"wrote {out} ({out.stat().st_size} bytes, {len(mapping)} control pictures)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--source", type=Path, default=SOURCE)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    build(args.source, args.out)


if __name__ == "__main__":
    main()
