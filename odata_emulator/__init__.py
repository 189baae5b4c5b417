"""odata-emulator: a local, faithful emulator of the Dataverse Web API for system jobs."""

__version__ = "0.1.0"
