"""`python -m kdviz` is the `kdviz` command."""

from kdviz.cli import main

raise SystemExit(main())
