"""The integration's icon on Home Assistant before 2026.3, which has no local brand images.

HA 2026.3 and later serve ``brand/`` themselves (``/api/brands/integration/spark_audio/...``)
and point an update entity's picture there. Older releases point it at
brands.home-assistant.io, which holds no custom integrations, so the update entity showed a
broken picture. On those releases the icon is served from ``brand/`` here and the update entity
shows it; the integration's card in Settings is drawn by the frontend from the brands site and
keeps HA's placeholder there (README, Known limitations).
"""

from __future__ import annotations

from pathlib import Path

from homeassistant.components.http import StaticPathConfig
from homeassistant.const import MAJOR_VERSION, MINOR_VERSION
from homeassistant.core import HomeAssistant

# Public like HA's own brand images: an icon is no secret.
FALLBACK_ICON_URL = "/spark_audio/brand/icon.png"
ICON = Path(__file__).parent / "brand" / "icon.png"


def ha_serves_brand_images() -> bool:
    """Whether this Home Assistant serves the integration's ``brand/`` folder (2026.3+)."""
    return (MAJOR_VERSION, MINOR_VERSION) >= (2026, 3)


async def async_serve_fallback_icon(hass: HomeAssistant) -> None:
    """Serve ``brand/icon.png`` where HA does not; once per HA start."""
    if not ha_serves_brand_images():
        await hass.http.async_register_static_paths(
            [StaticPathConfig(FALLBACK_ICON_URL, str(ICON), cache_headers=True)]
        )


def update_entity_picture(default: str | None) -> str | None:
    """The update entity's picture: the icon served here before 2026.3, else HA's own."""
    return default if ha_serves_brand_images() else FALLBACK_ICON_URL
