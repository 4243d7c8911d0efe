from lightci.main import main

raise SystemExit(main())
