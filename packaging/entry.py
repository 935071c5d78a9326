"""The binary's entry point: the same `main` the `lumiku-tui` console script runs."""

from lumiku_tui.cli import main

raise SystemExit(main())
