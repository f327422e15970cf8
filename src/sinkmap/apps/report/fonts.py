"""Find a font that can draw Chinese in matplotlib figures, or say there is none.

Looks first among the fonts matplotlib already knows, then asks fontconfig (``fc-list :lang=zh``) for files
installed after matplotlib built its font cache and registers them. Nothing is downloaded. Without a CJK font the
report draws English names and says so.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from functools import lru_cache

__all__ = ["CJK_FAMILIES", "INSTALL_HINT", "find_cjk_font", "has_cjk"]

log = logging.getLogger(__name__)

#: Families known to cover simplified Chinese, in order of preference.
CJK_FAMILIES = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "Sarasa Gothic SC",
    "Microsoft YaHei",
    "SimHei",
    "PingFang SC",
    "Hiragino Sans GB",
    "Heiti SC",
    "AR PL UMing CN",
    "AR PL UKai CN",
    "Droid Sans Fallback",
)
INSTALL_HINT = "install a CJK font, e.g. `apt-get install fonts-noto-cjk` or `apt-get install fonts-wqy-microhei`"


def has_cjk(text: str) -> bool:
    """Whether ``text`` contains CJK ideographs (or CJK punctuation/full-width forms)."""
    return any(
        "\u3000" <= ch <= "\u303f"
        or "\u3400" <= ch <= "\u4dbf"
        or "\u4e00" <= ch <= "\u9fff"
        or "\uff00" <= ch <= "\uffef"
        for ch in text
    )


def _known_family() -> str | None:
    from matplotlib import font_manager

    names = {f.name for f in font_manager.fontManager.ttflist}
    return next((family for family in CJK_FAMILIES if family in names), None)


def _fontconfig_files() -> list[str]:
    exe = shutil.which("fc-list")
    if exe is None:
        return []
    try:
        out = subprocess.run(
            [exe, ":lang=zh", "file"], capture_output=True, text=True, timeout=20, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    files = [line.split(":", 1)[0].strip() for line in out.splitlines() if line.strip()]
    return sorted({f for f in files if f.lower().endswith((".ttf", ".otf", ".ttc"))})


@lru_cache(maxsize=1)
def find_cjk_font() -> str | None:
    """The family name of a font matplotlib can use for Chinese, or ``None`` if the machine has none."""
    family = _known_family()
    if family is not None:
        return family
    from matplotlib import font_manager

    registered: list[str] = []
    for path in _fontconfig_files():
        try:
            font_manager.fontManager.addfont(path)
            registered.append(font_manager.FontProperties(fname=path).get_name())
        except (OSError, RuntimeError, ValueError) as exc:  # a font file matplotlib cannot parse
            log.debug("cannot use font %s: %s", path, exc)
    family = _known_family() or next(iter(registered), None)
    if family is None:
        log.info("no CJK font found: figures will use English names (%s)", INSTALL_HINT)
    return family
