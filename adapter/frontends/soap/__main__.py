"""Print the SOAP front-end's WSDL (bound to the default address) for committing."""

import sys

from adapter.frontends.soap import service_wsdl

sys.stdout.buffer.write(service_wsdl())
