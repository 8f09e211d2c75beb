import sys

from losstopo.cli import main

sys.exit(main())
