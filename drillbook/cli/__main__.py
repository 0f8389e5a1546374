from drillbook.cli import main

raise SystemExit(main())
