import sys

from neurosig.cli.main import main

sys.exit(main())
