from stash_sense.cli import main

raise SystemExit(main())
