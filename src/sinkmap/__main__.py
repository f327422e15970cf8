"""``python -m sinkmap`` — the same as the ``sinkmap`` command."""

from sinkmap.cli import main

raise SystemExit(main())
