from lumiku_tui.launch import main

raise SystemExit(main())
