from lumiku_tui.cli import main

raise SystemExit(main())
