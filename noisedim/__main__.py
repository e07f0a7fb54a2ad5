"""Run the noisedim command line: ``python -m noisedim SUBCOMMAND ...``."""

from noisedim.cli import main

raise SystemExit(main())
