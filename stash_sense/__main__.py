from stash_sense.cli.main.main import main

raise SystemExit(main())
