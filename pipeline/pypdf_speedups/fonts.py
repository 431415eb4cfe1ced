"""Fast paths in what pypdf's text extractor asks of fonts: for every string a page shows, it maps
each byte through the font's encoding and then its character map, and sums the characters' widths,
in Python loops, asking the font for each width again; and it builds every font of a page again for
every page. Here a font is built once per font resource, and what the extractor asks of it is kept
in tables per live font: the mapping done by ``str.translate``, the widths summed in C in the same
order. Every answer is pypdf's, value for value; anything unusual goes to pypdf's own function."""

from __future__ import annotations

import operator
import weakref
from collections.abc import Callable
from functools import cached_property, reduce
from typing import Any

#: Where a font resource keeps the font built from it (see ``FontsKeptPerResource``).
_KEPT = "_pdfline_font"


class FontTables(dict[str, float]):
    """One font's width of each character as pypdf's extractor counts it (the space character's
    ``space_width``, any other's ``get_text_width``), asked once per font instead of once per
    string, and its character map as ``str.translate`` takes it. The font is held weakly (it may
    hold its document); ``forget`` is called when it goes."""

    def __init__(self, font: Any, forget: Callable[[Any], Any]) -> None:
        super().__init__()
        self.font, self.encoding, self.character_map = weakref.ref(font, forget), font.encoding, font.character_map
        self.space_char, self.space_width = font.space_char, font.space_width

    def fits(self, font: Any) -> bool:
        return (
            self.font() is font
            and self.encoding is font.encoding
            and self.character_map is font.character_map
            and self.space_char == font.space_char
            and self.space_width == font.space_width
        )

    def __missing__(self, char: str) -> float:
        width = self.space_width if char == self.space_char else self.font().get_text_width(char)  # type: ignore[union-attr]
        self[char] = width
        return width  # type: ignore[no-any-return]

    @cached_property
    def str_encoding(self) -> bool:
        """A table of strings only: what ``str.translate`` does with it is what pypdf's loop does."""
        return isinstance(self.encoding, dict) and all(isinstance(value, str) for value in self.encoding.values())

    @cached_property
    def display_table(self) -> dict[int, str] | None:
        """The character map for ``str.translate``; ``None`` where a character maps to something
        other than a string (pypdf's join raises there, where ``translate`` would not)."""
        table = {ord(key): value for key, value in self.character_map.items() if type(key) is str and len(key) == 1}
        return table if all(isinstance(value, str) for value in table.values()) else None


class FontTablesByFont:
    """The ``FontTables`` of each live font, made again when the font has changed its own."""

    def __init__(self) -> None:
        self.tables: dict[int, FontTables] = {}

    def of(self, font: Any) -> FontTables:
        key = id(font)
        tables = self.tables.get(key)
        if tables is None or not tables.fits(font):
            tables = self.tables[key] = FontTables(font, forget=lambda _: self.tables.pop(key, None))
        return tables


def text_operands_reader(
    pypdf_operands: Callable[..., Any],
    mult: Callable[..., Any],
    orient: Callable[..., Any],
    fonts: FontTablesByFont | None = None,
) -> Callable[..., Any]:
    """pypdf's ``get_text_operands`` with a fast path for a byte string in a font whose encoding is
    a table of strings: the bytes decoded by ``str.translate``, and the widths summed in the same
    order from the font's tables. Any other operand goes to pypdf."""
    fonts = fonts or FontTablesByFont()

    def get_text_operands(
        operands: list[Any], cm_matrix: list[float], tm_matrix: list[float], font: Any, orientations: tuple[int, ...]
    ) -> tuple[str, bool, float]:
        encoding = font.encoding
        if not operands or not isinstance(operands[0], bytes) or not isinstance(encoding, dict):
            return pypdf_operands(operands, cm_matrix, tm_matrix, font, orientations)  # type: ignore[no-any-return]
        if orient(mult(tm_matrix, cm_matrix)) not in orientations:
            return "", False, 0.0
        widths = fonts.of(font)
        if not widths.str_encoding:
            return pypdf_operands(operands, cm_matrix, tm_matrix, font, orientations)  # type: ignore[no-any-return]
        raw_characters = operands[0].decode("latin-1")
        text = raw_characters.translate(encoding)
        return text, False, reduce(operator.add, map(widths.__getitem__, raw_characters or text), 0.0)

    get_text_operands.pypdf_operands = pypdf_operands  # type: ignore[attr-defined]
    get_text_operands.tables = fonts.tables  # type: ignore[attr-defined]
    return get_text_operands


def display_str_reader(
    pypdf_display_str: Callable[..., Any], home: Any, fonts: FontTablesByFont | None = None
) -> Callable[..., Any]:
    """pypdf's ``get_display_str`` with a fast path for text that stays left to right: the string
    mapped through the font's character map by ``str.translate`` where pypdf looks up each
    character in Python. ``home`` is pypdf's module, read at each call: its right-to-left settings
    can change. Text with a right-to-left character, or a run already right to left, goes to pypdf."""
    fonts = fonts or FontTablesByFont()

    def get_display_str(
        text: str,
        cm_matrix: list[float],
        tm_matrix: list[float],
        font_resource: Any,
        font: Any,
        text_operands: str,
        font_size: float,
        rtl_dir: bool,
        visitor_text: Any,
    ) -> tuple[str, bool, str]:
        if not rtl_dir and type(text_operands) is str and not (home.CUSTOM_RTL_MIN and home.CUSTOM_RTL_MAX):
            table = fonts.of(font).display_table
            if table is not None:
                appended = text_operands.translate(table)
                if home.RTL_CHARACTER_PATTERN.search(appended) is None:
                    return text + appended, rtl_dir, ""
        return pypdf_display_str(  # type: ignore[no-any-return]
            text, cm_matrix, tm_matrix, font_resource, font, text_operands, font_size, rtl_dir, visitor_text
        )

    get_display_str.pypdf_display_str = pypdf_display_str  # type: ignore[attr-defined]
    return get_display_str


class FontsKeptPerResource:
    """Stands in for pypdf's ``Font`` in its page module, which uses the class only to build each
    font of a page from its resource: here a font is built once and kept on the resource, so the
    pages that share it share the font and its tables. A resource whose entries have been replaced
    since gets its font built again; pdfline changes no document it reads."""

    def __init__(self, font_class: type) -> None:
        self.font_class = font_class

    def from_font_resource(self, resource: Any) -> Any:
        attributes = getattr(resource, "__dict__", None)
        if attributes is None or not isinstance(resource, dict):  # malformed, or a plain dict: pypdf alone
            return self.font_class.from_font_resource(resource)  # type: ignore[attr-defined]
        entries = list(resource.items())
        kept = attributes.get(_KEPT)
        if kept is None or kept[0] != entries:
            kept = attributes[_KEPT] = (entries, self.font_class.from_font_resource(resource))  # type: ignore[attr-defined]
        return kept[1]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.font_class, name)
