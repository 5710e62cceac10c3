"""Banking integration adapter: one canonical model behind REST, SOAP and gRPC front-ends."""

__version__ = "0.1.0"
