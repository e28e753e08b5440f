import sys

from raftredis.cli import main

sys.exit(main())
