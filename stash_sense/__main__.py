from stash_sense.cli.main import main

raise SystemExit(main())
