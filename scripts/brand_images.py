"""Draw the integration's brand images (icon, logo, @2x and dark variants) into brand/.

Home Assistant 2026.3 and later serve these files from the integration's own ``brand/`` folder
(icon.png, icon@2x.png, logo.png, logo@2x.png and their ``dark_`` variants). One drawing makes
all of them, so they always match: a sound wave on NVIDIA green, and for the logo the name beside
it. Run after changing the drawing: ``.venv/bin/python scripts/brand_images.py``.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

BRAND = Path(__file__).resolve().parent.parent / "custom_components" / "spark_audio" / "brand"
GREEN = (118, 185, 0, 255)
WHITE = (255, 255, 255, 255)
INK = {"light": (33, 33, 33, 255), "dark": (240, 240, 240, 255)}
# The wave: bar centres and half-heights on a 256 px canvas (the first icon's drawing).
BARS = [(32, 20), (56, 45), (80, 75), (104, 55), (128, 90), (152, 60), (176, 35), (200, 65)]
BARS += [(224, 30)]
BAR_WIDTH = 17
NAME = "Spark Audio"


def icon(size: int) -> Image.Image:
    """The square icon at ``size`` px (drawn at 4x and scaled down for smooth edges)."""
    scale = size * 4 / 256
    canvas = Image.new("RGBA", (size * 4, size * 4), (0, 0, 0, 0))
    draw = ImageDraw.Draw(canvas)
    draw.rounded_rectangle(
        [8 * scale, 8 * scale, 248 * scale, 248 * scale], radius=40 * scale, fill=GREEN
    )
    for centre, half in BARS:
        left = (centre - BAR_WIDTH / 2) * scale
        draw.rounded_rectangle(
            [left, (128 - half) * scale, left + BAR_WIDTH * scale, (128 + half) * scale],
            radius=BAR_WIDTH / 2 * scale,
            fill=WHITE,
        )
    return canvas.resize((size, size), Image.Resampling.LANCZOS)


def logo(height: int, theme: str) -> Image.Image:
    """The icon with the name beside it, ``height`` px high, ink for a light or dark theme."""
    font = ImageFont.load_default(size=round(height * 0.42))
    text_width = int(font.getlength(NAME))
    gap = height // 4
    canvas = Image.new("RGBA", (height + gap + text_width + gap // 2, height), (0, 0, 0, 0))
    canvas.alpha_composite(icon(height))
    draw = ImageDraw.Draw(canvas)
    draw.text((height + gap, height / 2), NAME, font=font, fill=INK[theme], anchor="lm")
    return canvas


def images() -> dict[str, Image.Image]:
    """Every brand file by name. The icon suits both themes; the logo's ink follows the theme."""
    found: dict[str, Image.Image] = {}
    for prefix, theme in (("", "light"), ("dark_", "dark")):
        for suffix, factor in (("", 1), ("@2x", 2)):
            found[f"{prefix}icon{suffix}.png"] = icon(256 * factor)
            found[f"{prefix}logo{suffix}.png"] = logo(128 * factor, theme)
    return found


def main() -> None:
    BRAND.mkdir(exist_ok=True)
    for name, image in images().items():
        image.save(BRAND / name, optimize=True)
        print(f"{name}: {image.width} x {image.height}")


if __name__ == "__main__":
    main()
