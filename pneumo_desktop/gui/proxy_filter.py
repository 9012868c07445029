"""Changing a QSortFilterProxyModel's row filter the way the running Qt wants it."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QSortFilterProxyModel


def refilter(proxy: QSortFilterProxyModel, change: Callable[[], None]) -> None:
    """Apply `change` (which updates the proxy's filter state) and filter the rows again:
    between begin/endFilterChange on Qt >= 6.10, else followed by invalidateRowsFilter."""
    if hasattr(proxy, "beginFilterChange"):
        proxy.beginFilterChange()
        change()
        proxy.endFilterChange(QSortFilterProxyModel.Direction.Rows)
    else:
        change()
        proxy.invalidateRowsFilter()
