"""Front-ends: one translation layer per protocol (REST, SOAP, gRPC) over the services."""
