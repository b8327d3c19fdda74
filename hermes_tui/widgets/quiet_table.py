"""A DataTable whose cell updates repaint that cell's line only.

Textual's ``DataTable.update_cell`` bumps a counter that every render cache is keyed on and
refreshes the whole widget: one changed runtime re-renders every cell of every visible row
(about 10 ms for a screenful, once a second per ticking clock). :meth:`QuietTable.set_cell`
drops only the cached renders of the changed cell and its line, and repaints that line.
It relies on the cache keys of the pinned Textual (see ``pyproject.toml``); the app's
snapshot and pilot tests show it if a new Textual changes them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from rich.text import Text
from textual.cache import LRUCache
from textual.geometry import Region
from textual.strip import Strip
from textual.widgets import DataTable
from textual.widgets.data_table import CellType, ColumnKey, RowKey

_Key = TypeVar("_Key")


def _evict(cache: LRUCache[_Key, Any], stale: Callable[[_Key], bool]) -> None:
    keys = cache.keys()  # a view (an LRUCache is not iterable): copied before discarding
    for key in [key for key in keys if stale(key)]:
        cache.discard(key)


class QuietTable(DataTable[CellType]):
    """A DataTable with :meth:`set_cell`, an update that repaints one line."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # Stale cached renders, dropped in one pass over the caches before the next paint
        # (one pass however many cells changed): row keys, (row, column) keys, row
        # indexes, table lines.
        self._stale_rows: set[RowKey] = set()
        self._stale_cells: set[tuple[RowKey, ColumnKey]] = set()
        self._stale_indexes: set[int] = set()
        self._stale_lines: set[int] = set()

    def set_cell(self, row_key: str, column_key: str, value: CellType) -> bool:
        """Put ``value`` in a cell and repaint its line; False (nothing done) when the value
        is wider than its column, the row has more than one line, or the cell is unknown:
        then ``update_cell`` (which re-lays the table) is the way."""
        row, column = RowKey(row_key), ColumnKey(column_key)
        if row not in self._row_locations or column not in self.columns:
            return False
        width = value.cell_len if isinstance(value, Text) else len(str(value))
        room = self.columns[column]
        row_index = self._row_locations.get(row)
        if (
            row_index is None
            or width > (room.content_width if room.auto_width else room.width)
            or self.rows[row].height != 1
        ):
            return False
        self._data[row][column] = value
        region = self._get_row_region(row_index)
        self._stale_rows.add(row)
        self._stale_cells.add((row, column))
        self._stale_indexes.add(row_index)
        self._stale_lines.add(region.y)  # in the table's own lines (the header included)
        self._refresh_region(region)
        return True

    def render_lines(self, crop: Region) -> list[Strip]:
        if self._stale_rows:
            self._drop_stale()
        return super().render_lines(crop)

    def _drop_stale(self) -> None:
        # The cache keys (Textual 8.2): row renderables (update count, row index); cells
        # (row key, column key, ...); rows (row key, ...); lines (y, ...).
        rows, cells = self._stale_rows, self._stale_cells
        indexes, lines = self._stale_indexes, self._stale_lines
        _evict(self._row_renderable_cache, lambda key: key[1] in indexes)
        _evict(self._cell_render_cache, lambda key: (key[0], key[1]) in cells)
        _evict(self._row_render_cache, lambda key: key[0] in rows)
        _evict(self._line_cache, lambda key: key[0] in lines)
        self._stale_rows, self._stale_cells = set(), set()
        self._stale_indexes, self._stale_lines = set(), set()
