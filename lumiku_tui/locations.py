"""Where a project's inputs are, as the operator gave them: built once by the entry point, read by
`project.open_project`. Kept free of heavy imports: the entry point builds it for every command line.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path


@dataclass(frozen=True)
class Given:
    """A location the operator gave, and how they gave it (said back to them beside what was found)."""

    value: str = field(repr=False)  # a database URL holds the password
    source: str  # "--database-url", "typed in the wizard (u)", "the demo"


#: How a URL typed into the wizard's "another database" prompt is named back to the operator.
TYPED_IN_WIZARD = "typed in the wizard (u)"


@dataclass(frozen=True)
class Locations:
    """Where the project's inputs are, as given; what is not given is found as Prisma finds it.

    Built once by the program's entry point from the command line and handed to `open_project`;
    nothing else keeps command-line options.
    """

    database_url: Given | None = None
    migrations: Given | None = None
    schema: Given | None = None  # Prisma's --schema
    config: Given | None = None  # Prisma's --config
    runbook: Given | None = None

    @classmethod
    def from_options(cls, *, database_url: str | None = None, migrations: str | Path | None = None,
                     schema: str | None = None, config: str | None = None,
                     runbook: str | Path | None = None) -> "Locations":
        """The locations named by command-line options (each one's source is its option)."""

        def given(value: str | Path | None, option: str) -> Given | None:
            return Given(str(value), option) if value else None

        return cls(given(database_url, "--database-url"), given(migrations, "--migrations"),
                   given(schema, "--schema"), given(config, "--config"), given(runbook, "--runbook"))

    def with_database_url(self, url: str, source: str) -> "Locations":
        """The same project, another database (the folder, schema, config and runbook stay)."""
        return replace(self, database_url=Given(url, source))
