"""The analyzer: every rule group in one class, dispatching on the parse-tree node of each statement.

A rule group handles the statements of one kind (`on_<NodeName>` methods); `Rules`
(rules.base) holds what they share. See rules.base for how the passes and counts work.
"""

from __future__ import annotations

from lumiku_tui.safety.rules.alter import AlterRules
from lumiku_tui.safety.rules.base import InsertSummary, StatementContext
from lumiku_tui.safety.rules.data import DataRules
from lumiku_tui.safety.rules.indexes import IndexRules
from lumiku_tui.safety.rules.tables import TableRules

__all__ = ["Analyzer", "InsertSummary", "StatementContext"]


class Analyzer(TableRules, IndexRules, AlterRules, DataRules):
    """Judges statements in order over a simulated schema. `counts` None = collecting pass."""
