from striate.cli import main

raise SystemExit(main())
