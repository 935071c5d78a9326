"""Troubleshooting: each screen diagnoses first (in a worker), then explains and offers the next step.

The diagnoses come from `lumiku_tui.doctor.diagnose`; these screens only draw them.
"""

from lumiku_tui.tui.screens.troubleshoot.connect import ConnectScreen
from lumiku_tui.tui.screens.troubleshoot.failure import FailureScreen
from lumiku_tui.tui.screens.troubleshoot.lock import LockScreen
from lumiku_tui.tui.screens.troubleshoot.menu import TroubleshootMenu

__all__ = ["ConnectScreen", "FailureScreen", "LockScreen", "TroubleshootMenu"]
