"""Former home of the session and the record; kept so existing imports keep working.

The session is lumiku_tui.record.session, the checklist lumiku_tui.record.checklist, the
Markdown lumiku_tui.record.markdown, the story the journal tells lumiku_tui.record.story.
"""

from lumiku_tui.journal import operator_name
from lumiku_tui.prisma.folder import checksums_of
from lumiku_tui.state import default_state_dir
from lumiku_tui.record.checklist import (OBJECTS_LABEL, ChecklistError, ChecklistItem, default_checklist,
                                         manual_key, verify_key)
from lumiku_tui.record.session import (STATE_VERSION, DeploymentSession, approval_facts, default_record_dir,
                                       rehearsal_verdict)

#: The session's former name.
DeploymentProgress = DeploymentSession

__all__ = ["OBJECTS_LABEL", "STATE_VERSION", "ChecklistError", "ChecklistItem", "DeploymentProgress",
           "DeploymentSession", "approval_facts", "checksums_of", "default_checklist", "default_record_dir",
           "default_state_dir", "manual_key", "operator_name", "rehearsal_verdict", "verify_key"]
