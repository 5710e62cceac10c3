"""`python -m core_sim`: run the simulated core standalone (see core_sim.server.main)."""

import sys

from core_sim.server import main

sys.exit(main())
