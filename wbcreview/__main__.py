from wbcreview.cli import main

raise SystemExit(main())
