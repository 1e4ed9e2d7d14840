import sys

from sctool_cli.main import main

sys.exit(main())
