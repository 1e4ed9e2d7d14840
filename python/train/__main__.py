import sys

from sctool.train.cli import main

sys.exit(main())
